"""`GET /v1/stats`: statistics for a jurisdiction and period, aggregated from the stats model."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import MinPosition, Pool, Reader
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from api.readmodels import jurisdiction_prefix, wait_for
from api.routes.answers import Stats
from api.routes.params import Day  # noqa: TC001 (FastAPI reads query types at run time)
from projections.ledger import visit_coverage
from projections.stats import summary

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get("", response_class=OrjsonResponse, response_model=Stats,
            responses=problem_answers(401, 403, 422, 503))
async def stats(
    user: Reader, pool: Pool, min_position: MinPosition,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    start: Annotated[Day | None, Query(alias="from", description="first day (opened)")] = None,
    end: Annotated[Day | None, Query(alias="to", description="last day, inclusive")] = None,
) -> OrjsonResponse:
    """Cases opened in the period under the code: by stage, grade, channel and reporter type;
    share of deadlines met per stage and kind; median days spent in each stage; and, now,
    the share of monitored children visited on time per township."""
    prefix = jurisdiction_prefix(jurisdiction, user.jurisdiction)
    if start and end and end < start:
        raise Problem(422, "invalid_period", "The period is empty", "'to' is before 'from'")
    low = datetime.combine(start or date(1970, 1, 1), time(), UTC)
    high = datetime.combine((end or date(9999, 12, 30)) + timedelta(days=1), time(), UTC)
    position = await wait_for(pool, "stats", min_position)
    await wait_for(pool, "ledger", min_position)
    answer: dict[str, Any] = {"jurisdiction": prefix, "from": start, "to": end,
                              "position": position}
    async with pool.connection() as conn:
        answer.update(await summary(conn, prefix=prefix, since=low, until=high))
        coverage = await visit_coverage(conn, prefix)
    answer["visit_coverage"] = [
        {**row, "share": round(row["on_time"] / row["monitored"], 4)} for row in coverage]
    return OrjsonResponse(answer)

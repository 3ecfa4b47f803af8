"""`GET /v1/stats`: statistics for a jurisdiction and period, aggregated from the stats model."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Reader
from api.problems import Problem, problem_answers
from api.readmodels import MinPosition, Pool, check_scope, like_prefix, wait_for
from api.responses import OrjsonResponse
from api.routes.answers import Stats
from api.routes.params import Day  # noqa: TC001 (FastAPI reads query types at run time)

router = APIRouter(prefix="/v1/stats", tags=["stats"])

COUNTS = {
    "by_stage": "stage", "by_grade": "coalesce(grade, 'ungraded')",
    "by_source_channel": "source_channel",
    "by_reporter_type": "CASE WHEN reporter_mandatory THEN 'mandatory' ELSE 'other' END",
}


@router.get("", response_class=OrjsonResponse, response_model=Stats,
            responses=problem_answers(401, 403, 422, 503))
async def stats(
    user: Reader, pool: Pool, min_position: MinPosition,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    start: Annotated[Day | None, Query(alias="from", description="first day (opened)")] = None,
    end: Annotated[Day | None, Query(alias="to", description="last day, inclusive")] = None,
) -> OrjsonResponse:
    """Cases opened in the period under the code: by stage, grade, channel and reporter type;
    share of deadlines met per stage and kind; median days spent in each stage."""
    prefix = check_scope(jurisdiction, user.jurisdiction)
    if start and end and end < start:
        raise Problem(422, "invalid_period", "The period is empty", "'to' is before 'from'")
    low = datetime.combine(start or date(1970, 1, 1), time(), UTC)
    high = datetime.combine((end or date(9999, 12, 30)) + timedelta(days=1), time(), UTC)
    params = {"prefix": like_prefix(prefix), "low": low, "high": high}
    position = await wait_for(pool, "stats", min_position)
    answer: dict[str, Any] = {"jurisdiction": prefix, "from": start, "to": end,
                              "position": position}
    async with pool.connection() as conn:
        for name, expression in COUNTS.items():
            cur = await conn.execute(
                f"SELECT {expression}, count(*) FROM rm_stat_cases"  # noqa: S608
                " WHERE jurisdiction LIKE %(prefix)s AND opened_at >= %(low)s"
                " AND opened_at < %(high)s GROUP BY 1 ORDER BY 1", params)
            answer[name] = {str(key): count for key, count in await cur.fetchall()}
        answer["cases"] = sum(answer["by_stage"].values())
        cur = await conn.execute(
            "SELECT coalesce(stage, 'case') AS stage, kind,"
            " count(*) FILTER (WHERE status = 'met'),"
            " count(*) FILTER (WHERE status = 'missed')"
            " FROM rm_stat_deadlines WHERE jurisdiction LIKE %(prefix)s"
            " AND due_at >= %(low)s AND due_at < %(high)s AND status IN ('met', 'missed')"
            " GROUP BY 1, 2 ORDER BY 1, 2", params)
        answer["deadlines_met"] = [
            {"stage": stage, "kind": kind, "met": met, "missed": missed,
             "share_met": round(met / (met + missed), 4)}
            for stage, kind, met, missed in await cur.fetchall()
        ]
        cur = await conn.execute(
            "SELECT stage, count(*), percentile_cont(0.5) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM left_at - entered_at)) FROM rm_stat_spells"
            " WHERE jurisdiction LIKE %(prefix)s AND left_at IS NOT NULL"
            " AND entered_at >= %(low)s AND entered_at < %(high)s GROUP BY 1 ORDER BY 1",
            params)
        answer["median_days_in_stage"] = {
            stage: {"spells": count, "median_days": round(float(seconds) / 86400, 3)}
            for stage, count, seconds in await cur.fetchall()
        }
    return OrjsonResponse(answer)

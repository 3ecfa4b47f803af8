"""`GET /v1/cases`: search the case list projection, scoped to the caller's jurisdiction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AccessLogDep, MinPosition, Pool, Reader
from api.http.access_log import shown_cases
from api.http.problems import problem_answers
from api.http.responses import OrjsonResponse
from api.readmodels import decode_cursor, encode_cursor, jurisdiction_prefix, wait_for
from api.routes.answers import CasePage
from api.routes.params import NO_NUL_PATTERN
from domain.codes import ChildCategory, Grade, Stage  # noqa: TC001 (FastAPI reads query types)
from projections.cases import search

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get("", response_class=OrjsonResponse, response_model=CasePage,
            responses=problem_answers(401, 403, 422, 503))
async def search_cases(
    user: Reader, pool: Pool, min_position: MinPosition, access_log: AccessLogDep,
    stage: Stage | None = None, grade: Grade | None = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    assignee: Annotated[str | None, Query(max_length=200, pattern=NO_NUL_PATTERN)] = None,
    category: ChildCategory | None = None, overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> OrjsonResponse:
    """Cases under the caller's code (or a finer `jurisdiction`), newest first, by cursor."""
    prefix = jurisdiction_prefix(jurisdiction, user.jurisdiction)
    position = await wait_for(pool, "cases", min_position)
    before = None
    if cursor is not None:
        opened = decode_cursor(cursor, 1)[0]
        before = int(opened) if opened.isdigit() else -1
    async with pool.connection() as conn:
        rows = await search(conn, prefix=prefix, stage=stage, grade=grade, assignee=assignee,
                            category=category, overdue=overdue, before=before,
                            limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    await access_log.record_shown(user, shown_cases(rows, id_key="id"), purpose="list")
    next_cursor = encode_cursor(rows[-1]["opened_position"]) if more else None
    for row in rows:
        row.pop("opened_position")
    return OrjsonResponse({"items": rows, "next_cursor": next_cursor, "position": position},
                          headers={"X-Position": str(position)})

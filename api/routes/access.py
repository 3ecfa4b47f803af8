"""`GET /v1/access`: who read which case or child file, and when, for inspectors."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import Auditor, Pool
from api.http.access_log import entries
from api.http.problems import problem_answers
from api.http.responses import OrjsonResponse
from api.readmodels import jurisdiction_prefix
from api.routes.answers import AccessPage
from api.routes.params import NO_NUL_PATTERN, Instant

router = APIRouter(prefix="/v1/access", tags=["inspection"])


@router.get("", response_class=OrjsonResponse, response_model=AccessPage,
            responses=problem_answers(401, 403, 422, 503))
async def access_log(
    user: Auditor, pool: Pool,
    resource_type: Literal["case", "child"] | None = None,
    resource_id: Annotated[str | None, Query(max_length=100, pattern=NO_NUL_PATTERN)] = None,
    child_id: Annotated[str | None, Query(max_length=100, pattern=NO_NUL_PATTERN)] = None,
    subject: Annotated[str | None, Query(max_length=200, pattern=NO_NUL_PATTERN)] = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of a previous page")]
    = None,
) -> OrjsonResponse:
    """Reads of cases and child files in the inspector's area, newest first."""
    prefix = jurisdiction_prefix(jurisdiction, user.jurisdiction)
    async with pool.connection() as conn:
        rows = await entries(conn, prefix=prefix, resource_type=resource_type,
                             resource_id=resource_id, child_id=child_id, subject=subject,
                             since=since, before=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return OrjsonResponse({"items": rows, "next_cursor": rows[-1]["id"] if more else None})

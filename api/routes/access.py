"""`GET /v1/access`: who read which case or child file, and when, for inspectors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api.deps import Inspector
from api.problems import problem_answers
from api.readmodels import Pool, check_scope, like_prefix
from api.responses import OrjsonResponse
from api.routes.answers import AccessPage
from api.routes.params import Instant  # noqa: TC001 (FastAPI reads query types at run time)

router = APIRouter(prefix="/v1/access", tags=["inspection"])


@router.get("", response_class=OrjsonResponse, response_model=AccessPage,
            responses=problem_answers(401, 403, 422, 503))
async def access_log(
    user: Inspector, pool: Pool,
    resource_type: Literal["case", "child"] | None = None,
    resource_id: Annotated[str | None, Query(max_length=100)] = None,
    child_id: Annotated[str | None, Query(max_length=100)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of a previous page")]
    = None,
) -> OrjsonResponse:
    """Reads of cases and child files in the inspector's area, newest first."""
    prefix = check_scope(jurisdiction, user.jurisdiction)
    where = ["coalesce(case_jurisdiction, '') LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit + 1}
    for column, value in (("resource_type", resource_type), ("resource_id", resource_id),
                          ("child_id", child_id), ("subject", subject)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if since is not None:
        where.append("read_at >= %(since)s")
        params["since"] = since
    if cursor is not None:
        where.append("id < %(cursor)s")
        params["cursor"] = cursor
    query = ("SELECT id, read_at, subject, role, jurisdiction, resource_type, resource_id,"  # noqa: S608
             " child_id, case_jurisdiction, purpose, request_id FROM wardship_access_log"
             f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %(limit)s")
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return OrjsonResponse({"items": rows, "next_cursor": rows[-1]["id"] if more else None})

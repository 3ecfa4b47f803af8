"""`GET /v1/cases`: search the case list projection, scoped to the caller's jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api.deps import Reader
from api.problems import problem_answers
from api.readmodels import (
    MinPosition,
    Pool,
    check_scope,
    decode_cursor,
    encode_cursor,
    like_prefix,
    wait_for,
)
from api.responses import OrjsonResponse
from api.routes.answers import CasePage
from domain.codes import ChildCategory, Grade, Stage  # noqa: TC001 (FastAPI reads query types)

router = APIRouter(prefix="/v1/cases", tags=["cases"])

COLUMNS = (
    "case_id AS id, child_id, jurisdiction, stage, grade, assignee, child_category,"
    " source_channel, opened_at, updated_at, version, next_due_at,"
    " (next_due_at < now() OR escalating > 0) AS overdue, opened_position"
)


@router.get("", response_class=OrjsonResponse, response_model=CasePage,
            responses=problem_answers(401, 403, 422, 503))
async def search_cases(
    user: Reader, pool: Pool, min_position: MinPosition,
    stage: Stage | None = None, grade: Grade | None = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    category: ChildCategory | None = None, overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> OrjsonResponse:
    """Cases under the caller's code (or a finer `jurisdiction`), newest first, by cursor."""
    prefix = check_scope(jurisdiction, user.jurisdiction)
    position = await wait_for(pool, "cases", min_position)
    where = ["jurisdiction LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit + 1}
    for column, value in (("stage", stage), ("grade", grade), ("assignee", assignee),
                          ("child_category", category)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = str(value)  # an enum's code, as the read model stores it
    if overdue is not None:
        where.append(("" if overdue else "NOT ")
                     + "(coalesce(next_due_at < now(), false) OR escalating > 0)")
    if cursor is not None:
        where.append("opened_position < %(after)s")
        after = decode_cursor(cursor, 1)[0]
        params["after"] = int(after) if after.isdigit() else -1
    query = (f"SELECT {COLUMNS} FROM rm_cases WHERE {' AND '.join(where)}"  # noqa: S608
             " ORDER BY opened_position DESC LIMIT %(limit)s")
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["opened_position"]) if more else None
    for row in rows:
        row.pop("opened_position")
        row["id"] = str(row["id"])
    return OrjsonResponse({"items": rows, "next_cursor": next_cursor, "position": position},
                          headers={"X-Position": str(position)})

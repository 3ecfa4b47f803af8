"""`GET /v1/deadlines`: open deadlines and the overdue board under the caller's code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api.deps import Reader
from api.problems import Problem, problem_answers
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
from api.routes.answers import DeadlineBoard

router = APIRouter(prefix="/v1/deadlines", tags=["deadlines"])

# Overdue: still open past its due time, or recorded missed and still not put right.
STATUS_FILTERS = {
    "overdue": "((status = 'open' AND due_at < now())"
               " OR (status = 'missed' AND resolved_at IS NULL))",
    "open": "status = 'open'",
    "missed": "status = 'missed'",
    "all": "true",
}


@router.get("", response_class=OrjsonResponse, response_model=DeadlineBoard,
            responses=problem_answers(401, 403, 422, 503))
async def list_deadlines(
    user: Reader, pool: Pool, min_position: MinPosition,
    status: Literal["overdue", "open", "missed", "all"] = "overdue",
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrjsonResponse:
    """Deadlines under the caller's code, most overdue (earliest due) first."""
    prefix = check_scope(jurisdiction, user.jurisdiction)
    position = await wait_for(pool, "deadlines", min_position)
    where = ["jurisdiction LIKE %(prefix)s", STATUS_FILTERS[status]]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit + 1}
    if kind is not None:
        where.append("kind = %(kind)s")
        params["kind"] = kind
    if cursor is not None:
        due, case_id, deadline_id = decode_cursor(cursor, 3)
        where.append("(due_at, case_id::text, deadline_id) > (%(due)s::timestamptz,"
                     " %(case)s, %(deadline)s)")
        params.update(due=due, case=case_id, deadline=deadline_id)
    query = (
        "SELECT case_id, deadline_id AS id, kind, stage, ref, due_at, opened_at, status,"  # noqa: S608
        " closed_at, resolved_at, jurisdiction, grade, assignee,"
        " (status = 'open' AND due_at < now()) OR (status = 'missed' AND resolved_at IS NULL)"
        " AS overdue FROM rm_deadlines WHERE " + " AND ".join(where)
        + " ORDER BY due_at, case_id::text, deadline_id LIMIT %(limit)s"
    )
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            await cur.execute(query, params)
        except psycopg.errors.DataError:  # a cursor whose time was tampered with
            raise Problem(422, "invalid_cursor", "The cursor is not valid",
                          "pass back the 'next_cursor' of a previous answer") from None
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(last["due_at"].isoformat(), last["case_id"], last["id"])
    for row in rows:
        row["case_id"] = str(row["case_id"])
    return OrjsonResponse({"items": rows, "next_cursor": next_cursor, "position": position},
                          headers={"X-Position": str(position)})

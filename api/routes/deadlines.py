"""`GET /v1/deadlines`: open deadlines and the overdue board under the caller's code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AccessLogDep, App, MinPosition, Pool, Reader
from api.http.access_log import shown_cases
from api.http.problems import problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import store_call
from api.readmodels import (
    decode_cursor,
    encode_cursor,
    invalid_cursor,
    jurisdiction_prefix,
    wait_for,
)
from api.routes.answers import DeadlineBoard
from api.routes.params import NO_NUL_PATTERN
from projections.deadlines import BoardStatus, board
from projections.inbox import addressed_codes

router = APIRouter(prefix="/v1/deadlines", tags=["deadlines"])


@router.get("", response_class=OrjsonResponse, response_model=DeadlineBoard,
            responses=problem_answers(401, 403, 422, 503))
async def list_deadlines(
    user: Reader, app: App, pool: Pool, min_position: MinPosition, access_log: AccessLogDep,
    status: BoardStatus = "overdue",
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    kind: Annotated[str | None, Query(max_length=40, pattern=NO_NUL_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrjsonResponse:
    """Deadlines under the caller's code, most overdue (earliest due) first, and the
    jurisdictions under it that notices reached with nobody on duty (无人值守)."""
    prefix = jurisdiction_prefix(jurisdiction, user.jurisdiction)
    position = await wait_for(pool, "deadlines", min_position)
    after = _after(cursor) if cursor is not None else None
    async with pool.connection() as conn:
        rows = await board(conn, prefix=prefix, status=status, kind=kind, after=after,
                           limit=limit + 1)
        addressed = await addressed_codes(conn, prefix)
    # Caught up from the log now (a few new rows at most): an admin's change shows at once.
    directory = await store_call(app.contact_directory)
    more = len(rows) > limit
    rows = rows[:limit]
    await access_log.record_shown(user, shown_cases(rows), purpose="board")
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(last["due_at"].isoformat(), last["case_id"], last["id"])
    unattended = [{"jurisdiction": route.jurisdiction, "covered_by": route.covered_by,
                   "label": f"无人值守: {route.jurisdiction}"}
                  for route in directory.unattended(addressed)]
    return OrjsonResponse({"items": rows, "next_cursor": next_cursor, "position": position,
                           "unattended": unattended},
                          headers={"X-Position": str(position)})


def _after(cursor: str) -> tuple[datetime, str, str]:
    due, case_id, deadline_id = decode_cursor(cursor, 3)
    try:
        return datetime.fromisoformat(due), case_id, deadline_id
    except ValueError:  # a cursor whose time was tampered with
        raise invalid_cursor() from None

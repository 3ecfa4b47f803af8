"""逾期看板: every overdue and soon-due deadline under the user's code, with counts per
township; filters by township, stage, grade and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from api.deps import AccessLogDep, Pool
from api.http.access_log import shown_cases
from api.readmodels import jurisdiction_prefix, wait_for
from api.ui.render import PageRoute, render
from api.ui.session import page_for
from domain import access
from domain.actors import Actor
from domain.codes import Grade, Stage
from domain.labels import DEADLINE_KINDS
from projections.deadlines import board, township_counts

if TYPE_CHECKING:
    from enum import StrEnum

router = APIRouter(prefix="/ui", route_class=PageRoute)
# "Soon due": open deadlines due within this long are shown beside the overdue ones.
SOON = timedelta(hours=72)
ROWS = 200
Reader = Annotated[Actor, Depends(page_for(access.READERS))]
Code = Annotated[str | None, Query(max_length=12, pattern=r"^\d*$")]
# A filter from a <select>: empty means any.
Choice = Annotated[str | None, Query(max_length=40)]


def one_of(codes: type[StrEnum], value: str | None) -> str | None:
    """`value` if it is one of the codes, else None (any)."""
    return value if value in {code.value for code in codes} else None


@router.get("/board")
async def board_page(
    request: Request, user: Reader, pool: Pool, access_log: AccessLogDep,
    township: Code = None, stage: Choice = None, grade: Choice = None, kind: Choice = None,
) -> Response:
    """The overdue and soon-due deadlines, most overdue first; each row links to its case."""
    prefix = jurisdiction_prefix(township or None, user.jurisdiction)
    stage, grade = one_of(Stage, stage), one_of(Grade, grade)
    await wait_for(pool, "deadlines", None)
    soon = datetime.now(UTC) + SOON
    wanted_kind = kind if kind in DEADLINE_KINDS else None
    async with pool.connection() as conn:
        rows = await board(conn, prefix=prefix, status="open", kind=wanted_kind,
                           stage=stage, grade=grade, due_before=soon, limit=ROWS)
        overdue = await board(conn, prefix=prefix, status="overdue", kind=wanted_kind,
                              stage=stage, grade=grade, limit=ROWS)
        counts = await township_counts(conn, prefix=user.jurisdiction, due_before=soon)
    # Overdue (missed and not put right, or open past due) first, then open soon due.
    seen = {(r["case_id"], r["id"]) for r in overdue}
    items = overdue + [r for r in rows if (r["case_id"], r["id"]) not in seen]
    items = items[:ROWS]
    await access_log.record_shown(user, shown_cases(items), purpose="board")
    return render(request, "board.html", items=items, counts=counts,
                  filters={"township": township or "", "stage": stage, "grade": grade,
                           "kind": wanted_kind},
                  stages=[s.value for s in Stage], grades=[g.value for g in Grade],
                  kinds=list(DEADLINE_KINDS), truncated=len(items) >= ROWS)

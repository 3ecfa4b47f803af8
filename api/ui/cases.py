"""案件检索: the case list with the same filters and paging as `GET /v1/cases`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from api.deps import AccessLogDep, Pool
from api.http.access_log import shown_cases
from api.readmodels import decode_cursor, encode_cursor, jurisdiction_prefix, wait_for
from api.ui.board import Choice, one_of
from api.ui.render import PageRoute, render
from api.ui.session import page_for
from domain import access
from domain.actors import Actor
from domain.codes import ChildCategory, Grade, Stage
from projections.cases import search

router = APIRouter(prefix="/ui", route_class=PageRoute)
Reader = Annotated[Actor, Depends(page_for(access.READERS))]
PAGE = 50


@router.get("/cases")
async def search_page(
    request: Request, user: Reader, pool: Pool, access_log: AccessLogDep,
    stage: Choice = None, grade: Choice = None, category: Choice = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d*$")] = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    overdue: Annotated[str | None, Query(pattern="^(|yes|no)$")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Cases under the user's code (or a finer one), newest first, a page at a time."""
    prefix = jurisdiction_prefix(jurisdiction or None, user.jurisdiction)
    await wait_for(pool, "cases", None)
    before = None
    if cursor:
        opened = decode_cursor(cursor, 1)[0]
        before = int(opened) if opened.isdigit() else -1
    async with pool.connection() as conn:
        rows = await search(conn, prefix=prefix, stage=one_of(Stage, stage),
                            grade=one_of(Grade, grade), assignee=assignee or None,
                            category=one_of(ChildCategory, category),
                            overdue={"yes": True, "no": False}.get(overdue or ""),
                            before=before, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    await access_log.record_shown(user, shown_cases(rows, id_key="id"), purpose="list")
    next_cursor = encode_cursor(rows[-1]["opened_position"]) if more else None
    filters = {"stage": stage or "", "grade": grade or "", "category": category or "",
               "jurisdiction": jurisdiction or "", "assignee": assignee or "",
               "overdue": overdue or ""}
    return render(request, "cases.html", items=rows, next_cursor=next_cursor,
                  filters=filters, stages=[s.value for s in Stage],
                  grades=[g.value for g in Grade], categories=[c.value for c in ChildCategory])

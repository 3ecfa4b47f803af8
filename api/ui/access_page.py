"""查阅记录: who read which case or child's file, and when (inspectors and admins)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from api.deps import Pool
from api.http.access_log import entries
from api.readmodels import jurisdiction_prefix
from api.ui.render import PageRoute, render
from api.ui.session import page_for
from domain import access
from domain.actors import Actor
from domain.calendar import CHINA_TIME

router = APIRouter(prefix="/ui", route_class=PageRoute)
Auditor = Annotated[Actor, Depends(page_for(access.AUDITORS))]
PAGE = 100
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/access")
async def access_page(
    request: Request, user: Auditor, pool: Pool, subject: Text = None,
    resource_id: Text = None, child_id: Text = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d*$")] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Reads in the user's area, newest first, filtered as `GET /v1/access` filters them."""
    prefix = jurisdiction_prefix(jurisdiction or None, user.jurisdiction)
    try:
        start = datetime.combine(date.fromisoformat(since), time(), CHINA_TIME) if since \
            else None
    except ValueError:
        start = None
    async with pool.connection() as conn:
        rows = await entries(conn, prefix=prefix, resource_id=resource_id or None,
                             child_id=child_id or None, subject=subject or None,
                             since=start, before=cursor, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    filters = {"subject": subject or "", "resource_id": resource_id or "",
               "child_id": child_id or "", "jurisdiction": jurisdiction or "",
               "since": since or ""}
    return render(request, "access.html", items=rows, filters=filters,
                  next_cursor=rows[-1]["id"] if more else None)

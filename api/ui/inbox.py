"""通知: the notifications addressed to the supervisor's code, each channel's delivery, an
acknowledge button; new ones appear live through the same stream as the API's."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from api.deps import AccessLogDep, App, Pool, lease_for, own_writes
from api.http.access_log import shown_cases
from api.http.services import store_call
from api.readmodels import wait_for
from api.routes.notifications import acknowledge_for, notification_events
from api.ui.csrf import check_csrf
from api.ui.i18n import language
from api.ui.render import PageRoute, render
from api.ui.session import page_for, session_actor
from domain import access
from domain.actors import Actor
from domain.labels import DEADLINE_KINDS, label
from projections.inbox import notifications

router = APIRouter(prefix="/ui", route_class=PageRoute)
Supervisor = Annotated[Actor, Depends(page_for(access.SUPERVISORS))]
ROWS = 100


@router.get("/inbox")
async def inbox_page(
    request: Request, user: Supervisor, pool: Pool, access_log: AccessLogDep,
    done: str | None = None,
) -> Response:
    """Notifications for exactly the user's code, newest first."""
    await wait_for(pool, "inbox", own_writes(request).position(user.subject))
    async with pool.connection() as conn:
        rows = await notifications(conn, user.jurisdiction, limit=ROWS)
    await access_log.record_shown(user, shown_cases(rows, code_key="case_jurisdiction"),
                                  purpose="inbox")
    lang = language(request)
    kinds = {code: label(DEADLINE_KINDS, code, lang) for code in DEADLINE_KINDS}
    return render(request, "inbox.html", items=rows, acknowledged=done,
                  kind_labels=json.dumps(kinds, ensure_ascii=False))


@router.post("/inbox/{notification_id}/ack")
async def acknowledge(
    request: Request, notification_id: str, user: Supervisor, app: App,
) -> Response:
    """Acknowledge one notification (the domain checks it is addressed to the user's code)."""
    await check_csrf(request)
    await acknowledge_for(app, user, notification_id)
    position = await store_call(app.recorder.max_notification_id)
    own_writes(request).wrote(user.subject, position)
    return RedirectResponse(f"/ui/inbox?done={quote(notification_id)}", status_code=303)


@router.get("/inbox/stream", response_class=EventSourceResponse)
async def live(
    request: Request, user: Supervisor, pool: Pool, access_log: AccessLogDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    """The API's notification stream for the session's user (the page's script reads it)."""
    found = await session_actor(request)
    assert found is not None  # `user` was found the same way a moment ago
    lease = lease_for(request, user, found[1])
    return await notification_events(request, pool, lease, access_log, last_event_id)

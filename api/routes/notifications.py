"""Supervisor inbox: notifications addressed to the caller's exact code, acks, live stream."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse
from starlette.background import BackgroundTask

from api.deps import AccessLogDep, App, MinPosition, Pool, StreamLeaseDep, Supervisor
from api.http.access_log import shown_cases
from api.http.domain_problems import domain_problem
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import store_call
from api.readmodels import wait_for
from api.routes.answers import Acknowledged, Inbox
from domain.errors import DomainError
from projections.inbox import notifications

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from psycopg_pool import AsyncConnectionPool

    from api.http.access_log import AccessLog
    from api.http.streams import StreamLease
    from domain.actors import Actor
    from domain.application import Wardship

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
POLL = 0.2  # seconds between looks for new notifications on an open stream

@router.get("", response_class=OrjsonResponse, response_model=Inbox,
            responses=problem_answers(401, 403, 422, 503))
async def inbox(
    user: Supervisor, pool: Pool, min_position: MinPosition, access_log: AccessLogDep,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of a previous page")]
    = None,
) -> OrjsonResponse:
    """Notifications addressed to exactly the caller's code, newest first."""
    position = await wait_for(pool, "inbox", min_position)
    async with pool.connection() as conn:
        rows = await notifications(conn, user.jurisdiction, before=cursor,
                                   acknowledged=acknowledged, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    await access_log.record_shown(user, shown_cases(rows, code_key="case_jurisdiction"),
                                  purpose="inbox")
    return OrjsonResponse({"items": rows, "position": position,
                           "next_cursor": rows[-1]["position"] if more else None},
                          headers={"X-Position": str(position)})


@router.post("/{notification_id}/ack", response_class=OrjsonResponse,
             response_model=Acknowledged,
             responses=problem_answers(401, 403, 404, 409, 422, 503))
async def acknowledge(
    notification_id: str, user: Supervisor, app: App,
) -> OrjsonResponse:
    """Acknowledge a notification addressed to the caller's code; acknowledging twice is fine."""
    recorded = await acknowledge_for(app, user, notification_id)
    position = await store_call(app.recorder.max_notification_id) or 0
    return OrjsonResponse({"id": notification_id, "acknowledged": True, "recorded": recorded,
                           "position": position}, headers={"X-Position": str(position)})


async def acknowledge_for(app: Wardship, user: Actor, notification_id: str) -> bool:
    """Record `user`'s acknowledgement (the domain checks the addressed code); whether it was
    recorded now. 404 for a notification not in their inbox."""
    case_id = _case_of(notification_id)
    try:
        recorded: bool = await store_call(app.acknowledge_notification, case_id,
                                          notification_id, user)
    except DomainError as error:
        if error.code in ("case_not_found", "invalid_command"):
            raise _not_found(notification_id) from None
        raise domain_problem(error) from None
    return recorded


def _case_of(notification_id: str) -> UUID:
    # Notification ids are "<case id>:<deadline id>:L<level>" (domain.case.record_escalation).
    try:
        return UUID(notification_id.split(":", 1)[0])
    except ValueError:
        raise _not_found(notification_id) from None


def _not_found(notification_id: str) -> Problem:
    return Problem(404, "notification_not_found", "No such notification",
                   f"no notification {notification_id!r} in your inbox")


@router.get("/stream", response_class=EventSourceResponse, responses={
    200: {"description": "one `notification` event per new notification (data: its JSON)",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    **problem_answers(401, 403, 422, 429, 503),
})
async def stream(
    request: Request, pool: Pool, lease: StreamLeaseDep, access_log: AccessLogDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    """Server-sent events: each new notification for the caller's code; resumable by id.

    The stream ends with an `expired` event when the caller's token expires.
    """
    return await notification_events(request, pool, lease, access_log, last_event_id)


async def notification_events(
    request: Request, pool: AsyncConnectionPool, lease: StreamLease, access_log: AccessLog,
    last_event_id: str | None,
) -> EventSourceResponse:
    """The live stream of `lease`'s user (also the inbox page's): each new notification
    addressed to their code, logged as read before it is sent."""
    user = lease.user
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    if after is None:
        # A fresh stream starts at what the inbox holds now: only new notifications follow.
        try:
            after = await wait_for(pool, "inbox", None)
        except BaseException:
            lease.release()
            raise

    async def events() -> AsyncIterator[dict[str, Any]]:
        nonlocal after
        try:
            while not await request.is_disconnected():
                if lease.expired():
                    yield {"event": "expired", "data": "token expired; reconnect with a new one"}
                    return
                async with pool.connection() as conn:
                    rows = await notifications(conn, user.jurisdiction, after=after, limit=100,
                                               ascending=True)
                try:
                    await access_log.record_shown(
                        user, shown_cases(rows, code_key="case_jurisdiction"),
                        purpose="stream")
                except Problem:
                    return  # nothing unlogged is sent; the client resumes from Last-Event-ID
                for row in rows:
                    after = row["position"]
                    yield {"id": str(row["position"]), "event": "notification",
                           "data": orjson.dumps(row).decode()}
                if not rows:
                    await asyncio.sleep(POLL)
        finally:
            lease.release()

    # Also released after the answer, in case the stream never started.
    return EventSourceResponse(events(), ping=15, background=BackgroundTask(lease.release))

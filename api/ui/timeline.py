"""案件时间线: every event of a case in the page's language (who, role, when it happened and
was recorded, deadlines met or missed), the case as it stood at a chosen moment, the hash
chain's check and the signed case file. Same policy and access log as the API's inspection."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types)

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from api.deps import AccessLogDep, App
from api.http.services import store_call
from api.inspection.history import history_entry
from api.routes.inspection import case_file_answer, inspected_case
from api.ui.render import PageRoute, render
from api.ui.session import page_user
from domain import access
from domain.actors import Actor
from domain.calendar import CHINA_TIME
from domain.errors import CaseNotFound

if TYPE_CHECKING:
    from domain.application import Wardship
    from domain.events import CaseEvent

router = APIRouter(prefix="/ui", route_class=PageRoute)
User = Annotated[Actor, Depends(page_user)]
MAX_EVENTS = 2000


def _moment(day: str | None, clock: str | None) -> datetime | None:
    """The end of the chosen minute (or day) in China time; None when none was chosen."""
    if not day:
        return None
    try:
        chosen = date.fromisoformat(day)
        at = time.fromisoformat(clock) if clock else time(23, 59)
    except ValueError:
        return None
    return datetime.combine(chosen, at.replace(second=59, microsecond=999999), CHINA_TIME)


@router.get("/cases/{case_id}")
async def timeline_page(
    request: Request, case_id: UUID, user: User, app: App, log: AccessLogDep,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    day: Annotated[str | None, Query(max_length=10)] = None,
    clock: Annotated[str | None, Query(alias="time", max_length=5)] = None,
) -> Response:
    """The timeline, and the case as it stood at `day` (and `time`) or at `version`."""
    case = await inspected_case(app, user, case_id, log, "timeline")
    chain = await store_call(app.verify_chain, case_id)
    events = await _readable_events(app, case_id, chain)
    reveal = access.sees_personal_data(user)
    entries = [history_entry(e, reveal_personal=reveal) for e in events]
    readable = len(entries)  # the versions before a first undecodable event
    moment = _moment(day, clock)
    if moment is None and (version is None or not 1 <= version <= readable):
        version = readable
    try:
        state: dict[str, Any] | None = await store_call(lambda: app.case_as_of(
            case_id, version=None if moment else version, as_of=moment))
    except CaseNotFound:
        state = None  # opened after that moment
    except MapperDeserialisationError:
        state = None  # that moment lies past an event that cannot be read
    shown = state["version"] if state else 0
    stood_at = moment or (entries[shown - 1]["recorded_at"] if shown else None)
    if state is not None and stood_at is not None:
        for deadline in state["deadlines"]:
            deadline["overdue"] = deadline["status"] == "open" and deadline["due_at"] <= stood_at
    kinds: dict[str, str] = {}
    for entry in entries:
        for change in entry["deadline_changes"]:
            if change["op"] == "open":
                kinds[change["id"]] = change["kind"]
            change["kind"] = change.get("kind") or kinds.get(change["id"], change["id"])
    local = stood_at.astimezone(CHINA_TIME) if stood_at else None
    return render(request, "timeline.html", case=case, entries=entries, state=state,
                  shown=shown, latest=case.version, readable=readable, chain=chain,
                  reveal=reveal,
                  may_export=access.may_export(user),
                  day=local.date().isoformat() if local else "",
                  clock=local.strftime("%H:%M") if local else "")


async def _readable_events(
    app: Wardship, case_id: UUID, chain: dict[str, Any]
) -> list[CaseEvent]:
    """Every event; when one cannot be decoded (changed bytes), those before the first bad
    event the chain check names, so that the inspector still sees the badge and the rest."""
    try:
        events: list[CaseEvent] = await store_call(app.case_events, case_id, None, None,
                                                   MAX_EVENTS)
        return events
    except MapperDeserialisationError:
        last_good = int(chain.get("first_bad_version") or 1) - 1
        if last_good < 1:
            return []
        return await store_call(app.case_events, case_id, None, last_good, MAX_EVENTS)


@router.get("/cases/{case_id}/export")
async def download(
    request: Request, case_id: UUID, user: User, app: App, log: AccessLogDep,
) -> Response:
    """The signed case file (as `GET /v1/cases/{id}/export`), downloaded by the browser."""
    return await case_file_answer(request, user, app, log, case_id)

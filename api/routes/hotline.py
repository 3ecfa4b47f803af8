"""The 12345 minor-protection desk (未成年人保护专席): work orders in, their tickets read back.

Only the platform's client token (role `hotline`) calls these routes, and it calls no other.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, StringConstraints

from api.deps import App, HotlineDesk, own_writes
from api.http.domain_problems import domain_problem
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import run_command, store_call
from api.routes.case_models import (
    NO_NUL,
    CaseView,
    Child,
    DivisionCode,
    Required,
    Strict,
    Text,
    _in_range,
    _storable,
    _written,
)
from domain import access
from domain.actors import CLOCK_SKEW
from domain.errors import DomainError

router = APIRouter(prefix="/v1/intake/hotline", tags=["hotline"])

TICKET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Ticket = Annotated[str, StringConstraints(pattern=TICKET_PATTERN)]


def _received(value: datetime) -> datetime:
    if value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("received_at is in the future; send when the platform received it")
    return value


class Caller(Strict):
    """Who called the hotline (personal data, encrypted at rest)."""

    name: Text | None = None
    phone: Annotated[
        str, StringConstraints(max_length=40), AfterValidator(_storable), NO_NUL] | None = None


class WorkOrder(Strict):
    """`POST /v1/intake/hotline`: one 12345 work order (SPEC's request shape)."""

    ticket: Ticket
    received_at: Annotated[AwareDatetime, BeforeValidator(_written), AfterValidator(_in_range),
                           AfterValidator(_received)]
    jurisdiction: DivisionCode
    urgency: Literal["urgent", "normal"]
    content: Required
    caller: Caller
    child: Child


class OrderView(CaseView):
    """The case the work order opened or was linked to, with its ticket."""

    ticket: str


class TicketView(BaseModel):
    """What the desk reads of its own ticket: no personal data."""

    ticket: str
    case_id: str
    opened: bool
    stage: str
    reply: Literal["awaiting", "replied", "failed"] | None


@router.post(
    "", status_code=201, response_class=OrjsonResponse,
    responses={201: {"model": OrderView, "description": "a case opened for the order"},
               200: {"model": OrderView,
                     "description": "linked to the child's open case, or the ticket again"},
               **problem_answers(400, 401, 403, 409, 413, 422, 503)},
)
async def receive_work_order(
    body: WorkOrder, desk: HotlineDesk, app: App, request: Request
) -> Response:
    """Take a 12345 work order: open a report (201) or link it to the child's open case (200);
    the same ticket again answers the same case (200) and records nothing."""
    if not access.may_file_hotline_order(desk, body.jurisdiction):
        raise Problem(403, "outside_jurisdiction", "Outside your jurisdiction",
                      f"this desk files work orders under {desk.jurisdiction} only")
    try:
        view, opened = await run_command(request.app, functools.partial(
            app.receive_hotline_order, desk, ticket=body.ticket, received_at=body.received_at,
            jurisdiction=body.jurisdiction, urgent=body.urgency == "urgent",
            content=body.content, caller=body.caller.model_dump(mode="json"),
            child=body.child.model_dump(mode="json")))
    except DomainError as error:
        raise domain_problem(error) from None
    if view.get("position") is not None:
        own_writes(request).wrote(desk.subject, view["position"])
    return OrjsonResponse(view, status_code=201 if opened else 200,
                          headers={"Location": f"/v1/intake/hotline/{body.ticket}"})


@router.get(
    "/{ticket}", response_class=OrjsonResponse,
    responses={200: {"model": TicketView, "description": "the ticket's case and reply"},
               **problem_answers(401, 403, 404, 422, 503)},
)
async def read_ticket(
    ticket: Annotated[str, Path(pattern=TICKET_PATTERN)], desk: HotlineDesk, app: App
) -> OrjsonResponse:
    """The desk's own ticket: its case's id and stage and whether the outcome was replied."""
    try:
        seen = await store_call(app.hotline_ticket, desk, ticket)
    except DomainError as error:
        raise domain_problem(error) from None
    return OrjsonResponse(seen)

"""The notification contact directory (admins): `POST/GET/DELETE /v1/contacts`.

Who is on duty for each jurisdiction's notifications and how to reach them. Every change is
an event naming who made it; answers never carry a DingTalk secret or a URL's query values.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import Admin, App, idempotency_store
from api.http.domain_problems import domain_problem
from api.http.idempotency import answer_once, command_id, request_hash
from api.http.problems import problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import run_command, store_call
from api.routes.answers import ContactList, ContactShown
from api.routes.case_models import DivisionCode  # noqa: TC001 (pydantic reads it at run time)
from api.routes.cases import KEY_PARAMETER, idempotency_key
from domain.contacts import MAX_CHANNELS, MAX_NAME, MAX_URL
from domain.errors import DomainError

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

# The schemas state what the domain checks (`domain.contacts.parse_contact`), so that a body
# they allow is refused only for what no schema can say.
_PORT = r"[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]"
_URL_CHAR = r"[^\s\x00-\x1f\x7f-\x9f]"
# https to any host; plain http only to this machine (tests' loopback receivers).
Url = Annotated[str, StringConstraints(max_length=MAX_URL, pattern=(
    r"^(https://[^/?#@:\[\]\s\x00-\x1f\x7f-\x9f]+"
    r"|http://(127\.0\.0\.1|localhost|\[::1\]))"
    rf"(:({_PORT}))?([/?#]{_URL_CHAR}*)?$"))]
_TEXT_CHAR = r"[^\x00-\x1f\x7f-\x9f]"
# Some character that is not a space, and no control character.
Name = Annotated[str, StringConstraints(max_length=MAX_NAME, pattern=(
    rf"^{_TEXT_CHAR}*[^\s\x00-\x1f\x7f-\x9f]{_TEXT_CHAR}*$"))]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailChannel(_Channel):
    """Mail to one address."""

    type: Literal["email"]
    address: Annotated[str, StringConstraints(
        max_length=254, pattern=r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]


class SmsChannel(_Channel):
    """SMS to a mainland mobile number, or any number in E.164 form."""

    type: Literal["sms"]
    number: Annotated[str, StringConstraints(pattern=r"^(1[0-9]{10}|\+[0-9]{8,15})$")]


class WecomChannel(_Channel):
    """A WeCom (企业微信) group robot's webhook URL (its key in the query)."""

    type: Literal["wecom"]
    url: Url


class DingtalkChannel(_Channel):
    """A DingTalk (钉钉) robot's webhook URL and its signing secret."""

    type: Literal["dingtalk"]
    url: Url
    secret: Annotated[str, StringConstraints(pattern=r"^[!-~]{1,200}$")]


class WebhookChannel(_Channel):
    """A generic webhook, signed as the service signs its webhooks."""

    type: Literal["webhook"]
    url: Url


Channel = Annotated[EmailChannel | SmsChannel | WecomChannel | DingtalkChannel
                    | WebhookChannel, Field(discriminator="type")]


class NewContact(BaseModel):
    """A contact to put on duty for a jurisdiction (SPEC's request shape)."""

    model_config = ConfigDict(extra="forbid")
    jurisdiction: DivisionCode
    name: Name
    role: Literal["supervisor", "child_supervisor", "caseworker_lead"]
    channels: Annotated[list[Channel], Field(min_length=1, max_length=MAX_CHANNELS)]


def _shown(contact: dict[str, Any]) -> dict[str, Any]:
    """The contact as answered: the application's extra figures left out."""
    return {k: v for k, v in contact.items() if k not in ("recorded", "removed", "position")}


@router.post(
    "", status_code=201, response_class=OrjsonResponse,
    responses={201: {"model": ContactShown, "description": "the contact on duty"},
               **problem_answers(400, 401, 403, 409, 413, 422, 503)},
    openapi_extra=KEY_PARAMETER,
)
async def register_contact(
    body: NewContact, user: Admin, app: App, request: Request
) -> Response:
    """Put a contact on duty for a jurisdiction in the admin's area; a retry with the same
    Idempotency-Key answers the contact it registered."""
    key = idempotency_key(request)

    async def answer() -> Response:
        try:
            contact = await run_command(request.app, functools.partial(
                app.register_contact, user, body.model_dump(mode="json"),
                command_id(user.subject, key)))
        except DomainError as error:
            raise domain_problem(error) from None
        return OrjsonResponse(_shown(contact), status_code=201, headers={
            "Location": f"/v1/contacts/{contact['id']}",
            "X-Position": str(contact["position"])})

    digest = request_hash("register_contact", body.model_dump_json())
    return await answer_once(idempotency_store(request), user.subject, key, digest, answer)


@router.get("", response_class=OrjsonResponse, response_model=ContactList,
            responses=problem_answers(401, 403, 422, 503))
async def list_contacts(
    user: Admin, app: App,
    jurisdiction: Annotated[str | None, Query(
        pattern=r"^[0-9]{2,12}$",
        description="only contacts under this code (within the caller's)")] = None,
) -> OrjsonResponse:
    """Every contact on duty under the caller's code (or a finer `jurisdiction`), as of the
    event log now."""
    try:
        items = await store_call(app.contacts, user, jurisdiction)
    except DomainError as error:
        raise domain_problem(error) from None
    return OrjsonResponse({"items": items})


@router.get("/{contact_id}", response_class=OrjsonResponse, response_model=ContactShown,
            responses=problem_answers(401, 403, 404, 422, 503))
async def get_contact(contact_id: UUID, user: Admin, app: App) -> OrjsonResponse:
    """One contact on duty in the caller's area (404 for one outside it, as for none)."""
    try:
        contact = await store_call(app.contact, user, contact_id)
    except DomainError as error:
        raise domain_problem(error) from None
    return OrjsonResponse(contact)


@router.delete("/{contact_id}", status_code=204, response_class=Response,
               responses=problem_answers(401, 403, 404, 422, 503))
async def remove_contact(contact_id: UUID, user: Admin, app: App, request: Request
                         ) -> Response:
    """Take a contact of the caller's area off duty; removing it again changes nothing."""
    try:
        await run_command(request.app, functools.partial(app.remove_contact, user,
                                                         contact_id))
    except DomainError as error:
        raise domain_problem(error) from None
    return Response(status_code=204)

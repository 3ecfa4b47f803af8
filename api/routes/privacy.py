"""Erasure of a child's personal data and legal holds (docs/privacy.md):
`POST /v1/children/{id}/erasure` asks, `.../erasure/approval` and `.../erasure/rejection`
decide (a supervisor, not the requester), `.../holds` and `.../holds/{hold}/lift` put and lift
legal holds, `GET .../privacy` shows the file's record, `GET /v1/erasure-requests` the
requests waiting for approval, `GET /v1/erasures` the audit, and
`POST .../subject-access` exports everything held about the child (查阅复制). The same
commands are child-file actions too (`PRIVACY_ACTIONS`, by `POST /v1/children/{id}/actions`)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import AccessLogDep, App, CurrentUser, idempotency_store
from api.http.domain_problems import child_not_found, domain_problem
from api.http.idempotency import answer_once, command_id, request_hash
from api.http.problems import Problem, problem_answers, role_forbidden
from api.http.responses import OrjsonResponse
from api.http.services import run_command, store_call
from api.routes.case_models import Name, Required
from api.routes.cases import HEADER_PARAMETERS, idempotency_key
from domain import access
from domain.erasure import PRIVACY_ROLES
from domain.errors import CaseNotFound, DomainError, OutsideJurisdiction

router = APIRouter(prefix="/v1", tags=["privacy"])

Reason = Annotated[Required, StringConstraints(max_length=2000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EraseRequest(Body):
    """Why the child's personal data is to be erased (the lawful request, or retention)."""

    reason: Reason


class Decision(Body):
    """Why a request is rejected, or a hold lifted."""

    reason: Reason


class PutHold(Body):
    """A legal hold: why, under which reference, on the whole file or one case."""

    reason: Reason
    reference: Name
    case_id: Annotated[str | None, Field(max_length=64)] = None


class SubjectAccess(Body):
    """The guardian's lawful request the export answers (its reference)."""

    reference: Name


class ErasePersonalData(EraseRequest):
    """`erase_personal_data`: ask for erasure, as `POST .../erasure` does."""

    action: Literal["erase_personal_data"]


# What an approval of erasure names, like `closure` for a case: the subject or the action.
ErasureSubject = Literal["erasure", "erase_personal_data"]


class ApproveErasure(Body):
    """`approve` of the waiting erasure request, as `POST .../erasure/approval` does."""

    action: Literal["approve"]
    subject: ErasureSubject


class RejectErasure(Decision):
    """`reject` of the waiting erasure request, with a reason."""

    action: Literal["reject"]
    subject: ErasureSubject


class PlaceLegalHold(PutHold):
    """`place_legal_hold`: as `POST .../holds`."""

    action: Literal["place_legal_hold"]


class LiftLegalHold(Decision):
    """`lift_legal_hold`: as `POST .../holds/{hold}/lift`."""

    action: Literal["lift_legal_hold"]
    hold_id: Name


PrivacyAction = (ErasePersonalData | ApproveErasure | RejectErasure | PlaceLegalHold
                 | LiftLegalHold)
# The same classes, for isinstance (which narrows only on a literal tuple of them).
PRIVACY_ACTIONS = (ErasePersonalData, ApproveErasure, RejectErasure, PlaceLegalHold,
                   LiftLegalHold)


async def answer_privacy_action(app: Any, request: Request, user: Any, child_id: UUID,
                                body: PrivacyAction) -> Response:
    """`privacy_action` once per Idempotency-Key: a retry gets what it first answered."""
    key = idempotency_key(request)
    digest = request_hash("child_action", str(child_id), "", body.model_dump_json())
    return await answer_once(idempotency_store(request), user.subject, key, digest,
                             functools.partial(privacy_action, app, request, user, child_id,
                                               body, key))


async def privacy_action(app: Any, request: Request, user: Any, child_id: UUID,
                         body: PrivacyAction, key: str | None) -> Response:
    """One of `PRIVACY_ACTIONS` on the child's file, answered with the file's privacy record;
    403 for a role that may not send it (the command checks the caller's area)."""
    if not access.holds_any(user, PRIVACY_ROLES[body.action]):
        raise role_forbidden(body.action, user.roles, PRIVACY_ROLES[body.action])
    call: functools.partial[Any]
    match body:
        case ErasePersonalData():
            call = functools.partial(app.request_erasure, user, child_id, body.reason,
                                     command_id(user.subject, key))
        case ApproveErasure():
            call = functools.partial(app.approve_erasure, user, child_id)
        case RejectErasure():
            call = functools.partial(app.reject_erasure, user, child_id, body.reason)
        case PlaceLegalHold():
            call = functools.partial(app.put_legal_hold, user, child_id, reason=body.reason,
                                     reference=body.reference, case_id=body.case_id)
        case LiftLegalHold():
            call = functools.partial(app.lift_legal_hold, user, child_id, body.hold_id,
                                     body.reason)
    return await _command(request, child_id, call)


ANSWERS: dict[int | str, dict[str, Any]] = {
    **problem_answers(400, 401, 403, 404, 409, 422, 503)}


async def _command(request: Request, child_id: UUID, call: functools.partial[Any]
                   ) -> Response:
    return OrjsonResponse(await _run(request, child_id, call))


async def _run(request: Request, child_id: UUID, call: functools.partial[Any]) -> Any:
    try:
        return await run_command(request.app, call)
    except (CaseNotFound, OutsideJurisdiction):  # another area's file is as one not there
        raise child_not_found(child_id) from None
    except DomainError as error:
        raise domain_problem(error) from None


@router.post("/children/{child_id}/erasure", response_class=OrjsonResponse,
             responses=ANSWERS, openapi_extra=HEADER_PARAMETERS)
async def request_erasure(child_id: UUID, body: EraseRequest, user: CurrentUser, app: App,
                          request: Request) -> Response:
    """Ask for erasure of the child's personal data (caseworker or supervisor of the area);
    refused (409) while a case of the child is open or a legal hold stands."""
    asked = ErasePersonalData(action="erase_personal_data", reason=body.reason)
    return await answer_privacy_action(app, request, user, child_id, asked)


@router.post("/children/{child_id}/erasure/approval", response_class=OrjsonResponse,
             responses=ANSWERS, openapi_extra=HEADER_PARAMETERS)
async def approve_erasure(child_id: UUID, user: CurrentUser, app: App,
                          request: Request) -> Response:
    """A supervisor of the area, not the requester, approves: the erasure is recorded and the
    child's keys destroyed; from now on personal fields read `[已删除]`."""
    approval = ApproveErasure(action="approve", subject="erasure")
    return await answer_privacy_action(app, request, user, child_id, approval)


@router.post("/children/{child_id}/erasure/rejection", response_class=OrjsonResponse,
             responses=ANSWERS, openapi_extra=HEADER_PARAMETERS)
async def reject_erasure(child_id: UUID, body: Decision, user: CurrentUser, app: App,
                         request: Request) -> Response:
    """A supervisor of the area rejects the waiting request, with a reason."""
    rejection = RejectErasure(action="reject", subject="erasure", reason=body.reason)
    return await answer_privacy_action(app, request, user, child_id, rejection)


@router.post("/children/{child_id}/holds", response_class=OrjsonResponse, responses=ANSWERS,
             openapi_extra=HEADER_PARAMETERS)
async def put_legal_hold(child_id: UUID, body: PutHold, user: CurrentUser, app: App,
                         request: Request) -> Response:
    """An inspector or supervisor of the area puts the file, or one case, under legal hold."""
    hold = PlaceLegalHold(action="place_legal_hold", **body.model_dump())
    return await answer_privacy_action(app, request, user, child_id, hold)


@router.post("/children/{child_id}/holds/{hold_id}/lift", response_class=OrjsonResponse,
             responses=ANSWERS, openapi_extra=HEADER_PARAMETERS)
async def lift_legal_hold(child_id: UUID, hold_id: str, body: Decision, user: CurrentUser,
                          app: App, request: Request) -> Response:
    """An inspector or supervisor of the area lifts a hold, with a reason."""
    # Unvalidated: the path's id is any text, and one the file lacks is the domain's 422.
    lift = LiftLegalHold.model_construct(action="lift_legal_hold", hold_id=hold_id,
                                         reason=body.reason)
    return await answer_privacy_action(app, request, user, child_id, lift)


@router.post("/children/{child_id}/subject-access", response_class=OrjsonResponse,
             responses=ANSWERS)
async def subject_access(child_id: UUID, body: SubjectAccess, user: CurrentUser, app: App,
                         request: Request, access_log: AccessLogDep) -> Response:
    """Everything held about the child, for a guardian's lawful request (PIPL 查阅复制):
    produced by a supervisor of the area, recorded on the child's file, and the read logged
    in the access log before it is answered."""
    export = await _run(request, child_id, functools.partial(
        app.subject_access, user, child_id, body.reference))
    await access_log.record(user, resource_type="child", resource_id=str(child_id),
                            purpose="subject_access", child_id=str(child_id),
                            case_jurisdiction=export["jurisdiction"])
    return OrjsonResponse(export)


@router.get("/children/{child_id}/privacy", response_class=OrjsonResponse, responses=ANSWERS)
async def privacy(child_id: UUID, user: CurrentUser, app: App) -> Response:
    """The file's erasure request, erasure and standing holds (inspectors, supervisors); a
    file outside the reader's area is a 404, as a missing one."""
    if not access.may_read_erasures(user):
        raise Problem(403, "role_forbidden", "Your role may not do this",
                      "the privacy record of a child file is read by inspectors, admins and "
                      "supervisors of its area")
    try:
        return OrjsonResponse(await store_call(app.privacy, user, child_id))
    except (CaseNotFound, OutsideJurisdiction):
        raise child_not_found(child_id) from None


@router.get("/erasure-requests", response_class=OrjsonResponse, responses=ANSWERS)
async def erasure_requests(user: CurrentUser, app: App) -> Response:
    """The erasure requests of the reader's area waiting for a supervisor's approval, oldest
    first (retention's proposals among them): which child, asked when, by whom, why."""
    try:
        return OrjsonResponse({"items": await store_call(app.erasure_requests, user)})
    except DomainError as error:
        raise domain_problem(error) from None


@router.get("/erasures", response_class=OrjsonResponse, responses=ANSWERS)
async def erasures(user: CurrentUser, app: App) -> Response:
    """The erasure audit of the reader's area: what, when, requested and approved by whom."""
    try:
        return OrjsonResponse({"items": await store_call(app.erasures, user)})
    except DomainError as error:
        raise domain_problem(error) from None

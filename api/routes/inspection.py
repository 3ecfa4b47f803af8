"""Inspection: a case's full history, its state at any moment, its hash chain and its export.

Who may inspect, see personal fields and export is `domain.access`'s to say; every read is
written to the access log before it is answered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import AccessLogDep, App, CurrentUser, export_signing_key, scoped_case
from api.http.problems import Problem, problem_answers
from api.http.services import store_call
from api.inspection.casefile import build_case_file
from api.inspection.history import history_entry
from api.inspection.signing import key_id, public_key_text
from api.routes.answers import CaseState, ChainCheck, History, SigningKey
from api.routes.params import Instant  # noqa: TC001 (FastAPI reads query types at run time)
from domain import access
from domain.errors import CaseNotFound

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from api.http.access_log import AccessLog
    from domain.actors import Actor
    from domain.application import Wardship
    from domain.case import ProtectionCase

router = APIRouter(prefix="/v1", tags=["inspection"])

MAX_PAGE = 1000

AfterVersion = Annotated[int, Query(ge=0, le=2**62, description="events after this version")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="events per page")]
# The inspection reads answer their dicts through their model; unset keys stay out, as before.
_INSPECTION: dict[str, Any] = {"response_model_exclude_unset": True,
                               "responses": problem_answers(401, 403, 404, 422, 503)}


async def inspected_case(
    app: Wardship, user: Actor, case_id: UUID, log: AccessLog, purpose: str
) -> ProtectionCase:
    """The case if the caller may inspect it (404 outside their area, 403 for their role)."""
    if not access.may_inspect_cases(user):
        raise _forbidden("inspection needs the inspector, supervisor or admin role")
    case = await scoped_case(app, user, case_id)
    if not access.may_inspect(user, case.assignee, case.opened_by):
        raise _forbidden("a caseworker may inspect only the cases they lead or opened")
    await log.record(user, resource_type="case", resource_id=str(case_id), purpose=purpose,
               child_id=case.child_id, case_jurisdiction=case.jurisdiction)
    return case


def _forbidden(detail: str) -> Problem:
    return Problem(403, "role_forbidden", "Your role may not do this", detail)


@router.get("/cases/{case_id}/history", response_model=History, **_INSPECTION)
async def case_history(
    case_id: UUID, user: CurrentUser, app: App, log: AccessLogDep,
    after_version: AfterVersion = 0, limit: Limit = 100,
) -> dict[str, Any]:
    """Every event in order: type, actor and role, times, policy version, payload, hashes."""
    await inspected_case(app, user, case_id, log, "history")
    events = await store_call(app.case_events, case_id, after_version, None, limit + 1)
    reveal = access.sees_personal_data(user)
    page = [history_entry(e, reveal_personal=reveal) for e in events[:limit]]
    more = len(events) > limit
    return {
        "case_id": str(case_id),
        "personal_data": "shown" if reveal else "masked",
        "events": page,
        "next_after_version": page[-1]["version"] if more else None,
    }


@router.get("/cases/{case_id}/state", response_model=CaseState, **_INSPECTION)
async def case_state(
    case_id: UUID, user: CurrentUser, app: App, log: AccessLogDep,
    as_of: Annotated[Instant | None, Query(description="RFC 3339 time with offset; not with "
                                                       "`version`")] = None,
    version: Annotated[int | None, Query(ge=1, le=2**62, description="not with `as_of`")] = None,
) -> dict[str, Any]:
    """The case rebuilt from its events as it stood at a moment or version (default: now)."""
    if as_of is not None and version is not None:
        raise Problem(422, "invalid_request", "The request is not valid",
                      "give either as_of or version, not both")
    case = await inspected_case(app, user, case_id, log, "state")
    if version is not None and version > case.version:
        raise Problem(422, "version_out_of_range", "No such version",
                      f"the case has versions 1 to {case.version}")
    try:
        view = await store_call(
            lambda: app.case_as_of(case_id, version=version, as_of=as_of)
        )
    except CaseNotFound:
        raise Problem(404, "case_not_yet_opened", "The case did not exist then",
                      "the case was opened after that moment") from None
    recorded = await store_call(
        app.case_events, case_id, view["version"] - 1, view["version"], 1
    )
    recorded_at: datetime = recorded[0].timestamp
    moment = as_of or recorded_at
    for deadline in view["deadlines"]:
        # Past due but not yet recorded as missed: what the board showed as overdue then.
        deadline["overdue"] = deadline["status"] == "open" and deadline["due_at"] <= moment
    return {"case_id": str(case_id), "as_of": moment, "version": view["version"],
            "recorded_at": recorded_at, "state": view}


@router.get("/cases/{case_id}/verify", response_model=ChainCheck, **_INSPECTION)
async def case_verify(
    case_id: UUID, user: CurrentUser, app: App, log: AccessLogDep
) -> dict[str, Any]:
    """Recompute the case's hash chain from the stored events; name the first bad event."""
    await inspected_case(app, user, case_id, log, "verify")
    try:
        result: dict[str, Any] = await store_call(app.verify_chain, case_id)
    except CaseNotFound:
        raise Problem(404, "case_not_found", "No such case", f"no case {case_id}") from None
    return {"case_id": str(case_id), "checked_at": datetime.now(UTC), **result}


@router.get("/cases/{case_id}/export", response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "the signed case file (format wardship-case-file/1)"},
                       **problem_answers(401, 403, 404, 422, 503)})
async def case_export(
    case_id: UUID, request: Request, user: CurrentUser, app: App, log: AccessLogDep
) -> Response:
    """The signed, self-contained case file; check it offline with `wardship verify FILE`."""
    return await case_file_answer(request, user, app, log, case_id)


async def case_file_answer(
    request: Request, user: Actor, app: Wardship, log: AccessLog, case_id: UUID
) -> Response:
    """The signed case file as a download, for those who may export (also the timeline
    page's download button); the read is logged first."""
    if not access.may_export(user):
        raise _forbidden("the case file holds personal data: inspectors and supervisors export")
    case = await inspected_case(app, user, case_id, log, "export")
    key = export_signing_key(request)
    document = await run_in_threadpool(_case_file, app, case, user, key)
    return Response(
        json.dumps(document, ensure_ascii=False, indent=1), media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}.json"'},
    )


@router.get("/inspection/signing-key", response_model=SigningKey,
            responses=problem_answers(503))
async def signing_key(request: Request) -> dict[str, str]:
    """The public key that signs exported case files (public: no token needed)."""
    public = public_key_text(export_signing_key(request).public_key())
    return {"algorithm": "Ed25519", "public_key": public, "key_id": key_id(public)}


def _case_file(
    app: Wardship, case: ProtectionCase, user: Actor, key: Ed25519PrivateKey
) -> dict[str, Any]:
    events = app.case_events(case.id)
    policy = app.policies.get(case.policy_version)
    if policy is None:
        raise Problem(503, "policy_invalid", "The case's deadline policy is not installed",
                      f"install policy {case.policy_version!r} to export this case")
    return build_case_file(
        case_id=str(case.id), events=events, policy=policy,
        stored_chain=app.verify_chain(case.id), exported_at=datetime.now(UTC),
        exported_by=user, key=key,
    )


"""Case commands and the case read: open a case, read it, perform one action on it."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from api.deps import (
    BEARER_SECURITY,
    AccessLogDep,
    App,
    AppAndWriter,
    CurrentUser,
    Opener,
    idempotency_store,
    may_see,
    metrics_of,
    own_writes,
    scoped_case,
)
from api.http.domain_problems import case_not_found, domain_problem
from api.http.idempotency import answer_once, command_id, request_hash
from api.http.problems import Problem, problem_answers, role_forbidden
from api.http.responses import OrjsonResponse, etag
from api.http.services import run_command, store_call
from api.routes.case_models import ActionBody, CaseView, OpenCase
from domain import access
from domain.actions import RULES
from domain.errors import CaseNotFound, DomainError, StaleVersion
from domain.views import case_view

if TYPE_CHECKING:
    from domain.actors import Actor
    from domain.application import Wardship

router = APIRouter(prefix="/v1/cases", tags=["cases"])

# The action route reads its two optional headers from `request.headers` rather than as
# FastAPI `Header` parameters: those cost a validation pass per request even when absent.
_HEADERS: dict[str, tuple[TypeAdapter[str], str]] = {
    "Idempotency-Key": (
        TypeAdapter(Annotated[str, StringConstraints(
            min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:~+/=-]+$")]),
        "Makes a retry safe: the same key gets the first answer"),
    "If-Match": (
        # The pattern is what `_expected_version` reads; other values are answered 400.
        TypeAdapter(Annotated[str, StringConstraints(max_length=40), Field(
            json_schema_extra={"pattern": r'^(\*|(W/)?"*[0-9]{1,12}"*)$'})]),
        'The version the caller read (its ETag, e.g. "3"); 412 if stale'),
}
HEADER_PARAMETERS: dict[str, Any] = {"parameters": [
    {"name": name, "in": "header", "required": False, "description": description,
     "schema": {**adapter.json_schema(), "title": name}}
    for name, (adapter, description) in _HEADERS.items()
]}


# For routes that take only the Idempotency-Key (case opening, child-file actions).
KEY_PARAMETER: dict[str, Any] = {"parameters": HEADER_PARAMETERS["parameters"][:1]}


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked; None when it sent none."""
    return _header(request, "Idempotency-Key")


def _header(request: Request, name: str) -> str | None:
    """An optional header checked as its schema says; 422 like any other bad parameter."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return _HEADERS[name][0].validate_python(value)
    except ValidationError as error:
        raise RequestValidationError([
            {**e, "loc": ("header", name)} for e in error.errors(include_url=False)
        ]) from None


@router.post(
    "", status_code=201, response_class=OrjsonResponse,
    responses={201: {"model": CaseView, "description": "the case opened"},
               **problem_answers(400, 401, 403, 409, 413, 422, 503)},
    openapi_extra=KEY_PARAMETER,
)
async def open_case(
    body: OpenCase, user: Opener, app: App, request: Request
) -> Response:
    """Open a case at discovery or report within the caller's jurisdiction; a retry with the
    same Idempotency-Key answers the case it opened."""
    if not access.may_open_case(user, body.jurisdiction):
        raise Problem(403, "outside_jurisdiction", "Outside your jurisdiction",
                      f"you may open cases under {user.jurisdiction} only")
    key = idempotency_key(request)

    async def answer() -> Response:
        try:
            view = await run_command(request.app, functools.partial(
                app.open_case, user, entry=body.entry.value, jurisdiction=body.jurisdiction,
                child=body.child.model_dump(mode="json"),
                concern=body.concern.model_dump(mode="json"),
                source=body.source.model_dump(mode="json"), occurred_at=body.occurred_at,
                command_id=command_id(user.subject, key),
            ))
        except DomainError as error:
            raise domain_problem(error) from None
        own_writes(request).wrote(user.subject, view["position"])
        return OrjsonResponse(view, status_code=201, headers={
            "Location": f"/v1/cases/{view['id']}", "ETag": etag(view["version"]),
            "X-Position": str(view["position"]),
        })

    digest = request_hash("open_case", body.model_dump_json())
    return await answer_once(idempotency_store(request), user.subject, key, digest, answer)


@router.get(
    "/{case_id}", response_class=OrjsonResponse,
    responses={200: {"model": CaseView, "description": "the case now"},
               **problem_answers(401, 404, 422, 503)},
)
async def get_case(
    case_id: UUID, user: CurrentUser, app: App, access_log: AccessLogDep
) -> OrjsonResponse:
    """The case now: stage, grade, deadlines and the caller's allowed actions; ETag = version."""
    case = await scoped_case(app, user, case_id)
    view = case_view(case, user)
    await access_log.record(user, resource_type="case", resource_id=str(case.id),
                      child_id=case.child_id, case_jurisdiction=case.jurisdiction)
    return OrjsonResponse(view, headers={"ETag": etag(view["version"])})


@router.post(
    "/{case_id}/actions", response_class=OrjsonResponse,
    responses={200: {"model": CaseView, "description": "the case after the action"},
               **problem_answers(400, 401, 403, 404, 409, 412, 413, 422, 503)},
    openapi_extra={**BEARER_SECURITY, **HEADER_PARAMETERS},
)
async def perform_action(
    case_id: UUID, body: ActionBody, app_and_user: AppAndWriter, request: Request,
) -> Response:
    """Perform one action, e.g. `{"action": "accept_report", "grade": "red", ...}`."""
    app, user = app_and_user
    if_match = _header(request, "If-Match")
    key = idempotency_key(request)
    # Plain accessors, not dependencies: each dependency costs on the hot path.
    store, metrics = idempotency_store(request), metrics_of(request)
    if not access.holds_any(user, RULES[body.action].roles):
        raise role_forbidden(body.action, user.roles, RULES[body.action].roles)
    expected = _expected_version(if_match)

    async def answer() -> Response:
        try:
            view = await run_command(request.app, functools.partial(
                app.perform, case_id, user, body.action, body.params(),
                occurred_at=body.occurred_at, expected_version=expected,
                command_id=command_id(user.subject, key)))
        except DomainError as error:
            metrics.commands.labels(body.action, error.code).inc()
            raise await _refusal(app, user, case_id, error) from None
        metrics.commands.labels(body.action, "done").inc()
        own_writes(request).wrote(user.subject, view["position"])
        return OrjsonResponse(view, headers={"ETag": etag(view["version"]),
                                             "X-Position": str(view["position"])})

    digest = request_hash(str(case_id), if_match or "", body.model_dump_json())
    return await answer_once(store, user.subject, key, digest, answer)


def _expected_version(if_match: str | None) -> int | None:
    """The version in an If-Match header (`"3"`, `W/"3"` or `3`); None for absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isascii() or not tag.isdigit() or len(tag) > 12:
        raise Problem(400, "invalid_if_match", "If-Match is not a case version",
                      'send the ETag you read, e.g. If-Match: "3"')
    return int(tag)


async def _refusal(app: Wardship, user: Actor, case_id: UUID, error: DomainError) -> Problem:
    """The problem for a refused action, never revealing a case the caller may not see."""
    if isinstance(error, CaseNotFound):
        return case_not_found(case_id)
    try:
        case = await store_call(app.get_case_aggregate, case_id)
    except CaseNotFound:
        return case_not_found(case_id)
    if not may_see(case, user):
        return case_not_found(case_id)
    if isinstance(error, StaleVersion):
        return Problem(412, "precondition_failed", "The case changed since you read it",
                       error.message, current_version=case.version,
                       headers={"ETag": etag(case.version)})
    return domain_problem(error)

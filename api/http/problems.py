"""RFC 9457 problem details: the one shape of every error Wardship answers with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from eventsourcing import persistence
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from deploy.outages import DATABASE_UNREACHABLE
from domain.errors import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from fastapi import FastAPI, Request

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:wardship:problem:"

log = structlog.get_logger("wardship.problems")


class ProblemDetails(BaseModel):
    """The body of every error answer; extension members (e.g. `errors`) may follow."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(examples=[TYPE_PREFIX + "case_not_found"])
    title: str
    status: int
    code: str = Field(description="stable, machine-readable reason, e.g. `transition_refused`")
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")


# What each declared error status means on any route that answers it.
_MEANINGS = {
    400: "The body is not JSON, or a header is malformed",
    401: "No valid bearer token",
    403: "The caller's role or jurisdiction does not allow this",
    404: "No such resource, or one outside the caller's jurisdiction",
    409: "Refused in the case's present state (or a retry of a request still running)",
    412: "If-Match names a version that is no longer current",
    413: "The request body is too large",
    422: "The request is not valid",
    429: "Too many at once (e.g. live streams per user); retry after Retry-After",
    503: "Not ready: the store, a read model or a key is unavailable; retry later",
}


def problem_answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` entries for the error statuses it answers, as problem details."""
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": _MEANINGS[status], "content": content}
            for status in statuses}


def role_forbidden(action: str, roles: Iterable[str], allowed: Iterable[str]) -> Problem:
    """403 for an action none of the caller's roles may send, naming the roles that may."""
    return Problem(403, "role_forbidden", "Your role may not do this",
                   f"'{action}' is sent by: {', '.join(sorted(allowed))}; your roles: "
                   f"{', '.join(sorted(roles)) or 'none'}")


def problem_schemas() -> dict[str, Any]:
    """The OpenAPI components that `problem_answers` refers to."""
    return {"Problem": ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization")}


class Problem(Exception):
    """An error answered as problem details, e.g. `Problem(409, "transition_refused", ...)`.

    Extra keyword arguments become extension members (e.g. `allowed_actions=[...]`).
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The JSON members of this problem."""
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """An `application/problem+json` response for `problem`."""
    return JSONResponse(
        jsonable_encoder(problem.body(instance)),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Drop the rejected input: it may be a child's personal data.
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
    problem = Problem(
        422, "invalid_request", "The request is not valid", f"{len(errors)} error(s)",
        errors=errors,
    )
    return problem_response(problem, request.url.path)


_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    title = code.replace("_", " ").capitalize()
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    problem = Problem(exc.status_code, code, title, str(exc.detail), headers=headers)
    return problem_response(problem, request.url.path)


def _allowed_methods(request: Request) -> str:
    """Every method served at the request's path; Starlette's own 405 names one route's only."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


# Seconds a client is asked to wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER = 5
# Driver, pool and event-store errors that mean "the database cannot be reached now" (a
# refused or dropped connection, no pooled connection in time, no answer to a save in time):
# never the request's fault, and a retry after the outage succeeds.
DATABASE_UNAVAILABLE = (*DATABASE_UNREACHABLE, StoreUnavailable)
# The same answer for a database without Wardship's tables (not migrated yet).
DATABASE_NOT_MIGRATED = (psycopg.errors.UndefinedTable, persistence.ProgrammingError)


def database_unavailable(detail: str | None = None) -> Problem:
    """The one answer to a request the database cannot serve now: 503, retry later."""
    return Problem(
        503, "database_unavailable", "The database is unavailable",
        detail or "the database cannot be reached now; retry after Retry-After seconds, "
        "and if it lasts, check PostgreSQL (GET /readyz names what is down)",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)})


def _not_migrated(exc: Exception) -> bool:
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    return isinstance(cause, psycopg.errors.UndefinedTable)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DATABASE_NOT_MIGRATED) and not _not_migrated(exc):
        return await _on_unhandled(request, exc)  # a programming error, not an outage
    log.warning("database_unavailable", path=request.url.path, error_type=type(exc).__name__)
    if isinstance(exc, StoreUnavailable):
        problem = database_unavailable(str(exc))
    elif isinstance(exc, DATABASE_NOT_MIGRATED):
        problem = database_unavailable(
            "the database has no Wardship tables yet: run `wardship migrate`, then retry")
    else:
        problem = database_unavailable()
    return problem_response(problem, request.url.path)


def log_unhandled(request: Request, exc: Exception) -> None:
    """The one log line of a fault of ours: path and error type, traceback without locals."""
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    log_unhandled(request, exc)
    problem = Problem(500, "internal_error", "Internal error", "The error has been logged.")
    return problem_response(problem, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error raised in `app` as problem details."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for error_type in (*DATABASE_UNAVAILABLE, *DATABASE_NOT_MIGRATED):
        app.add_exception_handler(error_type, _on_database_error)
    app.add_exception_handler(Exception, _on_unhandled)

"""Rendering a page: the template in the browser's language, the navigation the user's roles
open, the CSRF token; and the error pages (403, 404...) for problems raised by page routes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.domain_problems import domain_problem
from api.http.problems import (
    DATABASE_NOT_MIGRATED,
    DATABASE_UNAVAILABLE,
    Problem,
    database_unavailable,
    log_unhandled,
)
from api.ui.csrf import CSRF_FIELD, csrf_token, keep_csrf_cookie
from api.ui.i18n import environment, language
from api.ui.session import SignInNeeded, secure_cookies
from domain import access
from domain.calendar import CHINA_TIME
from domain.errors import DomainError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from fastapi import Request, Response

    from domain.actors import Actor
    from domain.codes import Role

HERE = Path(__file__).parent
# What the API answers with its 503 "database unavailable" (api.http.problems).
OUTAGES: tuple[type[Exception], ...] = DATABASE_UNAVAILABLE
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# The navigation: each page, its title (a catalogue message id) and who may open it - the
# access policy's sets, as the API's routes for the same reads use.
PAGES: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("/ui/board", "Overdue board", access.READERS),
    ("/ui/inbox", "Inbox", access.SUPERVISORS),
    ("/ui/approvals", "Approvals", access.SUPERVISORS),
    ("/ui/stats", "Statistics", access.READERS),
    ("/ui/cases", "Case search", access.READERS),
    ("/ui/access", "Access log", access.AUDITORS),
)


def when(value: object) -> str:
    """A time as China reads it, to the minute ('-' for none)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return "-"
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` for this request's user and language."""
    lang = language(request)
    user: Actor | None = getattr(request.state, "user", None)
    nav = [(path, title) for path, title, roles in PAGES
           if user is not None and access.holds_any(user, roles)]
    page = environment(lang, TEMPLATES_DIR).get_template(template)
    html = page.render(user=user, nav=nav, path=request.url.path,
                       here=quote(str(request.url.path)), csrf=csrf_token(request),
                       csrf_field=CSRF_FIELD, when=when, **context)
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    keep_csrf_cookie(request, response, secure_cookies(request))
    return response


def error_page(request: Request, status: int, code: str, detail: str | None = None) -> Response:
    """The page for a refusal: what it means in the user's language, and the code."""
    return render(request, "error.html", status=status, status_code=status, code=code,
                  detail=detail)


class PageRoute(APIRoute):
    """A page route: problems answer as pages, a missing session as a redirect to sign in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/ui/login?next={target}", status_code=303)
            except Problem as problem:
                return error_page(request, problem.status, problem.code, problem.detail)
            except RequestValidationError:
                return error_page(request, 422, "invalid_request")
            except DomainError as error:
                refusal = domain_problem(error)
                return error_page(request, refusal.status, refusal.code, refusal.detail)
            except OUTAGES:
                # The API's answer to an outage (503, retry later), as a page.
                return error_page(request, 503, database_unavailable().code)
            except (StarletteHTTPException, *DATABASE_NOT_MIGRATED):
                raise  # the app's handlers give these their own status (413, 503, ...)
            except Exception as error:
                # A fault of ours: logged as the API logs one, and answered as a page in the
                # user's language rather than the API's JSON.
                log_unhandled(request, error)
                return error_page(request, 500, "internal_error")

        return page_handler

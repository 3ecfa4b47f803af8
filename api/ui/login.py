"""Sign-in and sign-out: in development a page that takes a development token (as
`wardship token` prints); the language switch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.http.problems import Problem
from api.ui.csrf import check_csrf
from api.ui.i18n import LANG_COOKIE
from api.ui.oidc import oidc_enabled
from api.ui.render import PageRoute, render
from api.ui.session import (
    HOME,
    end_session,
    safe_next,
    secure_cookies,
    session_actor,
    start_session,
)
from domain import access
from domain.i18n import LANGUAGES

if TYPE_CHECKING:
    from api.http.auth import TokenVerifier
    from api.settings import Settings

router = APIRouter(prefix="/ui", route_class=PageRoute)


def _development(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.environment == "development"


@router.get("", response_class=RedirectResponse)
@router.get("/", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    """The pages start at the overdue board (or the sign-in page without a session)."""
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
async def login_page(
    request: Request, next_page: Annotated[str | None, Query(alias="next", max_length=300)] = None,
) -> Response:
    """The sign-in form (a development token in development)."""
    if await session_actor(request) is not None:
        return RedirectResponse(safe_next(next_page), status_code=303)
    return render(request, "login.html", next_page=safe_next(next_page),
                  development=_development(request), refused=False,
                  oidc=oidc_enabled(request.app.state.settings))


@router.post("/login")
async def sign_in(request: Request) -> Response:
    """Check the token as the API does and keep it in the session cookie."""
    form = await check_csrf(request)
    if not _development(request):
        raise Problem(404, "not_found", "Not found", "development sign-in is off in production")
    verifier: TokenVerifier = request.app.state.token_verifier
    token = form.get("token", "").strip()
    try:
        user, expires_at = await verifier.verify(token)
    except Problem:
        return render(request, "login.html", status=401, next_page=safe_next(form.get("next")),
                      development=True, refused=True, oidc=False)
    if access.is_client_only(user):
        return render(request, "login.html", status=403, next_page=safe_next(form.get("next")),
                      development=True, refused=True, oidc=False)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    start_session(response, token, expires_at, secure_cookies(request))
    return response


@router.post("/logout")
async def sign_out(request: Request) -> Response:
    """End the session."""
    await check_csrf(request)
    response = RedirectResponse("/ui/login", status_code=303)
    end_session(response, secure_cookies(request))
    return response


@router.get("/lang/{lang}")
async def switch_language(
    request: Request, lang: str,
    next_page: Annotated[str | None, Query(alias="next", max_length=300)] = None,
) -> Response:
    """Show the pages in `lang` (zh or en) from now on; back to the page it was asked from."""
    target = next_page if next_page == "/ui/login" else safe_next(next_page)
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True,
                            samesite="strict", secure=secure_cookies(request), path="/ui")
    return response

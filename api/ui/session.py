"""The page session: the signed-in user's token in an HttpOnly, SameSite=Strict cookie
(Secure outside development), verified on each request by the API's own `TokenVerifier`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from api.http.problems import Problem
from domain import access
from domain.actors import Actor  # noqa: TC001 (FastAPI reads the dependency's annotation)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastapi import Response

    from api.http.auth import TokenVerifier
    from api.settings import Settings
    from domain.codes import Role

SESSION_COOKIE = "wardship_session"
HOME = "/ui/board"


class SignInNeeded(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure everywhere but in development (plain http on localhost)."""
    settings: Settings = request.app.state.settings
    return settings.environment != "development"


async def session_actor(request: Request) -> tuple[Actor, float] | None:
    """The user of the session cookie and when their token expires; None without a valid one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(token)
    except Problem:
        return None


async def page_user(request: Request) -> Actor:
    """The signed-in user; a redirect to /ui/login without a session, 403 for a client."""
    found = await session_actor(request)
    if found is None:
        raise SignInNeeded
    user = found[0]
    if access.is_client_only(user):
        raise role_forbidden()
    request.state.user = user
    return user


def role_forbidden() -> Problem:
    return Problem(403, "role_forbidden", "Your role may not open this page",
                   "this page needs another role")


def page_for(roles: frozenset[Role]) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency giving the signed-in user if they hold one of `roles` (the access
    policy's sets), else the 403 page."""

    async def dependency(user: Annotated[Actor, Depends(page_user)]) -> Actor:
        if not access.holds_any(user, roles):
            raise role_forbidden()
        return user

    return dependency


def start_session(response: Response, token: str, expires_at: float, secure: bool) -> None:
    """Keep the token in the session cookie until it expires."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max(0, int(expires_at - time.time())),
                        httponly=True, samesite="strict", secure=secure, path="/ui")


def end_session(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=secure)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of this app only (no open redirect)."""
    if not target or not target.startswith("/ui/") or target.startswith("//") \
            or "\\" in target or target.startswith("/ui/login"):
        return HOME
    return target

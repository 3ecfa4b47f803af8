"""CSRF protection of every form: a random token in a SameSite=Strict cookie that the form
must send back (double submit), compared in constant time."""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

from api.http.problems import Problem

if TYPE_CHECKING:
    from fastapi import Request, Response

CSRF_COOKIE = "wardship_csrf"
CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    """The browser's token (kept on `request.state` once made for a first visit)."""
    token: str | None = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
    request.state.csrf = token
    return token


def keep_csrf_cookie(request: Request, response: Response, secure: bool) -> None:
    """Set the token's cookie when the browser does not hold it yet."""
    token = getattr(request.state, "csrf", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure, path="/ui")


async def check_csrf(request: Request) -> dict[str, str]:
    """The posted form's fields, after checking its token against the cookie's; else 403."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Problem(403, "csrf_refused", "The form has expired",
                      "reload the page and send the form again")
    return fields

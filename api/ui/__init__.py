"""The web pages under /ui/ (Chinese by default): the same app, access policy and read models
as the API, signed in with a cookie session instead of a bearer header."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.staticfiles import StaticFiles

from api.ui import (
    access_page,
    approvals,
    board,
    cases,
    erasure_requests,
    inbox,
    login,
    oidc,
    stats_page,
    timeline,
)
from api.ui.render import STATIC_DIR
from api.ui.security import SecurityHeadersMiddleware

if TYPE_CHECKING:
    from fastapi import FastAPI


def install_ui(app: FastAPI) -> None:
    """Add the pages, their static files and their security headers to `app`."""
    for pages in (login, oidc, board, inbox, approvals, erasure_requests, stats_page, cases,
                  timeline, access_page):
        app.include_router(pages.router, include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(SecurityHeadersMiddleware)

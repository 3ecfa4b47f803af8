"""Helpers for page tests: signing in through the sign-in form, as a browser does."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.api.support import Api

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form token"
    return found.group(1)


def sign_in(api: Api, sub: str, roles: list[str], jurisdiction: str) -> TestClient:
    """The app's client, signed in with a development token through /ui/login."""
    client = api.client
    client.cookies.clear()
    token = api.token(sub, roles, jurisdiction)
    page = client.get("/ui/login")
    answer = client.post("/ui/login", data={"csrf": csrf_of(page.text), "token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client

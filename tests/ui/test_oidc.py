"""Production sign-in: OpenID Connect with PKCE against a provider served on its own port."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import httpx

from deploy.ports import free_port
from tests.api.support import running_api, served
from tests.ui.idp import identity_provider

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CLIENT = "wardship-pages"
AUDIENCE = "wardship"
SUPERVISOR = {"sub": "sv-7", "name": "Invented Supervisor", "roles": ["supervisor"],
              "jurisdiction": "511102"}


@contextlib.contextmanager
def _signed_in_pages(tmp_path: Path, db_url: str) -> Iterator[tuple[str, httpx.Client]]:
    idp_port, app_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    site = f"http://127.0.0.1:{app_port}"
    provider = identity_provider(issuer, CLIENT, AUDIENCE, SUPERVISOR)
    with served(provider, idp_port), running_api(
            tmp_path, db_url, public_url=site, oidc_issuer=issuer, oidc_client_id=CLIENT,
            jwt_jwks_url=f"{issuer}/jwks", jwt_issuer=issuer, jwt_audience=AUDIENCE) as api, \
            served(api.client.app, app_port), httpx.Client(timeout=10) as browser:
        yield site, browser


def test_a_supervisor_signs_in_through_the_provider(tmp_path: Path, db_url: str) -> None:
    with _signed_in_pages(tmp_path, db_url) as (site, browser):
        login = browser.get(f"{site}/ui/login?next=/ui/inbox")
        assert 'href="/ui/oidc/start?next=/ui/inbox"' in login.text
        landed = browser.get(f"{site}/ui/oidc/start?next=/ui/inbox", follow_redirects=True)
        assert landed.status_code == 200
        assert landed.url.path == "/ui/oidc/callback"
        assert 'content="0;url=/ui/inbox"' in landed.text
        inbox = browser.get(f"{site}/ui/inbox")
        assert inbox.status_code == 200
        assert "Invented Supervisor · 督导" in inbox.text
        assert "通知" in inbox.text


def test_a_callback_this_browser_did_not_start_is_refused(tmp_path: Path, db_url: str) -> None:
    with _signed_in_pages(tmp_path, db_url) as (site, browser):
        browser.get(f"{site}/ui/oidc/start", follow_redirects=False)  # its own flow cookie
        forged = browser.get(f"{site}/ui/oidc/callback?code=stolen&state=someone-elses")
        assert forged.status_code == 403
        assert "wardship_session" not in browser.cookies

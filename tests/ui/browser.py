"""The browser harness: Debian's Chromium driven by Playwright, one served app (uvicorn, real
PostgreSQL, a real Temporal test server, the read models running) for the whole session."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
import psycopg
import pytest

from api.http.auth import dev_token
from projections.store import STATE_TABLE
from tests.api.support import case_body

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from api.settings import Settings
    from domain.application import Wardship

CHROMIUM = os.environ.get("WARDSHIP_CHROMIUM", "/usr/bin/chromium")
INSTALL = "apt-get install -y chromium fonts-noto-cjk"
# Where screenshots go: docs/screenshots/ when asked for (to refresh the README's), else a
# temporary folder.
SCREENSHOTS = os.environ.get("WARDSHIP_SCREENSHOTS")


def chromium_path() -> str:
    """The system's Chromium; the test fails saying how to install it (or skips when
    WARDSHIP_SKIP_BROWSER=1)."""
    found = shutil.which(CHROMIUM)
    if found is None:
        if os.environ.get("WARDSHIP_SKIP_BROWSER") == "1":
            pytest.skip("no Chromium, and WARDSHIP_SKIP_BROWSER=1")
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: run `{INSTALL}` "
                    "(or set WARDSHIP_SKIP_BROWSER=1 to skip them)", pytrace=False)
    return found


@dataclass
class Site:
    """The served app: its address, settings and application, and how to make test data."""

    base_url: str
    settings: Settings
    wardship: Wardship

    def token(self, sub: str, roles: list[str], jurisdiction: str) -> str:
        return dev_token(self.settings, subject=sub, roles=roles, jurisdiction=jurisdiction)

    def post(self, path: str, body: dict[str, Any], sub: str, roles: list[str],
             jurisdiction: str) -> dict[str, Any]:
        answer = httpx.post(f"{self.base_url}{path}", json=body, timeout=10, headers={
            "Authorization": f"Bearer {self.token(sub, roles, jurisdiction)}"})
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result

    def open_case(self, village: str, days_ago: int = 0) -> UUID:
        """An invented report, filed `days_ago`, by a caseworker of the township."""
        when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        view = self.post("/v1/cases", case_body(village, occurred_at=when), "cw-1",
                         ["caseworker"], village[:9])
        return UUID(view["id"])

    def act(self, case_id: UUID, body: dict[str, Any], sub: str, roles: list[str],
            jurisdiction: str) -> dict[str, Any]:
        return self.post(f"/v1/cases/{case_id}/actions", body, sub, roles, jurisdiction)

    def miss_intake(self, case_id: UUID) -> str:
        """The intake deadline missed and its supervisor notified, as the case's workflow
        records them; the notification's id."""
        now = datetime.now(UTC)
        intake = next(d for d in self.wardship.get_case(case_id)["deadlines"]
                      if d["kind"] == "intake")
        self.wardship.record_deadline_missed(case_id, intake["id"], now)
        notification = self.wardship.record_escalation(case_id, intake["id"], 1, now)
        assert notification is not None
        return notification

    def caught_up(self, within: float = 15) -> None:
        """Wait until every read model has applied the whole log."""
        deadline = time.monotonic() + within
        with psycopg.connect(str(self.settings.database_url), autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT (SELECT coalesce(max(notification_id), 0) FROM wardship_events),"
                    f" (SELECT min(position) FROM {STATE_TABLE})").fetchone()
                assert row is not None
                if row[1] is not None and row[1] >= row[0]:
                    return
                assert time.monotonic() < deadline, "the read models did not catch up"
                time.sleep(0.1)


def sign_in(page: Page, site: Site, sub: str, roles: list[str], jurisdiction: str,
            then: str = "/ui/board") -> None:
    """Sign in through the sign-in page, pasting a development token, as a user would."""
    page.goto(f"{site.base_url}/ui/login?next={then}")
    page.get_by_label("开发令牌").fill(site.token(sub, roles, jurisdiction))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{site.base_url}{then}*")


def screenshot(page: Page, name: str, folder: Path) -> Path:
    """A full-page screenshot named `name`.png in the screenshots folder."""
    target = Path(SCREENSHOTS) if SCREENSHOTS else folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

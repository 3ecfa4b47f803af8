"""Fixtures of the page tests: the app on a fresh database (HTTP tests), and for the
browser tests one served app and one Chromium for the whole session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from temporalio.testing import WorkflowEnvironment

from api.cli.migrate import migrate_database
from api.main import create_app
from api.settings import Settings
from deploy.binaries import temporal_test_server
from deploy.ports import free_port
from tests.api.support import Api, projections_running, running_api, served
from tests.conftest import new_database
from tests.ui.browser import Site, chromium_path

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    """The API and its pages on a fresh PostgreSQL database."""
    with running_api(tmp_path, db_url) as running:
        yield running


# The browser fixtures are the browser module's (scope "module"): Playwright's sync API runs
# an event loop of its own while it is open, which the async tests of other modules must not
# meet. Every browser test is in that one module, so they share one browser and one server.
@pytest.fixture(scope="module")
async def ui_temporal() -> AsyncIterator[str]:
    """A real Temporal test server for the browser tests' app."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()))
    try:
        yield env.client.service_client.config.target_host
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
def site(database_url: str, ui_temporal: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One served app (uvicorn on a free port, read models running) for every browser test."""
    with new_database(database_url, "ui") as db:
        settings = Settings.model_validate({
            "state_dir": tmp_path_factory.mktemp("ui-state"), "database_url": db,
            "temporal_address": ui_temporal})
        migrate_database(settings)
        app = create_app(settings)
        with served(app, free_port()) as base_url, projections_running(settings):
            yield Site(base_url, settings, app.state.wardship)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    """One Chromium (Debian's, not a downloaded build) for the browser tests; started after
    the served app, whose async fixtures cannot start inside Playwright's loop."""
    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1366x768 in Chinese; fails the test if the
    page broke its Content-Security-Policy or logged a script error."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                  accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield opened
    finally:
        context.close()
    assert [e for e in errors if "Content Security Policy" in e or "Error" in e] == []

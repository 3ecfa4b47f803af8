"""Helpers for API tests: the app on a fresh database, tokens for invented users, a case."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.main import create_app
from api.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

LESHAN_TOWNSHIP = "511102001"
LESHAN_VILLAGE = "511102001001"
# Master keys in an HSM's token, as production must have them (invented token, PIN and label;
# the settings are only read here, no module is loaded).
HSM_KEYS = {"key_provider": "pkcs11", "pkcs11_token": "wardship", "pkcs11_pin": "1234",
            "pkcs11_keys": "wardship-master-1"}


def recently(minutes: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def case_body(jurisdiction: str = LESHAN_VILLAGE, entry: str = "report",
              **changes: Any) -> dict[str, Any]:
    """An invented report about an invented child."""
    body: dict[str, Any] = {
        "entry": entry,
        "jurisdiction": jurisdiction,
        "child": {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
                  "id_number": None, "category": "left_behind", "address": "Invented Road 1",
                  "phone": None},
        "concern": {"categories": ["neglect"], "summary": "left alone for days",
                    "danger_now": False},
        "source": {"channel": "school",
                   "reporter": {"name": "Teacher B", "organisation": "Invented School",
                                "phone": "000", "mandatory": True}},
        "occurred_at": recently(),
    }
    body.update(changes)
    return body


@dataclass
class Api:
    """The running app and how to act as an invented user against it."""

    client: TestClient
    settings: Settings

    def token(self, sub: str, roles: list[str], jurisdiction: str) -> str:
        return dev_token(self.settings, subject=sub, roles=roles, jurisdiction=jurisdiction)

    def auth(self, sub: str = "cw-1", roles: list[str] | None = None,
             jurisdiction: str = LESHAN_TOWNSHIP) -> dict[str, str]:
        token = self.token(sub, roles or ["caseworker"], jurisdiction)
        return {"Authorization": f"Bearer {token}"}

    def open_case(self, jurisdiction: str = LESHAN_VILLAGE, *, as_: dict[str, str] | None = None,
                  **changes: Any) -> dict[str, Any]:
        headers = as_ or self.auth(jurisdiction=jurisdiction[:4])
        response = self.client.post("/v1/cases", json=case_body(jurisdiction, **changes),
                                    headers=headers)
        assert response.status_code == 201, response.text
        view: dict[str, Any] = response.json()
        return view

    def act(self, case_id: str, body: Any, headers: dict[str, str] | None = None, *,
            if_match: str | None = None, key: str | None = None) -> httpx.Response:
        """POST one action as `headers`' user (default: a township caseworker)."""
        extra = {"If-Match": if_match, "Idempotency-Key": key}
        response: httpx.Response = self.client.post(
            f"/v1/cases/{case_id}/actions", json=body,
            headers={**(headers or self.auth()),
                     **{k: v for k, v in extra.items() if v is not None}})
        return response


@contextlib.contextmanager
def running_api(tmp_path: Path, db_url: str | None, **values: Any) -> Iterator[Api]:
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url, **values})
    if db_url is not None:
        migrate_database(settings)  # as a deployment does before the API starts
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, settings)


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    """The API on a fresh PostgreSQL database."""
    with running_api(tmp_path, db_url) as running:
        yield running


@contextlib.contextmanager
def served(app: Any, port: int) -> Iterator[str]:
    """`app` behind a real uvicorn server on 127.0.0.1:`port`, in a thread; yields its URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # startup takes well under a second; a thread has no await
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def projections_running(settings: Settings) -> Iterator[None]:
    """Every read model kept up to date in a thread, as the projections process does."""
    import threading

    from api.bootstrap import bootstrap
    from projections.registry import MODELS
    from projections.runner import run_models

    stop = threading.Event()
    reader = bootstrap(settings, pool_size=2)
    thread = threading.Thread(target=run_models, args=(
        list(MODELS), reader, str(settings.database_url), stop))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        reader.close()



@contextlib.contextmanager
def notification_stream(api: Api, headers: dict[str, str]) -> Iterator[Any]:
    """The served app with read models running, and an open `/v1/notifications/stream`
    for `headers`' user (status checked); yields the httpx stream."""
    import httpx

    from deploy.ports import free_port

    with served(create_app(api.settings), free_port()) as base_url, \
            projections_running(api.settings), httpx.stream(
                "GET", f"{base_url}/v1/notifications/stream", headers=headers, timeout=20,
            ) as stream:
        assert stream.status_code == 200
        yield stream


def project(api: Api) -> None:
    """Bring every read model up to date, as the runner process would."""
    import psycopg

    from api.bootstrap import bootstrap
    from tests.projections.conftest import project_all

    reader = bootstrap(api.settings, pool_size=2)
    try:
        with psycopg.connect(str(api.settings.database_url), autocommit=True) as conn:
            project_all(reader, conn)
    finally:
        reader.close()

"""No log line carries a child's personal data or a caller's token, whatever fails."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import structlog
from opentelemetry import trace as otel_trace

from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.logs import configure_logging
from api.main import create_app
from api.settings import Settings
from deploy.ports import free_port, wait_listening
from tests.api.support import LESHAN_TOWNSHIP, api, case_body  # noqa: F401 (api: the fixture)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.api.support import Api


@contextlib.contextmanager
def configured(fmt: str) -> Iterator[None]:
    """Logging as a Wardship process configures it (to the captured stderr), then as before."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", fmt)
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level


def _fail_with(secret: dict[str, Any], token: str) -> None:
    request = {"headers": [(b"authorization", f"Bearer {token}".encode())], "body": secret}
    del request
    raise RuntimeError("the handler failed")


class TestLogLines:
    @pytest.mark.parametrize("fmt", ["json", "console"])
    def test_tracebacks_show_no_local_variables(
        self, fmt: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Built apart, so that the traceback's source lines cannot show them whole.
        name, credential = " ".join(["Planted", "Name Q"]), "-".join(["opaque", "cred1234"])
        with configured(fmt):
            try:
                _fail_with({"name": name}, credential)
            except RuntimeError:
                structlog.get_logger("test").exception("failed")
                logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        text = capsys.readouterr().err
        assert "the handler failed" in text
        assert name not in text
        assert credential not in text

    def test_an_app_built_without_the_cli_logs_no_local_variables_either(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        # As `uvicorn --factory api.main:create_app` would: no `wardship api` to configure.
        name, credential = " ".join(["Planted", "Name S"]), "-".join(["opaque", "cred5678"])
        structlog.reset_defaults()
        try:
            create_app(Settings(state_dir=tmp_path))
            try:
                _fail_with({"name": name}, credential)
            except RuntimeError:
                structlog.get_logger("api").exception("unhandled_error")
        finally:
            structlog.reset_defaults()
        text = capsys.readouterr()
        assert "the handler failed" in text.out + text.err
        assert name not in text.out + text.err
        assert credential not in text.out + text.err

    def test_nested_personal_keys_are_redacted(self, capsys: pytest.CaptureFixture[str]) -> None:
        with configured("json"):
            structlog.get_logger("test").info(
                "event", case={"child": {"name": "Planted Name R"}, "facts": [{"phone": "1390"}]},
                stage="intake")
        line = capsys.readouterr().err
        assert "Planted Name R" not in line
        assert "1390" not in line
        assert "intake" in line

    def test_tokens_and_request_scopes_are_never_logged(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        token = dev_token(Settings(jwt_secret="x" * 32), subject="cw-1", roles=["caseworker"],
                          jurisdiction="5111")
        with configured("json"):
            log = structlog.get_logger("test")
            log.warning("scope", scope={"headers": [("authorization", f"Bearer {token}")]})
            log.warning(f"refused Bearer {token}")
            log.warning("text", note=f"header was {token[:80]}")
        text = capsys.readouterr().err
        for part in token.split("."):
            assert part[:16] not in text


# Errors forced on a real `wardship api` process, whose standard error is read whole.
class TestServedApi:
    def test_no_name_phone_or_token_reaches_the_logs_whatever_fails(
        self, tmp_path: Path, db_url: str
    ) -> None:
        name, phone = f"Zq{uuid.uuid4().hex[:10]}", f"139{uuid.uuid4().int % 10**8:08d}"
        code = f"authcode{uuid.uuid4().hex}"
        settings = Settings(state_dir=tmp_path, database_url=db_url)
        migrate_database(settings)  # as a deployment does before the API starts
        token = dev_token(settings, subject="cw-1", roles=["caseworker"],
                          jurisdiction=LESHAN_TOWNSHIP)
        auth = {"Authorization": f"Bearer {token}"}
        body = case_body()
        body["child"].update(name=name, phone=phone)
        body["source"]["reporter"].update(name=f"R{name}", phone=phone)
        port = free_port()
        env = {**os.environ, "WARDSHIP_STATE_DIR": str(tmp_path), "DATABASE_URL": db_url,
               "WARDSHIP_PORT": str(port), "WARDSHIP_LOG_FORMAT": "json"}
        env.pop("TEMPORAL_ADDRESS", None)
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "api"], env=env,
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        statuses: list[int] = []
        try:
            wait_listening(port, 60)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth,
                              timeout=30) as client:
                _wait_for_store(client, body)
                # A malformed cursor, a body that is not JSON, an unknown field.
                statuses.append(client.get("/v1/cases", params={"cursor": "%%%"}).status_code)
                statuses.append(client.post("/v1/cases", content=f'{{"name": "{name}"',
                                            headers={"Content-Type": "application/json"}
                                            ).status_code)
                statuses.append(client.post("/v1/cases", json={**body, "x": name}).status_code)
                # A query string carries what a path does not: an OIDC authorization code.
                client.get("/ui/oidc/callback", params={"code": code, "state": name})
                # The database drops every connection while cases are being opened.
                statuses += _open_cases_through_outages(client, body, db_url)
        finally:
            server.terminate()
            _, stderr = server.communicate(timeout=30)
        logs = stderr.decode()
        assert 500 in statuses or 503 in statuses, statuses  # the outage did hit requests
        # The failures were logged (an outage is answered 503 and logged without a traceback).
        assert any(mark in logs for mark in
                   ('"unhandled_error"', "Exception in ASGI", '"database_unavailable"'))
        assert name not in logs
        assert phone not in logs
        assert code not in logs
        assert '"request"' in logs  # the access lines are there, without their query strings
        for part in token.split("."):
            assert part[:16] not in logs


def _wait_for_store(client: httpx.Client, body: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while client.post("/v1/cases", json=body).status_code != 201:
        assert time.monotonic() < deadline, "the API never opened its event store"
        time.sleep(0.2)


def _open_cases_through_outages(
    client: httpx.Client, body: dict[str, Any], db_url: str
) -> list[int]:
    database = urlsplit(db_url).path.lstrip("/")
    done = threading.Event()

    def terminate() -> None:
        with psycopg.connect(db_url, autocommit=True) as admin:
            while not done.is_set():
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
                time.sleep(0.02)

    killer = threading.Thread(target=terminate)
    killer.start()
    statuses: list[int] = []
    try:
        outage_ends = time.monotonic() + 2.0
        while time.monotonic() < outage_ends:
            for method, path in (("POST", "/v1/cases"), ("GET", "/v1/cases")):
                try:
                    answer = client.request(method, path, json=body if method == "POST" else None)
                except httpx.TransportError:
                    statuses.append(0)
                else:
                    statuses.append(answer.status_code)
    finally:
        done.set()
        killer.join()
    return statuses


class _RecordingTracers(otel_trace.TracerProvider):
    """A tracer provider as an exporter would install one, remembering every span begun."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Any]]] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> otel_trace.Tracer:
        provider = self

        class Recording(otel_trace.NoOpTracer):
            def start_span(self, name: str, *a: Any, attributes: Any = None,
                           **k: Any) -> otel_trace.Span:
                provider.spans.append((name, dict(attributes or {})))
                return otel_trace.INVALID_SPAN

        return Recording()


def test_no_request_reaches_an_opentelemetry_exporter_set_up_in_the_process(
    api: Api, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """FastAPI traces requests, URLs and query strings included, for any tracer provider a
    library installs; the API asks it for none."""
    tracers = _RecordingTracers()
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: tracers)
    answer = api.client.get("/v1/cases", params={"assignee": "Zhang Xiaoming"},
                            headers=api.auth())
    assert answer.status_code == 200
    assert tracers.spans == []

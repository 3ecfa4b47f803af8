"""Least privilege: roles from deploy/roles.sql, migrated as the owner, run as the app role.

The API, a projection runner and the worker (its relay included) all log in as the app role
against a real Temporal dev server; the app role can neither change stored events nor lift
the rules that keep them unchanged.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.main import create_app
from api.settings import Settings
from deploy.binaries import postgres_bin_dir
from projections import parked
from projections.registry import MODELS
from projections.runner import Fleet, rebuild, run_models
from tests.api.support import LESHAN_TOWNSHIP, LESHAN_VILLAGE, case_body
from tests.undecodable import insert_garbage
from workflows.case_workflow import workflow_id
from workflows.worker import WorkerConfig, serve

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from temporalio.testing import WorkflowEnvironment

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "roles.sql"


@dataclass(frozen=True)
class Deployment:
    """One provisioned database: the owner's URL (migrate) and the app's (every service)."""

    owner_url: str
    app_url: str


def psql() -> str:
    bundled = postgres_bin_dir() / "psql"
    found = str(bundled) if bundled.is_file() else shutil.which("psql")
    if found is None:
        pytest.skip("psql is needed to run deploy/roles.sql")
    return found


def as_role(url: str, role: str, password: str, database: str) -> str:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}", path=f"/{database}"))


@pytest.fixture
def deployment(database_url: str) -> Iterator[Deployment]:
    """deploy/roles.sql run as the superuser, with names of this test's own (roles are global)."""
    suffix = uuid.uuid4().hex[:10]
    owner, app, database = f"lp_owner_{suffix}", f"lp_app_{suffix}", f"lp_db_{suffix}"
    variables = {"owner": owner, "app": app, "database": database,
                 "owner_password": "owner-pw-test", "app_password": "app-pw-test"}
    command = [psql(), database_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(ROLES_SQL)]
    for name, value in variables.items():
        command[2:2] = ["-v", f"{name}={value}"]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
        yield Deployment(as_role(database_url, owner, "owner-pw-test", database),
                         as_role(database_url, app, "app-pw-test", database))
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)))
            for role in (app, owner):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def eventually(check: Callable[[], Any], within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            result = await asyncio.to_thread(check)
        except Exception:
            if time.monotonic() >= deadline:
                raise
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.2)


def refused(url: str, statement: str) -> str:
    """The error message PostgreSQL gives the role of `url` for `statement` (fails if none)."""
    with psycopg.connect(url, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege) as error:
        conn.execute(statement.encode())
    return str(error.value)


async def test_the_whole_stack_runs_as_the_app_role(
    deployment: Deployment, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    temporal = dev_server.client.service_client.config.target_host
    values = {"state_dir": tmp_path, "temporal_address": temporal, "task_queue": task_queue}
    migrate_database(Settings.model_validate({**values, "database_url": deployment.owner_url}))
    settings = Settings.model_validate({**values, "database_url": deployment.app_url})

    stop_runner, stop_worker = threading.Event(), asyncio.Event()
    runner_app = bootstrap(settings, pool_size=2)
    runner = threading.Thread(target=run_models, args=(
        list(MODELS), runner_app, deployment.app_url, stop_runner))
    worker_app = bootstrap(settings)
    worker = asyncio.create_task(serve(
        WorkerConfig(temporal_address=temporal, task_queue=task_queue), worker_app, stop_worker))
    runner.start()
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            await eventually(lambda: client.get("/readyz").status_code == 200)
            token = dev_token(settings, subject="cw-1", roles=["caseworker"],
                              jurisdiction=LESHAN_TOWNSHIP)
            opened = await asyncio.to_thread(
                client.post, "/v1/cases", json=case_body(LESHAN_VILLAGE),
                headers={"Authorization": f"Bearer {token}"})
            assert opened.status_code == 201, opened.text
            case_id = opened.json()["id"]

            def in_read_model() -> bool:
                with psycopg.connect(deployment.app_url) as conn:
                    row = conn.execute("SELECT 1 FROM rm_cases WHERE case_id = %s",
                                       (case_id,)).fetchone()
                return row is not None

            await eventually(in_read_model)
            # The worker's relay started the case's workflow.
            handle = dev_server.client.get_workflow_handle(workflow_id(case_id))
            deadline = time.monotonic() + 30
            while True:
                try:
                    await handle.describe()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            assert not worker.done()
            assert runner.is_alive()

            # A rebuild swaps tables: the app role may not; the owner may, under the live runner.
            with psycopg.connect(deployment.app_url, autocommit=True) as conn, \
                    pytest.raises(PermissionError, match="owner"):
                rebuild(MODELS["cases"](), runner_app, conn)
            owner_app = bootstrap(settings.model_copy(
                update={"database_url": deployment.owner_url}), pool_size=2)
            try:
                with psycopg.connect(deployment.owner_url, autocommit=True) as conn:
                    rebuild(MODELS["cases"](), owner_app, conn)
            finally:
                owner_app.close()
            assert await asyncio.to_thread(in_read_model)
    finally:
        stop_worker.set()
        stop_runner.set()
        await worker
        await asyncio.to_thread(runner.join)
        worker_app.close()
        runner_app.close()

    app = deployment.app_url
    assert "never changed" in refused(app, "UPDATE wardship_events SET topic = topic")
    assert "permission denied" in refused(app, "DELETE FROM wardship_events")
    assert "permission denied" in refused(app, "TRUNCATE wardship_events")
    assert "permission denied" in refused(app, "DELETE FROM wardship_snapshots")
    # The time index (domain.time_index) is held to the same rule as the events it indexes.
    assert "permission denied" in refused(app, "UPDATE wardship_event_times SET recorded_at = "
                                               "recorded_at")
    assert "permission denied" in refused(app, "DELETE FROM wardship_event_times")
    for table in ("wardship_events", "wardship_snapshots", "wardship_access_log"):
        assert "must be owner" in refused(app, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert "must be owner" in refused(
        app, "DROP FUNCTION wardship_refuse_history_change() CASCADE")
    # Nor replace it with one that lets changes through.
    assert "permission denied" in refused(
        app, "CREATE OR REPLACE FUNCTION wardship_refuse_history_change() RETURNS trigger "
             "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$")
    # The function every append goes through (domain.time_index) is the owner's too.
    assert "must be owner" in refused(
        app, "DROP FUNCTION wardship_append_events(uuid[], bigint[], text[], bytea[], "
             "timestamptz[], text)")
    # No DDL at all: the app role creates nothing in the schema.
    assert "permission denied" in refused(app, "CREATE TABLE wardship_mine (id int)")
    with psycopg.connect(app) as conn:
        stored = conn.execute("SELECT count(*) FROM wardship_events").fetchone()
        indexed = conn.execute("SELECT count(*) FROM wardship_event_times").fetchone()
    assert stored is not None
    assert stored[0] > 0
    assert indexed == stored  # the app role wrote each event's row with it


def test_the_app_role_parks_and_resolves_parked_events_but_may_not_delete_them(
    deployment: Deployment, tmp_path: Path
) -> None:
    migrate_database(Settings.model_validate({"state_dir": tmp_path,
                                              "database_url": deployment.owner_url}))
    settings = Settings.model_validate({"state_dir": tmp_path,
                                        "database_url": deployment.app_url})
    app = bootstrap(settings, pool_size=2)
    try:
        with psycopg.connect(deployment.owner_url, autocommit=True) as owner:
            insert_garbage(owner)
        with psycopg.connect(deployment.app_url, autocommit=True) as conn:
            fleet = Fleet([model() for model in MODELS.values()], app, conn)
            while fleet.step():
                pass
            rows = parked.rows(conn)
            assert rows
            with conn.cursor() as cur:
                assert parked.resolve(cur, rows[0].id, parked.BY_HAND + "test")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM wardship_parked_events")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("TRUNCATE wardship_parked_events")
    finally:
        app.close()

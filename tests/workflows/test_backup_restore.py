"""Backup and restore drill: a backup restored into an empty database verifies, rebuilds to the
same read models, and re-arms its pending deadlines on a Temporal server that never saw them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.settings import Settings
from deploy.binaries import temporal_cli
from projections.registry import MODELS
from projections.runner import Worker, rebuild
from tests.conftest import new_database
from tests.workflows.support import (
    CASEWORKER,
    accept,
    events_named,
    eventually,
    intake_deadline,
    notifications,
    open_red_report,
    seconds_policy_toml,
)
from tests.workflows.test_least_privilege import Deployment, deployment, refused
from workflows.case_workflow import CaseWorkflow, workflow_id
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from uuid import UUID

    from domain.application import Wardship

__all__ = ["deployment"]  # deploy/roles.sql provisioned for a test, shared with least privilege

# Far enough ahead to be pending in the backup and still pending when re-armed.
INTAKE = "20s"


@pytest.fixture
def empty_db_url(database_url: str) -> Iterator[str]:
    """A second new, empty database: where the backup is restored."""
    with new_database(database_url, "test_restore") as url:
        yield url


def wardship(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`wardship ARGS` as an operator runs it, in its own process."""
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def contents(url: str, relkinds: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (`r`) or view (`v`) in the public schema, in a fixed order."""
    with psycopg.connect(url) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind = ANY(%s) ORDER BY 1", (list(relkinds),))]
        return {name: sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(
            sql.Identifier(name))).fetchall(), key=repr) for name in names}


def build_cases(app: Wardship) -> dict[str, UUID]:
    """A pending deadline, a miss climbing the ladder, an accepted case and a closed one."""
    now = datetime.now(UTC)
    pending = open_red_report(app, now)
    missed = open_red_report(app, now - timedelta(seconds=60))
    deadline_id, due_at = intake_deadline(app, missed)
    app.record_deadline_missed(missed, deadline_id, due_at)
    app.record_escalation(missed, deadline_id, 1, due_at)
    accepted = open_red_report(app, now)
    accept(app, accepted, now)
    closed = open_red_report(app, now)
    app.perform(closed, CASEWORKER, "close", {"reason": "duplicate report"}, occurred_at=now)
    return {"pending": pending, "missed": missed, "accepted": accepted, "closed": closed}


def api_rows(url: str) -> None:
    """What the API writes beside the log: an idempotent answer and an access-log entry."""
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO wardship_idempotency (subject, key, request_hash, status,"
                     " headers, body) VALUES ('cw-test-1', 'k-1', 'h', 201, '{}', 'answer')")
        conn.execute("INSERT INTO wardship_access_log (subject, role, jurisdiction,"
                     " resource_type, resource_id, purpose) VALUES"
                     " ('cw-test-1', 'caseworker', '511102001', 'case', 'c-1', 'casework')")


async def test_a_restored_backup_verifies_rebuilds_the_same_and_fires_its_pending_deadline(
    db_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake=INTAKE))
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"WARDSHIP_CIPHER_KEY": key, "WARDSHIP_POLICY": str(policy),
           "WARDSHIP_STATE_DIR": str(tmp_path), "WARDSHIP_TASK_QUEUE": "restored-cases"}
    source = Settings(database_url=db_url, cipher_key=key, policy=policy, state_dir=tmp_path)
    migrate_database(source)

    # A working store: cases, a recorded miss and its notification, read models, API rows.
    app = bootstrap(source)
    try:
        cases = build_cases(app)
        with psycopg.connect(db_url, autocommit=True) as conn:
            for model in MODELS.values():
                Worker(model(), app, conn).catch_up()
    finally:
        app.close()
    api_rows(db_url)

    # Back up; restore into an empty database; a second restore there is refused.
    backup = tmp_path / "wardship.dump"
    done = wardship("backup", str(backup), env={**env, "DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    target = {**env, "DATABASE_URL": empty_db_url}
    done = wardship("restore", str(backup), env=target)
    assert done.returncode == 0, done.stderr
    again = wardship("restore", str(backup), env=target)
    assert again.returncode == 1
    assert "restore only into a new, empty database" in again.stderr

    # Every table is back as it was: events, snapshots, positions, idempotency, access log,
    # schema version.
    original = contents(db_url, "r")
    assert {"wardship_events", "wardship_snapshots", "wardship_relay_tracking",
            "wardship_projections", "wardship_idempotency", "wardship_access_log",
            "wardship_schema_version"} <= set(original)
    assert all(original[name] for name in ("wardship_events", "wardship_projections",
                                           "wardship_idempotency", "wardship_access_log"))
    assert contents(empty_db_url, "r") == original

    # Every chain verifies.
    verified = wardship("verify", "--all", env=target)
    assert verified.returncode == 0, verified.stdout
    assert "OK: every chain verifies (4 cases" in verified.stdout

    # Read models rebuilt from the restored log equal the originals.
    restored_settings = source.model_copy(update={"database_url": empty_db_url})
    restored = bootstrap(restored_settings)
    try:
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            for model in MODELS.values():
                rebuild(model(), restored, conn)
        assert contents(empty_db_url, "v") == contents(db_url, "v")

        # A Temporal server that never saw these cases: rearm (twice: it is idempotent).
        temporal = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()))
        try:
            target["TEMPORAL_ADDRESS"] = temporal.client.service_client.config.target_host
            for _ in range(2):
                rearmed = wardship("rearm", env=target)
                assert rearmed.returncode == 0, rearmed.stderr
                assert "in 3 workflows (4 cases read)" in rearmed.stdout
            with pytest.raises(RPCError):
                await temporal.client.get_workflow_handle(
                    workflow_id(str(cases["closed"]))).describe()
            async with build_worker(temporal.client, restored, {}, "restored-cases"):
                handle = temporal.client.get_workflow_handle(
                    workflow_id(str(cases["pending"])))
                deadline_id, due_at = intake_deadline(restored, cases["pending"])
                assert deadline_id in await handle.query(CaseWorkflow.pending)
                # The deadline pending in the backup is missed on time, once, and notified.
                pending = cases["pending"]
                await eventually(lambda: events_named(restored, pending, "DeadlineMissed"),
                                 within=40)
                [miss] = events_named(restored, pending, "DeadlineMissed")
                assert miss.occurred_at == due_at
                assert f"{pending}:{deadline_id}:L1" in notifications(restored, pending)
                # The miss recorded before the backup keeps climbing its ladder.
                missed = cases["missed"]
                missed_deadline, _ = intake_deadline(restored, missed)
                await eventually(
                    lambda: f"{missed}:{missed_deadline}:L2" in notifications(restored, missed))
        finally:
            await temporal.shutdown()
    finally:
        restored.close()


def test_a_backup_restored_by_another_deployments_owner_serves_its_app_role(
    db_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    """Restored without the old owners and grants: the new owner owns it all, and the
    migration step grants the new app role what it needs, no more."""
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"WARDSHIP_CIPHER_KEY": key, "WARDSHIP_STATE_DIR": str(tmp_path)}
    migrate_database(Settings(database_url=db_url, cipher_key=key, state_dir=tmp_path))
    app = bootstrap(Settings(database_url=db_url, cipher_key=key, state_dir=tmp_path))
    try:
        case_id = open_red_report(app)
    finally:
        app.close()
    backup = tmp_path / "wardship.dump"
    assert wardship("backup", str(backup), env={**env, "DATABASE_URL": db_url}).returncode == 0

    # The owner's password reaches pg_restore and psql, not their command lines.
    done = wardship("restore", str(backup), env={**env, "DATABASE_URL": deployment.owner_url})
    assert done.returncode == 0, done.stderr
    owner = urlsplit(deployment.owner_url).username
    with psycopg.connect(deployment.owner_url) as conn:
        owners = {row[0] for row in conn.execute(
            "SELECT DISTINCT relowner::regrole::text FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace")}
    assert owners == {owner}

    # The app role reads the case and maintains read models; history stays unchangeable.
    served = bootstrap(Settings(database_url=deployment.app_url, cipher_key=key,
                                state_dir=tmp_path))
    try:
        assert served.get_case_aggregate(case_id).id == case_id
        with psycopg.connect(deployment.app_url, autocommit=True) as conn:
            Worker(MODELS["cases"](), served, conn).catch_up()
    finally:
        served.close()
    app_url = deployment.app_url
    assert "never changed" in refused(app_url, "UPDATE wardship_events SET topic = topic")
    assert "permission denied" in refused(app_url, "DELETE FROM wardship_snapshots")
    assert "permission denied" in refused(app_url, "INSERT INTO wardship_schema_version VALUES (9)")


def test_a_damaged_backup_restores_nothing(
    db_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"WARDSHIP_CIPHER_KEY": key, "WARDSHIP_STATE_DIR": str(tmp_path)}
    settings = Settings(database_url=db_url, state_dir=tmp_path, cipher_key=key)
    migrate_database(settings)
    app = bootstrap(settings)
    try:
        for _ in range(20):
            open_red_report(app)
    finally:
        app.close()
    backup = tmp_path / "wardship.dump"
    assert wardship("backup", str(backup), env={**env, "DATABASE_URL": db_url}).returncode == 0
    # Damage the row data near the end: the schema and earlier rows are loaded before.
    archive = bytearray(backup.read_bytes())
    archive[-1500:-500] = b"\x55" * 1000
    backup.write_bytes(archive)

    done = wardship("restore", str(backup), env={**env, "DATABASE_URL": empty_db_url})
    assert done.returncode == 1
    assert "nothing was restored" in done.stderr
    assert "CaseOpened" not in done.stderr  # the damaged row is not quoted
    assert contents(empty_db_url, "rv") == {}

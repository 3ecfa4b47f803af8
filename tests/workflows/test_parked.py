"""The relay parks a case whose events it cannot decode and keeps relaying the others, so
their deadlines still fire; a lost database parks nothing; `wardship parked retry` signals
the parked case once it is fixed."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_cli
from deploy.migrate import apply_migrations
from domain.application import Wardship
from domain.codes import Stage
from domain.policy import load_policy
from domain.storage import event_store_env
from projections import parked
from tests.domain.builders import case_at
from tests.undecodable import damage, insert_garbage, restore, written_with_another_key
from tests.workflows.support import (
    eventually,
    intake_deadline,
    notifications,
    open_red_report,
    seconds_policy_toml,
    skipped_clock,
)
from workflows.case_workflow import workflow_id
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path
    from uuid import UUID

    from domain.clock import Clock
    from workflows.messages import CaseState

KEY = base64.b64encode(b"wardship-parked-test-key-32bytes").decode()


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(seconds_policy_toml())
    return path


def application(db_url: str, policy: Path, clock: Clock | None = None) -> Wardship:
    return Wardship(env=event_store_env(db_url, KEY, pool_size=10), policy=load_policy(policy),
                    clock=clock)


@pytest.fixture
def writer(db_url: str, policy: Path) -> Iterator[Wardship]:
    """The application the cases are opened with (the API's), on a migrated store."""
    app = application(db_url, policy)
    create_tracking_table(app)
    apply_migrations(db_url)
    yield app
    app.close()


@pytest.fixture
async def reader(
    writer: Wardship, db_url: str, policy: Path, time_skipping_env: WorkflowEnvironment
) -> AsyncIterator[Wardship]:
    """The worker process's own application: it has cached none of the writer's cases, and
    judges deadlines by the time-skipping server's clock, as these tests skip time."""
    app = application(db_url, policy, skipped_clock(time_skipping_env))
    yield app
    app.close()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def level_1(app: Wardship, case_id: UUID) -> bool:
    deadline_id, _ = intake_deadline(app, case_id)
    return f"{case_id}:{deadline_id}:L1" in notifications(app, case_id)


async def test_the_relay_parks_undecodable_cases_and_other_cases_deadlines_still_fire(
    time_skipping_env: WorkflowEnvironment, writer: Wardship, reader: Wardship,
    conn: psycopg.Connection[Any], db_url: str, policy: Path, task_queue: str, tmp_path: Path,
) -> None:
    env = time_skipping_env
    now = await env.get_current_time()
    # Red reports due in 10 s; between two good ones, a damaged one, one written with another
    # key and one that is garbage.
    first = open_red_report(writer, now)
    damaged = open_red_report(writer, now)
    original = damage(conn, damaged, 1)
    foreign = written_with_another_key(
        db_url, lambda app: open_red_report(app, now), policy=load_policy(policy))
    garbage, _ = insert_garbage(conn)
    second = open_red_report(writer, now)

    relay = Relay(reader, env.client, task_queue)
    async with build_worker(env.client, reader, {}, task_queue):
        await relay.run_once()
        assert relay.position() == writer.recorder.max_notification_id()

        # Both good cases' deadlines fire; the bad ones are parked with their case.
        await env.sleep(timedelta(seconds=12))
        await eventually(lambda: level_1(writer, first) and level_1(writer, second))
        rows = [row for row in parked.rows(conn) if row.consumer == "relay:wardship"]
        assert {row.originator_id for row in rows} == {damaged, foreign, garbage}
        assert all(row.error.startswith("decode failed: ") for row in rows)

        # Restored from a backup, the damaged case is signalled by `wardship parked retry`,
        # and its deadline, already past, fires at once.
        restore(conn, damaged, 1, original)
        ids = [str(row.id) for row in rows if row.originator_id == damaged]
        settings = {
            "DATABASE_URL": db_url, "WARDSHIP_CIPHER_KEY": KEY,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "WARDSHIP_TASK_QUEUE": task_queue, "WARDSHIP_POLICY": str(policy),
            "WARDSHIP_STATE_DIR": str(tmp_path),
        }
        retried = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "api.cli", "parked", "retry", *ids],
            env={**os.environ, **settings}, text=True, capture_output=True, timeout=120,
            check=False)
        assert retried.returncode == 0, retried.stderr
        assert f"case {damaged} signalled" in retried.stdout
        await env.sleep(timedelta(seconds=2))
        await eventually(lambda: level_1(writer, damaged))
        assert {row.originator_id for row in parked.rows(conn)} == {foreign, garbage}


async def test_a_database_lost_while_loading_a_case_parks_nothing(
    time_skipping_env: WorkflowEnvironment, writer: Wardship, reader: Wardship,
    conn: psycopg.Connection[Any], database_url: str, db_url: str, task_queue: str,
) -> None:
    env = time_skipping_env
    name = sql.Identifier(conn.info.dbname)
    case_id = open_red_report(writer, await env.get_current_time())
    conn.close()

    class CutOff(Relay):
        """A relay whose database goes away after it read the log, while it loads a case."""

        def state_of(self, case_id: UUID) -> CaseState:
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = %s", (conn.info.dbname,))
            return super().state_of(case_id)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - any of the store's errors
        await CutOff(reader, env.client, task_queue).run_once()
    assert parked.is_transient(raised.value)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))

    # Back: nothing was parked, the position did not move, and the case is relayed now.
    with psycopg.connect(db_url, autocommit=True) as again:
        assert parked.rows(again, include_resolved=True) == []
    relay = Relay(reader, env.client, task_queue)
    assert relay.position() == 0
    assert await relay.run_once() > 0
    await env.client.get_workflow_handle(workflow_id(str(case_id))).describe()
    with psycopg.connect(db_url, autocommit=True) as again:
        assert parked.rows(again, include_resolved=True) == []


async def test_a_case_temporal_refuses_for_good_is_parked_and_the_others_still_relayed(
    writer: Wardship, conn: psycopg.Connection[Any], task_queue: str,
) -> None:
    """A signal Temporal can never take (over its payload size limit) parks that case only:
    the relay moves on, and every other case's workflow is told of its deadlines."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        dev_server_extra_args=["--dynamic-config-value", "limit.blobSize.error=3000",
                              "--dynamic-config-value", "limit.blobSize.warn=1000"])
    try:
        before = open_red_report(writer)
        crowded = case_at(writer, Stage.ASSISTANCE)
        # Sixty planned services: sixty open deadlines, a state over the 3,000-byte limit.
        crowded.do("create_plan", services=[
            {"type": "counselling", "provider": f"centre {n}",
             "due_at": crowded.clock + timedelta(days=30)} for n in range(60)])
        after = open_red_report(writer)
        relay = Relay(writer, env.client, task_queue)
        await relay.run_once()
        assert relay.position() == writer.recorder.max_notification_id()
        rows = [row for row in parked.rows(conn) if row.consumer == "relay:wardship"]
        assert [(row.originator_id, row.error.split(":")[0]) for row in rows] == [
            (crowded.case_id, "signal failed")]
        for case_id in (before, after):
            handle = env.client.get_workflow_handle(workflow_id(str(case_id)))
            assert (await handle.describe()).status is not None
    finally:
        await env.shutdown()

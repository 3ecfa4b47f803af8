"""The worker and its relay ride out a database outage: a deadline due during it is still
recorded after it, and cases opened after it are relayed, with no restart (real servers)."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from api.bootstrap import ride_out_outages
from deploy.temporal import TemporalDevServer
from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.outage import Outage
from tests.workflows.support import (
    events_named,
    eventually,
    intake_deadline,
    open_red_report,
    seconds_policy_toml,
    start_workers,
)
from workflows.relay import create_tracking_table

if TYPE_CHECKING:
    from pathlib import Path

    from temporalio.client import WorkflowHandle
    from temporalio.testing import WorkflowEnvironment

KEY = base64.b64encode(b"wardship-outage-test-key-32bytes").decode()


async def test_a_deadline_due_during_a_database_outage_is_recorded_after_it(
    dev_server: WorkflowEnvironment, database_url: str, db_url: str, task_queue: str,
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="6s", levels=("0s", "1d")))
    app = Wardship(env=event_store_env(db_url, KEY), policy=load_policy(policy))
    ride_out_outages(app)
    create_tracking_table(app)
    [worker] = start_workers(1, dev_server.client, task_queue, database_url=db_url,
                             cipher_key=KEY, policy=policy, workdir=tmp_path, wake_early=1.0)
    outage = Outage(database_url, db_url)
    try:
        # The relay starts the case's workflow; then the database goes away for longer than
        # the time left to the deadline.
        before = open_red_report(app)
        await started(dev_server.client.get_workflow_handle(f"case-{before}"))
        _, due_at = intake_deadline(app, before)
        outage.begin()
        try:
            await asyncio.sleep(max((due_at - datetime.now(UTC)).total_seconds(), 0) + 4)
            assert worker.poll() is None, "the worker died during the outage"
        finally:
            outage.end()
        ended = time.monotonic()
        # The miss due during the outage is recorded once, at its due time.
        await eventually(lambda: events_named(app, before, "DeadlineMissed"), within=60)
        [missed] = events_named(app, before, "DeadlineMissed")
        assert missed.occurred_at == due_at
        print(f"\nmiss recorded {time.monotonic() - ended:.1f}s after the outage ended")
        # The relay goes on: a case opened after the outage gets its deadline judged too.
        after = open_red_report(app, child="Second Child")
        await eventually(lambda: events_named(app, after, "DeadlineMissed"), within=60)
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        app.close()


async def test_while_temporal_is_down_actions_are_accepted_and_deadlines_relayed_after(
    database_url: str, db_url: str, task_queue: str, tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="6s", levels=("0s", "1d")))
    app = Wardship(env=event_store_env(db_url, KEY), policy=load_policy(policy))
    create_tracking_table(app)
    temporal = TemporalDevServer(tmp_path / "temporal", headless=True)
    await asyncio.to_thread(temporal.start)
    port = temporal.port
    client = await Client.connect(temporal.address)
    [worker] = start_workers(1, client, task_queue, database_url=db_url, cipher_key=KEY,
                             policy=policy, workdir=tmp_path, wake_early=1.0)
    try:
        await started(client.get_workflow_handle(f"case-{open_red_report(app)}"))
        temporal.stop()
        # The event store is the truth: a report is accepted at once with Temporal down.
        accepted_at = time.monotonic()
        during = open_red_report(app, child="Second Child")
        assert time.monotonic() - accepted_at < 3.0  # no wait on Temporal, even when loaded
        _, due_at = intake_deadline(app, during)
        await asyncio.sleep(max((due_at - datetime.now(UTC)).total_seconds(), 0) + 2)
        assert worker.poll() is None, "the worker died while Temporal was down"
        await asyncio.to_thread(temporal.start)
        if temporal.port != port:
            pytest.skip("another program took Temporal's port meanwhile")
        back = time.monotonic()
        # The relay kept its position: the case opened during the outage gets its workflow,
        # and its deadline, due while Temporal was down, is recorded at its due time.
        await eventually(lambda: events_named(app, during, "DeadlineMissed"), within=90)
        [missed] = events_named(app, during, "DeadlineMissed")
        assert missed.occurred_at == due_at
        print(f"\nmiss recorded {time.monotonic() - back:.1f}s after Temporal was back")
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        temporal.stop()
        app.close()


async def started(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the relay has started the workflow."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await handle.describe()
            return
        except RPCError:
            assert time.monotonic() < deadline, "the relay never started the case's workflow"
            await asyncio.sleep(0.1)

"""A step woken before its due time waits without holding its workflow task open, and a
worker killed while it waits loses no deadline (real server)."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import EventType

from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.workflows.support import (
    events_named,
    eventually,
    intake_deadline,
    notifications,
    open_red_report,
    seconds_policy_toml,
    start_workers,
)
from workflows.case_workflow import workflow_id
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from pathlib import Path

    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

KEY = base64.b64encode(b"wardship-crash-test-key-32-bytes").decode()


async def test_a_worker_killed_while_a_woken_step_waits_still_records_the_miss_once(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="8s", levels=("0s", "1d")))
    app = Wardship(env=event_store_env(db_url, KEY), policy=load_policy(policy))
    create_tracking_table(app)
    [doomed] = start_workers(1, dev_server.client, task_queue, database_url=db_url,
                             cipher_key=KEY, policy=policy, workdir=tmp_path, wake_early=25.0)
    stop = asyncio.Event()
    try:
        # That worker relays the new case; its workflow wakes 5-25 s before the due time 8 s
        # away (at once), and its step waits.
        case_id = open_red_report(app)
        deadline_id, due_at = intake_deadline(app, case_id)
        await asyncio.sleep(max((due_at - datetime.now(UTC)).total_seconds() - 2, 0))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        assert events_named(app, case_id, "DeadlineMissed") == []

        # A new worker (its relay takes over the lease) picks the workflow up after
        # Temporal's task timeout and the step runs again.
        started = time.monotonic()
        relay = Relay(app, dev_server.client, task_queue, wake_early=25.0)
        async with build_worker(dev_server.client, app, {}, task_queue):
            relay_task = asyncio.create_task(relay.run(stop))
            level_1 = f"{case_id}:{deadline_id}:L1"
            await eventually(lambda: level_1 in notifications(app, case_id), within=60)
            stop.set()
            await relay_task
        [missed] = events_named(app, case_id, "DeadlineMissed")
        assert missed.occurred_at == due_at
        assert len(events_named(app, case_id, "EscalationRecorded")) == 1
        print(f"\nrecorded {time.monotonic() - started:.1f}s after the new worker started")
    finally:
        if doomed.poll() is None:
            doomed.kill()
        app.close()


async def workflow_task_seconds(client: Client, case_id: object) -> list[float]:
    """How long each workflow task of the case's workflow ran (started to completed, by the
    server's clock), and -1 for each that timed out."""
    started: dict[int, datetime] = {}
    spans: list[float] = []
    async for event in client.get_workflow_handle(workflow_id(str(case_id))).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started[event.event_id] = event.event_time.ToDatetime()
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            began = started[event.workflow_task_completed_event_attributes.started_event_id]
            spans.append((event.event_time.ToDatetime() - began).total_seconds())
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            spans.append(-1.0)
    return spans


async def test_a_woken_step_waits_for_its_due_time_without_holding_its_workflow_task(
    dev_server: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    # Held open through the wait, 10,000 tasks due together time out and replay
    # (docs/performance.md, the deadline burst); closed, each lasts milliseconds.
    relay = Relay(app, dev_server.client, task_queue, wake_early=6.0)
    stop = asyncio.Event()
    async with build_worker(dev_server.client, app, {}, task_queue):
        relay_task = asyncio.create_task(relay.run(stop))
        case_id = open_red_report(app)
        deadline_id, due_at = intake_deadline(app, case_id)
        await eventually(lambda: f"{case_id}:{deadline_id}:L1" in notifications(app, case_id))
        stop.set()
        await relay_task
    [missed] = events_named(app, case_id, "DeadlineMissed")
    assert missed.occurred_at == due_at
    spans = await workflow_task_seconds(dev_server.client, case_id)
    assert spans
    assert -1.0 not in spans, "a workflow task timed out"
    assert max(spans) < 3.0, f"a workflow task stayed open {max(spans):.1f}s of the 6 s wait"

"""A worker killed while a woken step waits for its due time loses no deadline (real server)."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

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
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from pathlib import Path

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
                             cipher_key=KEY, policy=policy, workdir=tmp_path, wake_early=5.0)
    stop = asyncio.Event()
    try:
        # That worker relays the new case; its workflow wakes 3 s in and waits for 8 s.
        case_id = open_red_report(app)
        deadline_id, due_at = intake_deadline(app, case_id)
        await asyncio.sleep(max((due_at - datetime.now(UTC)).total_seconds() - 2, 0))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        assert events_named(app, case_id, "DeadlineMissed") == []

        # A new worker (its relay takes over the lease) picks the workflow up after
        # Temporal's task timeout and the step runs again.
        started = time.monotonic()
        relay = Relay(app, dev_server.client, task_queue, wake_early=5.0)
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

"""`wardship worker` with two worker processes (real dev server): both serve the task queue, and
each deadline fires once though one of them is killed outright."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import EventType

from deploy import processes
from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.workflows.support import (
    CIPHER_KEY,
    events_named,
    eventually,
    intake_deadline,
    open_red_report,
    seconds_policy_toml,
    start_workers,
)
from workflows.case_workflow import workflow_id
from workflows.relay import create_tracking_table

if TYPE_CHECKING:
    from pathlib import Path
    from uuid import UUID

    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

CASES = 10


def child_pid(state_dir: Path, index: int) -> int | None:
    """The pid of the supervising worker's child `worker-<index>` (its pid file)."""
    found = processes.read_pid_file(state_dir / "run" / f"worker-{index}.pid")
    return int(found[0]) if found else None


def each_missed_once(app: Wardship, case_ids: list[UUID]) -> bool:
    return all(len(events_named(app, case_id, "EscalationRecorded")) == 1
               for case_id in case_ids)


async def served_by(client: Client, case_ids: list[UUID]) -> set[int]:
    """The pids of the processes that ran the cases' workflow tasks (Temporal records each
    poller's identity, "pid@host")."""
    pids: set[int] = set()
    for case_id in case_ids:
        handle = client.get_workflow_handle(workflow_id(str(case_id)))
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                identity = event.workflow_task_started_event_attributes.identity
                pids.add(int(identity.split("@")[0]))
    return pids


async def test_two_worker_processes_fire_each_deadline_once_though_one_is_killed(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, tmp_path: Path
) -> None:
    """One `wardship worker` running two processes; one is killed (SIGKILL) while the
    woken steps of every case wait for their due time in both."""
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="8s", levels=("0s", "1d")))
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY), policy=load_policy(policy))
    create_tracking_table(app)
    [worker] = await asyncio.to_thread(
        start_workers, 1, dev_server.client, task_queue, database_url=db_url, cipher_key=CIPHER_KEY,
        policy=policy, workdir=tmp_path, wake_early=25.0, processes=2)
    children = [child_pid(tmp_path, 1), child_pid(tmp_path, 2)]
    try:
        assert None not in children
        opened = datetime.now(UTC)
        case_ids = [open_red_report(app, opened, f"Child {i}") for i in range(CASES)]
        # The workflows wake 5-25 s before the due time 8 s away (at once); their steps then
        # wait for it.
        _, due_at = intake_deadline(app, case_ids[0])
        await asyncio.sleep(max((due_at - datetime.now(UTC)).total_seconds() - 2, 0))
        # Both processes took their share of the workflows (they stay cached where they ran).
        assert await served_by(dev_server.client, case_ids) == set(children)
        # The kill lands while the steps wait, before any deadline fired: else it proves nothing.
        assert all(not events_named(app, case_id, "DeadlineMissed") for case_id in case_ids)
        os.kill(children[0], signal.SIGKILL)  # type: ignore[arg-type]

        # The other process, or the one started in its place, records the killed one's misses.
        await eventually(lambda: child_pid(tmp_path, 1) not in (None, children[0]), within=30)
        await eventually(lambda: each_missed_once(app, case_ids), within=60)
        await asyncio.sleep(1)  # a second recording of any miss would be in by now
        for case_id in case_ids:
            [missed] = events_named(app, case_id, "DeadlineMissed")
            assert missed.occurred_at == intake_deadline(app, case_id)[1]
            assert len(events_named(app, case_id, "EscalationRecorded")) == 1
        assert "child_restarted" in (tmp_path / "worker-0.log").read_text()
        children.append(child_pid(tmp_path, 1))
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
        app.close()
    # Stopping the supervising process stopped its children.
    assert not any(processes.is_alive(pid) for pid in children if pid)

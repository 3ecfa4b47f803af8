"""Benchmark: delay from due time to recorded notification, 1,000 cases falling due together.

Run with `./run bench -k deadline_latency` (dev server in memory, real PostgreSQL).
`DEADLINE_BENCH=<variant>` measures one of the tuning variants recorded in docs/performance.md
(see VARIANTS); `DEADLINE_BENCH_SERVER_ARGS` passes extra `temporal server start-dev` flags;
`DEADLINE_BENCH_WAKE_EARLY` sets how many seconds before due the workflows wake;
`DEADLINE_BENCH_WORKERS` how many `wardship worker` processes run beside the benchmark's own
worker (default 0; on this 2-core machine a second worker process made it slower).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_cli
from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.workflows.support import (
    eventually,
    open_red_report,
    seconds_policy_toml,
    start_workers,
)
from workflows.caps import WorkerCaps
from workflows.case_workflow import CaseWorkflow, workflow_id
from workflows.messages import DEFAULT_WAKE_EARLY
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from pathlib import Path
    from subprocess import Popen

CASES = 1_000
# Personal fields encrypted, as deployed; the worker processes get the same key.
CIPHER_KEY = base64.b64encode(b"wardship-benchmark-key-32-bytes!").decode()
LEAD = 60  # seconds from opening to due: time to open every case, relay it, start its workflow
# Worker settings of each variant measured (keyword arguments of `build_worker`).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "threads64": {"caps": WorkerCaps(activity_threads=64)},
    "threads32": {"caps": WorkerCaps(activity_threads=32)},
    "threads512": {"caps": WorkerCaps(activity_threads=512)},
    "slots200": {"caps": WorkerCaps(workflow_tasks=200, activity_threads=64)},
    "sandboxed-cache1000": {"sandboxed": True, "caps": WorkerCaps(
        cached_workflows=1000, workflow_tasks=200, activity_threads=64)},
    "pollers20": {"caps": WorkerCaps(pollers=20, workflow_tasks=200, activity_threads=64)},
}


async def wait_until_idle(env: WorkflowEnvironment, relay: Relay, app: Wardship,
                          case_ids: list[uuid.UUID]) -> None:
    """Steady state: the relay has signalled every case and every workflow has taken it in."""
    last = app.recorder.max_notification_id() or 0
    await eventually(lambda: relay.position() >= last, within=LEAD)
    limit = asyncio.Semaphore(20)

    async def watched(case_id: uuid.UUID) -> None:
        async with limit:
            handle = env.client.get_workflow_handle(workflow_id(str(case_id)))
            for _ in range(LEAD * 5):
                if await handle.query(CaseWorkflow.pending):
                    return
                await asyncio.sleep(0.2)

    await asyncio.gather(*(watched(case_id) for case_id in case_ids))


class CommitWatch:
    """When each log position became visible to readers: the store NOTIFYs on every commit."""

    def __init__(self, app: Wardship, url: str) -> None:
        self.app = app
        self.url = url
        self.seen: list[tuple[datetime, int]] = []  # (moment, highest visible position)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        channel = sql.Identifier(self.app.recorder.channel_name)  # type: ignore[attr-defined]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(channel))
            while not self.stop.is_set():
                if any(True for _ in conn.notifies(timeout=0.2, stop_after=1)):
                    moment = datetime.now(UTC)
                    self.seen.append((moment, self.app.recorder.max_notification_id() or 0))

    def visible_at(self, position: int) -> datetime:
        return next(moment for moment, highest in self.seen if highest >= position)


def recorded(app: Wardship, after: int) -> list[Any]:
    """Level-1 escalation notifications (not yet decoded) after a log position."""
    return list(app.recorder.select_notifications(
        after + 1, 10_000, topics=["domain.events:EscalationRecorded"]))


@pytest.mark.bench
async def test_deadline_latency_for_1000_cases_due_together(
    db_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake=f"{LEAD}s", levels=("0s", "1d")))
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=10),
                   policy=load_policy(policy))
    create_tracking_table(app)
    extra_workers = int(os.environ.get("DEADLINE_BENCH_WORKERS", "0"))
    variant = os.environ.get("DEADLINE_BENCH", "default")
    server_args = shlex.split(os.environ.get("DEADLINE_BENCH_SERVER_ARGS", ""))
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()),
                                                dev_server_extra_args=server_args)
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    others: list[Popen[bytes]] = []
    try:
        wake_early = float(os.environ.get("DEADLINE_BENCH_WAKE_EARLY", DEFAULT_WAKE_EARLY))
        relay = Relay(app, env.client, task_queue, wake_early=wake_early)
        settings = dict(VARIANTS[variant])
        async with build_worker(env.client, app, {}, task_queue, **settings):
            relay_task = asyncio.create_task(relay.run(stop))
            # This process relays (the others' relays stand by), so it can watch progress.
            await eventually(lambda: relay.leading)
            others += await asyncio.to_thread(
                lambda: start_workers(extra_workers, env.client, task_queue, database_url=db_url,
                                      cipher_key=CIPHER_KEY, policy=policy, workdir=tmp_path,
                                      wake_early=wake_early))
            # Every case opened "at" the same moment, so every intake falls due together.
            opened = datetime.now(UTC)
            with ThreadPoolExecutor(8) as pool:
                case_ids = list(pool.map(
                    lambda i: open_red_report(app, opened, f"Bench Child {i}"), range(CASES)))
            due_at = opened + timedelta(seconds=LEAD)
            await wait_until_idle(env, relay, app, case_ids)
            watch = CommitWatch(app, db_url)
            watch.thread.start()
            slack = (due_at - datetime.now(UTC)).total_seconds()
            # Otherwise this would measure start-up, not workflows sleeping until their time.
            assert slack > 2, f"workflows ready only {slack:.1f}s before due: raise LEAD"
            # Wait for every notification; the log is read off the event loop and decoded
            # afterwards, so watching costs the worker (same process) as little as possible.
            found: list[Any] = []
            give_up = time.monotonic() + LEAD + 120
            while len(found) < CASES and time.monotonic() < give_up:
                await asyncio.sleep(0.5)
                found += await asyncio.to_thread(recorded, app, found[-1].id if found else 0)
            stop.set()
            watch.stop.set()
            await relay_task
            await asyncio.to_thread(watch.thread.join)
        events: list[Any] = [app.mapper.to_domain_event(n) for n in found]
        # When the aggregate judged the step (the event's timestamp), and when its commit
        # became visible to the inbox and the supervisors' stream.
        judged = [event.timestamp for event in events]
        visible = [watch.visible_at(n.id) for n in found]
    finally:
        for process in others:
            process.terminate()
        for process in others:
            await asyncio.to_thread(process.wait, 30)
        await env.shutdown()
        app.close()

    assert len(found) == CASES, f"only {len(found)} of {CASES} notifications recorded"
    delays = sorted((at - due_at).total_seconds() for at in visible)
    median = statistics.median(delays)
    p99 = delays[int(0.99 * len(delays)) - 1]
    judging = sorted((at - due_at).total_seconds() for at in judged)
    print(f"\nvariant {variant} {VARIANTS[variant]} server args {server_args} "
          f"wake early {wake_early}s, {extra_workers} more worker processes")
    print(f"{CASES} cases opened, relayed, workflows idle {slack:.1f}s before due (+{LEAD}s)")
    print(f"due -> notification committed and visible: median {median:.3f}s  p99 {p99:.3f}s  "
          f"max {delays[-1]:.3f}s  min {delays[0]:.3f}s")
    print(f"  of which due -> judged by the case: median {statistics.median(judging):.3f}s  "
          f"p99 {judging[int(0.99 * len(judging)) - 1]:.3f}s")

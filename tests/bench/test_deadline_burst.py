"""Benchmark: 10,000 deadlines due at the same moment, one worker process against two.

Run with `./run bench -k deadline_burst`. Each round has its own database and its own Temporal
dev server (in memory), and one `wardship worker` as deployed, running
`WARDSHIP_WORKER_PROCESSES` processes (the relay in one of them); this process only opens the
cases and watches. For every deadline it measures the lag from the due time until the level-1
`EscalationRecorded` commit is visible (as `test_deadline_latency.py`), and afterwards reads
every workflow's history from Temporal for workflow tasks that timed out or failed, and how
long the longest one ran. `BURST_CASES` (10,000), `BURST_PROCESSES` (rounds, "1,2"),
`BURST_LEAD` (seconds from opening to due, 540: one worker process relays 10,000 new cases
in 4-5 minutes on the busy 2-core machine) and `BURST_WORKER_ENV` (extra worker settings,
e.g. "WARDSHIP_WORKER_WORKFLOW_THREADS=8") change the run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import resource
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.postgres import PostgresTrackingRecorder
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_cli
from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.bench.test_deadline_latency import CommitWatch, recorded
from tests.conftest import new_database
from tests.workflows.support import open_red_report, seconds_policy_toml, start_workers
from workflows.case_workflow import CaseWorkflow, workflow_id
from workflows.messages import DEFAULT_WAKE_EARLY
from workflows.relay import TRACKING_TABLE, create_tracking_table

if TYPE_CHECKING:
    from uuid import UUID

    from temporalio.client import Client

CASES = int(os.environ.get("BURST_CASES", "10000"))
ROUNDS = [int(n) for n in os.environ.get("BURST_PROCESSES", "1,2").split(",")]
LEAD = float(os.environ.get("BURST_LEAD", "540"))
AFTER_DUE = 240  # seconds a round waits past the due time for the last notification
WORKER_ENV = dict(pair.split("=", 1) for pair in os.environ.get("BURST_WORKER_ENV", "").split())
WAKE_EARLY = float(WORKER_ENV.get("WARDSHIP_DEADLINE_WAKE_EARLY", DEFAULT_WAKE_EARLY))
CIPHER_KEY = base64.b64encode(b"wardship-benchmark-key-32-bytes!").decode()
WFT_TIMED_OUT = EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
WFT_FAILED = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
WFT_STARTED = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
WFT_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
ACTIVITY_STARTED = EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED


@dataclass
class Round:
    """What one round measured."""

    processes: int
    load: list[tuple[float, float, float]] = field(default_factory=list)
    ready_before_due: float = 0.0
    visible: list[float] = field(default_factory=list)
    judged: list[float] = field(default_factory=list)
    timed_out: int = 0
    sticky_timed_out: int = 0
    failed: int = 0
    longest_task: float = 0.0
    tasks_over_5s: int = 0
    worker_cpu: float = 0.0
    server_cpu: float = 0.0
    slowest: str = ""
    # Steps run more than once, by what ended the attempt before the last (e.g. a timeout).
    steps_again: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        def spread(values: list[float]) -> str:
            if not values:
                return "none"
            ordered = sorted(values)
            p99 = ordered[max(int(0.99 * len(ordered)) - 1, 0)]
            return (f"median {statistics.median(ordered):.2f}s  p99 {p99:.2f}s  "
                    f"max {ordered[-1]:.2f}s")

        loads = ", ".join(f"{one:.1f}" for one, _, _ in self.load)
        return (f"{self.processes} worker process(es), {len(self.visible)} of {CASES} "
                f"recorded within {AFTER_DUE}s of due, load "
                f"average (1 min) {loads}, workflows idle {self.ready_before_due:.0f}s before due\n"
                f"  due -> notification visible: {spread(self.visible)}\n"
                f"  due -> judged by the case:   {spread(self.judged)}\n"
                f"  workflow tasks timed out running {self.timed_out}, waiting on a worker's "
                f"sticky queue {self.sticky_timed_out}, failed {self.failed}; longest "
                f"{self.longest_task:.1f}s, {self.tasks_over_5s} over 5 s\n"
                f"  steps run more than once, by what ended the attempt before: "
                f"{self.steps_again or 'none'}\n"
                f"  CPU from the worker's start to the round's end: worker (all its processes) "
                f"{self.worker_cpu:.0f}s, Temporal dev server {self.server_cpu:.0f}s\n"
                f"  the last case judged, its workflow's history against the due time:\n"
                f"{self.slowest}")


def relay_position(app: Wardship) -> int:
    tracking = PostgresTrackingRecorder(datastore=app.recorder.datastore,  # type: ignore[attr-defined]
                                        tracking_table_name=TRACKING_TABLE)
    return tracking.max_tracking_id("wardship") or 0


async def wait_until_idle(client: Client, app: Wardship, case_ids: list[UUID],
                          due_at: datetime) -> None:
    """The relay has signalled every case and every workflow has taken its deadline in."""
    last = app.recorder.max_notification_id() or 0
    while await asyncio.to_thread(relay_position, app) < last:
        assert datetime.now(UTC) < due_at, "not relayed before due: raise BURST_LEAD"
        await asyncio.sleep(1)
    print(f"relayed {(due_at - datetime.now(UTC)).total_seconds():.0f}s before due", flush=True)
    limit = asyncio.Semaphore(50)

    async def watched(case_id: UUID) -> None:
        async with limit:
            handle = client.get_workflow_handle(workflow_id(str(case_id)))
            while True:
                assert datetime.now(UTC) < due_at, "workflow not idle before due"
                # A query buffered behind a workflow task can be cleared: ask again.
                with contextlib.suppress(RPCError):
                    if await handle.query(CaseWorkflow.pending):
                        return
                await asyncio.sleep(0.5)

    await asyncio.gather(*(watched(case_id) for case_id in case_ids))


async def task_record(client: Client, case_ids: list[UUID], measured: Round) -> None:
    """Workflow tasks that timed out or failed, from every workflow's history, the longest
    (started to completed, by the server's clock), and the steps that needed a second
    attempt (a history keeps an activity's last attempt, and why the one before it ended)."""
    limit = asyncio.Semaphore(32)
    longest: list[float] = []

    async def read(case_id: UUID) -> None:
        async with limit:
            for attempt in range(10):
                try:
                    events = [event async for event in client.get_workflow_handle(
                        workflow_id(str(case_id))).fetch_history_events()]
                    break
                except RPCError as error:
                    # The dev server refuses while its history cache is pinned by the
                    # workflows still running their next steps; read again shortly.
                    if error.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == 9:
                        raise
                    await asyncio.sleep(1.0)
            started: dict[int, datetime] = {}
            for event in events:
                if event.event_type == WFT_STARTED:
                    started[event.event_id] = event.event_time.ToDatetime()
                elif event.event_type == WFT_COMPLETED:
                    began = started[event.workflow_task_completed_event_attributes
                                    .started_event_id]
                    longest.append((event.event_time.ToDatetime() - began).total_seconds())
                elif event.event_type == WFT_TIMED_OUT:
                    if (event.workflow_task_timed_out_event_attributes.timeout_type
                            == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START):
                        measured.sticky_timed_out += 1  # not picked up in time; rescheduled
                    else:
                        measured.timed_out += 1
                elif event.event_type == WFT_FAILED:
                    measured.failed += 1
                elif event.event_type == ACTIVITY_STARTED:
                    attributes = event.activity_task_started_event_attributes
                    if attributes.attempt > 1:
                        cause = attributes.last_failure
                        why = (TimeoutType.Name(cause.timeout_failure_info.timeout_type)
                               if cause.HasField("timeout_failure_info") else
                               cause.message[:60] or "failure")
                        measured.steps_again[why] = measured.steps_again.get(why, 0) + 1

    await asyncio.gather(*(read(case_id) for case_id in case_ids))
    measured.longest_task = max(longest, default=0.0)
    measured.tasks_over_5s = sum(1 for seconds in longest if seconds > 5)


async def timeline(client: Client, case_id: UUID, due_at: datetime) -> str:
    """The Temporal history of one case's workflow, each event's time against the due time."""
    lines = []
    async for event in client.get_workflow_handle(workflow_id(str(case_id))).fetch_history_events():
        at = event.event_time.ToDatetime().replace(tzinfo=UTC)
        attempt = (f" (attempt {event.activity_task_started_event_attributes.attempt})"
                   if event.event_type == ACTIVITY_STARTED else "")
        lines.append(f"    {(at - due_at).total_seconds():+8.2f}s "
                     f"{EventType.Name(event.event_type).removeprefix('EVENT_TYPE_')}{attempt}")
    return "\n".join(lines)


def dev_server_cpu() -> float:
    """CPU seconds used so far by the Temporal dev server(s) this process started."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() \
                    and b"start-dev" in (stat.parent / "cmdline").read_bytes():
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def one_round(processes: int, database_url: str, policy: Path, workdir: Path) -> Round:
    measured = Round(processes, load=[os.getloadavg()])
    await asyncio.to_thread(workdir.mkdir)
    with new_database(database_url, "burst") as url:
        app = Wardship(env=event_store_env(url, CIPHER_KEY, pool_size=10),
                       policy=load_policy(policy))
        create_tracking_table(app)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()))
        # The cases are opened before the worker starts, so that opening them does not
        # compete with relaying them; the worker's relay then catches up.
        opened = datetime.now(UTC)
        due_at = opened + timedelta(seconds=LEAD)
        with ThreadPoolExecutor(8) as pool:
            case_ids = list(pool.map(
                lambda i: open_red_report(app, opened, f"Bench Child {i}"), range(CASES)))
        print(f"\n{CASES} cases opened in {(datetime.now(UTC) - opened).total_seconds():.0f}s")
        cpu_before, server_before = children_cpu(), dev_server_cpu()
        [worker] = await asyncio.to_thread(
            start_workers, 1, env.client, "burst", database_url=url, cipher_key=CIPHER_KEY,
            policy=policy, workdir=workdir, processes=processes, wake_early=WAKE_EARLY)
        try:
            await wait_until_idle(env.client, app, case_ids, due_at)
            measured.ready_before_due = (due_at - datetime.now(UTC)).total_seconds()
            watch = CommitWatch(app, url)
            watch.thread.start()
            found: list[Any] = []
            # A round that falls behind reports what was recorded by then.
            give_up = time.monotonic() + measured.ready_before_due + AFTER_DUE
            while len(found) < CASES and time.monotonic() < give_up:
                await asyncio.sleep(0.5)
                found += await asyncio.to_thread(recorded, app, found[-1].id if found else 0)
            measured.load.append(os.getloadavg())
            watch.stop.set()
            await asyncio.to_thread(watch.thread.join)
            events: list[Any] = [app.mapper.to_domain_event(n) for n in found]
            measured.visible = [(watch.visible_at(n.id) - due_at).total_seconds()
                                for n in found]
            measured.judged = [(event.timestamp - due_at).total_seconds() for event in events]
            await task_record(env.client, case_ids, measured)
            if events:
                slowest = max(events, key=lambda event: event.timestamp)
                measured.slowest = await timeline(env.client, slowest.originator_id, due_at)
        finally:
            measured.server_cpu = dev_server_cpu() - server_before
            worker.terminate()
            try:
                await asyncio.to_thread(worker.wait, 60)
            except subprocess.TimeoutExpired:
                worker.kill()  # its children stop by themselves once it is gone
                await asyncio.to_thread(worker.wait)
            measured.worker_cpu = children_cpu() - cpu_before
            await env.shutdown()
            app.close()
    return measured


@pytest.mark.bench
async def test_deadline_burst_of_10000_with_one_and_two_worker_processes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in WORKER_ENV.items():
        assert key.startswith("WARDSHIP_"), key
        monkeypatch.setenv(key, value)  # the worker processes inherit this environment
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake=f"{LEAD:.0f}s", levels=("0s", "1d")))
    print(f"\n{os.cpu_count()} cores; worker settings {WORKER_ENV or 'as deployed'}")
    rounds = []
    for processes in ROUNDS:
        rounds.append(await one_round(processes, database_url, policy,
                                      tmp_path / f"round-{processes}"))
        print(rounds[-1].summary(), flush=True)
    print("\n" + "\n".join(measured.summary() for measured in rounds))
    assert all(len(measured.visible) == CASES for measured in rounds), "deadlines not recorded"

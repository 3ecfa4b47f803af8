"""Benchmark: delay from due time to recorded notification, 1,000 cases falling due together.

Run with `./run bench -k deadline_latency` (dev server in memory, real PostgreSQL).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_cli
from domain.application import Wardship
from domain.storage import event_store_env
from tests.api.support import as_url
from tests.workflows.support import open_red_report, seconds_policy
from workflows.relay import Relay
from workflows.worker import build_worker

CASES = 1_000
LEAD = 40  # seconds from opening to due: time to open every case and relay its signal


@pytest.mark.bench
async def test_deadline_latency_for_1000_cases_due_together(db_url: str) -> None:
    app = Wardship(env=event_store_env(as_url(db_url), pool_size=10),
                   policy=seconds_policy(intake=f"{LEAD}s", levels=("0s", "1d")))
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()))
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    try:
        relay = Relay(app, env.client, task_queue)
        async with build_worker(env.client, app, [], task_queue):
            relay_task = asyncio.create_task(relay.run(stop))
            # Every case opened "at" the same moment, so every intake falls due together.
            opened = datetime.now(UTC)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: open_red_report(app, opened, f"Bench Child {i}"),
                              range(CASES)))
            ready = (datetime.now(UTC) - opened).total_seconds()
            due_at = opened + timedelta(seconds=LEAD)
            # Wait for every notification to be recorded.
            escalations: list[datetime] = []
            # occurred_at is workflow.now() when the step's workflow task started.
            started: list[datetime] = []
            give_up = time.monotonic() + LEAD + 120
            position = 0
            while len(escalations) < CASES and time.monotonic() < give_up:
                await asyncio.sleep(0.5)
                batch = app.recorder.select_notifications(
                    position + 1, 10_000, topics=["domain.events:EscalationRecorded"])
                for notification in batch:
                    event: Any = app.mapper.to_domain_event(notification)
                    escalations.append(event.timestamp)
                    started.append(event.occurred_at)
                    position = notification.id
            stop.set()
            await relay_task
    finally:
        await env.shutdown()
        app.close()

    delays = sorted((at - due_at).total_seconds() for at in escalations)
    assert len(delays) == CASES, f"only {len(delays)} of {CASES} notifications recorded"
    median = statistics.median(delays)
    p99 = delays[int(0.99 * len(delays)) - 1]
    waits = sorted((at - due_at).total_seconds() for at in started)
    print(f"\n{CASES} cases opened and relayed in {ready:.1f}s; due together at +{LEAD}s")
    print(f"due -> notification recorded: median {median:.3f}s  p99 {p99:.3f}s  "
          f"max {delays[-1]:.3f}s  min {delays[0]:.3f}s")
    print(f"  of which due -> workflow task started: median {statistics.median(waits):.3f}s  "
          f"p99 {waits[int(0.99 * len(waits)) - 1]:.3f}s")

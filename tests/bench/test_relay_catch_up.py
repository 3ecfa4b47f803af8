"""Benchmark: the relay and the read models catching up after an outage while actions went on.

Run with `./run bench -k relay_catch_up` (dev server in memory, real PostgreSQL).
`CATCH_UP_CASES` cases are opened, relayed and projected, then, with no relay and no
projection runner running (Temporal and the runners away), each gets `CATCH_UP_ACTIONS` more
actions; then a relay with a cold cache starts and the time until its position reaches the
head of the log is measured, and so is a restarted runner of every read model (one fleet, as
`wardship projections run` runs them), beside the raw rate of reading and decoding the same
events from the log in the same run.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder

from deploy.migrate import apply_migrations
from domain.application import Wardship
from domain.policy import parse_policy
from domain.storage import event_store_env
from projections.registry import MODELS
from projections.runner import Fleet, ensure, position_of
from tests.projections.conftest import CIPHER_KEY
from tests.workflows.conftest import dev_server, task_queue  # noqa: F401 - fixtures
from tests.workflows.support import CASEWORKER, eventually, open_red_report, seconds_policy_toml
from workflows.relay import TRACKING_TABLE, Relay, create_tracking_table, signal_case
from workflows.worker import build_worker

if TYPE_CHECKING:
    from uuid import UUID

    from temporalio.testing import WorkflowEnvironment

    from workflows.messages import CaseState

CASES = int(os.environ.get("CATCH_UP_CASES", "2000"))
ACTIONS = int(os.environ.get("CATCH_UP_ACTIONS", "24"))


def _store(db_url: str) -> Wardship:
    # Deadlines far off: the catch-up is measured without deadlines falling due meanwhile.
    # One cipher key for every process, as deployed: without one each application would wrap
    # the children's data keys under a master key of its own, unreadable by the next.
    apply_migrations(db_url)
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY),
                   policy=parse_policy(seconds_policy_toml(intake="1h"), "bench"))
    create_tracking_table(app)
    return app


def _act(app: Wardship, case_id: UUID) -> None:
    for n in range(ACTIONS):
        app.perform(case_id, CASEWORKER, "add_note", {"text": f"note {n}"})


async def test_relay_catches_up_after_temporal_was_away(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str,  # noqa: F811
) -> None:
    app = _store(db_url)
    try:
        with ThreadPoolExecutor(16) as pool:
            case_ids = list(pool.map(lambda n: open_red_report(app, child=f"Bench Child {n}"),
                                     range(CASES)))
        relay = Relay(app, dev_server.client, task_queue)
        async with build_worker(dev_server.client, app, {}, task_queue):
            stop = asyncio.Event()
            running = asyncio.create_task(relay.run(stop))
            head = app.recorder.max_notification_id() or 0
            await eventually(lambda: relay.position() >= head, 300)
            stop.set()
            await running
            await asyncio.to_thread(_project, db_url, head)
            start = time.perf_counter()
            # Temporal "away": actions go on, nothing relays them.
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda case_id: _act(app, case_id), case_ids))
            written = time.perf_counter() - start
            head = app.recorder.max_notification_id() or 0
            backlog = head - relay.position()
            start = time.perf_counter()
            read = _read_all(app, relay.position())
            raw = time.perf_counter() - start
            caught = {}
            for name, kind in (("before", EveryBatch), ("now", Relay)):
                fresh = _store(db_url)  # a restarted worker: nothing cached
                try:
                    catching = kind(fresh, dev_server.client, task_queue, name=name)
                    await asyncio.to_thread(_start_at, fresh, name, relay.position())
                    stop = asyncio.Event()
                    start = time.perf_counter()
                    running = asyncio.create_task(catching.run(stop))
                    await eventually(functools.partial(_reached, catching, head), 1800)
                    caught[name] = time.perf_counter() - start
                    stop.set()
                    await running
                finally:
                    fresh.close()
            start = time.perf_counter()
            await asyncio.to_thread(_project, db_url, head)
            projected = time.perf_counter() - start
    finally:
        app.close()
    assert read == backlog
    print(f"\nrelay catch-up: {backlog:,} events ({CASES:,} cases x {ACTIONS} actions, "
          f"written in {written:.1f} s)")
    print(f"  raw read+decode of the log: {raw:.1f} s ({backlog / raw:,.0f} events/s)")
    for name, label in (("before", "relay as before (a page a batch, every case told)"),
                        ("now", "relay now (catch-up pages, unchanged cases not told)")):
        print(f"  {label}: {caught[name]:.1f} s ({backlog / caught[name]:,.0f} events/s)")
    print(f"  read models, a restarted runner of all {len(MODELS)}: {projected:.1f} s "
          f"({backlog / projected:,.0f} events/s)")


def _project(db_url: str, head: int) -> None:
    """A runner of every read model started afresh (nothing cached), until it reaches `head`."""
    fresh = _store(db_url)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            models = [model() for model in MODELS.values()]
            for model in models:
                ensure(conn, model)
            fleet = Fleet(models, fresh, conn)
            while min(position_of(conn, model.name) for model in models) < head:
                fleet.step()
    finally:
        fresh.close()


def _reached(relay: Relay, head: int) -> bool:
    return relay.position() >= head


class EveryBatch(Relay):
    """The relay as it was: one page a batch, and every changed case signalled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, catch_up_pages=1, **kwargs)

    async def _signal(self, state: CaseState) -> None:
        async with self._limit:
            await signal_case(self.client, self.task_queue, state)


def _start_at(app: Wardship, name: str, position: int) -> None:
    """Set a relay's saved position, as if it had relayed up to `position` before."""
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id)"
                     " VALUES (%s, %s)", (name, position))


def _read_all(app: Wardship, after: int) -> int:
    count, position = 0, after
    while True:
        page = app.recorder.select_notifications(position + 1, 1000)
        if not page:
            return count
        for notification in page:
            app.mapper.to_domain_event(notification)
        count += len(page)
        position = page[-1].id

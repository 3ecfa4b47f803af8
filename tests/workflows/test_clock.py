"""Deadlines are judged by one clock, the database's: a workflow ahead of it is not early."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg

from tests.workflows.support import events_named, intake_deadline, open_red_report
from workflows.case_workflow import workflow_id
from workflows.relay import Relay
from workflows.worker import build_worker

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship


def database_time(db_url: str) -> datetime:
    """The database's clock, asked directly (not through the application under test)."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        row = connection.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]


async def test_a_workflow_whose_clock_passed_due_records_no_miss_until_the_database_clock_has(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str, db_url: str
) -> None:
    env = time_skipping_env
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, {}, task_queue):
        # The 10 s intake falls due 3 s from now by the database's clock.
        opened = database_time(db_url) - timedelta(seconds=7)
        case_id = open_red_report(app, opened)
        deadline_id, due_at = intake_deadline(app, case_id)
        await relay.run_once()

        # The workflows' clock skips ahead: by it the deadline passes at once, while by the
        # database's it is still ahead.
        skipping = asyncio.create_task(env.sleep(timedelta(seconds=20)))
        for _ in range(200):
            if await env.get_current_time() >= due_at:
                break
            await asyncio.sleep(0.01)
        assert await env.get_current_time() >= due_at
        assert database_time(db_url) < due_at

        # No miss is visible while the database's clock is before the due time (the log is
        # read first, so a miss seen was committed before that clock reading).
        while True:
            missed = await asyncio.to_thread(events_named, app, case_id, "DeadlineMissed")
            seen_at = await asyncio.to_thread(database_time, db_url)
            if missed:
                break
            assert seen_at < due_at + timedelta(seconds=15), "the miss was never recorded"
            await asyncio.sleep(0.05)
        assert seen_at >= due_at, f"miss recorded {(due_at - seen_at).total_seconds():.2f}s early"

        # Level 1 (no delay) was told at the database's time, not the workflows' future one.
        [escalation] = events_named(app, case_id, "EscalationRecorded")
        assert escalation.deadline_id == deadline_id
        assert due_at <= escalation.occurred_at <= seen_at
        await skipping
        # Its level-2 step waits for the database's clock too; this session's server would
        # hold back every later test's skip for it.
        await env.client.get_workflow_handle(workflow_id(str(case_id))).terminate()

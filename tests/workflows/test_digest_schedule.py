"""The morning digest runs by itself: one workflow per installation wakes at the policy's time
on the next working day, has that day's digest sent, and waits for the following one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from eventsourcing.application import AggregateNotFoundError
from temporalio.client import WorkflowExecutionStatus

from domain.calendar import CHINA_TIME
from domain.digests import day_digest_id, next_digest_at
from tests.workflows.support import eventually
from workflows.digest_workflow import digest_workflow_id
from workflows.worker import build_worker, keep_digest_running

if TYPE_CHECKING:

    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship


def prepared(app: Wardship, day: str) -> bool:
    try:
        app.store.load(day_digest_id(day))
    except AggregateNotFoundError:
        return False
    return True


async def test_the_digest_goes_out_at_the_next_working_morning_and_again_the_one_after(
    own_time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = own_time_skipping_env
    handle = env.client.get_workflow_handle(digest_workflow_id(task_queue))
    async with build_worker(env.client, app, {}, task_queue):
        try:
            stop = asyncio.Event()
            await keep_digest_running(env.client, task_queue, stop)
            # Every worker asks at start; the installation still has one digest workflow.
            await keep_digest_running(env.client, task_queue, stop)
            first_run = (await handle.describe()).run_id

            now = await env.get_current_time()
            first = next_digest_at(now, app.policy)
            second = next_digest_at(first, app.policy)
            days = [at.astimezone(CHINA_TIME).date().isoformat() for at in (first, second)]
            assert not prepared(app, days[0])

            await env.sleep(first - now + timedelta(minutes=1))
            await eventually(lambda: prepared(app, days[0]))
            assert not prepared(app, days[1])
            await env.sleep(second - first)
            await eventually(lambda: prepared(app, days[1]))

            description = await handle.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING
            assert description.run_id != first_run  # each digest is its own short run
        finally:
            await handle.terminate("test over")

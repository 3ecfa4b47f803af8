"""Several worker replicas each run a relay; one relays at a time and another takes over."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio.client import WorkflowHistoryEventFilterType

from tests.workflows.support import accept, after, eventually, intake_deadline, open_red_report
from workflows.case_workflow import workflow_id
from workflows.relay import Relay
from workflows.worker import build_worker

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship


async def signals_to(env: WorkflowEnvironment, case_id: object) -> int:
    handle = env.client.get_workflow_handle(workflow_id(str(case_id)))
    return len([
        event async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.ALL_EVENT)
        if event.HasField("workflow_execution_signaled_event_attributes")
    ])


async def test_of_two_relays_one_signals_and_the_other_takes_over_when_it_stops(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    first, second = Relay(app, env.client, task_queue), Relay(app, env.client, task_queue)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    async with build_worker(env.client, app, {}, task_queue):
        first_task = asyncio.create_task(first.run(stop_first))
        await eventually(lambda: first.leading)
        second_task = asyncio.create_task(second.run(stop_second))

        case_id = open_red_report(app, await env.get_current_time())
        opened = app.recorder.max_notification_id()
        await eventually(lambda: first.position() == opened)
        await asyncio.sleep(1.5)  # time for the standby to (wrongly) relay too
        assert not second.leading
        assert await signals_to(env, case_id) == 1

        # The relaying replica stops; the standby takes over from the position it left.
        stop_first.set()
        await first_task
        _, due_at = intake_deadline(app, case_id)
        accept(app, case_id, after(due_at, -5))
        accepted = app.recorder.max_notification_id()
        await eventually(lambda: second.leading and second.position() == accepted)
        assert await signals_to(env, case_id) == 2
        stop_second.set()
        await second_task

"""Several worker replicas each run a relay; one relays at a time and another takes over."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio.client import WorkflowHistoryEventFilterType

from tests.workflows.support import (
    CASEWORKER,
    accept,
    after,
    eventually,
    intake_deadline,
    open_red_report,
)
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


async def test_an_event_that_changes_no_timer_signals_nothing_until_the_relay_must_retell(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    """Notes change no deadline: after an outage of Temporal, a relay catching up signals
    each case once for its timers, not once per note; a new deadline is always told."""
    env = time_skipping_env
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, {}, task_queue):
        case_id = open_red_report(app, await env.get_current_time())
        await relay.run_once()
        for n in range(3):
            app.perform(case_id, CASEWORKER, "add_note", {"text": f"note {n}"})
            await relay.run_once()
        assert await signals_to(env, case_id) == 1
        _, due_at = intake_deadline(app, case_id)
        accept(app, case_id, after(due_at, -5))  # the intake deadline is met: timers change
        await relay.run_once()
        assert await signals_to(env, case_id) == 2
        # A relay started afresh (a restarted worker) tells every changed case once more.
        fresh = Relay(app, env.client, task_queue, name="restarted")
        app.perform(case_id, CASEWORKER, "add_note", {"text": "after the restart"})
        await fresh.run_once()
        assert await signals_to(env, case_id) == 3

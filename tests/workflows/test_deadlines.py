"""Deadlines fire on time, escalate level by level, and stop when the step is done."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from temporalio.client import WorkflowHistoryEventFilterType

from domain.actors import Actor
from domain.codes import Role
from domain.contacts import delivery_key
from tests.workflows.support import (
    INTAKE,
    TOWNSHIP,
    accept,
    after,
    events_named,
    eventually,
    intake_deadline,
    notifications,
    open_red_report,
    skipped_clock,
)
from workflows.caps import WorkerCaps
from workflows.case_workflow import CaseWorkflow, workflow_id
from workflows.messages import CaseState, CaseWorkflowInput, DeadlineTimer
from workflows.relay import Relay
from workflows.transports import WebhookTransport
from workflows.worker import build_worker

if TYPE_CHECKING:
    from uuid import UUID

    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship
    from domain.clock import Clock


ADMIN = Actor("admin-1", frozenset({Role.ADMIN}), "5111", "Invented Admin")


@pytest.fixture
async def clock(time_skipping_env: WorkflowEnvironment) -> Clock:
    """These tests skip time: deadlines are judged by the test server's clock."""
    return skipped_clock(time_skipping_env)


async def watched(env: WorkflowEnvironment, case_id: UUID) -> list[str]:
    handle = env.client.get_workflow_handle(workflow_id(str(case_id)))
    return await handle.query(CaseWorkflow.pending)


async def test_red_report_not_accepted_notifies_level_1_then_level_2_then_stops(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, {}, task_queue):
        # A report of a child in danger; the relay tells its workflow about the 10 s intake.
        case_id = open_red_report(app, await env.get_current_time())
        deadline_id, due_at = intake_deadline(app, case_id)
        await relay.run_once()

        # Nobody accepts it: at the due time the miss is recorded and level 1 is notified.
        await env.sleep(timedelta(seconds=12))
        level_1 = f"{case_id}:{deadline_id}:L1"
        await eventually(lambda: level_1 in notifications(app, case_id))
        [missed] = events_named(app, case_id, "DeadlineMissed")
        assert missed.deadline_id == deadline_id
        assert missed.occurred_at == due_at
        [escalation] = events_named(app, case_id, "EscalationRecorded")
        assert escalation.level == 1
        assert escalation.recipient_jurisdiction == "511102001"
        assert set(notifications(app, case_id)) == {level_1}

        # After the policy's level-2 delay (30 s) the county is told.
        await relay.run_once()
        await env.sleep(timedelta(seconds=30))
        level_2 = f"{case_id}:{deadline_id}:L2"
        await eventually(lambda: level_2 in notifications(app, case_id))
        assert notifications(app, case_id)[level_2].recipient_jurisdiction == "511102"

        # Intake finally accepts the report: the ladder stops before level 3.
        accept(app, case_id, after(due_at, 35))
        await relay.run_once()
        await env.sleep(timedelta(seconds=60))
        assert deadline_id not in await watched(env, case_id)
        assert set(notifications(app, case_id)) == {level_1, level_2}


async def test_step_done_a_second_before_due_raises_nothing_though_its_signal_is_late(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, {}, task_queue):
        case_id = open_red_report(app, await env.get_current_time())
        deadline_id, due_at = intake_deadline(app, case_id)
        await relay.run_once()

        # Accepted one second before due, but the relay has not told the workflow yet.
        accept(app, case_id, after(due_at, -1))
        await env.sleep(timedelta(seconds=15))

        # The timer fired; the aggregate judged the step in time. The late signal changes nothing.
        async def settled() -> bool:
            return deadline_id not in await watched(env, case_id)

        for _ in range(600):
            if await settled():
                break
            await env.sleep(timedelta(milliseconds=50))
        await relay.run_once()
        await env.sleep(timedelta(seconds=120))
        assert await settled()
        assert events_named(app, case_id, "DeadlineMissed") == []
        assert notifications(app, case_id) == {}
        assert app.get_case_aggregate(case_id).deadlines[deadline_id].status == "met"


async def test_worker_restarted_mid_wait_still_fires(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    relay = Relay(app, env.client, task_queue)
    # No workflow cache: the test server cannot move a dead worker's sticky tasks elsewhere,
    # which the real server does after a few seconds.
    async with build_worker(env.client, app, {}, task_queue,
                            caps=WorkerCaps(cached_workflows=0)):
        case_id = open_red_report(app, await env.get_current_time())
        deadline_id, _ = intake_deadline(app, case_id)
        await relay.run_once()
        await env.sleep(timedelta(seconds=5))
        assert deadline_id in await watched(env, case_id)

    # A new worker process takes over the waiting workflow and still records the miss.
    async with build_worker(env.client, app, {}, task_queue):
        await env.sleep(timedelta(seconds=10))
        await eventually(lambda: f"{case_id}:{deadline_id}:L1" in notifications(app, case_id))
        assert len(events_named(app, case_id, "DeadlineMissed")) == 1


async def test_relay_resumes_from_its_position_without_signalling_again(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    async with build_worker(env.client, app, {}, task_queue):
        case_id = open_red_report(app, await env.get_current_time())
        first = Relay(app, env.client, task_queue)
        assert await first.run_once() > 0
        position = first.position()

        # A restarted relay reads its position from the database and finds nothing new.
        again = Relay(app, env.client, task_queue)
        assert again.position() == position
        assert await again.run_once() == 0

        # A new event is relayed once, as one more signal.
        _, due_at = intake_deadline(app, case_id)
        accept(app, case_id, after(due_at, -5))
        assert await again.run_once() == 1
        handle = env.client.get_workflow_handle(workflow_id(str(case_id)))
        signals = [
            event async for event in handle.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.ALL_EVENT)
            if event.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert len(signals) == 2


async def test_notification_no_channel_delivered_escalates_at_once_and_records_failure(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    # The township's only contact has a webhook nobody listens on: every attempt fails.
    contact = app.register_contact(ADMIN, {
        "jurisdiction": TOWNSHIP, "name": "Invented Supervisor", "role": "supervisor",
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]})
    dead = {"webhook": WebhookTransport("test-secret", timeout=0.5)}
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, dead, task_queue):
        case_id = open_red_report(app, await env.get_current_time())
        deadline_id, _ = intake_deadline(app, case_id)
        await relay.run_once()

        # Level 1 fails on its only channel after the retries; level 2 follows at once,
        # long before its 30 s delay would have passed.
        await env.sleep(timedelta(seconds=10 + 16))
        level_2 = f"{case_id}:{deadline_id}:L2"
        await eventually(lambda: level_2 in notifications(app, case_id))
        [escalation_1, escalation_2, *_] = events_named(app, case_id, "EscalationRecorded")
        assert escalation_2.occurred_at - escalation_1.occurred_at < timedelta(seconds=30)
        failures = events_named(app, case_id, "NotificationDeliveryFailed")
        assert failures[0].channel == delivery_key(contact["id"], 0, "webhook")
        assert failures[0].notification_id == f"{case_id}:{deadline_id}:L1"
        assert INTAKE in deadline_id


async def test_a_workflow_for_a_case_the_store_does_not_know_ends_instead_of_retrying(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    # Temporal remembers a case that this database never had (e.g. the database was replaced).
    env = time_skipping_env
    now = await env.get_current_time()
    unknown = str(uuid4())
    state = CaseState(case_id=unknown, version=3, stage="report", closed=False,
                      deadlines=[DeadlineTimer("intake-1", INTAKE, after(now, 1))],
                      escalation_delays=[0.0])
    async with build_worker(env.client, app, {}, task_queue):
        handle = await env.client.start_workflow(
            CaseWorkflow.run, CaseWorkflowInput(case_id=unknown, state=state),
            id=workflow_id(unknown), task_queue=task_queue)
        # Its deadline falls due, the store refuses for good, and the workflow completes.
        await env.sleep(timedelta(seconds=5))
        await asyncio.wait_for(handle.result(), timeout=30)
    steps = [e async for e in handle.fetch_history_events()
             if e.HasField("activity_task_scheduled_event_attributes")
             and e.activity_task_scheduled_event_attributes.activity_type.name == "record_step"]
    assert len(steps) == 1


async def test_a_workflow_woken_early_still_judges_at_the_due_time(
    time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = time_skipping_env
    # The workflow wakes 5-25 s before the due time (10 s away: at once, or within 5 s)
    # and its step waits for it in the worker.
    relay = Relay(app, env.client, task_queue, wake_early=25.0)
    async with build_worker(env.client, app, {}, task_queue):
        case_id = open_red_report(app, await env.get_current_time())
        deadline_id, due_at = intake_deadline(app, case_id)
        await relay.run_once()
        await env.sleep(timedelta(seconds=6))  # woken: the step is waiting for the due time

        # Accepted in that window, one second before due: the step finds it done.
        accept(app, case_id, after(due_at, -1))
        await eventually(lambda: app.get_case_aggregate(case_id).deadlines[deadline_id].status
                         == "met")
        for _ in range(100):
            if deadline_id not in await watched(env, case_id):
                break
            await asyncio.sleep(0.1)
        assert deadline_id not in await watched(env, case_id)
        assert events_named(app, case_id, "DeadlineMissed") == []
        assert notifications(app, case_id) == {}

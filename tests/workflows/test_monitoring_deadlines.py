"""A monitored child's visits run through the same Temporal machinery as cases: a missed
visit is recorded at its due time and escalates, first to the township, then the county; a
visit made stops the ladder and the next one falls due at the child's risk level."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.policy import parse_policy
from domain.storage import event_store_env
from tests.workflows.support import (
    CASEWORKER,
    CIPHER_KEY,
    TOWNSHIP,
    eventually,
    seconds_policy_toml,
    skipped_clock,
)
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from temporalio.testing import WorkflowEnvironment

    from domain.clock import Clock

VILLAGE = TOWNSHIP + "001"
DIRECTOR = Actor("cd-1", frozenset({Role.CHILD_DIRECTOR}), VILLAGE, "Invented Director")
CHILD_SUPERVISOR = Actor("cs-1", frozenset({Role.CHILD_SUPERVISOR}), TOWNSHIP, "Invented")
# A high-risk child is visited every 20 s here; every other monitoring clock is a day.
MONITORING = """
visit = { high = "20s", medium = "1d", low = "1d" }
child_file_review = "1d"
care_agreement_renewal = "1d"
"""


@pytest.fixture
async def app(db_url: str, own_time_skipping_env: WorkflowEnvironment
              ) -> AsyncIterator[Wardship]:
    """The application judging by the time-skipping server's clock, with fast visits."""
    toml = seconds_policy_toml(intake="1h").replace("[escalation]", MONITORING + "\n[escalation]")
    clock: Clock = skipped_clock(own_time_skipping_env)
    application = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=10),
                           policy=parse_policy(toml, "test"), clock=clock)
    create_tracking_table(application)
    try:
        yield application
    finally:
        application.close()


def monitored_child(app: Wardship, at: Any) -> UUID:
    """A child file (from an invented report) under monitoring at high risk from `at`."""
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction=VILLAGE, now=at, occurred_at=at,
        child={"name": "Invented Child", "birth_date": "2016-05-01", "category": "left_behind"},
        concern={"categories": ["unattended"], "summary": "invented", "danger_now": False},
        source={"channel": "village_committee", "reporter": {"name": "Invented"}})
    file_id = UUID(view["child_id"])
    app.monitoring_action(CHILD_SUPERVISOR, file_id, "start_monitoring", {
        "jurisdiction": VILLAGE, "category": "left_behind", "risk_level": "high",
        "risk_reason": "parents work away", "guardian": {
            "name": "Invented Grandmother", "relation": "grandmother"}},
        occurred_at=at, now=at)
    return file_id


def notices(app: Wardship, file_id: UUID) -> dict[int, str]:
    record = app.monitoring(file_id)
    return {n.level: n.recipient_jurisdiction for n in record.notifications.values()}


async def test_a_missed_visit_escalates_to_the_township_then_the_county_until_someone_visits(
    own_time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = own_time_skipping_env
    relay = Relay(app, env.client, task_queue)
    async with build_worker(env.client, app, {}, task_queue):
        file_id = monitored_child(app, await env.get_current_time())
        await relay.run_once()

        # Nobody visits within 20 s: the miss is recorded and the township told at once
        # (a high-risk child's miss is not held for the morning digest).
        await env.sleep(timedelta(seconds=21))
        await eventually(lambda: notices(app, file_id).get(1) == TOWNSHIP)
        record = app.monitoring(file_id)
        [missed] = [d for d in record.deadlines.values() if d.kind == "visit"]
        assert missed.status == "missed"
        assert all(n.urgent for n in record.notifications.values())

        # The ladder climbs to the county after the policy's 30 s.
        await env.sleep(timedelta(seconds=31))
        await eventually(lambda: notices(app, file_id).get(2) == TOWNSHIP[:6])

        # The director visits: the ladder stops, and the next visit falls due in 20 s.
        now = await env.get_current_time()
        view = app.monitoring_action(DIRECTOR, file_id, "record_visit", {
            "child_seen": True, "living_situation": "with grandmother",
            "guardian_capacity": "adequate", "findings": "well"}, occurred_at=now, now=now)
        await relay.run_once()
        assert view["next_visit_due"] == now + timedelta(seconds=20)
        await env.sleep(timedelta(seconds=35))
        await eventually(lambda: len(app.monitoring(file_id).notifications) >= 3)
        record = app.monitoring(file_id)
        # The old miss climbed no further (no level 3); the new one was missed and told.
        levels = sorted((n.deadline_id, n.level) for n in record.notifications.values())
        assert [level for _, level in levels] == [1, 2, 1]


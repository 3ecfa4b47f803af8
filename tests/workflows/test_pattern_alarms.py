"""Pattern alarms (监测预警) on the real dev server: a second report about a child within days
reaches the township's contacts on duty at once, signed and without personal data, once per
channel even when the relay relays the same events again."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID

import psycopg

from deploy.migrate import apply_migrations
from domain.contacts import delivery_key
from projections import parked
from tests.undecodable import damage, restore
from tests.workflows.receivers import Receiver, answer
from tests.workflows.support import CASEWORKER, TOWNSHIP, eventually, seconds_policy_toml
from tests.workflows.test_delivery import (  # the stand of receivers, as a fixture
    ADMIN,
    COUNTY,
    SECRET,
    running,
    stand,  # noqa: F401
    store,
)
from workflows.alarm_workflow import alarm_workflow_id
from workflows.relay import Relay
from workflows.transports import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship
    from tests.workflows.test_delivery import Stand

PATTERNS = """
[patterns]
repeat_report = { signal = "report", count = 2, window = "7d" }
"""
CHILD = {"name": "Invented Child P", "birth_date": "2015-05-05", "category": "left_behind"}


def report(app: Wardship) -> UUID:
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction=TOWNSHIP, child=dict(CHILD),
        concern={"categories": ["neglect"], "summary": "invented", "danger_now": False},
        source={"channel": "school", "reporter": {"name": "Invented Teacher"}})
    return UUID(view["child_id"])


def delivered(app: Wardship, file_id: UUID, keys: list[str]) -> bool:
    (alarm,) = app.child_file(file_id)["alarms"] or [None]
    return alarm is not None and all(alarm["deliveries"].get(k) == "delivered" for k in keys)


async def test_a_second_report_within_days_alarms_the_townships_contacts_at_once(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, stand: Stand,  # noqa: F811
) -> None:
    app = store(db_url, seconds_policy_toml(intake="1h") + PATTERNS)
    try:
        with Receiver(answer(204), "/hook") as hook:
            duty = app.register_contact(ADMIN, {
                "jurisdiction": TOWNSHIP, "name": "王督导", "role": "supervisor",
                "channels": [{"type": "wecom", "url": stand.wecom.url},
                             {"type": "webhook", "url": hook.url}]})["id"]
            app.register_contact(ADMIN, {
                "jurisdiction": COUNTY, "name": "县督导", "role": "supervisor",
                "channels": [{"type": "wecom", "url": stand.county_wecom.url}]})
            keys = [delivery_key(str(duty), 0, "wecom"), delivery_key(str(duty), 1, "webhook")]
            async with running(dev_server, app, task_queue, stand):
                file_id = report(app)
                report(app)
                await eventually(lambda: delivered(app, file_id, keys), 60)
                # The same events relayed again (a crash before the position was saved)
                # start no second alarm workflow and send nothing twice.
                again = Relay(app, dev_server.client, task_queue, name="replay")
                await again.run_once()
            (alarm,) = app.child_file(file_id)["alarms"]
            requests = list(hook.requests)
    finally:
        app.close()
    [wecom] = stand.wecom.requests
    [signed] = requests
    assert verify_signature(SECRET, signed.headers[TIMESTAMP_HEADER], signed.body,
                            signed.headers[SIGNATURE_HEADER])
    assert signed.headers[IDEMPOTENCY_HEADER] == alarm["notification_id"]
    body = signed.json()
    assert body["type"] == "pattern_alarm"
    assert body["rule"] == "repeat_report"
    for text in (wecom.json()["text"]["content"], json.dumps(body, ensure_ascii=False)):
        assert "监测预警" in text
        assert TOWNSHIP in text
        assert str(file_id) in text
        assert CHILD["name"] not in text
    assert stand.county_wecom.requests == []  # the township has someone on duty




async def test_an_unreadable_alarm_is_parked_and_retold_once_restored(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str,
) -> None:
    """A damaged alarm event stops nothing (the relay parks it and moves on); restored from a
    backup, `wardship parked retry`'s retell starts the alarm's workflow."""
    app = store(db_url, seconds_policy_toml(intake="1h") + PATTERNS)
    try:
        apply_migrations(db_url)
        file_id = report(app)
        report(app)
        version = app.store.load(file_id).version  # the alarm is the file's newest event
        with psycopg.connect(db_url, autocommit=True) as conn:
            original = damage(conn, file_id, version)
            relay = Relay(app, dev_server.client, task_queue)
            await relay.run_once()
            assert relay.position() == app.recorder.max_notification_id()
            [row] = [r for r in parked.rows(conn) if r.consumer == "relay:wardship"]
            assert (row.originator_id, row.originator_version) == (file_id, version)
            restore(conn, file_id, version, original)
        (alarm,) = app.child_file(file_id)["alarms"]
        await relay.retell(file_id, version, row.topic)
        handle = dev_server.client.get_workflow_handle(
            alarm_workflow_id(alarm["notification_id"]))
        assert (await handle.describe()).id == alarm_workflow_id(alarm["notification_id"])
    finally:
        app.close()

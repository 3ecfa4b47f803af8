"""The whole path on the real dev server: a missed deadline reaches the contacts on duty for
its area, on every channel they have, and only them; a township with nobody on duty falls back
to its county; misses of yellow and blue cases wait for one morning digest per contact."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from domain.actors import Actor
from domain.application import Wardship
from domain.calendar import CHINA_TIME
from domain.codes import Role
from domain.contacts import delivery_key
from domain.digests import HeldNotice, day_digest_id
from domain.policy import parse_policy
from domain.storage import event_store_env
from tests.workflows.receivers import (
    Receiver,
    SmtpReceiver,
    answer,
    dingtalk_robot,
    robot,
)
from tests.workflows.support import (
    CASEWORKER,
    CIPHER_KEY,
    TOWNSHIP,
    eventually,
    intake_deadline,
    open_red_report,
    seconds_policy_toml,
)
from workflows.digest_activities import DigestActivities
from workflows.relay import Relay, create_tracking_table
from workflows.transports import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    build_transports,
    verify_signature,
)
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from uuid import UUID

    from temporalio.testing import WorkflowEnvironment

    from workflows.transports import Transport

SECRET = "test-webhook-secret"
DINGTALK_SECRET = "SECtest-dingtalk"
ADMIN = Actor("admin-1", frozenset({Role.ADMIN}), "5111", "Invented Admin")
COUNTY = TOWNSHIP[:6]
NEIGHBOUR = "511102002"
CHILD_NAME = "Test Child"


class Stand:
    """Every receiver a contact's channels point at, and the mail server."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.smtp = self.stack.enter_context(SmtpReceiver())
        self.wecom = self.stack.enter_context(Receiver(robot(), "/cgi-bin/webhook/send?key=k1"))
        self.dingtalk = self.stack.enter_context(
            Receiver(dingtalk_robot(DINGTALK_SECRET), "/robot/send?access_token=t1"))
        self.sms = self.stack.enter_context(Receiver(answer(202), "/sms"))
        self.hook = self.stack.enter_context(Receiver(answer(204), "/hook"))
        self.county_wecom = self.stack.enter_context(Receiver(robot(), "/county?key=k2"))
        self.neighbour_wecom = self.stack.enter_context(Receiver(robot(), "/neighbour?key=k3"))

    def transports(self) -> dict[str, Transport]:
        return build_transports(
            smtp_host="127.0.0.1", smtp_port=self.smtp.port, smtp_from="wardship@test.invalid",
            smtp_security="plain", sms_gateway_url=self.sms.url,
            sms_gateway_token="test-sms-token", webhook_secret=SECRET)


@pytest.fixture
def stand() -> Iterator[Stand]:
    stand = Stand()
    with stand.stack:
        yield stand


def register(app: Wardship, jurisdiction: str, name: str, *channels: dict[str, str]) -> str:
    view = app.register_contact(ADMIN, {"jurisdiction": jurisdiction, "name": name,
                                        "role": "supervisor", "channels": list(channels)})
    return str(view["id"])


@contextlib.asynccontextmanager
async def running(env: WorkflowEnvironment, app: Wardship, task_queue: str, stand: Stand
                  ) -> AsyncIterator[None]:
    """A worker with every transport, and the relay telling workflows of each change."""
    stop = asyncio.Event()
    relay = Relay(app, env.client, task_queue, wake_early=1.0)
    async with build_worker(env.client, app, stand.transports(), task_queue):
        relay_task = asyncio.create_task(relay.run(stop))
        try:
            yield
        finally:
            stop.set()
            await relay_task


def store(db_url: str, policy_toml: str) -> Wardship:
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY),
                   policy=parse_policy(policy_toml, "test"))
    create_tracking_table(app)
    return app


def delivered_to(app: Wardship, case_id: UUID, notification_id: str, keys: list[str]) -> bool:
    record = app.get_case_aggregate(case_id).notifications.get(notification_id)
    return record is not None and all(record.deliveries.get(k) == "delivered" for k in keys)


async def test_a_missed_deadline_reaches_every_channel_of_the_contacts_on_duty_and_no_one_else(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, stand: Stand,
) -> None:
    app = store(db_url, seconds_policy_toml(intake="2s"))
    try:
        duty = register(
            app, TOWNSHIP, "王督导",
            {"type": "email", "address": "wang@test.invalid"},
            {"type": "wecom", "url": stand.wecom.url},
            {"type": "dingtalk", "url": stand.dingtalk.url, "secret": DINGTALK_SECRET},
            {"type": "sms", "number": "13800000000"},
            {"type": "webhook", "url": stand.hook.url})
        # The county and a neighbouring township have people on duty too.
        register(app, COUNTY, "县督导", {"type": "wecom", "url": stand.county_wecom.url})
        register(app, NEIGHBOUR, "邻乡督导", {"type": "wecom", "url": stand.neighbour_wecom.url})
        keys = [delivery_key(duty, i, kind) for i, kind in
                enumerate(("email", "wecom", "dingtalk", "sms", "webhook"))]
        async with running(dev_server, app, task_queue, stand):
            # A child in danger; nobody accepts the report within its 2 s.
            case_id = open_red_report(app, child=CHILD_NAME)
            deadline_id, _ = intake_deadline(app, case_id)
            notification_id = f"{case_id}:{deadline_id}:L1"
            await eventually(lambda: delivered_to(app, case_id, notification_id, keys), 60)
    finally:
        app.close()

    # Each channel of the township's contact got exactly one message, in its own format.
    [mail] = stand.smtp.mails
    assert mail.recipients == ["wang@test.invalid"]
    [wecom] = stand.wecom.requests
    [dingtalk] = stand.dingtalk.requests
    [sms] = stand.sms.requests
    [hook] = stand.hook.requests
    assert wecom.json()["msgtype"] == "text"
    assert dingtalk.query["sign"]  # the robot itself checked the signature
    assert sms.json()["to"] == "13800000000"
    assert verify_signature(SECRET, hook.headers[TIMESTAMP_HEADER], hook.body,
                            hook.headers[SIGNATURE_HEADER])
    assert hook.headers[IDEMPOTENCY_HEADER] == notification_id
    # What they say: the deadline, the township, Beijing time, the case; never the child.
    texts = [mail.body, wecom.json()["text"]["content"], dingtalk.json()["text"]["content"],
             sms.json()["text"], json.dumps(hook.json(), ensure_ascii=False)]
    for text in texts:
        assert TOWNSHIP in text
        assert str(case_id) in text
        assert CHILD_NAME not in text
    assert "北京时间" in texts[1]
    # The county is told at level 2, not now; the neighbouring township never.
    assert stand.county_wecom.requests == []
    assert stand.neighbour_wecom.requests == []


async def test_a_township_with_nobody_on_duty_falls_back_to_its_county(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, stand: Stand,
) -> None:
    app = store(db_url, seconds_policy_toml(intake="2s"))
    try:
        county = register(app, COUNTY, "县督导", {"type": "wecom", "url": stand.county_wecom.url})
        register(app, NEIGHBOUR, "邻乡督导", {"type": "wecom", "url": stand.neighbour_wecom.url})
        key = delivery_key(county, 0, "wecom")
        async with running(dev_server, app, task_queue, stand):
            case_id = open_red_report(app)
            deadline_id, _ = intake_deadline(app, case_id)
            notification_id = f"{case_id}:{deadline_id}:L1"
            await eventually(lambda: delivered_to(app, case_id, notification_id, [key]), 60)
            [delivered] = [e for e in app.case_events(case_id)
                           if type(e).__name__ == "NotificationDelivered"]
    finally:
        app.close()
    assert len(stand.county_wecom.requests) == 1
    assert stand.neighbour_wecom.requests == []
    # The case's record says whom it reached instead, and why.
    assert "无人值守" in delivered.detail  # type: ignore[attr-defined]
    assert TOWNSHIP in delivered.detail  # type: ignore[attr-defined]


def graded_policy_toml() -> str:
    """The seconds policy, with a blue case's assessment and a red case's dispatch due 3 s
    after the report is accepted."""
    return seconds_policy_toml(intake="1h").replace(
        'assessment = { red = "1d", orange = "1d", yellow = "1d", blue = "1d" }',
        'assessment = { red = "1d", orange = "1d", yellow = "1d", blue = "3s" }',
    ).replace('response_dispatch = { red = "1d", orange = "1d" }',
              'response_dispatch = { red = "3s", orange = "1d" }')


def accept_as(app: Wardship, case_id: UUID, grade: str) -> None:
    app.perform(case_id, CASEWORKER, "accept_report",
                {"grade": grade, "assignee": CASEWORKER.subject})


def level_one(app: Wardship, case_id: UUID) -> Any:
    notices = app.get_case_aggregate(case_id).notifications.values()
    return next((n for n in notices if n.level == 1), None)


async def test_blue_misses_wait_for_one_morning_digest_and_a_red_miss_never_does(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, stand: Stand,
) -> None:
    app = store(db_url, graded_policy_toml())
    try:
        duty = register(app, TOWNSHIP, "王督导",
                        {"type": "email", "address": "wang@test.invalid"},
                        {"type": "wecom", "url": stand.wecom.url})
        keys = [delivery_key(duty, 0, "email"), delivery_key(duty, 1, "wecom")]
        async with running(dev_server, app, task_queue, stand):
            blue = [open_red_report(app, child=f"{CHILD_NAME} {i}") for i in range(3)]
            red = open_red_report(app)
            for case_id in blue:
                accept_as(app, case_id, "blue")
            accept_as(app, red, "red")
            # Three blue assessments and one red dispatch are missed and escalated.
            await eventually(lambda: all(level_one(app, c) for c in [*blue, red]), 60)
            red_notice = level_one(app, red)
            red_id = f"{red}:{red_notice.deadline_id}:L1"
            # The red miss goes out at once, day or night.
            await eventually(lambda: delivered_to(app, red, red_id, keys), 60)
        held = [level_one(app, c) for c in blue]
        assert all(n.urgent is False and n.deliveries == {} for n in held)
        assert red_notice.urgent is True
        assert len(stand.smtp.mails) == len(stand.wecom.requests) == 1

        # The morning digest: one message per channel of the contact, all three misses in it.
        digests = DigestActivities(app, stand.transports())
        day = (await asyncio.to_thread(app.clock)).astimezone(CHINA_TIME).date().isoformat()
        await asyncio.to_thread(digests.send_digest, day)
        [_, mail] = stand.smtp.mails
        [_, wecom] = stand.wecom.requests
        for case_id in blue:
            assert str(case_id) in mail.body
            assert str(case_id) in wecom.json()["text"]["content"]
        assert str(red) not in mail.body
        for case_id, notice in zip(blue, held, strict=True):
            nid = f"{case_id}:{notice.deadline_id}:L1"
            assert delivered_to(app, case_id, nid, keys)

        # Nobody is sent the same miss twice: not by a retried run, nor by the next day's.
        await asyncio.to_thread(digests.send_digest, day)
        await asyncio.to_thread(digests.send_digest, "2099-01-05")
        assert len(stand.smtp.mails) == len(stand.wecom.requests) == 2
        assert app.store.load(day_digest_id("2099-01-05")).batches == {}
    finally:
        app.close()


def test_a_held_notice_whose_record_cannot_be_read_holds_back_no_other(
    db_url: str, stand: Stand,
) -> None:
    app = store(db_url, graded_policy_toml())
    try:
        duty = register(app, TOWNSHIP, "王督导", {"type": "email", "address": "wang@test.invalid"})
        case_id = open_red_report(app)
        accept_as(app, case_id, "blue")
        assessment = next(d for d in app.get_case_aggregate(case_id).deadlines.values()
                          if d.kind == "assessment")
        app.record_deadline_missed(case_id, assessment.id, assessment.due_at)
        nid = app.record_escalation(case_id, assessment.id, 1, assessment.due_at)
        assert nid is not None
        # A notice whose record the store cannot give back (a bad record, a lost case).
        unreadable = HeldNotice(str(uuid4()), "unreadable:assessment-2:L1")
        app.prepare_digest("2099-01-05", lambda after, upto: {
            duty: [unreadable, HeldNotice(str(case_id), nid)]})
        DigestActivities(app, stand.transports()).send_digest("2099-01-05")
        [mail] = stand.smtp.mails
        assert str(case_id) in mail.body
        assert delivered_to(app, case_id, nid, [delivery_key(duty, 0, "email")])
    finally:
        app.close()

"""The whole path on the real dev server: a command, a missed deadline, a signed webhook, a mail."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller

from deploy import ports
from domain.application import Wardship
from domain.storage import event_store_env
from tests.workflows.support import (
    events_named,
    eventually,
    intake_deadline,
    open_red_report,
    seconds_policy,
)
from workflows.channels import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EmailChannel,
    WebhookChannel,
    verify_signature,
)
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from temporalio.testing import WorkflowEnvironment

    from workflows.channels import Channel

SECRET = "test-webhook-secret"


class Received:
    """What the local receivers got."""

    def __init__(self) -> None:
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        self.mails: list[Any] = []


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def webhook_url(received: Received) -> Iterator[str]:
    """A local HTTP server that records each POST and answers 204."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.hooks.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


@pytest.fixture
def smtp_port(received: Received) -> Iterator[int]:
    """A local aiosmtpd server that keeps every message."""

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.mails.append(envelope)
            return "250 OK"

    port = ports.free_port(2525)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def test_missed_deadline_reaches_a_signed_webhook_and_a_mailbox(
    dev_server: WorkflowEnvironment, db_url: str, task_queue: str, received: Received,
    webhook_url: str, smtp_port: int,
) -> None:
    app = Wardship(env=event_store_env(db_url), policy=seconds_policy(intake="2s"))
    create_tracking_table(app)
    channels: list[Channel] = [
        WebhookChannel(webhook_url, SECRET),
        EmailChannel("127.0.0.1", smtp_port, "wardship@test.invalid", ["duty@test.invalid"]),
    ]
    stop = asyncio.Event()
    # As deployed, the workflow wakes before the due time and its step waits for it.
    relay = Relay(app, dev_server.client, task_queue, wake_early=1.0)
    try:
        async with build_worker(dev_server.client, app, channels, task_queue):
            relay_task = asyncio.create_task(relay.run(stop))
            # A caseworker's command; nobody accepts the report within its 2 s.
            case_id = open_red_report(app)
            deadline_id, due_at = intake_deadline(app, case_id)
            notification_id = f"{case_id}:{deadline_id}:L1"

            # Both channels report delivery in the case's record.
            def delivered() -> bool:
                record = app.get_case_aggregate(case_id).notifications.get(notification_id)
                return record is not None and record.deliveries == {
                    "webhook": "delivered", "email": "delivered"}

            await eventually(delivered, within=60)
            # Judged by the wall clock at the due time, not when the workflow woke.
            [escalation] = events_named(app, case_id, "EscalationRecorded")
            assert escalation.timestamp >= due_at
            stop.set()
            await relay_task
    finally:
        app.close()

    # The webhook is signed, fresh and carries the notification id as its idempotency key.
    [(headers, body)] = received.hooks
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret", headers[TIMESTAMP_HEADER], body,
                                headers[SIGNATURE_HEADER])
    assert headers[IDEMPOTENCY_HEADER] == notification_id
    payload = json.loads(body)
    assert payload["case_id"] == str(case_id)
    assert payload["level"] == 1
    assert payload["kind"] == "intake_danger"
    assert "Test Child" not in body.decode()
    # The mail went to the duty address, without the child's name.
    [mail] = received.mails
    assert mail.rcpt_tos == ["duty@test.invalid"]
    assert str(case_id) in mail.content.decode()
    assert "Test Child" not in mail.content.decode()

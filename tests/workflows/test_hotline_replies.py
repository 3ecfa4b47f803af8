"""The 12345 reply (办结回复): sent once when intake decides, recorded on the case, retried when
the platform fails, and never sent twice across a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.storage import event_store_env
from tests.workflows.receivers import Receiver, answer
from tests.workflows.support import CIPHER_KEY, events_named, eventually
from workflows.digest_workflow import digest_workflow_id
from workflows.hotline_replies import HotlineReplies, ReplySender, create_tracking_table
from workflows.relay import create_tracking_table as create_relay_tracking
from workflows.transports import verify_signature
from workflows.worker import WorkerConfig, serve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from temporalio.testing import WorkflowEnvironment

DESK = Actor("hotline-12345", frozenset({Role.HOTLINE}), "51", "12345 desk")
CASEWORKER = Actor("cw-1", frozenset({Role.CASEWORKER}), "511102001", "Invented Worker")
SECRET = "invented-webhook-secret"
TICKET = "12345-2026-000123"


@pytest.fixture
def desk_app(db_url: str) -> Iterator[Wardship]:
    """The application with the shipped policy (it has `hotline_reply`) on a fresh database."""
    application = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=10))
    create_tracking_table(application)  # what `wardship migrate` creates
    try:
        yield application
    finally:
        application.close()


def work_order(app: Wardship, ticket: str = TICKET) -> UUID:
    view, _ = app.receive_hotline_order(
        DESK, ticket=ticket, received_at=datetime.now(UTC) - timedelta(minutes=5),
        jurisdiction="511102001", urgent=False, content="invented: child often home alone",
        caller={"name": "Invented Caller", "phone": "13800000000"},
        child={"name": "Test Child L", "sex": "male", "birth_date": None, "id_number": None,
               "category": "left_behind", "address": "Invented Village 5", "phone": None})
    return UUID(view["id"])


def accept(app: Wardship, case_id: UUID) -> None:
    app.perform(case_id, CASEWORKER, "accept_report", {"grade": "yellow", "assignee": "cw-1"})


def replies(app: Wardship, url: str, attempts: int = 3) -> HotlineReplies:
    return HotlineReplies(app, ReplySender(url, SECRET, attempts=attempts, first_pause=0.01))


def reply_deadline(app: Wardship, case_id: UUID) -> dict[str, Any]:
    return next(d for d in app.get_case(case_id)["deadlines"] if d["kind"] == "hotline_reply")


class TestTheReply:
    def test_nothing_is_sent_before_intake_decides(self, desk_app: Wardship) -> None:
        with Receiver(answer(204)) as platform:
            work_order(desk_app)
            replies(desk_app, platform.url).run_once()
            assert platform.requests == []

    def test_the_outcome_is_sent_once_signed_and_recorded_meeting_the_deadline(
            self, desk_app: Wardship) -> None:
        with Receiver(answer(204)) as platform:
            case_id = work_order(desk_app)
            accept(desk_app, case_id)
            consumer = replies(desk_app, platform.url)
            consumer.run_once()
            consumer.run_once()  # nothing new: nothing sent again
            [request] = platform.requests
        sent = request.json()
        assert sent["ticket"] == TICKET
        assert sent["case_id"] == str(case_id)
        assert (sent["outcome"], sent["stage"]) == ("accepted", "assessment")
        assert set(sent) == {"ticket", "case_id", "outcome", "stage", "replied_at"}
        assert "Invented" not in request.body.decode()  # no personal data
        assert request.headers["Idempotency-Key"] == TICKET
        assert verify_signature(SECRET, request.headers["X-Wardship-Timestamp"], request.body,
                                request.headers["X-Wardship-Signature"])
        [replied] = events_named(desk_app, case_id, "HotlineReplied")
        assert replied.ticket == TICKET
        assert reply_deadline(desk_app, case_id)["status"] == "met"
        assert desk_app.hotline_ticket(DESK, TICKET)["reply"] == "replied"

    def test_a_screened_out_order_is_replied_too(self, desk_app: Wardship) -> None:
        with Receiver(answer(200)) as platform:
            case_id = work_order(desk_app)
            desk_app.perform(case_id, CASEWORKER, "screen_out", {"reason": "invented: no risk"})
            replies(desk_app, platform.url).run_once()
            [request] = platform.requests
        assert (request.json()["outcome"], request.json()["stage"]) == ("screened_out",
                                                                       "closed")
        assert reply_deadline(desk_app, case_id)["status"] == "met"

    def test_an_order_linked_after_intake_decided_is_replied_at_once(
            self, desk_app: Wardship) -> None:
        child = {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
                 "category": "left_behind"}
        view = desk_app.open_case(CASEWORKER, entry="report", jurisdiction="511102001",
                                  child=child, concern={"categories": ["neglect"]},
                                  source={"channel": "school"})
        case_id = UUID(view["id"])
        accept(desk_app, case_id)
        with Receiver(answer(204)) as platform:
            consumer = replies(desk_app, platform.url)
            consumer.run_once()
            assert platform.requests == []  # no work order, nothing owed
            linked, opened = desk_app.receive_hotline_order(
                DESK, ticket="12345-2026-000777", received_at=datetime.now(UTC),
                jurisdiction="511102001", urgent=True, content="invented", caller={},
                child={**child, "id_number": None})
            assert not opened
            assert linked["id"] == str(case_id)
            consumer.run_once()
            [request] = platform.requests
        assert request.json()["outcome"] == "accepted"
        assert request.json()["ticket"] == "12345-2026-000777"

    def test_a_failing_platform_is_retried_and_the_failure_recorded(
            self, desk_app: Wardship) -> None:
        with Receiver(answer(503)) as platform:
            case_id = work_order(desk_app)
            accept(desk_app, case_id)
            replies(desk_app, platform.url, attempts=3).run_once()
            assert len(platform.requests) == 3
            assert {r.headers["Idempotency-Key"] for r in platform.requests} == {TICKET}
        [failed] = events_named(desk_app, case_id, "HotlineReplyFailed")
        assert "503" in failed.detail
        assert events_named(desk_app, case_id, "HotlineReplied") == []
        assert reply_deadline(desk_app, case_id)["status"] == "open"
        # The platform is back: the case's next event brings the reply again.
        with Receiver(answer(204)) as platform:
            desk_app.perform(case_id, CASEWORKER, "add_note", {"text": "invented note"})
            replies(desk_app, platform.url).run_once()
            assert len(platform.requests) == 1
        assert reply_deadline(desk_app, case_id)["status"] == "met"

    def test_a_restarted_consumer_does_not_send_twice(self, desk_app: Wardship) -> None:
        with Receiver(answer(204)) as platform:
            case_id = work_order(desk_app)
            accept(desk_app, case_id)
            accepted = desk_app.recorder.max_notification_id()
            replies(desk_app, platform.url).run_once()
            # A new process resumes from the tracked position: nothing to send.
            restarted = replies(desk_app, platform.url)
            assert restarted.position() == accepted
            restarted.run_once()
            # Even one that lost its position (it crashed before saving it) reads the reply
            # on the case and sends nothing.
            HotlineReplies(desk_app, ReplySender(platform.url, SECRET),
                           name="lost-position").run_once()
            assert len(platform.requests) == 1
        assert len(events_named(desk_app, case_id, "HotlineReplied")) == 1


async def test_the_worker_loop_replies_while_it_runs(desk_app: Wardship) -> None:
    with Receiver(answer(204)) as platform:
        consumer = replies(desk_app, platform.url)
        consumer.poll_interval = 0.05
        stop = asyncio.Event()
        running = asyncio.create_task(consumer.run(stop))
        case_id = work_order(desk_app)
        accept(desk_app, case_id)
        await eventually(lambda: events_named(desk_app, case_id, "HotlineReplied"))
        stop.set()
        await running
        assert len(platform.requests) == 1


async def test_the_worker_process_runs_the_replies(
        time_skipping_env: WorkflowEnvironment, desk_app: Wardship, task_queue: str) -> None:
    create_relay_tracking(desk_app)
    address = time_skipping_env.client.service_client.config.target_host
    with Receiver(answer(204)) as platform:
        config = WorkerConfig(temporal_address=address, task_queue=task_queue,
                              webhook_secret=SECRET, hotline_reply_url=platform.url)
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(config, desk_app, stop))
        case_id = work_order(desk_app)
        accept(desk_app, case_id)
        await eventually(lambda: events_named(desk_app, case_id, "HotlineReplied"))
        stop.set()
        await serving
        assert len(platform.requests) == 1
    # The worker started the installation's digest workflow: it must not outlive the test
    # on the shared server (its timer would fire for a worker that has gone).
    await time_skipping_env.client.get_workflow_handle(
        digest_workflow_id(task_queue)).terminate("test over")

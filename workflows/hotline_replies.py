"""The 12345 reply (办结回复): follows the event log and, once intake has decided on a case with
work orders awaiting their reply, posts the outcome to the hotline platform and records it.

The reply is a webhook signed as `workflows.transports.WebhookTransport` signs (HMAC-SHA256
over `timestamp.body` with `WARDSHIP_WEBHOOK_SECRET`), with `Idempotency-Key` = the ticket, and
carries no personal data: ticket, case id, outcome code, stage, time of the reply. Each reply
is tried a few times; its delivery (`HotlineReplied`, meeting the `hotline_reply` deadline) or
its failure (`HotlineReplyFailed`) is recorded on the case. A failed reply is tried again on
the case's next event: when its deadline is missed and at each escalation, if nothing sooner.

The position lives in a tracking table that `wardship migrate` creates, and moves after the
batch's replies are recorded. A crash between sending and recording sends again after the
restart with the same key, which the platform treats as done; once recorded on the case, no
restart sends a reply again. One worker replica replies at a time (a lease, like the relay's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import httpx
import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresTrackingRecorder
from eventsourcing.utils import get_topic

from deploy.outages import Backoff
from domain.events import CASE_EVENTS, HOTLINE_REPLY_EVENTS
from projections import parked
from projections.parked import Parking
from workflows.lease import Lease
from workflows.transports import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    sign,
)

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from domain.application import Wardship
    from domain.case import ProtectionCase

log = structlog.get_logger("wardship.hotline_replies")

TRACKING_TABLE = "wardship_hotline_reply_tracking"
# Every case event but the consumer's own records: a stage change means intake may have
# decided, and any later event (a miss or escalation of the reply's deadline included) is the
# moment to try a failed reply again.
TRIGGERS = frozenset(get_topic(cls) for cls in CASE_EVENTS) - frozenset(
    get_topic(cls) for cls in HOTLINE_REPLY_EVENTS)
STANDBY_INTERVAL = 1.0
# The parked events of this consumer are named `hotline-replies:<name>` (`wardship parked`).
CONSUMER_PREFIX = "hotline-replies:"


@dataclass(frozen=True)
class Reply:
    """What the platform is told about one work order: codes and ids, no personal data."""

    ticket: str
    case_id: str
    outcome: str
    stage: str
    replied_at: str


def replies_of(case: ProtectionCase, replied_at: str) -> list[Reply]:
    """The replies the case owes now: one per ticket awaiting its outcome."""
    return [Reply(ticket, str(case.id), case.reply_outcome, case.stage, replied_at)
            for ticket in case.awaiting_replies]


class ReplySender:
    """POSTs one signed reply, trying `attempts` times with growing pauses."""

    def __init__(self, url: str, secret: str, *, attempts: int = 5, first_pause: float = 1.0,
                 timeout: float = 5.0) -> None:
        if not secret:
            raise ValueError("the reply needs a secret to sign with (WARDSHIP_WEBHOOK_SECRET)")
        self._url = url
        self._secret = secret
        self.attempts = attempts
        self.first_pause = first_pause
        self.timeout = timeout

    def send(self, reply: Reply) -> tuple[bool, str]:
        """Whether the platform took the reply, and a detail for the record (no URL)."""
        pause, detail = self.first_pause, ""
        for attempt in range(1, self.attempts + 1):
            try:
                return True, self._post(reply)
            except DeliveryError as error:
                detail = str(error)
            if attempt < self.attempts:
                time.sleep(pause)
                pause *= 2
        return False, f"{detail} ({self.attempts} attempts)"

    def _post(self, reply: Reply) -> str:
        body = json.dumps(asdict(reply), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            # A repeat after a crash carries the same key: the platform treats it as done.
            IDEMPOTENCY_HEADER: reply.ticket,
        }
        try:
            response = httpx.post(self._url, content=body, headers=headers,
                                  timeout=self.timeout)
        except httpx.HTTPError as error:
            # The exception's text names the URL, which may carry the platform's key.
            raise DeliveryError(f"hotline platform unreachable: {type(error).__name__}"
                                ) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"hotline platform answered HTTP {response.status_code}")
        return f"hotline platform answered HTTP {response.status_code}"


def create_tracking_table(app: Wardship) -> None:
    """Create the consumer's tracking table if missing: `wardship migrate` does, never the
    consumer."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError("the hotline replies need the PostgreSQL event store")
    PostgresTrackingRecorder(
        datastore=recorder.datastore, tracking_table_name=TRACKING_TABLE).create_table()


class HotlineReplies:
    """Reads new case events in batches and sends each case's awaited replies."""

    def __init__(self, app: Wardship, sender: ReplySender, *, name: str = "wardship",
                 batch_size: int = 500, poll_interval: float = 0.5) -> None:
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError("the hotline replies need the PostgreSQL event store")
        self.app = app
        self.sender = sender
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.consumer = f"{CONSUMER_PREFIX}{name}"
        self._recorder = recorder
        self._tracking = PostgresTrackingRecorder(
            datastore=recorder.datastore, tracking_table_name=TRACKING_TABLE)
        self._lease = Lease(recorder.datastore.pool, self.consumer)

    def position(self) -> int:
        """The last notification id whose replies are recorded (0: none yet)."""
        return self._tracking.max_tracking_id(self.name) or 0

    def run_once(self) -> int:
        """Reply for one batch; returns how many notifications it covered (0: nothing new)."""
        notifications = self._recorder.select_notifications(
            self.position() + 1, self.batch_size)
        if not notifications:
            return 0
        by_case: dict[UUID, list[Notification]] = {}
        for notification in notifications:
            if notification.topic in TRIGGERS:
                by_case.setdefault(UUID(str(notification.originator_id)), []).append(
                    notification)
        parkings: list[Parking] = []
        for case_id, mine in by_case.items():
            try:
                case = self.app.get_case_aggregate(case_id)
            except Exception as error:
                parked.raise_if_transient(error, self._ping)
                parkings.append(Parking.of(self.consumer, mine[-1], "load", error))
                continue
            self.reply(case)
        self._advance(notifications[-1].id, parkings)
        return len(notifications)

    async def run(self, stop: asyncio.Event) -> None:
        """Reply until `stop` is set while holding the lease; waits and retries while the
        store is down."""
        backoff = Backoff(log, "hotline_replies_dependency", first=self.poll_interval)
        try:
            while not stop.is_set():
                try:
                    done = await asyncio.to_thread(self._run_if_leading)
                except Exception as error:
                    log.debug("hotline_replies_retrying", error=type(error).__name__)
                    await _sleep_unless(stop, backoff.failed(error))
                    continue
                backoff.succeeded()
                if done is None:
                    await _sleep_unless(stop, STANDBY_INTERVAL)
                elif done < self.batch_size:
                    await _sleep_unless(stop, self.poll_interval)
        finally:
            await asyncio.to_thread(self._lease.release)

    def _run_if_leading(self) -> int | None:
        return self.run_once() if self._lease.hold() else None

    def reply_to(self, case_id: UUID) -> None:
        """Send and record the case's awaited replies now (`wardship parked retry` too)."""
        self.reply(self.app.get_case_aggregate(case_id))

    def reply(self, case: ProtectionCase) -> None:
        """Send and record each reply the case owes now."""
        now = self.app.clock()
        for reply in replies_of(case, now.isoformat()):
            delivered, detail = self.sender.send(reply)
            self.app.record_hotline_reply(case.id, reply.ticket, delivered, detail, now)
            log.info("hotline_replied" if delivered else "hotline_reply_failed",
                     case_id=reply.case_id, outcome=reply.outcome)

    def _ping(self) -> None:
        with self._recorder.datastore.transaction() as curs:
            curs.execute("SELECT 1")

    def _advance(self, last: int, parkings: list[Parking]) -> None:
        with self._recorder.datastore.transaction(commit=True) as curs:
            for parking in parkings:
                parked.park(curs, parking)
            self._tracking._insert_tracking(curs, Tracking(self.name, last))


def from_settings(app: Wardship, url: str | None, secret: str | None) -> HotlineReplies | None:
    """The consumer when a reply URL and the webhook secret are set; else None (logged)."""
    if not url:
        return None
    if not secret:
        log.warning("hotline_replies_off", reason="WARDSHIP_WEBHOOK_SECRET is not set")
        return None
    return HotlineReplies(app, ReplySender(url, secret))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

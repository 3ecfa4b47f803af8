"""The morning digest's activities: when the next one is due, and sending one day's digest.

A day's digest gathers the notices held since the last digest (read from the log after the
position the ledger recorded), groups them by the contacts the directory routes them to, and
sends each contact one message per channel. Every outcome is recorded in the day's digest and
in each case, so a retried run skips the targets already reached.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime  # datetime: Temporal reads the hints at run time
from typing import TYPE_CHECKING
from uuid import UUID

import structlog
from eventsourcing.utils import get_topic
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.calendar import CHINA_TIME
from domain.contacts import delivery_key
from domain.digests import HeldNotice, next_digest_at
from domain.errors import DomainError
from domain.holders import ESCALATED
from domain.log_pages import notifications_of
from workflows.activities import DEFAULT_PUBLIC_URL, notice_of
from workflows.messages import DigestSlot
from workflows.notices import digest_message
from workflows.transports import DeliveryError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    from domain.application import Wardship
    from domain.contacts import ContactEntry, Directory
    from domain.digests import DayDigest
    from workflows.notices import Notice
    from workflows.transports import Transport

log = structlog.get_logger("wardship.digest")


def held_notices(app: Wardship, after: int, upto: int) -> Iterator[tuple[HeldNotice, str]]:
    """Notices held for the digest recorded in the log after `after` up to `upto`, each with
    the jurisdiction it is addressed to."""
    topics = [get_topic(cls) for cls in ESCALATED]
    for notification in notifications_of(app.recorder, topics, after=after, upto=upto):
        try:
            event = app.mapper.to_domain_event(notification)
        except Exception as error:
            # A record that cannot be read is the quarantine's business, not the digest's.
            log.warning("digest_skipped_record", position=notification.id,
                        error=type(error).__name__)
            continue
        if isinstance(event, ESCALATED) and event.urgent is False:
            yield (HeldNotice(str(event.originator_id), event.notification_id),
                   event.recipient_jurisdiction)


class DigestActivities:
    """The digest's activities, built by the worker with the application and the transports."""

    def __init__(self, app: Wardship, transports: Mapping[str, Transport],
                 public_url: str = DEFAULT_PUBLIC_URL) -> None:
        self.app = app
        self.transports = dict(transports)
        self.public_url = public_url

    @activity.defn(name="next_digest_slot")
    def next_digest_slot(self, after: datetime) -> DigestSlot:
        """The next digest time after `after`, and the day it is for."""
        at = next_digest_at(after, self.app.policy)
        return DigestSlot(at, at.astimezone(CHINA_TIME).date().isoformat())

    @activity.defn(name="send_digest")
    def send_digest(self, day: str) -> str:
        """Send the day's digest to every contact with held notices; fail if a target failed
        (the retry skips the targets already reached)."""
        directory = self.app.contact_directory()
        digest = self.app.prepare_digest(day, self._gatherer(directory))
        failed = sent = 0
        for contact_id, held in sorted(digest.batches.items()):
            contact = directory.get(contact_id)
            if contact is None:
                continue  # removed since: its notices stay in the inboxes
            for reached in self._send(digest, contact, held):
                sent, failed = sent + reached, failed + (not reached)
        if failed:
            raise DeliveryError(f"{failed} of {sent + failed} digest targets failed")
        return f"{sent} digest messages sent for {day}"

    def all(self) -> list[Callable[..., Any]]:
        """The activity callables to register with a worker."""
        return [self.next_digest_slot, self.send_digest]

    def _gatherer(self, directory: Directory) -> Callable[[int, int], dict[str, list[HeldNotice]]]:
        def gather(after: int, upto: int) -> dict[str, list[HeldNotice]]:
            batches: dict[str, list[HeldNotice]] = defaultdict(list)
            for held, recipient in held_notices(self.app, after, upto):
                for contact in directory.route(recipient).contacts:
                    batches[contact.id].append(held)
            return dict(batches)
        return gather

    def _send(self, digest: DayDigest, contact: ContactEntry, held: list[HeldNotice]
              ) -> Iterator[bool]:
        """Send one contact's digest on each channel not reached yet; yields each outcome."""
        now = self.app.clock()
        readable = dict(self._notices(held, now))
        if not readable:
            return
        notices = list(readable.values())
        for index, channel in enumerate(contact.channels):
            key = delivery_key(contact.id, index, channel.type)
            if digest.outcomes.get(key) == "delivered":
                continue
            if activity.in_activity():
                activity.heartbeat(key)
            transport = self.transports.get(channel.type)
            try:
                if transport is None:
                    raise DeliveryError(f"no {channel.type} transport is configured")
                message = digest_message(notices, date.fromisoformat(digest.day),
                                         f"digest:{digest.day}:{key}")
                detail, delivered = transport.send(channel, message), True
            except DeliveryError as error:
                detail, delivered = str(error), False
            self.app.record_digest_delivery(digest.day, key, delivered, detail)
            for notice in readable:
                self.app.record_delivery(UUID(notice.case_id), notice.notification_id, key,
                                         delivered, f"晨间汇总 {digest.day}: {detail}", now)
            yield delivered

    def _notices(self, held: list[HeldNotice], now: datetime
                 ) -> Iterator[tuple[HeldNotice, Notice]]:
        """What each held notice says; one whose record cannot be read is left out (and
        logged) rather than holding back every other miss of the contact's digest."""
        for notice in held:
            try:
                holder = self.app.get_deadline_holder(UUID(notice.case_id))
                yield notice, notice_of(holder, notice.notification_id, now, self.public_url)
            except (DomainError, ApplicationError, KeyError, ValueError) as error:
                log.warning("digest_notice_unreadable", notification=notice.notification_id,
                            error=type(error).__name__)

"""The morning digest: when it is due, and the ledger that makes each one happen once.

Misses held for the digest (`notice_is_urgent` False) are gathered per contact on working
days at the policy's `digest_at`. The ledger records which log positions each digest covered
and which delivery targets it reached, so a retried or repeated run never sends one miss twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.calendar import CHINA_TIME

if TYPE_CHECKING:
    from domain.policy import Policy

# The one ledger of the installation.
LEDGER_ID = UUID("5a0e1c7b-3f42-4a8e-9d16-0b7c2e4f9a33")


def next_digest_at(after: datetime, policy: Policy) -> datetime:
    """The first working day's `digest_at` (China Standard Time) strictly after `after`."""
    local = after.astimezone(CHINA_TIME)
    day = local.date()
    while True:
        at = datetime.combine(day, policy.digest_at, CHINA_TIME)
        if at > local and policy.calendar.is_working_day(day):
            return at
        day += timedelta(days=1)


@dataclass(frozen=True)
class HeldNotice:
    """A notice the digest carries: which case, which notification."""

    case_id: str
    notification_id: str


def day_digest_id(day: str) -> UUID:
    """The id of one day's digest (`2026-12-01`)."""
    return uuid5(LEDGER_ID, day)


class DigestLedger(Aggregate):
    """Which days had a digest and the log position each read up to: the next one starts
    there, so no held notice is gathered twice."""

    class Opened(Aggregate.Created):
        """The ledger was started (by the first digest)."""

    class Prepared(Aggregate.Event):
        """A day's digest gathered the held notices up to a log position."""

        day: str
        scanned_to: int

        def apply(self, aggregate: Any) -> None:
            ledger: DigestLedger = aggregate
            ledger.days = [*ledger.days, self.day]
            ledger.scanned_to = max(ledger.scanned_to, self.scanned_to)

    def __init__(self) -> None:
        self.days: list[str] = []
        self.scanned_to = 0

    @classmethod
    def open(cls) -> DigestLedger:
        return cls._create(cls.Opened, id=LEDGER_ID)

    def prepared(self, day: str, scanned_to: int) -> None:
        self.trigger_event(self.Prepared, day=day, scanned_to=scanned_to)


class DayDigest(Aggregate):
    """One day's digest: for each contact the notices it carries, and each target's outcome."""

    class Prepared(Aggregate.Created):
        """The day's digest was put together."""

        day: str
        batches: dict[str, list[list[str]]]  # contact id -> [[case id, notification id]]

        def apply(self, aggregate: Any) -> None:
            digest: DayDigest = aggregate
            digest.batches = {contact: [HeldNotice(*item) for item in items]
                              for contact, items in self.batches.items()}

    class Sent(Aggregate.Event):
        """One delivery target received the day's digest, or failed to."""

        key: str
        delivered: bool
        detail: str

        def apply(self, aggregate: Any) -> None:
            digest: DayDigest = aggregate
            outcome = "delivered" if self.delivered else "failed"
            digest.outcomes = {**digest.outcomes, self.key: outcome}

    def __init__(self, day: str) -> None:
        self.day = day
        self.batches: dict[str, list[HeldNotice]] = {}
        self.outcomes: dict[str, str] = {}  # delivery key -> outcome

    @classmethod
    def prepare(cls, day: str, batches: dict[str, list[HeldNotice]]) -> DayDigest:
        return cls._create(cls.Prepared, id=day_digest_id(day), day=day, batches={
            contact: [[n.case_id, n.notification_id] for n in notices]
            for contact, notices in batches.items()})

    def record(self, key: str, delivered: bool, detail: str) -> bool:
        """Record a target's outcome; a target already reached is not recorded again."""
        if self.outcomes.get(key) == "delivered":
            return False
        self.trigger_event(self.Sent, key=key, delivered=delivered, detail=detail[:500])
        return True

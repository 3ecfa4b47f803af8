"""Records whose deadlines Temporal watches and escalates: what they must offer, and which
event classes say what about them (for the relay and the inbox).

A protection case is one; any other record with deadlines (a monitored child's visits) joins
by offering `DeadlineHolder` and adding its classes to the tables below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from domain import events as ev
from domain.case import ProtectionCase

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from domain.actors import Context
    from domain.case_state import Notification
    from domain.deadlines import Deadline


class DeadlineHolder(Protocol):
    """What the workflows, the relay and the notices read and record on a record."""

    @property
    def id(self) -> UUID: ...
    @property
    def version(self) -> int: ...

    jurisdiction: str
    stage: str
    policy_version: str
    deadlines: dict[str, Deadline]
    notifications: dict[str, Notification]

    @property
    def closed(self) -> bool:
        """No deadline of it runs any more."""
        ...

    def open_deadlines(self) -> list[Deadline]: ...

    def record_deadline_missed(self, deadline_id: str, now: datetime) -> bool: ...

    def record_escalation(self, deadline_id: str, level: int, now: datetime) -> str | None: ...

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool: ...

    def acknowledge_notification(self, ctx: Context, notification_id: str) -> bool: ...


# The aggregate classes that hold deadlines.
HOLDER_TYPES: tuple[type[Any], ...] = (ProtectionCase,)
# Every event of a holder; the relay signals a holder's workflow on each but its own
# notification events (which change no timer the workflow does not already know of).
HOLDER_EVENTS: tuple[type[Any], ...] = ev.CASE_EVENTS
NOTIFICATION_EVENTS: tuple[type[Any], ...] = ev.NOTIFICATION_EVENTS
# The inbox's events, by what they say of a notice.
ESCALATED: tuple[type[Any], ...] = (ev.EscalationRecorded,)
DELIVERED: tuple[type[Any], ...] = (ev.NotificationDelivered,)
DELIVERY_FAILED: tuple[type[Any], ...] = (ev.NotificationDeliveryFailed,)
ACKNOWLEDGED: tuple[type[Any], ...] = (ev.NotificationAcknowledged,)

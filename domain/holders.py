"""Records whose deadlines Temporal watches and escalates: what they must offer, and which
event classes say what about them (for the relay and the inbox).

Protection cases and monitored children's records (their visits, reviews and care agreement
renewals) are the two; another joins by offering `DeadlineHolder` and adding its classes to
the tables below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from domain import events as ev
from domain import monitoring_events as mev
from domain.case import ProtectionCase
from domain.monitoring import MonitoringRecord

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


# The aggregate classes that hold deadlines: a protection case, a monitored child's record.
HOLDER_TYPES: tuple[type[Any], ...] = (ProtectionCase, MonitoringRecord)
# Every event of a holder; the relay signals a holder's workflow on each but its own
# notification events (which change no timer the workflow does not already know of).
HOLDER_EVENTS: tuple[type[Any], ...] = (*ev.CASE_EVENTS, *mev.MONITORING_EVENTS)
NOTIFICATION_EVENTS: tuple[type[Any], ...] = (
    *ev.NOTIFICATION_EVENTS, *mev.MONITORING_NOTIFICATION_EVENTS)
# The inbox's events, by what they say of a notice.
ESCALATED: tuple[type[Any], ...] = (ev.EscalationRecorded, mev.MonitoringEscalationRecorded)
DELIVERED: tuple[type[Any], ...] = (ev.NotificationDelivered,
                                    mev.MonitoringNotificationDelivered)
DELIVERY_FAILED: tuple[type[Any], ...] = (ev.NotificationDeliveryFailed,
                                          mev.MonitoringNotificationDeliveryFailed)
ACKNOWLEDGED: tuple[type[Any], ...] = (ev.NotificationAcknowledged,
                                       mev.MonitoringNotificationAcknowledged)

"""Records whose deadlines Temporal watches and escalates, and records that hold notices:
what they must offer, and which event classes say what about them (for the relay and the
inbox).

Protection cases and monitored children's records (their visits, reviews and care agreement
renewals) hold deadlines; another joins by offering `DeadlineHolder` and adding its classes to
the tables below. Child files hold no deadline but do hold notices: their pattern alarms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from domain import events as ev
from domain import monitoring_events as mev
from domain.case import ProtectionCase
from domain.child import ChildFile
from domain.monitoring import MonitoringRecord

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from domain.actors import Context
    from domain.case_state import Notification
    from domain.deadlines import Deadline


class NoticeHolder(Protocol):
    """What the delivery activities read and record of a record's notices."""

    @property
    def id(self) -> UUID: ...

    jurisdiction: str
    notifications: dict[str, Notification]

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool: ...


class DeadlineHolder(NoticeHolder, Protocol):
    """What the workflows, the relay and the notices read and record on a record."""

    @property
    def version(self) -> int: ...

    stage: str
    policy_version: str
    deadlines: dict[str, Deadline]

    @property
    def closed(self) -> bool:
        """No deadline of it runs any more."""
        ...

    def open_deadlines(self) -> list[Deadline]: ...

    def record_deadline_missed(self, deadline_id: str, now: datetime) -> bool: ...

    def record_escalation(self, deadline_id: str, level: int, now: datetime) -> str | None: ...

    def acknowledge_notification(self, ctx: Context, notification_id: str) -> bool: ...


# The aggregate classes that hold deadlines: a protection case, a monitored child's record.
HOLDER_TYPES: tuple[type[Any], ...] = (ProtectionCase, MonitoringRecord)
# The aggregate classes that hold notices: the deadline holders and the child files (alarms).
NOTICE_TYPES: tuple[type[Any], ...] = (*HOLDER_TYPES, ChildFile)
# Every event of a holder; the relay signals a holder's workflow on each but its own
# notification events (which change no timer the workflow does not already know of).
HOLDER_EVENTS: tuple[type[Any], ...] = (*ev.CASE_EVENTS, *mev.MONITORING_EVENTS)
NOTIFICATION_EVENTS: tuple[type[Any], ...] = (
    *ev.NOTIFICATION_EVENTS, *mev.MONITORING_NOTIFICATION_EVENTS)
# The inbox's events, by what they say of a notice.
ESCALATED: tuple[type[Any], ...] = (ev.EscalationRecorded, mev.MonitoringEscalationRecorded)
ALARMED: tuple[type[Any], ...] = (ChildFile.PatternMatched,)
DELIVERED: tuple[type[Any], ...] = (ev.NotificationDelivered,
                                    mev.MonitoringNotificationDelivered,
                                    ChildFile.AlarmDelivered)
DELIVERY_FAILED: tuple[type[Any], ...] = (ev.NotificationDeliveryFailed,
                                          mev.MonitoringNotificationDeliveryFailed,
                                          ChildFile.AlarmDeliveryFailed)
ACKNOWLEDGED: tuple[type[Any], ...] = (ev.NotificationAcknowledged,
                                       mev.MonitoringNotificationAcknowledged,
                                       ChildFile.AlarmAcknowledged)

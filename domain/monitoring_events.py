"""The monitoring record's events (监测预防): explicitly named, past tense, immutable once stored.

Like a case's events, each names who acted, when it happened, the command that recorded it,
the policy version, the stage it left the record in ("monitoring" or "ended") and its
deadline changes. `apply` only changes state; the command that triggered it decided.
The deadline and notification events carry exactly the fields of the case's
(`domain.events`), so the inbox and the workflows can take them alike.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.case_state import Notification
from domain.codes import Role
from domain.deadlines import apply_changes

if TYPE_CHECKING:
    from datetime import datetime

    from domain.monitoring import MonitoringRecord


class MonitoringEvent(Aggregate.Event):
    """Fields every monitoring event carries."""

    actor_id: str
    actor_role: str
    occurred_at: datetime
    policy_version: str
    stage: str
    deadline_changes: list[dict[str, Any]]
    command_id: str | None

    def apply(self, aggregate: Any) -> None:
        record: MonitoringRecord = aggregate
        self.change(record)
        if self.command_id is not None:
            record.remember_command(self.command_id, self.originator_version)
        record.stage = self.stage
        apply_changes(record.deadlines, self.deadline_changes, self.occurred_at)

    def change(self, record: MonitoringRecord) -> None:
        """What this kind of event changes beyond stage and deadlines."""


class MonitoringStarted(Aggregate.Created, MonitoringEvent):
    """A child's file was taken into the ledger (纳入台账): category, risk, guardian, carer."""

    file_id: str
    jurisdiction: str
    category: str
    risk_level: str
    risk_reason: str
    guardian: dict[str, Any]
    caregiver: dict[str, Any] | None

    def change(self, record: MonitoringRecord) -> None:
        record.file_id = self.file_id
        record.jurisdiction = self.jurisdiction
        record.category = self.category
        record.risk_level = self.risk_level
        record.risk_reason = self.risk_reason
        record.guardian = dict(self.guardian)
        record.caregiver = dict(self.caregiver) if self.caregiver else None
        record.policy_version = self.policy_version
        record.started_at = self.occurred_at
        record.started_by = self.actor_id


class MonitoringVisitRecorded(MonitoringEvent):
    """A regular visit (定期走访): was the child seen, how they live, the guardian's capacity."""

    child_seen: bool
    living_situation: str
    guardian_capacity: str
    findings: str
    risk_level: str | None
    risk_reason: str | None

    def change(self, record: MonitoringRecord) -> None:
        record.last_visit_at = self.occurred_at
        record.last_visit_by = self.actor_id
        if self.actor_role == Role.CHILD_DIRECTOR:
            record.assignee = self.actor_id  # the village's director follows the child up
        record.visits += 1
        if self.risk_level:
            record.take_risk_level(self.risk_level, self.risk_reason or "", self.occurred_at)


class RiskLevelSet(MonitoringEvent):
    """The guardianship risk level changed (监护风险等级), and with it the visit cadence."""

    risk_level: str
    risk_reason: str

    def change(self, record: MonitoringRecord) -> None:
        record.take_risk_level(self.risk_level, self.risk_reason, self.occurred_at)


class CareAgreementRecorded(MonitoringEvent):
    """A written care agreement (书面照护协议) with the entrusted caregiver, for its period."""

    caregiver: dict[str, Any]
    starts_on: str
    ends_on: str

    def change(self, record: MonitoringRecord) -> None:
        record.caregiver = dict(self.caregiver)
        record.care_agreement = {"starts_on": self.starts_on, "ends_on": self.ends_on}


class ChildFileReviewed(MonitoringEvent):
    """The township's child supervisor reviewed the file (台账季度动态更新)."""

    findings: str

    def change(self, record: MonitoringRecord) -> None:
        record.last_review_at = self.occurred_at


class ConcernRaised(MonitoringEvent):
    """A visit raised a concern, which opened a discovery case linked to the file."""

    case_id: str
    categories: list[str]
    summary: str
    danger_now: bool

    def change(self, record: MonitoringRecord) -> None:
        record.case_ids = [*record.case_ids, self.case_id]


class MonitoringStopped(MonitoringEvent):
    """The child left the ledger (came of age, moved away, risk gone): no more visits due."""

    reason: str

    def change(self, record: MonitoringRecord) -> None:
        record.stopped_reason = self.reason


class MonitoringDeadlineMissed(MonitoringEvent):
    """A visit, review or renewal fell due before it was recorded."""

    deadline_id: str
    kind: str
    due_at: datetime


class MonitoringEscalationRecorded(MonitoringEvent):
    """A missed monitoring deadline was escalated: one notice to one jurisdiction, one level.

    `case_jurisdiction` is the record's jurisdiction (the field keeps the case's name).
    """

    notification_id: str
    deadline_id: str
    kind: str
    due_at: datetime
    level: int
    recipient_jurisdiction: str
    assignee: str | None
    case_jurisdiction: str
    urgent: bool | None

    def change(self, record: MonitoringRecord) -> None:
        record.notifications[self.notification_id] = Notification(
            self.deadline_id, self.level, self.recipient_jurisdiction, urgent=self.urgent)


class MonitoringNotificationDelivered(MonitoringEvent):
    """A monitoring notice reached one channel."""

    notification_id: str
    channel: str
    detail: str

    def change(self, record: MonitoringRecord) -> None:
        _delivery(record, self.notification_id, self.channel, "delivered")


class MonitoringNotificationDeliveryFailed(MonitoringEvent):
    """A channel could not deliver a monitoring notice after its retries."""

    notification_id: str
    channel: str
    detail: str

    def change(self, record: MonitoringRecord) -> None:
        _delivery(record, self.notification_id, self.channel, "failed")


class MonitoringNotificationAcknowledged(MonitoringEvent):
    """A supervisor acknowledged a monitoring notice in the inbox."""

    notification_id: str

    def change(self, record: MonitoringRecord) -> None:
        record.notifications[self.notification_id] = replace(
            record.notifications[self.notification_id], acknowledged_by=self.actor_id)


def _delivery(record: MonitoringRecord, notification_id: str, channel: str, outcome: str
              ) -> None:
    notification = record.notifications[notification_id]
    record.notifications[notification_id] = replace(
        notification, deliveries={**notification.deliveries, channel: outcome})


MONITORING_EVENTS: tuple[type[MonitoringEvent], ...] = (
    MonitoringStarted, MonitoringVisitRecorded, RiskLevelSet, CareAgreementRecorded,
    ChildFileReviewed, ConcernRaised, MonitoringStopped, MonitoringDeadlineMissed,
    MonitoringEscalationRecorded, MonitoringNotificationDelivered,
    MonitoringNotificationDeliveryFailed, MonitoringNotificationAcknowledged,
)
# Recorded by the service when deadlines pass, not by people (cf. NOTIFICATION_EVENTS).
MONITORING_NOTIFICATION_EVENTS: tuple[type[MonitoringEvent], ...] = (
    MonitoringDeadlineMissed, MonitoringEscalationRecorded, MonitoringNotificationDelivered,
    MonitoringNotificationDeliveryFailed, MonitoringNotificationAcknowledged,
)

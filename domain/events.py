"""The protection case's events: explicitly named, past tense, immutable once stored.

Every event records who acted (actor_id, actor_role), when it happened (occurred_at), the
command that recorded it (command_id), the policy version, the stage it left the case in,
the deadline changes it caused, and its place in the case's hash chain (prev_hash, hash).
`apply` only changes state; the command method that triggered it decided everything.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.case_state import (
    Approval,
    Notification,
    Referral,
    Service,
    from_plain,
    handover_notice,
    notified_jurisdiction,
)
from domain.codes import ApprovalStatus, Grade, Stage
from domain.deadlines import apply_changes
from domain.hotline import AWAITING, FAILED, FIRST_STAGES, REPLIED, intake_outcome

if TYPE_CHECKING:
    from datetime import datetime

    from domain.case import ProtectionCase


class CaseEvent(Aggregate.Event):
    """Fields every case event carries."""

    # 2: the id of the command that recorded the event, so that a retry finds it.
    # 3: the seal of its personal fields (domain.personal), None when it has none.
    class_version = 3
    actor_id: str
    actor_role: str
    occurred_at: datetime
    policy_version: str
    stage: str
    deadline_changes: list[dict[str, Any]]
    prev_hash: str
    hash: str
    command_id: str | None
    seal: dict[str, Any] | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["command_id"] = None  # recorded before commands had ids

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["seal"] = None  # recorded before per-child keys: chained over plaintext

    def apply(self, aggregate: Any) -> None:
        case: ProtectionCase = aggregate
        self.change(case)
        if self.command_id is not None:
            case.remember_command(self.command_id, self.originator_version)
        closes = self.stage == Stage.CLOSED and case.stage != Stage.CLOSED
        case.spend_approvals(type(self), closes=closes)
        if closes:
            case.closings = [*case.closings, self.occurred_at]
        # Kept only for a case with work orders: snapshots of the cases before the 12345 desk
        # stay the state their events give.
        if case.hotline_orders and case.stage in FIRST_STAGES \
                and self.stage not in FIRST_STAGES:
            case.intake_outcome = intake_outcome(type(self).__name__, self.stage)
        case.stage = self.stage
        apply_changes(case.deadlines, self.deadline_changes, self.occurred_at)
        case.last_hash = self.hash

    def change(self, case: ProtectionCase) -> None:
        """What this kind of event changes beyond stage, deadlines and chain."""


class CaseOpened(Aggregate.Created, CaseEvent):
    """A concern was recorded, entering at discovery or report (发现 / 报告)."""

    jurisdiction: str
    child_id: str
    entry: str
    child: dict[str, Any]
    concern: dict[str, Any]
    source: dict[str, Any]

    def change(self, case: ProtectionCase) -> None:
        case.jurisdiction = self.jurisdiction
        case.child_id = self.child_id
        case.entry = self.entry
        case.child = self.child
        case.concern = self.concern
        case.source = self.source
        case.policy_version = self.policy_version
        case.opened_at = self.occurred_at
        case.opened_by = self.actor_id


class ReportFiled(CaseEvent):
    """A discovered concern was reported for unified intake."""

    danger_now: bool
    summary: str


class CaseDismissed(CaseEvent):
    """A discovered concern was dismissed with a reason."""

    reason: str

    def change(self, case: ProtectionCase) -> None:
        _closed_for(case, self)


class ReportAccepted(CaseEvent):
    """Intake accepted and graded the report and named the case lead."""

    grade: str
    assignee: str

    def change(self, case: ProtectionCase) -> None:
        _regrade(case, self.grade)
        case.assignee = self.assignee


class ReportScreenedOut(CaseEvent):
    """Intake screened the report out, optionally referring it elsewhere."""

    reason: str
    referral: str | None

    def change(self, case: ProtectionCase) -> None:
        _closed_for(case, self)


class ResponseDispatched(CaseEvent):
    """Responders were sent to the child."""

    responders: list[str]


class ChildPlaced(CaseEvent):
    """The child was placed in safety; with a ground, civil affairs took temporary guardianship."""

    placement: str
    ground: str | None

    def change(self, case: ProtectionCase) -> None:
        case.placement = self.placement
        if self.ground:
            case.temporary_guardianship = self.ground


class EmergencyCompleted(CaseEvent):
    """The emergency response ended with the child safe."""

    summary: str


class AssessmentRecorded(CaseEvent):
    """Risk, needs and guardianship capacity were assessed (and the grade possibly changed)."""

    guardianship_capacity: str
    grade: str | None
    needs: list[str]
    summary: str

    def change(self, case: ProtectionCase) -> None:
        case.guardianship_capacity = self.guardianship_capacity
        case.assessments += 1
        if self.grade:
            _regrade(case, self.grade)


class AssessmentCompleted(CaseEvent):
    """The assessment concluded: assistance, intervention or close."""

    outcome: str

    def change(self, case: ProtectionCase) -> None:
        if self.outcome == "close":
            _closed_reason(case, "assessment completed: no further action")


class PlanCreated(CaseEvent):
    """A support plan was made, each service with a provider and a due date."""

    services: list[dict[str, Any]]

    def change(self, case: ProtectionCase) -> None:
        for service in self.services:
            case.services[service["id"]] = from_plain(Service, service)


class ServiceDelivered(CaseEvent):
    """A planned service was delivered."""

    service_id: str
    note: str

    def change(self, case: ProtectionCase) -> None:
        case.services[self.service_id] = replace(case.services[self.service_id], delivered=True)


class VisitRecorded(CaseEvent):
    """A home visit happened (走访), with whether the child was seen."""

    child_seen: bool
    findings: str

    def change(self, case: ProtectionCase) -> None:
        case.last_contact_at = self.occurred_at


class CareAgreementSigned(CaseEvent):
    """A written care agreement entrusted the child to a caregiver for a period."""

    caregiver: str
    period_start: str
    period_end: str


class GuardianContactRecorded(CaseEvent):
    """The guardian (often a migrant parent) was in contact with or about the child."""

    channel: str
    note: str

    def change(self, case: ProtectionCase) -> None:
        case.last_contact_at = self.occurred_at


class AssistanceCompleted(CaseEvent):
    """Assistance ended: close, intervention or reassessment."""

    outcome: str

    def change(self, case: ProtectionCase) -> None:
        if self.outcome == "close":
            _closed_reason(case, "assistance completed")


class GuardianAdmonished(CaseEvent):
    """The guardian was formally admonished (训诫)."""

    note: str


class FamilyEducationOrdered(CaseEvent):
    """The guardian was ordered to receive family-education guidance."""

    note: str


class TemporaryGuardianshipStarted(CaseEvent):
    """Civil affairs took temporary guardianship on an Art. 92 ground."""

    ground: str
    placement: str

    def change(self, case: ProtectionCase) -> None:
        case.temporary_guardianship = self.ground
        case.placement = self.placement


class CourtPetitioned(CaseEvent):
    """A court was petitioned on an Art. 108 ground (revocation or protection order)."""

    ground: str
    summary: str


class CourtDecisionRecorded(CaseEvent):
    """The court's decision on a petition was recorded."""

    decision: str
    summary: str


class LongTermGuardianshipStarted(CaseEvent):
    """Civil affairs took long-term guardianship on an Art. 94 ground."""

    ground: str

    def change(self, case: ProtectionCase) -> None:
        case.long_term_guardianship = self.ground


class GuardianshipReviewed(CaseEvent):
    """The periodic review of a temporary guardianship took place."""

    findings: str


class InterventionEnded(CaseEvent):
    """Guardianship intervention ended: back to assistance, or close."""

    outcome: str

    def change(self, case: ProtectionCase) -> None:
        if self.outcome == "close":
            _closed_reason(case, "intervention ended")


class CaseAssigned(CaseEvent):
    """A caseworker became the case lead."""

    assignee: str

    def change(self, case: ProtectionCase) -> None:
        case.assignee = self.assignee


class NoteAdded(CaseEvent):
    """A caseworker added a note."""

    text: str


class CaseReferred(CaseEvent):
    """The case was referred to a partner department, which must respond."""

    referral_id: str
    partner: str
    reason: str

    def change(self, case: ProtectionCase) -> None:
        case.referrals[self.referral_id] = Referral(self.partner)


class ReferralResponseRecorded(CaseEvent):
    """A partner department responded to a referral."""

    referral_id: str
    response: str

    def change(self, case: ProtectionCase) -> None:
        case.referrals[self.referral_id] = replace(case.referrals[self.referral_id],
                                                   responded=True)


class CaseEscalated(CaseEvent):
    """New danger: the case went (back) to emergency response at the given grade."""

    grade: str
    reason: str

    def change(self, case: ProtectionCase) -> None:
        _regrade(case, self.grade)


class JurisdictionTransferred(CaseEvent):
    """Responsibility for the case moved to another division."""

    from_jurisdiction: str
    to_jurisdiction: str

    def change(self, case: ProtectionCase) -> None:
        case.jurisdiction = self.to_jurisdiction
        # Approvals come from the case's own area's supervisors: the new area decides anew.
        _drop_granted(case)
        notice = handover_notice(self.originator_id, self.originator_version)
        case.notifications[notice] = Notification(
            None, 1, notified_jurisdiction(self.from_jurisdiction, 1))


class CaseHandedOver(JurisdictionTransferred):
    """The case left this partition (province) for another, which continues its history
    (`domain.handover`): every deadline here stops, and no action is taken on it here."""

    from_partition: str
    to_partition: str

    def change(self, case: ProtectionCase) -> None:
        case.jurisdiction = self.to_jurisdiction
        _drop_granted(case)
        case.handed_over_to = self.to_partition


class ReceivedFromPartition(CaseEvent):
    """The case arrived from another partition: the events before this one are the source's,
    copied with their hashes, so its prev_hash is the source's head hash. The deadlines the
    hand-over stopped run here again, and the child has a file here."""

    from_partition: str
    to_partition: str
    child_id: str

    def change(self, case: ProtectionCase) -> None:
        case.handed_over_to = None
        case.received_from = self.from_partition
        case.child_id = self.child_id


class CaseClosed(CaseEvent):
    """The case was closed with a reason and outcome; monitoring continues."""

    reason: str
    outcome: str

    def change(self, case: ProtectionCase) -> None:
        _closed_for(case, self)


class CaseReviewed(CaseEvent):
    """A supervisor reviewed the case (periodic case review)."""

    findings: str


class CaseReopened(CaseEvent):
    """A new report reopened a closed case."""

    reason: str
    danger_now: bool

    def change(self, case: ProtectionCase) -> None:
        # A new report is graded afresh at intake; no approval outlives the closed case.
        case.later_reports = [*case.later_reports,
                              [f"reopen-{self.originator_version}", self.occurred_at]]
        _closed_reason(case, None)
        case.grade = None
        case.approvals.clear()


class ApprovalRequested(CaseEvent):
    """Someone asked a supervisor to approve closure, long-term guardianship or a petition."""

    subject: str
    reason: str

    def change(self, case: ProtectionCase) -> None:
        case.approvals[self.subject] = Approval(ApprovalStatus.REQUESTED, self.actor_id)


class ApprovalGranted(CaseEvent):
    """A supervisor (not the requester) approved the request, with a reason if they gave one."""

    subject: str
    # Approvals recorded before reasons were taken have none (a class default, so that their
    # stored fields, and so their hashes, stay as they were).
    reason: str = ""

    def change(self, case: ProtectionCase) -> None:
        case.approvals[self.subject] = replace(
            case.approvals[self.subject], status=ApprovalStatus.APPROVED, approved_by=self.actor_id)


class ApprovalRejected(CaseEvent):
    """A supervisor rejected the request, with a reason."""

    subject: str
    reason: str

    def change(self, case: ProtectionCase) -> None:
        case.approvals.pop(self.subject, None)


class DeadlineMissed(CaseEvent):
    """A deadline's due time passed before its step was recorded."""

    deadline_id: str
    kind: str
    due_at: datetime


class EscalationRecorded(CaseEvent):
    """A missed deadline was escalated: one notification to one jurisdiction at one level."""

    notification_id: str
    deadline_id: str
    kind: str
    due_at: datetime
    level: int
    recipient_jurisdiction: str
    assignee: str | None
    case_jurisdiction: str
    # True: told at once; False: held for the morning digest; None: recorded before digests
    # existed, when every notice went out at once.
    urgent: bool | None

    # 3: whether the notice goes out at once or waits for the digest. 4: the seal (always
    # None here: an escalation names no one).
    class_version = 4

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["urgent"] = None

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state["seal"] = None

    def change(self, case: ProtectionCase) -> None:
        case.notifications[self.notification_id] = Notification(
            self.deadline_id, self.level, self.recipient_jurisdiction, urgent=self.urgent)


class NotificationDelivered(CaseEvent):
    """A notification reached one channel (webhook, e-mail)."""

    notification_id: str
    channel: str
    detail: str

    def change(self, case: ProtectionCase) -> None:
        _delivery(case, self.notification_id, self.channel, "delivered")


class NotificationDeliveryFailed(CaseEvent):
    """A channel could not deliver a notification after its retries."""

    notification_id: str
    channel: str
    detail: str

    def change(self, case: ProtectionCase) -> None:
        _delivery(case, self.notification_id, self.channel, "failed")


class NotificationAcknowledged(CaseEvent):
    """A supervisor acknowledged a notification in the inbox."""

    notification_id: str

    def change(self, case: ProtectionCase) -> None:
        case.notifications[self.notification_id] = replace(
            case.notifications[self.notification_id], acknowledged_by=self.actor_id)


class HotlineOrderLinked(CaseEvent):
    """A 12345 work order (未成年人保护专席工单) opened this case or was linked to it; the
    platform is owed a reply (办结回复)."""

    ticket: str
    opened: bool
    urgent: bool
    # A linked order's report and caller (an opening order's are in the case's CaseOpened):
    # personal, sealed. Class defaults, so that orders stored before they were kept read
    # (and hash) as they were stored.
    content: str = ""
    caller: dict[str, Any] | None = None

    def change(self, case: ProtectionCase) -> None:
        case.hotline_orders[self.ticket] = AWAITING
        if not self.opened:  # another report about the child, on the open case
            case.later_reports = [*case.later_reports, [self.ticket, self.occurred_at]]


class HotlineReplied(CaseEvent):
    """The work order's outcome reached the hotline platform (办结回复)."""

    ticket: str
    outcome: str
    detail: str

    def change(self, case: ProtectionCase) -> None:
        case.hotline_orders[self.ticket] = REPLIED


class HotlineReplyFailed(CaseEvent):
    """The hotline platform could not be reached with the outcome after the retries."""

    ticket: str
    outcome: str
    detail: str

    def change(self, case: ProtectionCase) -> None:
        case.hotline_orders[self.ticket] = FAILED


def _closed_for(case: ProtectionCase, event: CaseDismissed | ReportScreenedOut | CaseClosed
                ) -> None:
    """The case's closed reason is the event's; a snapshot seals it where the event did."""
    _closed_reason(case, event.reason,
                   sealed=event.seal is not None and "reason" in event.seal["digests"])


def _closed_reason(case: ProtectionCase, reason: str | None, *, sealed: bool = False) -> None:
    case.closed_reason = reason
    if sealed or case.closed_reason_sealed:  # left unset by cases that never sealed one
        case.closed_reason_sealed = sealed


def _regrade(case: ProtectionCase, grade: str) -> None:
    """A new grade; a case once urgent stays so for closing, and a re-grade upwards clears
    the approvals granted under the lower grade."""
    new = Grade(grade)
    if case.grade is not None and new.severity > Grade(case.grade).severity:
        _drop_granted(case)
    case.grade = grade
    case.ever_urgent = case.ever_urgent or new.is_urgent


def _drop_granted(case: ProtectionCase) -> None:
    """Approvals granted but not yet used lapse when what they were granted on changed."""
    for subject, approval in list(case.approvals.items()):
        if approval.status == ApprovalStatus.APPROVED:
            del case.approvals[subject]


def _delivery(case: ProtectionCase, notification_id: str, channel: str, outcome: str) -> None:
    notification = case.notifications[notification_id]
    case.notifications[notification_id] = replace(
        notification, deliveries={**notification.deliveries, channel: outcome})


CASE_EVENTS: tuple[type[CaseEvent], ...] = tuple(
    cls for cls in list(vars().values())
    if isinstance(cls, type) and issubclass(cls, CaseEvent) and cls is not CaseEvent
)
# What the service records when deadlines pass (misses, escalations, deliveries) and their
# acknowledgements: events of no action in the action table.
NOTIFICATION_EVENTS: tuple[type[CaseEvent], ...] = (
    DeadlineMissed, EscalationRecorded, NotificationDelivered, NotificationDeliveryFailed,
    NotificationAcknowledged,
)
# What the hotline reply consumer records: never a reason to reply again.
HOTLINE_REPLY_EVENTS: tuple[type[CaseEvent], ...] = (HotlineReplied, HotlineReplyFailed)
# What the 12345 desk's orders and their replies record: events of no action in the table.
HOTLINE_EVENTS: tuple[type[CaseEvent], ...] = (HotlineOrderLinked, *HOTLINE_REPLY_EVENTS)
# What a move between partitions records (`domain.handover`): events of no action either.
PARTITION_EVENTS: tuple[type[CaseEvent], ...] = (CaseHandedOver, ReceivedFromPartition)

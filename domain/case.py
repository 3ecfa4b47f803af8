"""The ProtectionCase aggregate: every action of SPEC.md as a command that validates, then records.

Command methods decide (stage rules, legal grounds, approvals, deadline arithmetic) and trigger
one event; the events in `domain.events` only apply what was decided.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain import events as ev
from domain.actors import CLOCK_SKEW, SYSTEM, Actor, Context
from domain.codes import (
    ApprovalSubject,
    AssessmentOutcome,
    AssistanceOutcome,
    DeadlineStatus,
    Entry,
    Grade,
    GuardianshipCapacity,
    InterventionOutcome,
    LegalGround,
    Partner,
    Placement,
    Role,
    Stage,
    jurisdiction_is_valid,
)
from domain.deadlines import Deadline, closing, opening, resolving
from domain.errors import (
    ActionNotAllowed,
    ApprovalRefused,
    ApprovalRequired,
    InvalidCommand,
    LegalGroundRequired,
)
from domain.hashchain import GENESIS, event_hash
from domain.policy import SERVICE_DELIVERY
from domain.stages import role_may, stage_actions

if TYPE_CHECKING:
    from uuid import UUID

Changes = list[dict[str, Any]]

# Which deadline kinds each action completes.
MEETS: dict[str, tuple[str, ...]] = {
    "file_report": ("report_filing",),
    "accept_report": ("intake", "intake_danger"),
    "screen_out": ("intake", "intake_danger"),
    "dispatch_response": ("response_dispatch",),
    "complete_emergency": ("emergency_completion",),
    "complete_assessment": ("assessment",),
    "create_plan": ("plan_creation",),
    "record_visit": ("home_visit",),
    "deliver_service": (SERVICE_DELIVERY,),
    "record_referral_response": ("referral_response",),
    "review_case": ("case_review",),
    "review_guardianship": ("guardianship_review",),
    "approve": ("approval",),
    "reject": ("approval",),
}
# Escalation level -> length of the division code notified (township, county, city, province).
LEVEL_CODE_LENGTH = {1: 9, 2: 6, 3: 4}
GATED_BY_APPROVAL = {
    "petition_court": ApprovalSubject.COURT_PETITION,
    "start_long_term_guardianship": ApprovalSubject.LONG_TERM_GUARDIANSHIP,
}


def _check(values: type[Any], value: str, field: str) -> str:
    try:
        return str(values(value).value)
    except ValueError:
        known = ", ".join(v.value for v in values)
        raise InvalidCommand(f"unknown {field} {value!r}; use one of: {known}") from None


def _require_ground(ground: str | None, article: int, action: str) -> str:
    if not ground:
        raise LegalGroundRequired(f"'{action}' needs an Art. {article} ground")
    checked = LegalGround(_check(LegalGround, ground, "ground"))
    if checked.article != article:
        raise LegalGroundRequired(
            f"'{action}' needs an Art. {article} ground, not {ground!r} (Art. {checked.article})"
        )
    return checked.value


class ProtectionCase(Aggregate):
    """One child-protection case moving through the stages of the linked response."""

    jurisdiction: str
    child_id: str
    stage: str

    def __init__(self) -> None:
        # State is set by CaseOpened.apply; defaults here keep snapshots and replays uniform.
        self.grade: str | None = None
        self.assignee: str | None = None
        self.deadlines: dict[str, Deadline] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.referrals: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.notifications: dict[str, dict[str, Any]] = {}
        self.placement: str | None = None
        self.temporary_guardianship: str | None = None
        self.long_term_guardianship: str | None = None
        self.guardianship_capacity: str | None = None
        self.assessments = 0
        self.closed_reason: str | None = None
        self.last_contact_at: datetime | None = None
        self.last_hash = GENESIS
        self.policy_version = ""
        self.entry = ""
        self.child: dict[str, Any] = {}
        self.concern: dict[str, Any] = {}
        self.source: dict[str, Any] = {}
        self.opened_at: datetime | None = None
        self.opened_by = ""
        self.last_occurred_at: datetime | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> ProtectionCase:
        """The repository copies cached cases for each command; copy only what events change.

        Deadlines are frozen and the opening facts (child, concern, source) never change, so
        they are shared; the tables events write into are copied to the depth they write.
        """
        clone = copy.copy(self)
        clone.__dict__.update(
            _pending_events=[],
            deadlines=dict(self.deadlines),
            approvals={k: dict(v) for k, v in self.approvals.items()},
            referrals={k: dict(v) for k, v in self.referrals.items()},
            services={k: dict(v) for k, v in self.services.items()},
            notifications={
                k: {**v, "deliveries": dict(v["deliveries"])}
                for k, v in self.notifications.items()
            },
        )
        return clone

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        ctx: Context,
        *,
        case_id: UUID,
        child_id: str,
        entry: str,
        jurisdiction: str,
        child: dict[str, Any],
        concern: dict[str, Any],
        source: dict[str, Any],
    ) -> ProtectionCase:
        """Open a case at discovery or report; its first deadlines start now."""
        entry = _check(Entry, entry, "entry")
        if not jurisdiction_is_valid(jurisdiction):
            raise InvalidCommand(f"jurisdiction {jurisdiction!r} is not a division code")
        if not ctx.actor.covers(jurisdiction) and Role.SYSTEM not in ctx.actor.roles:
            raise ActionNotAllowed("open_case", "-", [], "your jurisdiction does not cover it")
        _check_time(ctx)
        stage = Stage.DISCOVERY if entry == Entry.DISCOVERY else Stage.REPORT
        changes = _entry_deadlines(ctx, stage, None, 1, bool(concern.get("danger_now")))
        changes.append(_case_review(ctx, 1))
        fields: dict[str, Any] = {
            **_base_fields(ctx, stage, changes, GENESIS),
            "jurisdiction": jurisdiction, "child_id": child_id, "entry": entry,
            "child": child, "concern": concern, "source": source,
        }
        timestamp = ev.CaseOpened.create_timestamp()
        fields["hash"] = event_hash(get_topic(ev.CaseOpened), {
            **fields, "originator_topic": get_topic(cls), "originator_id": case_id,
            "originator_version": cls.INITIAL_VERSION, "timestamp": timestamp,
        })
        return cls._create(ev.CaseOpened, id=case_id, timestamp=timestamp, **fields)

    # --- the chain -----------------------------------------------------------------------

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Trigger an event with its place in the hash chain computed over its content."""
        timestamp = event_class.create_timestamp()
        kwargs["prev_hash"] = self.last_hash
        kwargs["hash"] = event_hash(get_topic(event_class), {
            **kwargs, "originator_id": self.id, "originator_version": self.version + 1,
            "timestamp": timestamp,
        })
        super().trigger_event(event_class, timestamp=timestamp, **kwargs)

    # --- reading -------------------------------------------------------------------------

    def allowed_actions(self, actor: Actor | None = None) -> list[str]:
        """Actions the stage and the case's facts allow (for this actor's roles, when given)."""
        actions = [a for a in stage_actions(self.stage) if self._available(a)]
        if actor is None:
            return actions
        if not actor.covers(self.jurisdiction):
            return []
        return [a for a in actions if role_may(actor.roles, a)]

    def open_deadlines(self) -> list[Deadline]:
        return sorted((d for d in self.deadlines.values() if d.is_open), key=lambda d: d.due_at)

    # --- discovery and report ------------------------------------------------------------

    def file_report(self, ctx: Context, *, danger_now: bool = False, summary: str = "") -> None:
        changes = self._begin("file_report", ctx, Stage.REPORT)
        changes += _entry_deadlines(ctx, Stage.REPORT, None, self.version + 1, danger_now)
        self._record(ev.ReportFiled, ctx, Stage.REPORT, changes,
                     danger_now=danger_now, summary=summary)

    def dismiss(self, ctx: Context, *, reason: str) -> None:
        changes = self._begin("dismiss", ctx, Stage.CLOSED)
        self._record(ev.CaseDismissed, ctx, Stage.CLOSED, changes, reason=_text(reason, "reason"))

    def accept_report(self, ctx: Context, *, grade: str, assignee: str) -> None:
        grade = _check(Grade, grade, "grade")
        target = Stage.EMERGENCY_RESPONSE if Grade(grade).is_urgent else Stage.ASSESSMENT
        changes = self._begin("accept_report", ctx, target)
        changes += _entry_deadlines(ctx, target, Grade(grade), self.version + 1)
        self._record(ev.ReportAccepted, ctx, target, changes,
                     grade=grade, assignee=_text(assignee, "assignee"))

    def screen_out(self, ctx: Context, *, reason: str, referral: str | None = None) -> None:
        changes = self._begin("screen_out", ctx, Stage.CLOSED)
        self._record(ev.ReportScreenedOut, ctx, Stage.CLOSED, changes,
                     reason=_text(reason, "reason"), referral=referral)

    # --- emergency response --------------------------------------------------------------

    def dispatch_response(self, ctx: Context, *, responders: list[str]) -> None:
        changes = self._begin("dispatch_response", ctx)
        if not responders:
            raise InvalidCommand("name at least one responder, e.g. police or civil_affairs")
        self._record(ev.ResponseDispatched, ctx, self.stage, changes, responders=list(responders))

    def place_child(self, ctx: Context, *, placement: str, ground: str | None = None) -> None:
        changes = self._begin("place_child", ctx)
        placement = _check(Placement, placement, "placement")
        if ground is not None:
            ground = _require_ground(ground, 92, "place_child")
            changes += self._first_guardianship_review(ctx)
        self._record(ev.ChildPlaced, ctx, self.stage, changes, placement=placement, ground=ground)

    def complete_emergency(self, ctx: Context, *, summary: str = "") -> None:
        changes = self._begin("complete_emergency", ctx, Stage.ASSESSMENT)
        changes += _entry_deadlines(ctx, Stage.ASSESSMENT, self._grade, self.version + 1)
        self._record(ev.EmergencyCompleted, ctx, Stage.ASSESSMENT, changes, summary=summary)

    # --- assessment ----------------------------------------------------------------------

    def record_assessment(
        self, ctx: Context, *, guardianship_capacity: str, grade: str | None = None,
        needs: list[str] | None = None, summary: str = "",
    ) -> None:
        changes = self._begin("record_assessment", ctx)
        capacity = _check(GuardianshipCapacity, guardianship_capacity, "guardianship_capacity")
        new_grade = _check(Grade, grade, "grade") if grade else None
        self._record(ev.AssessmentRecorded, ctx, self.stage, changes,
                     guardianship_capacity=capacity, grade=new_grade,
                     needs=list(needs or []), summary=summary)

    def complete_assessment(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(AssessmentOutcome, outcome, "outcome")
        target = {
            AssessmentOutcome.ASSISTANCE: Stage.ASSISTANCE,
            AssessmentOutcome.INTERVENTION: Stage.GUARDIANSHIP_INTERVENTION,
            AssessmentOutcome.CLOSE: Stage.CLOSED,
        }[AssessmentOutcome(outcome)]
        changes = self._begin("complete_assessment", ctx, target)
        # Checked after the stage, so a wrong stage is reported as such.
        if self.assessments == 0:
            raise InvalidCommand("record an assessment before completing it")
        changes += _entry_deadlines(ctx, target, self._grade, self.version + 1)
        self._record(ev.AssessmentCompleted, ctx, target, changes, outcome=outcome)

    # --- assistance ----------------------------------------------------------------------

    def create_plan(self, ctx: Context, *, services: list[dict[str, Any]]) -> None:
        changes = self._begin("create_plan", ctx)
        if not services:
            raise InvalidCommand("a plan needs at least one service (type, provider, due_at)")
        version = self.version + 1
        planned = []
        for number, service in enumerate(services, start=1):
            due_at = service.get("due_at")
            if not isinstance(due_at, datetime) or due_at.tzinfo is None:
                raise InvalidCommand("each service needs due_at, a time with offset")
            service_id = f"svc-{version}-{number}"
            planned.append({"id": service_id, "type": _text(service.get("type"), "type"),
                            "provider": str(service.get("provider") or ""), "due_at": due_at})
            changes.append(opening(f"{SERVICE_DELIVERY}-{version}-{number}", SERVICE_DELIVERY,
                                   due_at, Stage.ASSISTANCE, service_id))
        self._record(ev.PlanCreated, ctx, self.stage, changes, services=planned)

    def deliver_service(self, ctx: Context, *, service_id: str, note: str = "") -> None:
        changes = self._begin("deliver_service", ctx, ref=service_id)
        if service_id not in self.services:
            raise InvalidCommand(f"no planned service {service_id!r} in this case")
        self._record(ev.ServiceDelivered, ctx, self.stage, changes,
                     service_id=service_id, note=note)

    def record_visit(self, ctx: Context, *, child_seen: bool, findings: str = "") -> None:
        changes = self._begin("record_visit", ctx)
        changes += self._next_visit(ctx)
        self._record(ev.VisitRecorded, ctx, self.stage, changes,
                     child_seen=child_seen, findings=findings)

    def sign_care_agreement(
        self, ctx: Context, *, caregiver: str, period_start: str, period_end: str
    ) -> None:
        changes = self._begin("sign_care_agreement", ctx)
        if not period_start or not period_end or period_end < period_start:
            raise InvalidCommand("a care agreement needs period_start <= period_end (dates)")
        self._record(ev.CareAgreementSigned, ctx, self.stage, changes,
                     caregiver=_text(caregiver, "caregiver"),
                     period_start=period_start, period_end=period_end)

    def record_guardian_contact(self, ctx: Context, *, channel: str = "", note: str = "") -> None:
        changes = self._begin("record_guardian_contact", ctx)
        self._record(ev.GuardianContactRecorded, ctx, self.stage, changes,
                     channel=channel, note=note)

    def complete_assistance(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(AssistanceOutcome, outcome, "outcome")
        target = {
            AssistanceOutcome.CLOSE: Stage.CLOSED,
            AssistanceOutcome.INTERVENTION: Stage.GUARDIANSHIP_INTERVENTION,
            AssistanceOutcome.REASSESS: Stage.ASSESSMENT,
        }[AssistanceOutcome(outcome)]
        changes = self._begin("complete_assistance", ctx, target)
        changes += _entry_deadlines(ctx, target, self._grade, self.version + 1)
        self._record(ev.AssistanceCompleted, ctx, target, changes, outcome=outcome)

    # --- guardianship intervention -------------------------------------------------------

    def admonish_guardian(self, ctx: Context, *, note: str = "") -> None:
        changes = self._begin("admonish_guardian", ctx)
        self._record(ev.GuardianAdmonished, ctx, self.stage, changes, note=note)

    def order_family_education(self, ctx: Context, *, note: str = "") -> None:
        changes = self._begin("order_family_education", ctx)
        self._record(ev.FamilyEducationOrdered, ctx, self.stage, changes, note=note)

    def start_temporary_guardianship(self, ctx: Context, *, ground: str, placement: str) -> None:
        changes = self._begin("start_temporary_guardianship", ctx)
        ground = _require_ground(ground, 92, "start_temporary_guardianship")
        placement = _check(Placement, placement, "placement")
        changes += self._first_guardianship_review(ctx)
        self._record(ev.TemporaryGuardianshipStarted, ctx, self.stage, changes,
                     ground=ground, placement=placement)

    def petition_court(self, ctx: Context, *, ground: str, summary: str = "") -> None:
        changes = self._begin("petition_court", ctx)
        ground = _require_ground(ground, 108, "petition_court")
        self._record(ev.CourtPetitioned, ctx, self.stage, changes, ground=ground, summary=summary)

    def record_court_decision(self, ctx: Context, *, decision: str, summary: str = "") -> None:
        changes = self._begin("record_court_decision", ctx)
        self._record(ev.CourtDecisionRecorded, ctx, self.stage, changes,
                     decision=_text(decision, "decision"), summary=summary)

    def start_long_term_guardianship(self, ctx: Context, *, ground: str) -> None:
        changes = self._begin("start_long_term_guardianship", ctx)
        ground = _require_ground(ground, 94, "start_long_term_guardianship")
        self._record(ev.LongTermGuardianshipStarted, ctx, self.stage, changes, ground=ground)

    def review_guardianship(self, ctx: Context, *, findings: str = "") -> None:
        changes = self._begin("review_guardianship", ctx)
        changes.append(self._guardianship_review(ctx))
        self._record(ev.GuardianshipReviewed, ctx, self.stage, changes, findings=findings)

    def end_intervention(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(InterventionOutcome, outcome, "outcome")
        target = Stage.CLOSED if outcome == InterventionOutcome.CLOSE else Stage.ASSISTANCE
        changes = self._begin("end_intervention", ctx, target)
        changes += _entry_deadlines(ctx, target, self._grade, self.version + 1)
        self._record(ev.InterventionEnded, ctx, target, changes, outcome=outcome)

    # --- any open stage ------------------------------------------------------------------

    def assign(self, ctx: Context, *, assignee: str) -> None:
        changes = self._begin("assign", ctx)
        self._record(ev.CaseAssigned, ctx, self.stage, changes,
                     assignee=_text(assignee, "assignee"))

    def add_note(self, ctx: Context, *, text: str) -> None:
        changes = self._begin("add_note", ctx)
        self._record(ev.NoteAdded, ctx, self.stage, changes, text=_text(text, "text"))

    def refer(
        self, ctx: Context, *, partner: str, reason: str = "", due_at: datetime | None = None
    ) -> None:
        partner = _check(Partner, partner, "partner")
        changes = self._begin("refer", ctx)
        version = self.version + 1
        referral_id = f"ref-{version}"
        due = due_at or ctx.due("referral_response")
        assert due is not None  # referral_response is a required, ungraded kind
        changes.append(opening(f"referral_response-{version}", "referral_response", due,
                               None, referral_id))
        self._record(ev.CaseReferred, ctx, self.stage, changes,
                     referral_id=referral_id, partner=partner, reason=reason)

    def record_referral_response(self, ctx: Context, *, referral_id: str, response: str) -> None:
        changes = self._begin("record_referral_response", ctx, ref=referral_id)
        if referral_id not in self.referrals:
            raise InvalidCommand(f"no referral {referral_id!r} in this case")
        self._record(ev.ReferralResponseRecorded, ctx, self.stage, changes,
                     referral_id=referral_id, response=_text(response, "response"))

    def escalate(self, ctx: Context, *, grade: str = "red", reason: str) -> None:
        grade = _check(Grade, grade, "grade")
        if not Grade(grade).is_urgent:
            raise InvalidCommand("escalation means new danger: grade must be red or orange")
        changes = self._begin("escalate", ctx, Stage.EMERGENCY_RESPONSE)
        changes += _entry_deadlines(ctx, Stage.EMERGENCY_RESPONSE, Grade(grade), self.version + 1)
        self._record(ev.CaseEscalated, ctx, Stage.EMERGENCY_RESPONSE, changes,
                     grade=grade, reason=_text(reason, "reason"))

    def transfer_jurisdiction(self, ctx: Context, *, jurisdiction: str) -> None:
        if not jurisdiction_is_valid(jurisdiction):
            raise InvalidCommand(f"jurisdiction {jurisdiction!r} is not a division code")
        if jurisdiction == self.jurisdiction:
            raise InvalidCommand("the case is already in that jurisdiction")
        changes = self._begin("transfer_jurisdiction", ctx)
        # The receiving office starts afresh: no ladder keeps climbing in the old one.
        changes += [resolving(d.id) for d in self.deadlines.values() if d.awaits_escalation]
        self._record(ev.JurisdictionTransferred, ctx, self.stage, changes,
                     from_jurisdiction=self.jurisdiction, to_jurisdiction=jurisdiction)

    def close(self, ctx: Context, *, reason: str, outcome: str = "") -> None:
        changes = self._begin("close", ctx, Stage.CLOSED)
        self._record(ev.CaseClosed, ctx, Stage.CLOSED, changes,
                     reason=_text(reason, "reason"), outcome=outcome)

    def review_case(self, ctx: Context, *, findings: str = "") -> None:
        changes = self._begin("review_case", ctx)
        changes.append(_case_review(ctx, self.version + 1))
        self._record(ev.CaseReviewed, ctx, self.stage, changes, findings=findings)

    def reopen(self, ctx: Context, *, reason: str, danger_now: bool = False) -> None:
        changes = self._begin("reopen", ctx, Stage.REPORT)
        version = self.version + 1
        changes += _entry_deadlines(ctx, Stage.REPORT, None, version, danger_now)
        changes.append(_case_review(ctx, version))
        self._record(ev.CaseReopened, ctx, Stage.REPORT, changes,
                     reason=_text(reason, "reason"), danger_now=danger_now)

    # --- approvals -----------------------------------------------------------------------

    def request_approval(self, ctx: Context, *, subject: str, reason: str = "") -> None:
        subject = _check(ApprovalSubject, subject, "subject")
        if subject in self.approvals:
            state = self.approvals[subject]["status"]
            raise ApprovalRefused(f"a {subject} approval is already {state} for this case")
        changes = self._begin("request_approval", ctx)
        due = ctx.due("approval")
        assert due is not None
        changes.append(opening(f"approval-{self.version + 1}", "approval", due, None, subject))
        self._record(ev.ApprovalRequested, ctx, self.stage, changes, subject=subject,
                     reason=reason)

    def approve(self, ctx: Context, *, subject: str) -> None:
        subject = self._pending_decision(ctx, subject)
        changes = self._begin("approve", ctx, ref=subject)
        self._record(ev.ApprovalGranted, ctx, self.stage, changes, subject=subject)

    def reject(self, ctx: Context, *, subject: str, reason: str) -> None:
        subject = self._pending_decision(ctx, subject)
        changes = self._begin("reject", ctx, ref=subject)
        self._record(ev.ApprovalRejected, ctx, self.stage, changes, subject=subject,
                     reason=_text(reason, "reason"))

    # --- deadlines and notifications (recorded by the service, not by people) -------------

    def record_deadline_missed(self, deadline_id: str, now: datetime) -> bool:
        """Record the miss if the deadline is still open at its due time; True if recorded."""
        deadline = self._deadline(deadline_id)
        if not deadline.is_open or now < deadline.due_at:
            return False
        ctx = Context(actor=SYSTEM, now=now, occurred_at=deadline.due_at)
        self._record(ev.DeadlineMissed, ctx, self.stage,
                     [closing(deadline_id, DeadlineStatus.MISSED)],
                     deadline_id=deadline_id, kind=deadline.kind, due_at=deadline.due_at)
        return True

    def record_escalation(self, deadline_id: str, level: int, now: datetime) -> str | None:
        """Notify the level's jurisdiction of a miss still not put right; idempotent.

        Returns the notification id, or None when the step was done (the ladder stops).
        """
        notification_id = f"{self.id}:{deadline_id}:L{level}"
        if notification_id in self.notifications:
            return notification_id
        deadline = self._deadline(deadline_id)
        if not deadline.awaits_escalation or self.stage == Stage.CLOSED:
            return None
        if level < 1:
            raise InvalidCommand("escalation levels start at 1")
        length = LEVEL_CODE_LENGTH.get(level, 2)
        ctx = Context(actor=SYSTEM, now=now)
        self._record(ev.EscalationRecorded, ctx, self.stage, [],
                     notification_id=notification_id, deadline_id=deadline_id,
                     kind=deadline.kind, due_at=deadline.due_at, level=level,
                     recipient_jurisdiction=self.jurisdiction[:length],
                     assignee=self.assignee if level == 1 else None,
                     case_jurisdiction=self.jurisdiction)
        return notification_id

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool:
        """Record one channel's outcome for a notification; idempotent per outcome."""
        outcome = "delivered" if delivered else "failed"
        deliveries = self._notification(notification_id)["deliveries"]
        if deliveries.get(channel) == outcome or deliveries.get(channel) == "delivered":
            return False
        cls = ev.NotificationDelivered if delivered else ev.NotificationDeliveryFailed
        ctx = Context(actor=SYSTEM, now=now)
        self._record(cls, ctx, self.stage, [], notification_id=notification_id,
                     channel=channel, detail=detail[:500])
        return True

    def acknowledge_notification(self, ctx: Context, notification_id: str) -> bool:
        """A supervisor of the recipient jurisdiction acknowledges; idempotent."""
        notification = self._notification(notification_id)
        if not ({Role.SUPERVISOR, Role.ADMIN} & ctx.actor.roles):
            raise ActionNotAllowed("acknowledge", self.stage, [], "only supervisors acknowledge")
        if ctx.actor.jurisdiction != notification["recipient_jurisdiction"]:
            raise ActionNotAllowed("acknowledge", self.stage, [],
                                   "the notification is addressed to another jurisdiction")
        if notification["acknowledged_by"]:
            return False
        self._record(ev.NotificationAcknowledged, ctx, self.stage, [],
                     notification_id=notification_id)
        return True

    # --- the machinery -------------------------------------------------------------------

    def _available(self, action: str) -> bool:
        """Actions that need something to act on: a guardianship, referral, request, service."""
        if action == "review_guardianship":
            return self.temporary_guardianship is not None
        if action == "record_referral_response":
            return any(not r["responded"] for r in self.referrals.values())
        if action in ("approve", "reject"):
            return any(a["status"] == "requested" for a in self.approvals.values())
        if action == "deliver_service":
            return any(not s["delivered"] for s in self.services.values())
        return True

    @property
    def _grade(self) -> Grade | None:
        return Grade(self.grade) if self.grade else None

    def _begin(
        self, action: str, ctx: Context, target: str | None = None, ref: str | None = None
    ) -> Changes:
        """Refuse what the stage, role, law or approvals forbid; else the deadline changes."""
        allowed = self.allowed_actions()
        if action not in allowed:
            raise ActionNotAllowed(action, self.stage, allowed)
        if Role.SYSTEM not in ctx.actor.roles:
            mine = self.allowed_actions(ctx.actor)
            if action not in mine:
                raise ActionNotAllowed(action, self.stage, mine,
                                       f"your role or jurisdiction may not '{action}'")
        _check_time(ctx)
        self._check_approval(action, target)
        met = self._meet(action, ctx, ref)
        return met + self._leave(target, {change["id"] for change in met})

    def _check_approval(self, action: str, target: str | None) -> None:
        subject = GATED_BY_APPROVAL.get(action)
        if target == Stage.CLOSED and self._grade is not None and self._grade.is_urgent:
            subject = ApprovalSubject.CLOSURE
        if subject is None:
            return
        if self.approvals.get(subject, {}).get("status") != "approved":
            raise ApprovalRequired(
                f"'{action}' needs an approved '{subject}' request first: "
                f"request_approval with subject '{subject}', then a supervisor approves it"
            )

    def _meet(self, action: str, ctx: Context, ref: str | None) -> Changes:
        changes: Changes = []
        for deadline in self.deadlines.values():
            if deadline.kind not in MEETS.get(action, ()) or (ref and deadline.ref != ref):
                continue
            if deadline.is_open:
                in_time = ctx.when < deadline.due_at
                changes.append(closing(deadline.id, DeadlineStatus.MET if in_time
                                       else DeadlineStatus.MISSED))
                if not in_time:
                    changes.append(resolving(deadline.id))
            elif deadline.awaits_escalation:
                changes.append(resolving(deadline.id))
        return changes

    def _leave(self, target: str | None, settled: set[str]) -> Changes:
        """Leaving a stage cancels its open deadlines; closing cancels every one."""
        if target is None or target == self.stage:
            return []
        closing_case = target == Stage.CLOSED
        changes: Changes = []
        for deadline in self.deadlines.values():
            if deadline.id in settled or not (closing_case or deadline.stage == self.stage):
                continue
            if deadline.is_open:
                changes.append(closing(deadline.id, DeadlineStatus.CANCELLED))
            elif deadline.awaits_escalation:
                changes.append(resolving(deadline.id))
        return changes

    def _next_visit(self, ctx: Context) -> list[dict[str, Any]]:
        due = ctx.due("home_visit", self._grade)
        return [opening(f"home_visit-{self.version + 1}", "home_visit", due, Stage.ASSISTANCE)]\
            if due else []

    def _first_guardianship_review(self, ctx: Context) -> Changes:
        """A guardianship already under review keeps its one running review clock."""
        if any(d.is_open and d.kind == "guardianship_review" for d in self.deadlines.values()):
            return []
        return [self._guardianship_review(ctx)]

    def _guardianship_review(self, ctx: Context) -> dict[str, Any]:
        due = ctx.due("guardianship_review")
        assert due is not None
        return opening(f"guardianship_review-{self.version + 1}", "guardianship_review", due, None)

    def _pending_decision(self, ctx: Context, subject: str) -> str:
        subject = _check(ApprovalSubject, subject, "subject")
        request = self.approvals.get(subject)
        if not request or request["status"] != "requested":
            raise ApprovalRefused(f"there is no pending '{subject}' request to decide")
        if request["requested_by"] == ctx.actor.subject:
            raise ApprovalRefused("nobody decides their own request: ask another supervisor")
        return subject

    def _deadline(self, deadline_id: str) -> Deadline:
        try:
            return self.deadlines[deadline_id]
        except KeyError:
            raise InvalidCommand(f"no deadline {deadline_id!r} in this case") from None

    def _notification(self, notification_id: str) -> dict[str, Any]:
        try:
            return self.notifications[notification_id]
        except KeyError:
            raise InvalidCommand(f"no notification {notification_id!r} in this case") from None

    def _record(
        self, event_class: type[ev.CaseEvent], ctx: Context, stage: str, changes: Changes,
        **fields: Any,
    ) -> None:
        self.trigger_event(
            event_class,
            **_base_fields(ctx, stage, changes, None, self.policy_version),
            **fields,
        )


def _base_fields(
    ctx: Context, stage: str, changes: Changes, prev_hash: str | None, version: str = ""
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "actor_id": ctx.actor.subject,
        "actor_role": ctx.actor.role.value,
        "occurred_at": ctx.when,
        "policy_version": version or (ctx.policy.version if ctx.policy else ""),
        "stage": str(Stage(stage).value),
        "deadline_changes": changes,
    }
    if prev_hash is not None:
        fields["prev_hash"] = prev_hash
    return fields


def _check_time(ctx: Context) -> None:
    when = ctx.when
    if when.tzinfo is None:
        raise InvalidCommand("occurred_at needs a UTC offset, e.g. 2026-11-20T09:00:00+08:00")
    if when > ctx.now + CLOCK_SKEW:
        raise InvalidCommand("occurred_at is in the future; record what has happened")


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"'{field}' must be a non-empty text")
    return value


def _entry_deadlines(
    ctx: Context, stage: str, grade: Grade | None, version: int, danger_now: bool = False
) -> Changes:
    """The deadlines whose clock starts when the case enters a stage."""
    kinds = {
        Stage.DISCOVERY: ["report_filing"],
        Stage.REPORT: ["intake_danger" if danger_now else "intake"],
        Stage.EMERGENCY_RESPONSE: ["response_dispatch", "emergency_completion"],
        Stage.ASSESSMENT: ["assessment"],
        Stage.ASSISTANCE: ["plan_creation", "home_visit"],
    }.get(Stage(stage), [])
    changes: Changes = []
    for kind in kinds:
        due = ctx.due(kind, grade)
        if due is not None:
            changes.append(opening(f"{kind}-{version}", kind, due, stage))
    return changes


def _case_review(ctx: Context, version: int) -> dict[str, Any]:
    due = ctx.due("case_review")
    assert due is not None
    return opening(f"case_review-{version}", "case_review", due, None)

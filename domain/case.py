"""The ProtectionCase aggregate: every case action as a command that validates, then records.

Command methods decide (stage rules, legal grounds, approvals, deadline arithmetic) and trigger
one event; the events in `domain.events` only apply what was decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain import access
from domain import events as ev
from domain.actions import ACTIONS, RULE_OF_EVENT, RULES, ActionRule
from domain.actors import CLOCK_SKEW, SYSTEM, Actor, Context
from domain.case_state import (
    Approval,
    Notification,
    Referral,
    Service,
    from_plain,
    notice_is_urgent,
    notified_jurisdiction,
    records_news,
)
from domain.codes import (
    ApprovalStatus,
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
    Stage,
    jurisdiction_is_valid,
)
from domain.deadlines import Deadline, closing, opening, resolving
from domain.errors import (
    ActionNotAllowed,
    ApprovalRefused,
    ApprovalRequired,
    DeadlineNotDue,
    InvalidCommand,
    LegalGroundRequired,
    OutsideJurisdiction,
)
from domain.hashchain import GENESIS, event_hash
from domain.hotline import FAILED, FIRST_STAGES, REPLIED, REPLY_KIND, intake_outcome
from domain.personal import seal_of
from domain.policy import SERVICE_DELIVERY

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

Changes = list[dict[str, Any]]
# Command ids a case remembers, newest last: a retry comes within minutes of its first try,
# and a case records a few commands a minute, so 200 cover any retry for ~10 KB a case.
RECENT_COMMANDS = 200


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

    # 2: typed approvals, referrals, services and notifications; ever_urgent is kept.
    # 3: the recent command ids, so that a retried command finds its first answer.
    # 4: the 12345 work orders and their replies, and the outcome of intake.
    class_version: ClassVar[int] = 4
    jurisdiction: str
    child_id: str
    stage: str
    # What the pattern rules (`domain.patterns`) read of a case beyond its opening: when it
    # closed, each time; and the reports that came to it later, [key, time] each (a 12345
    # work order linked to it: its ticket; a reopening: "reopen-<version>"). Lists, as a
    # snapshot's state decodes them, that events replace and never change; class defaults,
    # so that snapshots taken before they were kept read as none.
    closings: Sequence[datetime] = ()
    later_reports: Sequence[Sequence[Any]] = ()
    # The partition the case was handed over to (it is frozen here), and the one it came
    # from (`domain.handover`); class defaults, as snapshots before partitions lack them.
    handed_over_to: str | None = None
    received_from: str | None = None
    # Whether `closed_reason` is sealed in the event that gave it, so in snapshots too
    # (docs/privacy.md); a class default, as reasons stored before sealing leave it unset.
    closed_reason_sealed: bool = False

    def __init__(self) -> None:
        # State is set by CaseOpened.apply; defaults here keep snapshots and replays uniform.
        self.grade: str | None = None
        self.assignee: str | None = None
        self.deadlines: dict[str, Deadline] = {}
        self.approvals: dict[str, Approval] = {}
        self.referrals: dict[str, Referral] = {}
        self.services: dict[str, Service] = {}
        self.notifications: dict[str, Notification] = {}
        self.placement: str | None = None
        self.temporary_guardianship: str | None = None
        self.long_term_guardianship: str | None = None
        self.guardianship_capacity: str | None = None
        self.assessments = 0
        # Ever graded red or orange: closing it needs a supervisor's approval for good.
        self.ever_urgent = False
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
        # Recent command id -> the version its event took (the newest RECENT_COMMANDS).
        self.command_ids: dict[str, int] = {}
        # 12345 tickets linked to the case -> their reply (awaiting, replied, failed).
        self.hotline_orders: dict[str, str] = {}
        # What intake decided when the case with work orders last left discovery/report.
        self.intake_outcome: str | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken before approvals, referrals, services and notifications were typed,
        and before the case remembered being urgent (its grade now is all they tell)."""
        state.pop("last_occurred_at", None)  # no longer kept
        state.setdefault("ever_urgent", Grade(state["grade"]).is_urgent if state.get("grade")
                         else False)
        for table, record_type in (("approvals", Approval), ("referrals", Referral),
                                   ("services", Service), ("notifications", Notification)):
            state[table] = {key: from_plain(record_type, value)
                            for key, value in state.get(table, {}).items()}

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Snapshots taken before events carried command ids: none to remember."""
        state["command_ids"] = {}

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """Snapshots taken before the 12345 desk: no work orders, so no intake outcome kept."""
        state["hotline_orders"] = {}
        state["intake_outcome"] = None

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
        if not access.may_open_case(ctx.actor, jurisdiction):
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
        fields["seal"] = seal_of(ev.CaseOpened.__name__, fields, child_id)
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
        # Personal fields are chained by salted digests, so the chain outlives their key.
        kwargs["seal"] = seal_of(event_class.__name__, kwargs, self.child_id)
        kwargs["hash"] = event_hash(get_topic(event_class), {
            **kwargs, "originator_id": self.id, "originator_version": self.version + 1,
            "timestamp": timestamp,
        })
        super().trigger_event(event_class, timestamp=timestamp, **kwargs)

    def remember_command(self, command_id: str, version: int) -> None:
        """Keep the id of a recorded command (the oldest is forgotten past the bound)."""
        self.command_ids[command_id] = version
        if len(self.command_ids) > RECENT_COMMANDS:
            del self.command_ids[next(iter(self.command_ids))]

    # --- reading -------------------------------------------------------------------------

    @property
    def closed_at(self) -> datetime | None:
        """When the case closed, while it is closed (None while open, and for a case closed
        before closings were kept and loaded from a snapshot taken after)."""
        return self.closings[-1] if self.stage == Stage.CLOSED and self.closings else None

    def allowed_actions(self, actor: Actor | None = None) -> list[str]:
        """Actions the stage and the case's facts allow (for this actor, when given)."""
        return [rule.name for rule in ACTIONS if self._allows(rule)
                and (actor is None or access.may_take(actor, rule, self.jurisdiction))]

    def spend_approvals(self, event_type: type[ev.CaseEvent], *, closes: bool) -> None:
        """An approval allows its one action once: recording the action uses it up."""
        rule = RULE_OF_EVENT.get(event_type)
        for subject in rule.spends(closes) if rule else ():
            self.approvals.pop(subject, None)

    @property
    def has_undelivered_service(self) -> bool:
        return any(not s.delivered for s in self.services.values())

    @property
    def has_open_referral(self) -> bool:
        return any(not r.responded for r in self.referrals.values())

    @property
    def has_pending_approval(self) -> bool:
        return any(a.status == ApprovalStatus.REQUESTED for a in self.approvals.values())

    @property
    def closed(self) -> bool:
        """Closed: no deadline of it runs (until a reopening)."""
        return self.stage == Stage.CLOSED

    def open_deadlines(self) -> list[Deadline]:
        return sorted((d for d in self.deadlines.values() if d.is_open), key=lambda d: d.due_at)

    # --- discovery and report ------------------------------------------------------------

    def file_report(self, ctx: Context, *, danger_now: bool = False, summary: str = "") -> None:
        step = self._begin("file_report", ctx)
        step.changes += _entry_deadlines(ctx, step.stage, None, self.version + 1, danger_now)
        self._record(step, ctx, danger_now=danger_now, summary=summary)

    def dismiss(self, ctx: Context, *, reason: str) -> None:
        step = self._begin("dismiss", ctx)
        self._record(step, ctx, reason=_text(reason, "reason"))

    def accept_report(self, ctx: Context, *, grade: str, assignee: str) -> None:
        grade = _check(Grade, grade, "grade")
        step = self._begin("accept_report", ctx, decided=grade)
        step.changes += _entry_deadlines(ctx, step.stage, Grade(grade), self.version + 1)
        self._record(step, ctx, grade=grade, assignee=_text(assignee, "assignee"))

    def screen_out(self, ctx: Context, *, reason: str, referral: str | None = None) -> None:
        step = self._begin("screen_out", ctx)
        self._record(step, ctx, reason=_text(reason, "reason"), referral=referral)

    # --- emergency response --------------------------------------------------------------

    def dispatch_response(self, ctx: Context, *, responders: list[str]) -> None:
        step = self._begin("dispatch_response", ctx)
        if not responders:
            raise InvalidCommand("name at least one responder, e.g. police or civil_affairs")
        self._record(step, ctx, responders=list(responders))

    def place_child(self, ctx: Context, *, placement: str, ground: str | None = None) -> None:
        step = self._begin("place_child", ctx)
        placement = _check(Placement, placement, "placement")
        if ground is not None:
            ground = _require_ground(ground, 92, "place_child")
            step.changes += self._first_guardianship_review(ctx)
        self._record(step, ctx, placement=placement, ground=ground)

    def complete_emergency(self, ctx: Context, *, summary: str = "") -> None:
        step = self._begin("complete_emergency", ctx)
        step.changes += _entry_deadlines(ctx, step.stage, self._grade, self.version + 1)
        self._record(step, ctx, summary=summary)

    # --- assessment ----------------------------------------------------------------------

    def record_assessment(
        self, ctx: Context, *, guardianship_capacity: str, grade: str | None = None,
        needs: list[str] | None = None, summary: str = "",
    ) -> None:
        step = self._begin("record_assessment", ctx)
        capacity = _check(GuardianshipCapacity, guardianship_capacity, "guardianship_capacity")
        new_grade = _check(Grade, grade, "grade") if grade else None
        self._record(step, ctx, guardianship_capacity=capacity, grade=new_grade,
                     needs=list(needs or []), summary=summary)

    def complete_assessment(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(AssessmentOutcome, outcome, "outcome")
        step = self._begin("complete_assessment", ctx, decided=outcome)
        # Checked after the stage, so a wrong stage is reported as such.
        if self.assessments == 0:
            raise InvalidCommand("record an assessment before completing it")
        step.changes += _entry_deadlines(ctx, step.stage, self._grade, self.version + 1)
        self._record(step, ctx, outcome=outcome)

    # --- assistance ----------------------------------------------------------------------

    def create_plan(self, ctx: Context, *, services: list[dict[str, Any]]) -> None:
        step = self._begin("create_plan", ctx)
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
            step.changes.append(opening(f"{SERVICE_DELIVERY}-{version}-{number}", SERVICE_DELIVERY,
                                   due_at, self.stage, service_id))
        self._record(step, ctx, services=planned)

    def deliver_service(self, ctx: Context, *, service_id: str, note: str = "") -> None:
        step = self._begin("deliver_service", ctx, ref=service_id)
        if service_id not in self.services:
            raise InvalidCommand(f"no planned service {service_id!r} in this case")
        self._record(step, ctx, service_id=service_id, note=note)

    def record_visit(self, ctx: Context, *, child_seen: bool, findings: str = "") -> None:
        step = self._begin("record_visit", ctx)
        step.changes += self._next_visit(ctx)
        self._record(step, ctx, child_seen=child_seen, findings=findings)

    def sign_care_agreement(
        self, ctx: Context, *, caregiver: str, period_start: str, period_end: str
    ) -> None:
        step = self._begin("sign_care_agreement", ctx)
        if not period_start or not period_end or period_end < period_start:
            raise InvalidCommand("a care agreement needs period_start <= period_end (dates)")
        self._record(step, ctx, caregiver=_text(caregiver, "caregiver"),
                     period_start=period_start, period_end=period_end)

    def record_guardian_contact(self, ctx: Context, *, channel: str = "", note: str = "") -> None:
        step = self._begin("record_guardian_contact", ctx)
        self._record(step, ctx, channel=channel, note=note)

    def complete_assistance(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(AssistanceOutcome, outcome, "outcome")
        step = self._begin("complete_assistance", ctx, decided=outcome)
        step.changes += _entry_deadlines(ctx, step.stage, self._grade, self.version + 1)
        self._record(step, ctx, outcome=outcome)

    # --- guardianship intervention -------------------------------------------------------

    def admonish_guardian(self, ctx: Context, *, note: str = "") -> None:
        step = self._begin("admonish_guardian", ctx)
        self._record(step, ctx, note=note)

    def order_family_education(self, ctx: Context, *, note: str = "") -> None:
        step = self._begin("order_family_education", ctx)
        self._record(step, ctx, note=note)

    def start_temporary_guardianship(self, ctx: Context, *, ground: str, placement: str) -> None:
        step = self._begin("start_temporary_guardianship", ctx)
        ground = _require_ground(ground, 92, "start_temporary_guardianship")
        placement = _check(Placement, placement, "placement")
        step.changes += self._first_guardianship_review(ctx)
        self._record(step, ctx, ground=ground, placement=placement)

    def petition_court(self, ctx: Context, *, ground: str, summary: str = "") -> None:
        step = self._begin("petition_court", ctx)
        ground = _require_ground(ground, 108, "petition_court")
        self._record(step, ctx, ground=ground, summary=summary)

    def record_court_decision(self, ctx: Context, *, decision: str, summary: str = "") -> None:
        step = self._begin("record_court_decision", ctx)
        self._record(step, ctx, decision=_text(decision, "decision"), summary=summary)

    def start_long_term_guardianship(self, ctx: Context, *, ground: str) -> None:
        step = self._begin("start_long_term_guardianship", ctx)
        ground = _require_ground(ground, 94, "start_long_term_guardianship")
        self._record(step, ctx, ground=ground)

    def review_guardianship(self, ctx: Context, *, findings: str = "") -> None:
        step = self._begin("review_guardianship", ctx)
        step.changes.append(self._guardianship_review(ctx))
        self._record(step, ctx, findings=findings)

    def end_intervention(self, ctx: Context, *, outcome: str) -> None:
        outcome = _check(InterventionOutcome, outcome, "outcome")
        step = self._begin("end_intervention", ctx, decided=outcome)
        step.changes += _entry_deadlines(ctx, step.stage, self._grade, self.version + 1)
        self._record(step, ctx, outcome=outcome)

    # --- any open stage ------------------------------------------------------------------

    def assign(self, ctx: Context, *, assignee: str) -> None:
        step = self._begin("assign", ctx)
        self._record(step, ctx, assignee=_text(assignee, "assignee"))

    def add_note(self, ctx: Context, *, text: str) -> None:
        step = self._begin("add_note", ctx)
        self._record(step, ctx, text=_text(text, "text"))

    def refer(
        self, ctx: Context, *, partner: str, reason: str = "", due_at: datetime | None = None
    ) -> None:
        partner = _check(Partner, partner, "partner")
        step = self._begin("refer", ctx)
        version = self.version + 1
        referral_id = f"ref-{version}"
        due = due_at or ctx.due("referral_response")
        assert due is not None  # referral_response is a required, ungraded kind
        step.changes.append(opening(f"referral_response-{version}", "referral_response", due,
                               None, referral_id))
        self._record(step, ctx, referral_id=referral_id, partner=partner, reason=reason)

    def record_referral_response(self, ctx: Context, *, referral_id: str, response: str) -> None:
        step = self._begin("record_referral_response", ctx, ref=referral_id)
        if referral_id not in self.referrals:
            raise InvalidCommand(f"no referral {referral_id!r} in this case")
        self._record(step, ctx, referral_id=referral_id, response=_text(response, "response"))

    def escalate(self, ctx: Context, *, grade: str = "red", reason: str) -> None:
        grade = _check(Grade, grade, "grade")
        if not Grade(grade).is_urgent:
            raise InvalidCommand("escalation means new danger: grade must be red or orange")
        step = self._begin("escalate", ctx)
        step.changes += _entry_deadlines(ctx, step.stage, Grade(grade), self.version + 1)
        self._record(step, ctx, grade=grade, reason=_text(reason, "reason"))

    def transfer_jurisdiction(self, ctx: Context, *, jurisdiction: str) -> None:
        if not jurisdiction_is_valid(jurisdiction):
            raise InvalidCommand(f"jurisdiction {jurisdiction!r} is not a division code")
        if jurisdiction == self.jurisdiction:
            raise InvalidCommand("the case is already in that jurisdiction")
        step = self._begin("transfer_jurisdiction", ctx)
        if not access.may_transfer(ctx.actor, self.jurisdiction, jurisdiction):
            raise OutsideJurisdiction(
                f"{jurisdiction} is outside your area: a supervisor whose code covers both "
                f"{self.jurisdiction} and {jurisdiction} transfers the case there")
        # Missed steps keep escalating, now in the new area; the old area is told (the event).
        self._record(step, ctx, from_jurisdiction=self.jurisdiction, to_jurisdiction=jurisdiction)

    def hand_over(self, ctx: Context, *, jurisdiction: str, from_partition: str,
                  to_partition: str) -> None:
        """Record that the case leaves this partition for `to_partition` (`domain.handover`):
        allowed as a transfer is, and every deadline here stops."""
        if not jurisdiction_is_valid(jurisdiction):
            raise InvalidCommand(f"jurisdiction {jurisdiction!r} is not a division code")
        if from_partition == to_partition:
            raise InvalidCommand("the case is already in that partition: transfer it instead")
        step = self._begin("transfer_jurisdiction", ctx)
        if not access.may_hand_over(ctx.actor, self.jurisdiction):
            raise OutsideJurisdiction(
                f"a supervisor whose code covers {self.jurisdiction} hands the case over to "
                "another province")
        # The target reopens exactly these (`receive`); here nothing runs any more.
        settled = {change["id"] for change in step.changes}
        stops = [closing(d.id, DeadlineStatus.CANCELLED) if d.is_open else resolving(d.id)
                 for d in self.deadlines.values()
                 if (d.is_open or d.awaits_escalation) and d.id not in settled]
        self._record_event(ev.CaseHandedOver, ctx, self.stage, step.changes + stops,
                           from_jurisdiction=self.jurisdiction, to_jurisdiction=jurisdiction,
                           from_partition=from_partition, to_partition=to_partition)

    def receive(self, ctx: Context, *, handover: ev.CaseHandedOver, child_id: str) -> None:
        """Record the arrival of a case whose copied history ends in `handover`: the
        deadlines it stopped run here again (a missed one as open and past due, so that it is
        missed and escalated anew in the new area)."""
        if self.handed_over_to is None or handover.originator_version != self.version:
            raise InvalidCommand("only a case whose history ends in its hand-over is received")
        stopped = {change["id"] for change in handover.deadline_changes
                   if change["op"] in (DeadlineStatus.CANCELLED.value, "resolve")}
        reopened = [opening(d.id, d.kind, d.due_at, d.stage, d.ref)
                    for d in self.deadlines.values() if d.id in stopped]
        self._record_event(ev.ReceivedFromPartition, ctx, self.stage, reopened,
                           from_partition=handover.from_partition,
                           to_partition=handover.to_partition, child_id=child_id)

    def close(self, ctx: Context, *, reason: str, outcome: str = "") -> None:
        step = self._begin("close", ctx)
        self._record(step, ctx, reason=_text(reason, "reason"), outcome=outcome)

    def review_case(self, ctx: Context, *, findings: str = "") -> None:
        step = self._begin("review_case", ctx)
        step.changes.append(_case_review(ctx, self.version + 1))
        self._record(step, ctx, findings=findings)

    def reopen(self, ctx: Context, *, reason: str, danger_now: bool = False) -> None:
        step = self._begin("reopen", ctx)
        version = self.version + 1
        step.changes += _entry_deadlines(ctx, step.stage, None, version, danger_now)
        step.changes.append(_case_review(ctx, version))
        self._record(step, ctx, reason=_text(reason, "reason"), danger_now=danger_now)

    # --- approvals -----------------------------------------------------------------------

    def request_approval(self, ctx: Context, *, subject: str, reason: str = "") -> None:
        subject = _check(ApprovalSubject, subject, "subject")
        if subject in self.approvals:
            state = self.approvals[subject].status
            raise ApprovalRefused(f"a {subject} approval is already {state} for this case")
        step = self._begin("request_approval", ctx)
        due = ctx.due("approval")
        assert due is not None
        step.changes.append(opening(f"approval-{self.version + 1}", "approval", due, None, subject))
        self._record(step, ctx, subject=subject,
                     reason=reason)

    def approve(self, ctx: Context, *, subject: str, reason: str = "") -> None:
        if not isinstance(reason, str):
            raise InvalidCommand("'reason' must be a text")
        subject = self._pending_decision(ctx, subject)
        step = self._begin("approve", ctx, ref=subject)
        self._record(step, ctx, subject=subject, reason=reason)

    def reject(self, ctx: Context, *, subject: str, reason: str) -> None:
        subject = self._pending_decision(ctx, subject)
        step = self._begin("reject", ctx, ref=subject)
        self._record(step, ctx, subject=subject,
                     reason=_text(reason, "reason"))

    # --- the 12345 desk -------------------------------------------------------------------

    def link_hotline_order(self, ctx: Context, *, ticket: str, opened: bool, urgent: bool,
                           content: str = "", caller: dict[str, Any] | None = None) -> bool:
        """Record a work order on the case and start its reply clock; False if already on it.
        An order linked to the case brings its report and caller; one that opened the case
        has them in its opening."""
        if ticket in self.hotline_orders:
            return False
        if not access.may_file_hotline_order(ctx.actor, self.jurisdiction):
            raise OutsideJurisdiction("the work order's case lies outside the desk's area")
        _check_time(ctx)
        changes: Changes = []
        due = ctx.due(REPLY_KIND)
        if due is not None:  # a policy without the kind asks for no reply time
            changes.append(opening(f"{REPLY_KIND}-{self.version + 1}", REPLY_KIND, due, None,
                                   ticket))
        # Every field given, defaults too: the event's hash covers what the event holds.
        self._record_event(ev.HotlineOrderLinked, ctx, self.stage, changes, ticket=ticket,
                           opened=opened, urgent=urgent, content=content,
                           caller=None if caller is None else dict(caller))
        return True

    @property
    def reply_outcome(self) -> str:
        """The outcome the platform is told: intake's decision, or (an order linked after
        intake decided) what the stage says."""
        return self.intake_outcome or intake_outcome("", self.stage)

    @property
    def awaiting_replies(self) -> list[str]:
        """Tickets whose outcome is due to the platform now: intake has decided."""
        if self.stage in FIRST_STAGES:
            return []
        return [t for t, status in self.hotline_orders.items() if status != REPLIED]

    def record_hotline_reply(self, ticket: str, delivered: bool, detail: str, now: datetime
                             ) -> bool:
        """Record the reply's delivery (meeting its deadline) or its failure; idempotent."""
        status = self.hotline_orders.get(ticket)
        if status is None:
            raise InvalidCommand(f"no 12345 work order {ticket!r} on this case")
        if status == REPLIED or (status == FAILED and not delivered):
            return False
        changes: Changes = []
        for deadline in self.deadlines.values():
            if not delivered or deadline.kind != REPLY_KIND or deadline.ref != ticket:
                continue
            if deadline.is_open:
                in_time = now < deadline.due_at
                changes.append(closing(deadline.id, DeadlineStatus.MET if in_time
                                       else DeadlineStatus.MISSED))
                if not in_time:
                    changes.append(resolving(deadline.id))
            elif deadline.awaits_escalation:
                changes.append(resolving(deadline.id))
        cls = ev.HotlineReplied if delivered else ev.HotlineReplyFailed
        self._record_event(cls, Context(actor=SYSTEM, now=now), self.stage, changes,
                           ticket=ticket, outcome=self.reply_outcome, detail=detail[:500])
        return True

    # --- deadlines and notifications (recorded by the service, not by people) -------------

    def record_deadline_missed(self, deadline_id: str, now: datetime) -> bool:
        """Record the miss if the deadline is still open at its due time; True if recorded.

        `now` is the service's clock (`Wardship.clock`); a time before the due time is refused,
        so no caller records an early miss, whatever clock it judged by.
        """
        deadline = self._deadline(deadline_id)
        if not deadline.is_open:
            return False
        _refuse_before_due(deadline, now)
        ctx = Context(actor=SYSTEM, now=now, occurred_at=deadline.due_at)
        self._record_event(ev.DeadlineMissed, ctx, self.stage,
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
        # A closed case escalates nothing more, except the reply the 12345 platform is owed.
        if not deadline.awaits_escalation or (self.stage == Stage.CLOSED
                                              and deadline.kind != REPLY_KIND):
            return None
        if level < 1:
            raise InvalidCommand("escalation levels start at 1")
        _refuse_before_due(deadline, now)
        ctx = Context(actor=SYSTEM, now=now)
        self._record_event(ev.EscalationRecorded, ctx, self.stage, [],
                           notification_id=notification_id, deadline_id=deadline_id,
                           kind=deadline.kind, due_at=deadline.due_at, level=level,
                           recipient_jurisdiction=notified_jurisdiction(self.jurisdiction,
                                                                        level),
                           assignee=self.assignee if level == 1 else None,
                           case_jurisdiction=self.jurisdiction,
                           urgent=notice_is_urgent(self.grade, level))
        return notification_id

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool:
        """Record one channel's outcome for a notification; idempotent per outcome."""
        if not records_news(self._notification(notification_id), channel, delivered):
            return False
        cls = ev.NotificationDelivered if delivered else ev.NotificationDeliveryFailed
        ctx = Context(actor=SYSTEM, now=now)
        self._record_event(cls, ctx, self.stage, [], notification_id=notification_id,
                           channel=channel, detail=detail[:500])
        return True

    def acknowledge_notification(self, ctx: Context, notification_id: str) -> bool:
        """A supervisor of the recipient jurisdiction acknowledges; idempotent."""
        notification = self._notification(notification_id)
        if not access.may_acknowledge(ctx.actor, notification.recipient_jurisdiction):
            raise ActionNotAllowed("acknowledge", self.stage, [],
                                   "only supervisors holding the notification's own "
                                   "jurisdiction code acknowledge it")
        if notification.acknowledged_by:
            return False
        self._record_event(ev.NotificationAcknowledged, ctx, self.stage, [],
                           notification_id=notification_id)
        return True

    # --- the machinery -------------------------------------------------------------------

    def _allows(self, rule: ActionRule) -> bool:
        """The rule's stages hold the case's, and the case has what the action acts on."""
        # A case handed over to another partition is worked there; here it is history.
        return self.handed_over_to is None and Stage(self.stage) in rule.stages \
            and (rule.needs is None or rule.needs(self))

    @property
    def _grade(self) -> Grade | None:
        return Grade(self.grade) if self.grade else None

    def _begin(
        self, action: str, ctx: Context, *, decided: str | None = None, ref: str | None = None
    ) -> _Step:
        """Refuse what the stage, role, law or approvals forbid; else the step to record."""
        rule = RULES[action]
        allowed = self.allowed_actions()
        if action not in allowed:
            raise ActionNotAllowed(action, self.stage, allowed)
        if not access.may_take(ctx.actor, rule, self.jurisdiction):
            mine = self.allowed_actions(ctx.actor)
            raise ActionNotAllowed(action, self.stage, mine,
                                   f"your role or jurisdiction may not '{action}'")
        _check_time(ctx)
        target = rule.target(decided)
        self._check_approval(rule, target)
        met = self._meet(rule, ctx, ref)
        changes = met + self._leave(target, {change["id"] for change in met})
        return _Step(rule, str(target or self.stage), changes)

    def _check_approval(self, rule: ActionRule, target: Stage | None) -> None:
        subject = rule.required_approval(target, self.ever_urgent)
        if subject is None:
            return
        approval = self.approvals.get(subject)
        if approval is None or approval.status != ApprovalStatus.APPROVED:
            raise ApprovalRequired(
                f"'{rule.name}' needs an approved '{subject}' request first: "
                f"request_approval with subject '{subject}', then a supervisor approves it"
            )

    def _meet(self, rule: ActionRule, ctx: Context, ref: str | None) -> Changes:
        changes: Changes = []
        for deadline in self.deadlines.values():
            if deadline.kind not in rule.meets or (ref and deadline.ref != ref):
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
            if deadline.kind == REPLY_KIND:
                continue  # the platform is owed the outcome, closing included (办结回复)
            if deadline.is_open:
                changes.append(closing(deadline.id, DeadlineStatus.CANCELLED))
            elif deadline.awaits_escalation:
                changes.append(resolving(deadline.id))
        return changes

    def _next_visit(self, ctx: Context) -> list[dict[str, Any]]:
        due = ctx.due("home_visit", self._grade)
        return [opening(f"home_visit-{self.version + 1}", "home_visit", due, self.stage)]\
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
        if not request or request.status != ApprovalStatus.REQUESTED:
            raise ApprovalRefused(f"there is no pending '{subject}' request to decide")
        if request.requested_by == ctx.actor.subject:
            raise ApprovalRefused("nobody decides their own request: ask another supervisor")
        return subject

    def _deadline(self, deadline_id: str) -> Deadline:
        try:
            return self.deadlines[deadline_id]
        except KeyError:
            raise InvalidCommand(f"no deadline {deadline_id!r} in this case") from None

    def _notification(self, notification_id: str) -> Notification:
        try:
            return self.notifications[notification_id]
        except KeyError:
            raise InvalidCommand(f"no notification {notification_id!r} in this case") from None

    def _record(self, step: _Step, ctx: Context, **fields: Any) -> None:
        """Record the action's event, leaving the case in the step's stage."""
        self._record_event(step.rule.event, ctx, step.stage, step.changes, **fields)

    def _record_event(
        self, event_class: type[ev.CaseEvent], ctx: Context, stage: str, changes: Changes,
        **fields: Any,
    ) -> None:
        self.trigger_event(
            event_class,
            **_base_fields(ctx, stage, changes, None, self.policy_version),
            **fields,
        )


@dataclass
class _Step:
    """An action judged allowed: its rule, the stage it leaves the case in, deadline changes."""

    rule: ActionRule
    stage: str
    changes: Changes


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
        "command_id": ctx.command_id,
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


def _refuse_before_due(deadline: Deadline, now: datetime) -> None:
    if now < deadline.due_at:
        raise DeadlineNotDue(
            f"deadline {deadline.id} is due at {deadline.due_at.isoformat()}, after "
            f"{now.isoformat()}: judge it again once the service's clock reaches its due time")


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

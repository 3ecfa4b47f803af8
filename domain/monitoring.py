"""The MonitoringRecord aggregate (监测预防): one per child file under monitoring, with its
category, guardianship risk level, guardian, entrusted caregiver and care agreement, and the
deadlines of regular visits by risk level, the quarterly ledger review and agreement renewal.

Its deadlines and notices follow the protection case's protocol (`record_deadline_missed`,
`record_escalation`, `record_delivery`, `acknowledge_notification`), so the case workflow and
the inbox can run them alike. Who may take which action is in `domain.monitoring_actions`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain import access
from domain import monitoring_events as mev
from domain.actors import CLOCK_SKEW, SYSTEM, Actor, Context
from domain.case_state import (
    Notification,
    notice_is_urgent,
    notified_jurisdiction,
    records_news,
)
from domain.codes import (
    ChildCategory,
    ConcernCategory,
    DeadlineStatus,
    Grade,
    GuardianshipCapacity,
    RiskLevel,
    jurisdiction_is_valid,
)
from domain.deadlines import Deadline, closing, opening, resolving
from domain.errors import (
    ActionNotAllowed,
    DeadlineNotDue,
    InvalidCommand,
    OutsideJurisdiction,
    PolicyError,
)
from domain.monitoring_actions import MONITORING_ACTIONS, MONITORING_RULES, MonitoringRule

if TYPE_CHECKING:
    from domain.policy import Policy

Changes = list[dict[str, Any]]
MONITORING, ENDED = "monitoring", "ended"
_NAMESPACE = uuid.UUID("0b6f3c1e-58a2-4e0f-9d7c-2a4e6b8f1c35")
# A care agreement ends at the start of its end day, China Standard Time.
_CST = timezone(timedelta(hours=8))
# The grade a risk level's missed deadlines are escalated as: a missed visit to a high-risk
# child goes out at once, day or night (red); medium and low wait for the morning digest at
# level 1 (yellow, blue), and every level beyond 1 goes out at once as for cases.
RISK_GRADE = {RiskLevel.HIGH: Grade.RED, RiskLevel.MEDIUM: Grade.YELLOW,
              RiskLevel.LOW: Grade.BLUE}
RECENT_COMMANDS = 200  # as for cases: enough to recognise any retry


def monitoring_id(file_id: uuid.UUID | str) -> uuid.UUID:
    """The id of a child file's monitoring record (one per file)."""
    return uuid.uuid5(_NAMESPACE, str(file_id))


class MonitoringRecord(Aggregate):
    """One monitored child (一人一档 in the ledger): risk, people, agreement, deadlines."""

    def __init__(self) -> None:
        # State is set by MonitoringStarted; defaults keep snapshots and replays uniform.
        self.file_id = ""
        self.jurisdiction = ""
        self.category = ""
        self.risk_level = ""
        self.risk_reason = ""
        self.risk_rises: list[datetime] = []  # when the level went up (not the first level)
        self.guardian: dict[str, Any] = {}
        self.caregiver: dict[str, Any] | None = None
        self.care_agreement: dict[str, str] | None = None
        self.stage = MONITORING
        self.policy_version = ""
        self.started_at: datetime | None = None
        self.started_by = ""
        self.last_visit_at: datetime | None = None
        self.last_visit_by: str | None = None
        self.assignee: str | None = None
        self.visits = 0
        self.last_review_at: datetime | None = None
        self.case_ids: list[str] = []
        self.stopped_reason: str | None = None
        self.deadlines: dict[str, Deadline] = {}
        self.notifications: dict[str, Notification] = {}
        self.command_ids: dict[str, int] = {}

    # --- starting ------------------------------------------------------------------------

    @classmethod
    def start(
        cls, ctx: Context, *, file_id: uuid.UUID, jurisdiction: str, category: str,
        risk_level: str, risk_reason: str, guardian: Any, caregiver: Any = None,
    ) -> MonitoringRecord:
        """Take a child's file into the ledger; the first visit and the review fall due."""
        if not (jurisdiction_is_valid(jurisdiction) and len(jurisdiction) in (9, 12)):
            raise InvalidCommand("'jurisdiction' must be the child's village code (12 digits) "
                                 "or township code (9 digits)")
        rule = MONITORING_RULES["start_monitoring"]
        if not access.may_monitor(ctx.actor, rule, ctx.actor.jurisdiction):
            raise ActionNotAllowed(rule.name, "-", [], "your role may not start monitoring")
        if not access.may_monitor(ctx.actor, rule, jurisdiction):
            raise OutsideJurisdiction(f"{jurisdiction} is outside your area: you may take "
                                      f"children under {ctx.actor.jurisdiction} into the ledger")
        _check_time(ctx)
        category = _code(ChildCategory, category, "category")
        risk_level = _code(RiskLevel, risk_level, "risk_level")
        policy = _policy(ctx)
        changes = [_visit(ctx, risk_level, ctx.when, 1), _review(ctx, 1)]
        return cls._create(
            mev.MonitoringStarted, id=monitoring_id(file_id), file_id=str(file_id),
            jurisdiction=jurisdiction, category=category, risk_level=risk_level,
            risk_reason=_text(risk_reason, "risk_reason"),
            guardian=_person(guardian, "guardian"),
            caregiver=None if caregiver is None else _person(caregiver, "caregiver"),
            **_fields(ctx, MONITORING, changes, policy.version),
        )

    # --- reading -------------------------------------------------------------------------

    @property
    def grade(self) -> str:
        """The case grade a missed deadline of this child escalates as (see RISK_GRADE)."""
        return RISK_GRADE[RiskLevel(self.risk_level)].value

    @property
    def is_monitored(self) -> bool:
        return self.stage == MONITORING

    @property
    def closed(self) -> bool:
        """Monitoring ended: no deadline of it runs."""
        return self.stage == ENDED

    def open_deadlines(self) -> list[Deadline]:
        return sorted((d for d in self.deadlines.values() if d.is_open), key=lambda d: d.due_at)

    def next_visit(self) -> Deadline | None:
        """The visit now due (open, or missed and not yet made up)."""
        visits = [d for d in self.deadlines.values()
                  if d.kind == "visit" and (d.is_open or d.awaits_escalation)]
        return min(visits, key=lambda d: d.due_at) if visits else None

    def allowed_actions(self, actor: Actor | None = None) -> list[str]:
        """The monitoring actions open now (for this actor, when given)."""
        return [rule.name for rule in MONITORING_ACTIONS
                if rule.while_monitoring and self.is_monitored
                and (actor is None or access.may_monitor(actor, rule, self.jurisdiction))]

    def take_risk_level(self, level: str, reason: str, at: datetime) -> None:
        """The record's new risk level (applied by its events), remembering a rise."""
        if self.risk_level and RiskLevel(level).rank > RiskLevel(self.risk_level).rank:
            self.risk_rises = [*self.risk_rises, at]
        self.risk_level, self.risk_reason = level, reason

    def remember_command(self, command_id: str, version: int) -> None:
        """Keep the id of a recorded command (the oldest is forgotten past the bound)."""
        self.command_ids[command_id] = version
        if len(self.command_ids) > RECENT_COMMANDS:
            del self.command_ids[next(iter(self.command_ids))]

    # --- what people record --------------------------------------------------------------

    def record_visit(
        self, ctx: Context, *, child_seen: Any, living_situation: Any, guardian_capacity: Any,
        findings: Any = "", risk_level: Any = None, risk_reason: Any = None,
    ) -> None:
        """A regular visit: meets the visit due and opens the next at the (new) level's rate."""
        rule = self._begin("record_visit", ctx)
        if not isinstance(child_seen, bool):
            raise InvalidCommand("'child_seen' must be true or false: was the child seen?")
        capacity = _code(GuardianshipCapacity, guardian_capacity, "guardian_capacity")
        level = self._new_level(risk_level, risk_reason)
        changes = self._meet(rule, ctx)
        changes += self._cancel_open("visit", {c["id"] for c in changes})
        changes.append(_visit(ctx, level or self.risk_level, ctx.when, self.version + 1))
        self._record(rule, ctx, changes, child_seen=child_seen,
                     living_situation=_text(living_situation, "living_situation"),
                     guardian_capacity=capacity, findings=_optional_text(findings, "findings"),
                     risk_level=level, risk_reason=risk_reason if level else None)

    def set_risk_level(self, ctx: Context, *, risk_level: Any, risk_reason: Any) -> None:
        """A new risk level; the visit due is counted again from the last visit (or the
        start) at the new level's rate."""
        rule = self._begin("set_risk_level", ctx)
        level = self._new_level(risk_level, risk_reason)
        if level is None:
            raise InvalidCommand("'risk_level' is required: high, medium or low")
        changes = self._cancel_open("visit", set())
        if changes:  # a visit already missed keeps escalating until someone visits
            since = self.last_visit_at or self.started_at
            assert since is not None
            changes.append(_visit(ctx, level, since, self.version + 1))
        self._record(rule, ctx, changes, risk_level=level, risk_reason=risk_reason)

    def record_care_agreement(
        self, ctx: Context, *, caregiver: Any, starts_on: Any, ends_on: Any,
    ) -> None:
        """A written care agreement: its renewal falls due the policy's lead time before its
        end."""
        rule = self._begin("record_care_agreement", ctx)
        start, end = _date(starts_on, "starts_on"), _date(ends_on, "ends_on")
        if end <= start:
            raise InvalidCommand("'ends_on' must be after 'starts_on'")
        changes = self._meet(rule, ctx)
        changes += self._cancel_open("care_agreement_renewal", {c["id"] for c in changes})
        changes.append(opening(f"care_agreement_renewal-{self.version + 1}",
                               "care_agreement_renewal", _before_end(ctx, end), None))
        self._record(rule, ctx, changes, caregiver=_person(caregiver, "caregiver"),
                     starts_on=start.isoformat(), ends_on=end.isoformat())

    def review_file(self, ctx: Context, *, findings: Any = "") -> None:
        """The quarterly ledger review (季度动态更新): meets the review due, opens the next."""
        rule = self._begin("review_file", ctx)
        changes = self._meet(rule, ctx)
        changes += self._cancel_open("child_file_review", {c["id"] for c in changes})
        changes.append(_review(ctx, self.version + 1))
        self._record(rule, ctx, changes, findings=_optional_text(findings, "findings"))

    def check_concern(self, ctx: Context, *, categories: Any, summary: Any,
                      danger_now: Any = False) -> dict[str, Any]:
        """Judge a concern before its case is opened: the concern as the case records it."""
        self._begin("raise_concern", ctx)
        if not isinstance(categories, list) or not categories:
            raise InvalidCommand("'categories' must list at least one concern category, "
                                 "e.g. [\"neglect\"]")
        if not isinstance(danger_now, bool):
            raise InvalidCommand("'danger_now' must be true or false")
        return {"categories": [_code(ConcernCategory, c, "categories") for c in categories],
                "summary": _text(summary, "summary"), "danger_now": danger_now}

    def raise_concern(self, ctx: Context, *, case_id: str, categories: Any, summary: Any,
                      danger_now: Any = False) -> None:
        """Record the discovery case a concern opened for this child."""
        concern = self.check_concern(ctx, categories=categories, summary=summary,
                                     danger_now=danger_now)
        self._record(MONITORING_RULES["raise_concern"], ctx, [], case_id=case_id, **concern)

    def stop_monitoring(self, ctx: Context, *, reason: Any) -> None:
        """The child leaves the ledger: every deadline is cancelled, escalations stop."""
        rule = self._begin("stop_monitoring", ctx)
        changes: Changes = []
        for deadline in self.deadlines.values():
            if deadline.is_open:
                changes.append(closing(deadline.id, DeadlineStatus.CANCELLED))
            elif deadline.awaits_escalation:
                changes.append(resolving(deadline.id))
        self._record(rule, ctx, changes, stage=ENDED, reason=_text(reason, "reason"))

    # --- deadlines and notices (recorded by the service, as for cases) --------------------

    def record_deadline_missed(self, deadline_id: str, now: datetime) -> bool:
        """Record the miss if the deadline is still open at its due time; True if recorded."""
        deadline = self._deadline(deadline_id)
        if not deadline.is_open:
            return False
        _refuse_before_due(deadline, now)
        ctx = Context(actor=SYSTEM, now=now, occurred_at=deadline.due_at)
        self._event(mev.MonitoringDeadlineMissed, ctx, self.stage,
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
        if not deadline.awaits_escalation or self.stage == ENDED:
            return None
        if level < 1:
            raise InvalidCommand("escalation levels start at 1")
        _refuse_before_due(deadline, now)
        self._event(mev.MonitoringEscalationRecorded, Context(actor=SYSTEM, now=now),
                    self.stage, [], notification_id=notification_id, deadline_id=deadline_id,
                    kind=deadline.kind, due_at=deadline.due_at, level=level,
                    recipient_jurisdiction=notified_jurisdiction(self.jurisdiction, level),
                    assignee=self.assignee if level == 1 else None,
                    case_jurisdiction=self.jurisdiction,
                    urgent=notice_is_urgent(self.grade, level))
        return notification_id

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool:
        """Record one channel's outcome for a notice; idempotent per outcome."""
        if not records_news(self._notification(notification_id), channel, delivered):
            return False
        cls = (mev.MonitoringNotificationDelivered if delivered
               else mev.MonitoringNotificationDeliveryFailed)
        self._event(cls, Context(actor=SYSTEM, now=now), self.stage, [],
                    notification_id=notification_id, channel=channel, detail=detail[:500])
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
        self._event(mev.MonitoringNotificationAcknowledged, ctx, self.stage, [],
                    notification_id=notification_id)
        return True

    # --- the machinery -------------------------------------------------------------------

    def _begin(self, action: str, ctx: Context) -> MonitoringRule:
        """Refuse what the record's state, the role or the jurisdiction forbid."""
        rule = MONITORING_RULES[action]
        if not rule.while_monitoring or not self.is_monitored:
            why = "the child is already monitored" if self.is_monitored else "monitoring ended"
            raise ActionNotAllowed(action, self.stage, self.allowed_actions(),
                                   f"'{action}' is not allowed: {why}")
        if not access.may_monitor(ctx.actor, rule, self.jurisdiction):
            raise ActionNotAllowed(action, self.stage, self.allowed_actions(ctx.actor),
                                   f"your role or jurisdiction may not '{action}'")
        _check_time(ctx)
        return rule

    def _new_level(self, risk_level: Any, risk_reason: Any) -> str | None:
        if risk_level is None:
            return None
        level = _code(RiskLevel, risk_level, "risk_level")
        _text(risk_reason, "risk_reason")
        return level

    def _meet(self, rule: MonitoringRule, ctx: Context) -> Changes:
        """Close the deadlines the action meets: met in time, else missed and now done."""
        changes: Changes = []
        for deadline in self.deadlines.values():
            if deadline.kind not in rule.meets:
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

    def _cancel_open(self, kind: str, settled: set[str]) -> Changes:
        return [closing(d.id, DeadlineStatus.CANCELLED) for d in self.deadlines.values()
                if d.kind == kind and d.is_open and d.id not in settled]

    def _deadline(self, deadline_id: str) -> Deadline:
        try:
            return self.deadlines[deadline_id]
        except KeyError:
            raise InvalidCommand(f"no deadline {deadline_id!r} in this record") from None

    def _notification(self, notification_id: str) -> Notification:
        try:
            return self.notifications[notification_id]
        except KeyError:
            raise InvalidCommand(f"no notification {notification_id!r} in this record") from None

    def _record(self, rule: MonitoringRule, ctx: Context, changes: Changes,
                stage: str = MONITORING, **fields: Any) -> None:
        self._event(rule.event, ctx, stage, changes, **fields)

    def _event(self, event_class: type[mev.MonitoringEvent], ctx: Context, stage: str,
               changes: Changes, **fields: Any) -> None:
        self.trigger_event(event_class, **_fields(ctx, stage, changes, self.policy_version),
                           **fields)


def _fields(ctx: Context, stage: str, changes: Changes, policy_version: str) -> dict[str, Any]:
    return {"actor_id": ctx.actor.subject, "actor_role": ctx.actor.role.value,
            "occurred_at": ctx.when, "policy_version": policy_version, "stage": stage,
            "deadline_changes": changes, "command_id": ctx.command_id}


def _policy(ctx: Context) -> Policy:
    if ctx.policy is None:
        raise TypeError("this command needs the record's policy in its context")
    if ctx.policy.duration("visit", RiskLevel.HIGH) is None:
        raise PolicyError(f"policy {ctx.policy.version!r} sets no visit cadence "
                          "([deadlines] visit = {high = ..., medium = ..., low = ...})")
    return ctx.policy


def _due(ctx: Context, kind: str, key: str | None, start: datetime) -> datetime:
    due = _policy(ctx).due_at(kind, key, start)
    if due is None:
        raise PolicyError(f"policy {_policy(ctx).version!r} sets no '{kind}' deadline")
    return due


def _visit(ctx: Context, risk_level: str, since: datetime, version: int) -> dict[str, Any]:
    return opening(f"visit-{version}", "visit", _due(ctx, "visit", risk_level, since), None,
                   risk_level)


def _review(ctx: Context, version: int) -> dict[str, Any]:
    return opening(f"child_file_review-{version}", "child_file_review",
                   _due(ctx, "child_file_review", None, ctx.when), None)


def _before_end(ctx: Context, end: date) -> datetime:
    """The policy's renewal lead time before the agreement's end (its end day, 00:00 CST)."""
    ends_at = datetime.combine(end, time(0), tzinfo=_CST).astimezone(UTC)
    duration = _policy(ctx).duration("care_agreement_renewal", None)
    if duration is None:
        raise PolicyError(f"policy {_policy(ctx).version!r} sets no care_agreement_renewal")
    if duration.unit != "wd":
        return ends_at - duration.as_timedelta()
    calendar, day, left = _policy(ctx).calendar, end, duration.amount
    while left:
        day -= timedelta(days=1)
        left -= calendar.is_working_day(day)
    return datetime.combine(day, time(0), tzinfo=_CST).astimezone(UTC)


def _check_time(ctx: Context) -> None:
    if ctx.when.tzinfo is None:
        raise InvalidCommand("occurred_at needs a UTC offset, e.g. 2026-11-20T09:00:00+08:00")
    if ctx.when > ctx.now + CLOCK_SKEW:
        raise InvalidCommand("occurred_at is in the future; record what has happened")


def _refuse_before_due(deadline: Deadline, now: datetime) -> None:
    if now < deadline.due_at:
        raise DeadlineNotDue(
            f"deadline {deadline.id} is due at {deadline.due_at.isoformat()}, after "
            f"{now.isoformat()}: judge it again once the service's clock reaches its due time")


def _code(values: type[Any], value: Any, field: str) -> str:
    try:
        return str(values(value).value)
    except ValueError:
        known = ", ".join(v.value for v in values)
        raise InvalidCommand(f"unknown {field} {value!r}; use one of: {known}") from None


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"'{field}' must be a non-empty text")
    return value


def _optional_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidCommand(f"'{field}' must be a text")
    return value


def _person(value: Any, field: str) -> dict[str, Any]:
    """A guardian or caregiver: name and relation required, phone optional."""
    if not isinstance(value, dict):
        raise InvalidCommand(f"'{field}' must be an object with name, relation and phone")
    unknown = sorted(set(value) - {"name", "relation", "phone"})
    if unknown:
        raise InvalidCommand(f"'{field}.{unknown[0]}' is not a field; send name, relation, "
                             "phone")
    phone = value.get("phone")
    if phone is not None and not isinstance(phone, str):
        raise InvalidCommand(f"'{field}.phone' must be a text or null")
    return {"name": _text(value.get("name"), f"{field}.name"),
            "relation": _text(value.get("relation"), f"{field}.relation"), "phone": phone}


def _date(value: Any, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidCommand(f"'{field}' must be a date such as 2027-06-30") from None

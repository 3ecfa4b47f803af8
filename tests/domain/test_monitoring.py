"""Monitored children (台账): visits by risk level, reviews, care agreements, concerns, and the
deadline protocol shared with cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.codes import Role
from domain.errors import ActionNotAllowed, CaseNotFound, DeadlineNotDue, InvalidCommand
from domain.monitoring import monitoring_id
from tests.domain.builders import CASEWORKER, CHILD, INSPECTOR, SOURCE, SUPERVISOR_2, T0, TOWNSHIP

if TYPE_CHECKING:
    from domain.application import Wardship

VILLAGE = TOWNSHIP + "001"
DIRECTOR = Actor("cd-1", frozenset({Role.CHILD_DIRECTOR}), VILLAGE, "Village Director")
OTHER_DIRECTOR = Actor("cd-2", frozenset({Role.CHILD_DIRECTOR}), TOWNSHIP + "002", "Other")
CHILD_SUPERVISOR = Actor("cs-1", frozenset({Role.CHILD_SUPERVISOR}), TOWNSHIP, "Township")
GUARDIAN = {"name": "Invented Grandmother", "relation": "grandmother", "phone": "13800000001"}
DAY = timedelta(days=1)


def child_file(app: Wardship, child: dict[str, Any] | None = None) -> UUID:
    """A child file, made by a report about an invented child."""
    view = app.open_case(CASEWORKER, entry="report", jurisdiction=VILLAGE,
                         child=child or CHILD, source=SOURCE, occurred_at=T0, now=T0,
                         concern={"categories": ["neglect"], "summary": "x",
                                  "danger_now": False})
    return UUID(view["child_id"])


def act(app: Wardship, actor: Actor, file_id: UUID, action: str, at: datetime,
        **params: Any) -> dict[str, Any]:
    return app.monitoring_action(actor, file_id, action, params, occurred_at=at, now=at)


def start(app: Wardship, risk: str = "medium", actor: Actor = CHILD_SUPERVISOR,
          child: dict[str, Any] | None = None) -> UUID:
    file_id = child_file(app, child)
    act(app, actor, file_id, "start_monitoring", T0, jurisdiction=VILLAGE,
        category="left_behind", risk_level=risk, risk_reason="parents work away",
        guardian=GUARDIAN)
    return file_id


def due(view: dict[str, Any], kind: str) -> datetime:
    (deadline,) = [d for d in view["deadlines"] if d["kind"] == kind and d["status"] == "open"]
    when: datetime = deadline["due_at"]
    return when


def visit(app: Wardship, file_id: UUID, at: datetime, actor: Actor = DIRECTOR,
          **changes: Any) -> dict[str, Any]:
    return act(app, actor, file_id, "record_visit", at, child_seen=True,
               living_situation="lives with grandmother", guardian_capacity="adequate",
               findings="well", **changes)


class TestVisitCadence:
    @pytest.mark.parametrize(("risk", "days"), [("high", 30), ("medium", 90), ("low", 180)])
    def test_the_first_visit_falls_due_at_the_policy_rate_for_the_risk_level(
        self, memory_app: Wardship, risk: str, days: int
    ) -> None:
        view = memory_app.monitoring_action(
            CHILD_SUPERVISOR, child_file(memory_app), "start_monitoring",
            {"jurisdiction": VILLAGE, "category": "left_behind", "risk_level": risk,
             "risk_reason": "r", "guardian": GUARDIAN}, occurred_at=T0, now=T0)
        assert view["next_visit_due"] == due(view, "visit") == T0 + days * DAY
        assert due(view, "child_file_review") == T0 + 90 * DAY
        assert view["status"] == "monitoring"
        assert view["policy_version"] == "cn-default-1"

    def test_a_visit_meets_the_visit_due_and_the_next_follows_at_the_new_level(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "low")
        view = visit(memory_app, file_id, T0 + 10 * DAY, risk_level="high",
                     risk_reason="grandmother fell ill")
        statuses = {d["id"]: d["status"] for d in view["deadlines"] if d["kind"] == "visit"}
        assert statuses == {"visit-1": "met", "visit-2": "open"}
        assert view["next_visit_due"] == T0 + 40 * DAY
        assert (view["risk_level"], view["risk_reason"]) == ("high", "grandmother fell ill")
        assert view["last_visit_at"] == T0 + 10 * DAY
        assert view["assignee"] == "cd-1"

    def test_a_risk_change_counts_the_visit_due_from_the_last_visit(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "low")
        visit(memory_app, file_id, T0 + 20 * DAY)
        view = act(memory_app, CHILD_SUPERVISOR, file_id, "set_risk_level", T0 + 25 * DAY,
                   risk_level="high", risk_reason="father released from prison")
        assert view["next_visit_due"] == T0 + 50 * DAY
        assert [d["status"] for d in view["deadlines"] if d["kind"] == "visit"].count(
            "open") == 1

    def test_a_risk_change_before_any_visit_counts_from_the_start(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "medium")
        view = act(memory_app, DIRECTOR, file_id, "set_risk_level", T0 + 5 * DAY,
                   risk_level="high", risk_reason="r")
        assert view["next_visit_due"] == T0 + 30 * DAY


class TestAgreementsAndReviews:
    def test_a_care_agreement_renewal_falls_due_30_days_before_it_ends(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app)
        view = act(memory_app, DIRECTOR, file_id, "record_care_agreement", T0 + DAY,
                   caregiver={"name": "Invented Aunt", "relation": "aunt", "phone": None},
                   starts_on="2026-09-01", ends_on="2027-06-30")
        # The agreement ends as 30 June begins in China (UTC+8); renewal 30 days before.
        assert due(view, "care_agreement_renewal") == datetime(2027, 5, 30, 16, tzinfo=UTC)
        assert view["care_agreement"] == {"starts_on": "2026-09-01", "ends_on": "2027-06-30"}

    def test_a_new_agreement_meets_the_renewal_due(self, memory_app: Wardship) -> None:
        file_id = start(memory_app)
        carer = {"name": "Invented Aunt", "relation": "aunt"}
        act(memory_app, DIRECTOR, file_id, "record_care_agreement", T0 + DAY,
            caregiver=carer, starts_on="2026-09-01", ends_on="2026-12-31")
        view = act(memory_app, DIRECTOR, file_id, "record_care_agreement", T0 + 60 * DAY,
                   caregiver=carer, starts_on="2027-01-01", ends_on="2027-12-31")
        renewals = [d["status"] for d in view["deadlines"]
                    if d["kind"] == "care_agreement_renewal"]
        assert sorted(renewals) == ["met", "open"]

    def test_the_quarterly_review_meets_its_due_and_opens_the_next(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app)
        view = act(memory_app, CHILD_SUPERVISOR, file_id, "review_file", T0 + 80 * DAY,
                   findings="ledger up to date")
        assert due(view, "child_file_review") == T0 + 170 * DAY
        assert view["last_review_at"] == T0 + 80 * DAY

    def test_an_agreement_ending_before_it_starts_is_refused(self, memory_app: Wardship) -> None:
        file_id = start(memory_app)
        with pytest.raises(InvalidCommand, match="ends_on"):
            act(memory_app, DIRECTOR, file_id, "record_care_agreement", T0 + DAY,
                caregiver={"name": "A", "relation": "aunt"}, starts_on="2027-01-01",
                ends_on="2026-01-01")


class TestConcerns:
    def test_a_concern_opens_a_discovery_case_on_the_childs_file(
        self, memory_app: Wardship
    ) -> None:
        # A child with no name or birth date: only the explicit file id links the case.
        file_id = start(memory_app, child={"name": "不详", "category": "left_behind"})
        view = act(memory_app, DIRECTOR, file_id, "raise_concern", T0 + 3 * DAY,
                   categories=["unattended"], summary="alone for a week", danger_now=False)
        (case_id,) = view["case_ids"]
        case = memory_app.get_case(UUID(case_id))
        assert (case["stage"], case["child_id"], case["jurisdiction"]) == (
            "discovery", str(file_id), VILLAGE)
        assert memory_app.get_case_aggregate(UUID(case_id)).source["channel"] == "home_visit"
        assert case_id in memory_app.child_file(file_id)["case_ids"]

    def test_a_retried_concern_opens_no_second_case(self, memory_app: Wardship) -> None:
        file_id = start(memory_app)
        params = {"categories": ["neglect"], "summary": "s", "danger_now": True}
        first = memory_app.monitoring_action(DIRECTOR, file_id, "raise_concern", params,
                                             now=T0 + DAY, command_id="k-1")
        again = memory_app.monitoring_action(DIRECTOR, file_id, "raise_concern", params,
                                             now=T0 + DAY, command_id="k-1")
        assert first["case_ids"] == again["case_ids"]
        assert len(first["case_ids"]) == 1
        assert len(memory_app.child_file(file_id)["case_ids"]) == 2

    def test_a_concern_with_an_unknown_category_opens_nothing(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app)
        with pytest.raises(InvalidCommand, match="categories"):
            act(memory_app, DIRECTOR, file_id, "raise_concern", T0 + DAY,
                categories=["boredom"], summary="s")
        assert len(memory_app.child_file(file_id)["case_ids"]) == 1


class TestWhoMayDoWhat:
    def test_a_child_director_works_only_in_their_own_village(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app)
        with pytest.raises(CaseNotFound):
            visit(memory_app, file_id, T0 + DAY, actor=OTHER_DIRECTOR)

    @pytest.mark.parametrize(("actor", "action", "params"), [
        (DIRECTOR, "review_file", {}),
        (DIRECTOR, "stop_monitoring", {"reason": "r"}),
        (CHILD_SUPERVISOR, "record_visit", {"child_seen": True, "living_situation": "x",
                                            "guardian_capacity": "adequate"}),
        (CHILD_SUPERVISOR, "raise_concern", {"categories": ["neglect"], "summary": "s"}),
        (INSPECTOR, "set_risk_level", {"risk_level": "low", "risk_reason": "r"}),
    ])
    def test_each_role_takes_only_its_own_actions(
        self, memory_app: Wardship, actor: Actor, action: str, params: dict[str, Any]
    ) -> None:
        file_id = start(memory_app)
        with pytest.raises(ActionNotAllowed):
            act(memory_app, actor, file_id, action, T0 + DAY, **params)

    def test_a_child_director_may_not_take_a_child_into_the_ledger(
        self, memory_app: Wardship
    ) -> None:
        with pytest.raises(ActionNotAllowed):
            start(memory_app, actor=DIRECTOR)

    def test_bad_input_is_refused_naming_the_field(self, memory_app: Wardship) -> None:
        file_id = child_file(memory_app)
        base = {"jurisdiction": VILLAGE, "category": "left_behind", "risk_level": "high",
                "risk_reason": "r", "guardian": GUARDIAN}
        for field, value in (("risk_level", "extreme"), ("jurisdiction", "5111"),
                             ("guardian", {"name": "A"}), ("category", "rich")):
            with pytest.raises(InvalidCommand, match=field):
                memory_app.monitoring_action(CHILD_SUPERVISOR, file_id, "start_monitoring",
                                             {**base, field: value}, now=T0)

    def test_stopped_monitoring_takes_no_more_visits(self, memory_app: Wardship) -> None:
        file_id = start(memory_app)
        view = act(memory_app, CHILD_SUPERVISOR, file_id, "stop_monitoring", T0 + DAY,
                   reason="moved to the city with her parents")
        assert view["status"] == "ended"
        assert view["next_visit_due"] is None
        assert {d["status"] for d in view["deadlines"]} == {"cancelled"}
        with pytest.raises(ActionNotAllowed, match="ended"):
            visit(memory_app, file_id, T0 + 2 * DAY)


class TestDeadlineProtocol:
    def test_a_missed_visit_escalates_to_the_township_then_the_county(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "high")
        visit(memory_app, file_id, T0 + DAY)  # the director becomes the assignee
        record = memory_app.monitoring(file_id)
        (deadline,) = [d for d in record.open_deadlines() if d.kind == "visit"]
        with pytest.raises(DeadlineNotDue):
            record.record_deadline_missed(deadline.id, deadline.due_at - DAY)
        assert record.record_deadline_missed(deadline.id, deadline.due_at)
        assert not record.record_deadline_missed(deadline.id, deadline.due_at)
        first = record.record_escalation(deadline.id, 1, deadline.due_at)
        second = record.record_escalation(deadline.id, 2, deadline.due_at + DAY)
        assert first == f"{record.id}:{deadline.id}:L1"
        assert record.record_escalation(deadline.id, 1, deadline.due_at + DAY) == first
        assert (record.notifications[first].recipient_jurisdiction,
                record.notifications[second or ""].recipient_jurisdiction) == (TOWNSHIP,
                                                                                "511102")
        # A missed visit to a high-risk child goes out at once, even at level 1.
        assert record.notifications[first].urgent is True
        escalated = record.pending_events[-2]
        assert (escalated.assignee, escalated.case_jurisdiction) == (  # type: ignore[attr-defined]
            "cd-1", VILLAGE)

    def test_low_risk_misses_wait_for_the_digest_at_level_one(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "low")
        record = memory_app.monitoring(file_id)
        (deadline,) = [d for d in record.open_deadlines() if d.kind == "visit"]
        record.record_deadline_missed(deadline.id, deadline.due_at)
        first = record.record_escalation(deadline.id, 1, deadline.due_at)
        second = record.record_escalation(deadline.id, 2, deadline.due_at)
        assert record.grade == "blue"
        assert (record.notifications[first or ""].urgent,
                record.notifications[second or ""].urgent) == (False, True)

    def test_a_late_visit_stops_the_ladder(self, memory_app: Wardship) -> None:
        file_id = start(memory_app, "high")
        record = memory_app.monitoring(file_id)
        (deadline,) = [d for d in record.open_deadlines() if d.kind == "visit"]
        missed_at = deadline.due_at
        memory_app.change_monitoring(
            file_id, lambda r: r.record_deadline_missed(deadline.id, missed_at))
        visit(memory_app, file_id, missed_at + DAY)
        assert memory_app.change_monitoring(
            file_id, lambda r: r.record_escalation(deadline.id, 2, missed_at + 2 * DAY)) is None
        record = memory_app.monitoring(file_id)
        assert record.deadlines[deadline.id].status == "missed"
        assert not record.deadlines[deadline.id].awaits_escalation

    def test_deliveries_and_acknowledgement_are_recorded_once(
        self, memory_app: Wardship
    ) -> None:
        file_id = start(memory_app, "medium")
        record = memory_app.monitoring(file_id)
        (deadline,) = [d for d in record.open_deadlines() if d.kind == "visit"]
        now = deadline.due_at
        record.record_deadline_missed(deadline.id, now)
        notice = record.record_escalation(deadline.id, 1, now) or ""
        assert record.record_delivery(notice, "email", False, "refused", now)
        assert record.record_delivery(notice, "email", True, "ok", now)
        assert not record.record_delivery(notice, "email", False, "late failure", now)
        from domain.actors import Context
        with pytest.raises(ActionNotAllowed):
            record.acknowledge_notification(Context(actor=CHILD_SUPERVISOR, now=now), notice)
        assert record.acknowledge_notification(Context(actor=SUPERVISOR_2, now=now), notice)
        assert not record.acknowledge_notification(Context(actor=SUPERVISOR_2, now=now),
                                                   notice)
        assert record.notifications[notice].deliveries == {"email": "delivered"}
        assert record.notifications[notice].acknowledged_by == "sv-2"
        assert (record.stage, record.jurisdiction, record.assignee) == (
            "monitoring", VILLAGE, None)


def test_guardians_are_encrypted_at_rest(app: Wardship) -> None:
    file_id = start(app)
    records = app.recorder.select_events(monitoring_id(file_id))
    assert records
    assert all(b"Grandmother" not in r.state and b"13800000001" not in r.state
                           for r in records)
    assert app.monitoring(file_id).guardian["phone"] == "13800000001"


def _fields(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}


@pytest.mark.parametrize(("case_event", "monitoring_event"), [
    ("DeadlineMissed", "MonitoringDeadlineMissed"),
    ("EscalationRecorded", "MonitoringEscalationRecorded"),
    ("NotificationDelivered", "MonitoringNotificationDelivered"),
    ("NotificationDeliveryFailed", "MonitoringNotificationDeliveryFailed"),
    ("NotificationAcknowledged", "MonitoringNotificationAcknowledged"),
])
def test_notice_events_carry_the_fields_of_the_cases(case_event: str,
                                                     monitoring_event: str) -> None:
    # The inbox and the workflows read these fields from case events; the monitoring
    # record's events carry every one of them except the case's hash chain (and seal).
    from domain import events, monitoring_events
    wanted = _fields(getattr(events, case_event)) - {"prev_hash", "hash", "seal"}
    assert wanted <= _fields(getattr(monitoring_events, monitoring_event))

"""Deadlines derived from events: opened when their clock starts, met by their action,
cancelled when their stage ends, missed at the exact due time, and escalated up the ladder."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from domain.actors import Actor
from domain.codes import Grade, Role, Stage
from domain.errors import DeadlineNotDue
from tests.domain.builders import (
    CASEWORKER_2,
    SUPERVISOR,
    T0,
    case_at,
    open_case,
)

if TYPE_CHECKING:
    from datetime import datetime

    from domain.application import Wardship
    from tests.domain.builders import CaseDriver

SECOND = timedelta(seconds=1)


def due(app: Wardship, kind: str, start: datetime, grade: str | None = None) -> datetime:
    at = app.policy.due_at(kind, Grade(grade) if grade else None, start)
    assert at is not None
    return at


def statuses(driver: CaseDriver) -> dict[str, str]:
    return {d["id"]: d["status"] for d in driver.view["deadlines"]}


class TestDeadlinesOpen:
    def test_a_report_starts_the_intake_clock_and_the_case_review(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        assert driver.kinds() == {"intake", "case_review"}
        assert driver.deadline("intake")["due_at"] == T0 + timedelta(hours=24)
        assert driver.deadline("case_review")["due_at"] == T0 + timedelta(days=90)

    def test_a_child_in_danger_now_gets_the_one_hour_intake(self, memory_app: Wardship) -> None:
        driver = open_case(memory_app, danger_now=True)
        assert driver.kinds() == {"intake_danger", "case_review"}
        assert driver.deadline("intake_danger")["due_at"] == T0 + timedelta(hours=1)

    @pytest.mark.parametrize(("danger", "kind"), [(False, "intake"), (True, "intake_danger")])
    def test_filing_a_discovered_concern_meets_report_filing_and_starts_intake(
        self, memory_app: Wardship, danger: bool, kind: str
    ) -> None:
        driver = open_case(memory_app, entry="discovery")
        assert driver.kinds() == {"report_filing", "case_review"}
        filing = driver.deadline("report_filing")
        driver.do("file_report", danger_now=danger)
        assert statuses(driver)[filing["id"]] == "met"
        assert driver.kinds() == {kind, "case_review"}
        assert driver.deadline(kind)["due_at"] == due(memory_app, kind, driver.clock)

    @pytest.mark.parametrize(("grade", "dispatch", "complete"), [
        ("red", timedelta(hours=1), timedelta(hours=24)),
        ("orange", timedelta(hours=24), timedelta(hours=72)),
    ])
    def test_accepting_an_urgent_report_starts_dispatch_and_emergency_clocks(
        self, memory_app: Wardship, grade: str, dispatch: timedelta, complete: timedelta
    ) -> None:
        driver = open_case(memory_app)
        driver.do("accept_report", grade=grade, assignee="cw-1")
        accepted = driver.clock
        assert driver.deadline("intake", "met")
        assert driver.kinds() == {"response_dispatch", "emergency_completion", "case_review"}
        assert driver.deadline("response_dispatch")["due_at"] == accepted + dispatch
        assert driver.deadline("emergency_completion")["due_at"] == accepted + complete

    @pytest.mark.parametrize("grade", ["yellow", "blue"])
    def test_accepting_a_yellow_or_blue_report_starts_only_the_assessment(
        self, memory_app: Wardship, grade: str
    ) -> None:
        driver = open_case(memory_app)
        driver.do("accept_report", grade=grade, assignee="cw-1")
        assert driver.kinds() == {"assessment", "case_review"}
        assert driver.deadline("assessment")["due_at"] == due(
            memory_app, "assessment", driver.clock, grade)

    def test_completing_the_emergency_starts_the_three_day_assessment(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.EMERGENCY_RESPONSE, grade="orange")
        driver.do("dispatch_response", responders=["police"])
        assert driver.deadline("response_dispatch", "met")
        driver.do("complete_emergency", summary="safe")
        assert driver.deadline("emergency_completion", "met")
        assert driver.deadline("assessment")["due_at"] == driver.clock + timedelta(days=3)

    def test_entering_assistance_starts_plan_creation_and_the_home_visit_clock(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSISTANCE, grade="yellow")
        entered = driver.clock
        assert driver.deadline("assessment", "met")
        assert driver.kinds() == {"plan_creation", "home_visit", "case_review"}
        assert driver.deadline("plan_creation")["due_at"] == entered + timedelta(days=7)
        assert driver.deadline("home_visit")["due_at"] == entered + timedelta(days=30)

    def test_a_home_visit_meets_the_visit_deadline_and_starts_the_next(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSISTANCE, grade="blue")
        first = driver.deadline("home_visit")
        driver.do("record_visit", child_seen=True, findings="well")
        assert statuses(driver)[first["id"]] == "met"
        assert driver.deadline("home_visit")["due_at"] == driver.clock + timedelta(days=90)

    def test_a_referral_is_due_back_in_five_working_days_and_met_by_the_response(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT)
        driver.do("refer", partner="education", reason="school absence")
        deadline = driver.deadline("referral_response")
        assert deadline["due_at"] == due(memory_app, "referral_response", driver.clock)
        assert deadline["stage"] is None
        driver.do("record_referral_response", referral_id=deadline["ref"], response="enrolled")
        assert statuses(driver)[deadline["id"]] == "met"

    def test_a_referral_may_set_its_own_due_date(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT)
        driver.do("refer", partner="police", due_at=T0 + timedelta(days=2))
        assert driver.deadline("referral_response")["due_at"] == T0 + timedelta(days=2)

    def test_temporary_guardianship_is_reviewed_every_thirty_days(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.GUARDIANSHIP_INTERVENTION)
        driver.do("start_temporary_guardianship", ground="art92_guardian_missing",
                  placement="foster_family")
        first = driver.deadline("guardianship_review")
        assert first["due_at"] == driver.clock + timedelta(days=30)
        driver.do("review_guardianship", findings="settled")
        assert statuses(driver)[first["id"]] == "met"
        assert driver.deadline("guardianship_review")["due_at"] == driver.clock + timedelta(
            days=30)

    def test_taking_guardianship_again_keeps_one_review_clock(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.EMERGENCY_RESPONSE)
        driver.do("place_child", placement="institution", ground="art92_unidentified")
        first = driver.deadline("guardianship_review")
        driver.do("place_child", placement="foster_family", ground="art92_unidentified")
        reviews = [d for d in driver.view["deadlines"] if d["kind"] == "guardianship_review"]
        assert [d["id"] for d in reviews] == [first["id"]]

    def test_a_supervisor_case_review_meets_it_and_starts_the_next(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT)
        first = driver.deadline("case_review")
        driver.do("review_case", SUPERVISOR, findings="on track")
        assert statuses(driver)[first["id"]] == "met"
        assert driver.deadline("case_review")["due_at"] == driver.clock + timedelta(days=90)

    def test_each_planned_service_is_due_on_its_plan_date_and_met_when_delivered(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSISTANCE)
        soon, later = T0 + timedelta(days=5), T0 + timedelta(days=20)
        driver.do("create_plan", services=[
            {"type": "tutoring", "provider": "school", "due_at": soon},
            {"type": "counselling", "provider": "centre", "due_at": later},
        ])
        assert driver.deadline("plan_creation", "met")
        services = [d for d in driver.view["deadlines"] if d["kind"] == "service_delivery"]
        assert sorted(d["due_at"] for d in services) == [soon, later]
        first = next(d for d in services if d["due_at"] == soon)
        driver.do("deliver_service", service_id=first["ref"], note="started")
        assert [d["status"] for d in driver.view["deadlines"]
                if d["kind"] == "service_delivery"] == ["met", "open"]


class TestDeadlinesCancelled:
    def test_leaving_a_stage_cancels_its_open_deadlines_but_not_the_case_ones(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSISTANCE)
        driver.do("refer", partner="health")
        plan, visit = driver.deadline("plan_creation"), driver.deadline("home_visit")
        driver.do("escalate", grade="red", reason="injury seen")
        assert statuses(driver)[plan["id"]] == statuses(driver)[visit["id"]] == "cancelled"
        assert {"case_review", "referral_response"} <= driver.kinds()

    def test_an_emergency_completed_without_dispatch_cancels_the_dispatch_deadline(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.EMERGENCY_RESPONSE, grade="red")
        dispatch = driver.deadline("response_dispatch")
        driver.do("complete_emergency", summary="child already with police")
        assert statuses(driver)[dispatch["id"]] == "cancelled"

    def test_closing_cancels_every_open_deadline(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSISTANCE)
        driver.do("refer", partner="court")
        driver.do("close", reason="family moved away")
        assert driver.kinds() == set()
        assert "cancelled" in set(statuses(driver).values())


class TestMetOrMissedAtTheBoundary:
    def test_an_action_one_second_before_due_meets_the_deadline(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        driver.do("accept_report", at=intake["due_at"] - SECOND, grade="yellow", assignee="cw-1")
        assert statuses(driver)[intake["id"]] == "met"

    def test_an_action_at_the_due_time_is_late(self, memory_app: Wardship) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        driver.do("accept_report", at=intake["due_at"], grade="yellow", assignee="cw-1")
        assert statuses(driver)[intake["id"]] == "missed"

    def test_a_miss_is_recorded_at_the_due_time_and_not_a_second_before(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        events = len(memory_app.case_events(driver.case_id))
        # A caller whose clock says a second before due is refused, not quietly ignored.
        with pytest.raises(DeadlineNotDue) as refused:
            memory_app.record_deadline_missed(
                driver.case_id, intake["id"], intake["due_at"] - SECOND)
        assert refused.value.code == "deadline_not_due"
        assert len(memory_app.case_events(driver.case_id)) == events
        assert memory_app.record_deadline_missed(driver.case_id, intake["id"], intake["due_at"])
        assert statuses(driver)[intake["id"]] == "missed"
        assert len(memory_app.case_events(driver.case_id)) == events + 1

    def test_a_step_recorded_late_for_a_moment_before_due_is_not_missed(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        # Done a second before due, entered into the system an hour after due.
        memory_app.perform(
            driver.case_id, CASEWORKER_2, "accept_report", {"grade": "blue", "assignee": "cw-2"},
            occurred_at=intake["due_at"] - SECOND, now=intake["due_at"] + timedelta(hours=1))
        events = len(memory_app.case_events(driver.case_id))
        assert not memory_app.record_deadline_missed(
            driver.case_id, intake["id"], intake["due_at"] + timedelta(hours=2))
        assert statuses(driver)[intake["id"]] == "met"
        assert len(memory_app.case_events(driver.case_id)) == events

    def test_recording_the_same_miss_twice_records_it_once(self, app: Wardship) -> None:
        driver = open_case(app)
        intake = driver.deadline("intake")
        assert app.record_deadline_missed(driver.case_id, intake["id"], intake["due_at"])
        events = len(app.case_events(driver.case_id))
        assert not app.record_deadline_missed(
            driver.case_id, intake["id"], intake["due_at"] + SECOND)
        assert len(app.case_events(driver.case_id)) == events


def missed_intake(app: Wardship, driver: CaseDriver) -> dict[str, Any]:
    intake = driver.deadline("intake")
    assert app.record_deadline_missed(driver.case_id, intake["id"], intake["due_at"])
    driver.clock = intake["due_at"]  # the clock that judged the miss has reached the due time
    return intake


class TestEscalation:
    def test_each_level_goes_to_a_wider_jurisdiction_and_level_one_to_the_assignee(
        self, app: Wardship
    ) -> None:
        driver = case_at(app, Stage.ASSISTANCE)
        plan = driver.deadline("plan_creation")
        assert app.record_deadline_missed(driver.case_id, plan["id"], plan["due_at"])
        later = plan["due_at"] + timedelta(days=3)
        for level in (1, 2, 3):
            assert app.record_escalation(driver.case_id, plan["id"], level, later) == (
                f"{driver.case_id}:{plan['id']}:L{level}")
        recorded = [e for e in app.case_events(driver.case_id)
                    if type(e).__name__ == "EscalationRecorded"]
        assert [(e.level, e.recipient_jurisdiction, e.assignee)  # type: ignore[attr-defined]
                for e in recorded] == [(1, "511102001", "cw-1"), (2, "511102", None),
                                       (3, "5111", None)]

    def test_level_one_goes_to_the_case_own_jurisdiction_when_coarser_than_a_township(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app, jurisdiction="511102", actor=CASEWORKER_2)
        intake = missed_intake(memory_app, driver)
        nid = memory_app.record_escalation(driver.case_id, intake["id"], 1, driver.clock)
        assert nid is not None
        notification = driver.case.notifications[nid]
        assert notification.recipient_jurisdiction == "511102"

    def test_the_same_level_twice_gives_one_notification(self, app: Wardship) -> None:
        driver = open_case(app)
        intake = missed_intake(app, driver)
        first = app.record_escalation(driver.case_id, intake["id"], 1, driver.clock)
        events = len(app.case_events(driver.case_id))
        again = app.record_escalation(driver.case_id, intake["id"], 1, driver.clock)
        assert first == again is not None
        assert len(app.case_events(driver.case_id)) == events

    def test_an_escalation_is_refused_at_a_time_before_the_due_time(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = missed_intake(memory_app, driver)
        events = len(memory_app.case_events(driver.case_id))
        with pytest.raises(DeadlineNotDue):
            memory_app.record_escalation(driver.case_id, intake["id"], 1,
                                         intake["due_at"] - SECOND)
        assert len(memory_app.case_events(driver.case_id)) == events

    def test_an_open_deadline_is_not_escalated(self, memory_app: Wardship) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        assert memory_app.record_escalation(driver.case_id, intake["id"], 1, driver.clock) is None

    def test_the_ladder_stops_once_the_step_is_done_late(self, memory_app: Wardship) -> None:
        driver = open_case(memory_app)
        intake = missed_intake(memory_app, driver)
        assert memory_app.record_escalation(driver.case_id, intake["id"], 1, driver.clock)
        driver.do("accept_report", at=driver.clock + timedelta(days=2), grade="blue",
                  assignee="cw-1")
        assert memory_app.record_escalation(
            driver.case_id, intake["id"], 2, driver.clock) is None

    def test_the_ladder_stops_once_the_case_is_closed(self, memory_app: Wardship) -> None:
        driver = open_case(memory_app)
        intake = missed_intake(memory_app, driver)
        driver.do("screen_out", reason="duplicate report")
        assert memory_app.record_escalation(
            driver.case_id, intake["id"], 1, driver.clock) is None

    def test_the_ladder_keeps_climbing_in_the_new_area_after_a_transfer(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = missed_intake(memory_app, driver)
        assert memory_app.record_escalation(driver.case_id, intake["id"], 1, driver.clock)
        city = Actor("sv-c", frozenset({Role.SUPERVISOR}), "5111", "City Supervisor")
        driver.do("transfer_jurisdiction", city, jurisdiction="511103001")
        nid = memory_app.record_escalation(driver.case_id, intake["id"], 2, driver.clock)
        assert nid is not None
        assert driver.case.notifications[nid].recipient_jurisdiction == "511103"

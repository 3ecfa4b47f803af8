"""The stage table: every allowed transition leads to its target stage; anything else is refused
with the current stage and the allowed actions, and records nothing; roles and jurisdictions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from domain.actions import RULES
from domain.actors import Actor, Context
from domain.codes import Role, Stage
from domain.errors import ActionNotAllowed, InvalidCommand, OutsideJurisdiction
from tests.domain.builders import (
    CASEWORKER,
    CASEWORKER_2,
    INSPECTOR,
    OUTSIDE_SUPERVISOR,
    OUTSIDER,
    REPORTER,
    SUPERVISOR,
    case_at,
    refused,
)

if TYPE_CHECKING:
    from domain.application import Wardship

S = Stage
# (stage the case is in, its grade, action, params, stage it must then be in)
TRANSITIONS: list[tuple[Stage, str, str, dict[str, Any], Stage]] = [
    (S.DISCOVERY, "yellow", "file_report", {"danger_now": False}, S.REPORT),
    (S.DISCOVERY, "yellow", "dismiss", {"reason": "no concern found"}, S.CLOSED),
    (S.REPORT, "yellow", "accept_report", {"grade": "red", "assignee": "cw-1"},
     S.EMERGENCY_RESPONSE),
    (S.REPORT, "yellow", "accept_report", {"grade": "orange", "assignee": "cw-1"},
     S.EMERGENCY_RESPONSE),
    (S.REPORT, "yellow", "accept_report", {"grade": "yellow", "assignee": "cw-1"}, S.ASSESSMENT),
    (S.REPORT, "yellow", "accept_report", {"grade": "blue", "assignee": "cw-1"}, S.ASSESSMENT),
    (S.REPORT, "yellow", "screen_out", {"reason": "duplicate", "referral": "education"},
     S.CLOSED),
    (S.EMERGENCY_RESPONSE, "red", "complete_emergency", {"summary": "safe"}, S.ASSESSMENT),
    (S.ASSISTANCE, "yellow", "complete_assistance", {"outcome": "intervention"},
     S.GUARDIANSHIP_INTERVENTION),
    (S.ASSISTANCE, "yellow", "complete_assistance", {"outcome": "reassess"}, S.ASSESSMENT),
    (S.ASSISTANCE, "yellow", "complete_assistance", {"outcome": "close"}, S.CLOSED),
    (S.GUARDIANSHIP_INTERVENTION, "yellow", "end_intervention", {"outcome": "assistance"},
     S.ASSISTANCE),
    (S.GUARDIANSHIP_INTERVENTION, "yellow", "end_intervention", {"outcome": "close"}, S.CLOSED),
    (S.CLOSED, "yellow", "reopen", {"reason": "new report"}, S.REPORT),
]
ASSESSMENT_OUTCOMES = [("assistance", S.ASSISTANCE), ("intervention", S.GUARDIANSHIP_INTERVENTION),
                       ("close", S.CLOSED)]
OPEN_BUT_EMERGENCY = [s for s in Stage if s not in (S.CLOSED, S.EMERGENCY_RESPONSE)]
# (stage, action, params) that the stage table refuses.
REFUSED: list[tuple[Stage, str, dict[str, Any]]] = [
    (S.DISCOVERY, "accept_report", {"grade": "red", "assignee": "cw-1"}),
    (S.DISCOVERY, "reopen", {"reason": "x"}),
    (S.REPORT, "complete_emergency", {}),
    (S.REPORT, "file_report", {}),
    (S.EMERGENCY_RESPONSE, "escalate", {"reason": "again"}),
    (S.EMERGENCY_RESPONSE, "complete_assessment", {"outcome": "close"}),
    (S.ASSESSMENT, "create_plan", {"services": []}),
    (S.ASSESSMENT, "dispatch_response", {"responders": ["police"]}),
    (S.ASSISTANCE, "dismiss", {"reason": "x"}),
    (S.ASSISTANCE, "admonish_guardian", {}),
    (S.GUARDIANSHIP_INTERVENTION, "record_visit", {"child_seen": True}),
    (S.GUARDIANSHIP_INTERVENTION, "complete_assessment", {"outcome": "close"}),
    (S.CLOSED, "close", {"reason": "again"}),
    (S.CLOSED, "escalate", {"reason": "danger"}),
    (S.CLOSED, "assign", {"assignee": "cw-2"}),
]


class TestAllowedTransitions:
    @pytest.mark.parametrize(("stage", "grade", "action", "params", "target"), TRANSITIONS,
                             ids=[f"{t[0]}-{t[2]}-{t[4]}" for t in TRANSITIONS])
    def test_each_stage_action_leads_to_its_stage(
        self, memory_app: Wardship, stage: Stage, grade: str, action: str,
        params: dict[str, Any], target: Stage,
    ) -> None:
        driver = case_at(memory_app, stage, grade=grade)
        assert driver.do(action, **params)["stage"] == target

    @pytest.mark.parametrize(("outcome", "target"), ASSESSMENT_OUTCOMES)
    def test_completing_an_assessment_goes_where_its_outcome_says(
        self, memory_app: Wardship, outcome: str, target: Stage
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        driver.do("record_assessment", guardianship_capacity="adequate")
        assert driver.do("complete_assessment", outcome=outcome)["stage"] == target

    @pytest.mark.parametrize("stage", OPEN_BUT_EMERGENCY)
    def test_escalating_any_open_stage_enters_emergency_response(
        self, memory_app: Wardship, stage: Stage
    ) -> None:
        driver = case_at(memory_app, stage)
        view = driver.do("escalate", grade="orange", reason="new danger")
        assert (view["stage"], view["grade"]) == (S.EMERGENCY_RESPONSE, "orange")

    @pytest.mark.parametrize("stage", [s for s in Stage if s is not S.CLOSED])
    def test_closing_any_open_yellow_or_ungraded_case_needs_no_approval(
        self, memory_app: Wardship, stage: Stage
    ) -> None:
        driver = case_at(memory_app, stage, grade="yellow")
        if driver.view["grade"] in ("red", "orange"):
            driver.approve("closure")
        assert driver.do("close", reason="resolved")["stage"] == S.CLOSED

    def test_a_closed_case_still_takes_notes(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.CLOSED)
        assert driver.do("add_note", text="monitoring")["stage"] == S.CLOSED

    @pytest.mark.parametrize("stage", list(Stage))
    def test_allowed_actions_are_those_of_the_stage_table(
        self, memory_app: Wardship, stage: Stage
    ) -> None:
        allowed = case_at(memory_app, stage).view["allowed_actions"]
        assert all(stage in RULES[action].stages for action in allowed)
        assert ("close" in allowed) is (stage is not S.CLOSED)


class TestRefusedTransitions:
    @pytest.mark.parametrize(("stage", "action", "params"), REFUSED,
                             ids=[f"{r[0]}-{r[1]}" for r in REFUSED])
    def test_an_action_outside_the_stage_is_refused_naming_stage_and_allowed_actions(
        self, memory_app: Wardship, stage: Stage, action: str, params: dict[str, Any]
    ) -> None:
        driver = case_at(memory_app, stage, grade="red" if stage is S.EMERGENCY_RESPONSE
                         else "yellow")
        allowed = driver.view["allowed_actions"]
        error = refused(driver, ActionNotAllowed, action, **params)
        assert error.stage == stage
        assert error.allowed == allowed
        assert error.code == "action_not_allowed"
        assert f"'{stage}'" in error.message
        assert all(a in error.message for a in allowed)

    def test_completing_an_assessment_before_recording_one_is_refused(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        refused(driver, InvalidCommand, "complete_assessment", outcome="close")

    def test_a_refused_command_leaves_no_pending_event_on_the_aggregate(
        self, memory_app: Wardship
    ) -> None:
        case = case_at(memory_app, S.ASSESSMENT).case
        version = case.version
        with pytest.raises(ActionNotAllowed):
            case.dismiss(Context(actor=CASEWORKER, policy=memory_app.policy), reason="x")
        assert case.pending_events == []
        assert case.version == version


class TestRoles:
    @pytest.mark.parametrize("actor", [INSPECTOR, REPORTER], ids=["inspector", "reporter"])
    def test_inspectors_and_reporters_cannot_act_on_a_case(
        self, memory_app: Wardship, actor: Actor
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        assert memory_app.get_case(driver.case_id, actor)["allowed_actions"] == []
        error = refused(driver, ActionNotAllowed, "add_note", actor, text="hello")
        assert error.allowed == []

    def test_a_caseworker_cannot_review_or_approve(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        driver.do("request_approval", CASEWORKER_2, subject="closure")
        mine = memory_app.get_case(driver.case_id, CASEWORKER)["allowed_actions"]
        assert not {"approve", "reject", "review_case"} & set(mine)
        refused(driver, ActionNotAllowed, "approve", CASEWORKER, subject="closure")
        refused(driver, ActionNotAllowed, "review_case", CASEWORKER, findings="ok")

    @pytest.mark.parametrize("actor", [OUTSIDER, OUTSIDE_SUPERVISOR],
                             ids=["caseworker", "supervisor"])
    def test_users_outside_the_case_jurisdiction_cannot_act(
        self, memory_app: Wardship, actor: Actor
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        assert memory_app.get_case(driver.case_id, actor)["allowed_actions"] == []
        error = refused(driver, ActionNotAllowed, "add_note", actor, text="hello")
        assert "jurisdiction" in error.message

    def test_a_county_supervisor_acts_on_a_township_case(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        assert driver.do("review_case", SUPERVISOR, findings="ok")["version"] > 1

    def test_after_a_transfer_the_old_township_can_no_longer_act(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        driver.do("transfer_jurisdiction", SUPERVISOR, jurisdiction="511102002")
        refused(driver, ActionNotAllowed, "add_note", CASEWORKER, text="still mine?")
        assert driver.do("add_note", CASEWORKER_2, text="county worker")["stage"] == S.ASSESSMENT


class TestCheckOrder:
    def test_a_guardianship_action_in_the_wrong_stage_names_the_stage_before_the_ground(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        refused(driver, ActionNotAllowed, "start_temporary_guardianship", ground=None,
                placement="institution")

    def test_a_reopened_case_is_graded_afresh_at_intake(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.ASSESSMENT, grade="yellow")
        driver.do("close", reason="resolved")
        view = driver.do("reopen", reason="new report from school")
        assert (view["stage"], view["grade"]) == (S.REPORT, None)
        assert driver.do("screen_out", reason="duplicate")["stage"] == S.CLOSED


class TestTransfers:
    """A case moves only within the actor's area; beyond it a supervisor over both moves it,
    to a real division code; the old area is told and missed steps keep escalating."""

    def test_a_caseworker_moves_a_case_within_their_own_area(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        view = driver.do("transfer_jurisdiction", CASEWORKER, jurisdiction="511102001003")
        assert view["jurisdiction"] == "511102001003"

    def test_a_caseworker_cannot_move_a_case_out_of_their_area(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        refused(driver, OutsideJurisdiction, "transfer_jurisdiction", CASEWORKER,
                jurisdiction="511102002")

    def test_a_supervisor_moves_a_case_only_to_a_code_they_cover(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        refused(driver, OutsideJurisdiction, "transfer_jurisdiction", SUPERVISOR,
                jurisdiction="511103001")
        assert driver.do("transfer_jurisdiction", SUPERVISOR,
                         jurisdiction="511102002")["jurisdiction"] == "511102002"

    @pytest.mark.parametrize("code", ["991102001", "5111020", "", "51110200１"])
    def test_the_target_must_be_a_division_code_under_a_province(
        self, memory_app: Wardship, code: str
    ) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        admin = Actor("ad-1", frozenset({Role.ADMIN}), "")
        refused(driver, InvalidCommand, "transfer_jurisdiction", admin, jurisdiction=code)

    def test_the_old_area_is_told_of_the_handover(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, S.ASSESSMENT)
        driver.do("transfer_jurisdiction", SUPERVISOR, jurisdiction="511102002")
        (notice,) = driver.case.notifications.values()
        assert notice.recipient_jurisdiction == "511102001"
        assert notice.deadline_id is None

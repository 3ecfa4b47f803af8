"""Legal grounds (Minor Protection Law Art. 92, 94, 108) and the second-person approval gates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from domain.codes import Stage
from domain.errors import (
    ActionNotAllowed,
    ApprovalRefused,
    ApprovalRequired,
    InvalidCommand,
    LegalGroundRequired,
)
from tests.domain.builders import (
    CASEWORKER,
    OUTSIDE_SUPERVISOR,
    SUPERVISOR,
    SUPERVISOR_2,
    case_at,
    refused,
)

if TYPE_CHECKING:
    from domain.application import Wardship
    from tests.domain.builders import CaseDriver

ART92 = "art92_guardian_missing"
ART94 = "art94_guardian_dead"
ART108 = "art108_revoke_guardianship"


def intervention(app: Wardship) -> CaseDriver:
    return case_at(app, Stage.GUARDIANSHIP_INTERVENTION)


class TestLegalGrounds:
    def test_temporary_guardianship_starts_on_an_art92_ground(self, memory_app: Wardship) -> None:
        driver = intervention(memory_app)
        view = driver.do("start_temporary_guardianship", ground=ART92, placement="foster_family")
        assert view["temporary_guardianship"] == ART92

    @pytest.mark.parametrize("ground", ["", ART94, ART108], ids=["none", "art94", "art108"])
    def test_temporary_guardianship_without_an_art92_ground_is_refused(
        self, memory_app: Wardship, ground: str
    ) -> None:
        error = refused(intervention(memory_app), LegalGroundRequired,
                        "start_temporary_guardianship", ground=ground, placement="institution")
        assert "Art. 92" in error.message

    def test_an_unknown_ground_is_an_invalid_command(self, memory_app: Wardship) -> None:
        error = refused(intervention(memory_app), InvalidCommand, "start_temporary_guardianship",
                        ground="art92_made_up", placement="institution")
        assert "art92_unidentified" in error.message  # names the grounds to use

    @pytest.mark.parametrize("ground", ["", ART92], ids=["none", "art92"])
    def test_long_term_guardianship_without_an_art94_ground_is_refused(
        self, memory_app: Wardship, ground: str
    ) -> None:
        driver = intervention(memory_app)
        driver.approve("long_term_guardianship")
        error = refused(driver, LegalGroundRequired, "start_long_term_guardianship",
                        ground=ground)
        assert "Art. 94" in error.message

    def test_long_term_guardianship_starts_on_an_art94_ground_once_approved(
        self, memory_app: Wardship
    ) -> None:
        driver = intervention(memory_app)
        driver.approve("long_term_guardianship")
        view = driver.do("start_long_term_guardianship", ground=ART94)
        assert view["long_term_guardianship"] == ART94
        assert "long_term_guardianship" not in view["approvals"]  # the approval is used up

    @pytest.mark.parametrize("ground", ["", ART92, ART94], ids=["none", "art92", "art94"])
    def test_a_court_petition_without_an_art108_ground_is_refused(
        self, memory_app: Wardship, ground: str
    ) -> None:
        driver = intervention(memory_app)
        driver.approve("court_petition")
        error = refused(driver, LegalGroundRequired, "petition_court", ground=ground)
        assert "Art. 108" in error.message

    def test_a_court_petition_on_an_art108_ground_is_recorded_once_approved(
        self, memory_app: Wardship
    ) -> None:
        driver = intervention(memory_app)
        driver.approve("court_petition")
        before = driver.view["version"]
        assert driver.do("petition_court", ground=ART108)["version"] == before + 1

    def test_an_emergency_placement_needs_no_ground(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.EMERGENCY_RESPONSE)
        view = driver.do("place_child", placement="relatives")
        assert view["temporary_guardianship"] is None
        assert "guardianship_review" not in driver.kinds()

    def test_an_emergency_placement_with_a_ground_takes_temporary_guardianship(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.EMERGENCY_RESPONSE)
        view = driver.do("place_child", placement="institution", ground=ART92)
        assert view["temporary_guardianship"] == ART92
        assert "guardianship_review" in driver.kinds()

    @pytest.mark.parametrize("ground", [ART94, ART108])
    def test_an_emergency_placement_with_another_article_is_refused(
        self, memory_app: Wardship, ground: str
    ) -> None:
        refused(case_at(memory_app, Stage.EMERGENCY_RESPONSE), LegalGroundRequired,
                "place_child", placement="institution", ground=ground)


class TestApprovalGates:
    @pytest.mark.parametrize("grade", ["red", "orange"])
    def test_closing_an_urgent_case_waits_for_a_supervisor_approval(
        self, memory_app: Wardship, grade: str
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade=grade)
        error = refused(driver, ApprovalRequired, "close", reason="safe now")
        assert "request_approval" in error.message
        driver.approve("closure")
        view = driver.do("close", reason="safe now")
        assert view["stage"] == Stage.CLOSED
        assert view["approvals"] == {}

    def test_completing_an_urgent_assessment_with_close_is_gated_too(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("record_assessment", guardianship_capacity="adequate")
        refused(driver, ApprovalRequired, "complete_assessment", outcome="close")
        driver.approve("closure")
        assert driver.do("complete_assessment", outcome="close")["stage"] == Stage.CLOSED

    @pytest.mark.parametrize("grade", ["yellow", "blue"])
    def test_yellow_and_blue_cases_close_without_approval(
        self, memory_app: Wardship, grade: str
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade=grade)
        assert driver.do("close", reason="no concern")["stage"] == Stage.CLOSED

    @pytest.mark.parametrize(("action", "subject", "params"), [
        ("start_long_term_guardianship", "long_term_guardianship", {"ground": ART94}),
        ("petition_court", "court_petition", {"ground": ART108}),
    ])
    def test_long_term_guardianship_and_court_petitions_wait_for_approval(
        self, memory_app: Wardship, action: str, subject: str, params: dict[str, Any]
    ) -> None:
        driver = intervention(memory_app)
        refused(driver, ApprovalRequired, action, **params)
        driver.do("request_approval", subject=subject, reason="needed")
        refused(driver, ApprovalRequired, action, **params)  # requested is not approved
        driver.do("approve", SUPERVISOR, subject=subject)
        driver.do(action, **params)

    def test_nobody_approves_their_own_request(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", SUPERVISOR, subject="closure")
        error = refused(driver, ApprovalRefused, "approve", SUPERVISOR, subject="closure")
        assert "another supervisor" in error.message
        refused(driver, ApprovalRefused, "reject", SUPERVISOR, subject="closure", reason="no")
        assert driver.do("approve", SUPERVISOR_2, subject="closure")["approvals"]["closure"] == {
            "status": "approved", "requested_by": SUPERVISOR.subject,
            "approved_by": SUPERVISOR_2.subject,
        }

    def test_a_caseworker_cannot_approve(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", SUPERVISOR, subject="closure")
        refused(driver, ActionNotAllowed, "approve", CASEWORKER, subject="closure")

    def test_a_supervisor_of_another_jurisdiction_cannot_approve(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", subject="closure")
        refused(driver, ActionNotAllowed, "approve", OUTSIDE_SUPERVISOR, subject="closure")

    def test_there_is_at_most_one_open_request_per_subject(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", subject="closure")
        refused(driver, ApprovalRefused, "request_approval", SUPERVISOR, subject="closure")
        # Another subject is a separate request.
        driver.do("request_approval", subject="court_petition")
        assert set(driver.view["approvals"]) == {"closure", "court_petition"}

    def test_there_is_nothing_to_approve_without_a_request(self, memory_app: Wardship) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        refused(driver, ApprovalRefused, "approve", SUPERVISOR, subject="closure")

    def test_a_rejected_request_keeps_the_gate_shut_and_can_be_asked_again(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", subject="closure")
        refused(driver, InvalidCommand, "reject", SUPERVISOR, subject="closure", reason="")
        view = driver.do("reject", SUPERVISOR, subject="closure", reason="child not yet safe")
        assert view["approvals"] == {}
        assert driver.deadline("approval", "met")["ref"] == "closure"
        refused(driver, ApprovalRequired, "close", reason="safe now")
        driver.approve("closure")
        assert driver.do("close", reason="safe now")["stage"] == Stage.CLOSED

    def test_an_approval_request_opens_an_approval_deadline_met_by_the_decision(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", subject="closure")
        deadline = driver.deadline("approval")
        assert (deadline["ref"], deadline["stage"]) == ("closure", None)
        assert deadline["due_at"] == memory_app.policy.due_at("approval", None, driver.clock)
        driver.do("approve", SUPERVISOR, subject="closure")
        assert driver.deadline("approval", "met")["id"] == deadline["id"]


class TestClosureCannotBeWalkedAround:
    """A case ever graded red or orange closes only with an approved closure, by any path;
    an approval allows its one action once."""

    def test_regrading_a_red_case_to_blue_does_not_lift_the_closure_gate(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("record_assessment", guardianship_capacity="adequate", grade="blue")
        refused(driver, ApprovalRequired, "complete_assessment", outcome="close")
        refused(driver, ApprovalRequired, "close", reason="low risk now")

    @pytest.mark.parametrize(("stage", "action", "params"), [
        (Stage.ASSISTANCE, "complete_assistance", {"outcome": "close"}),
        (Stage.GUARDIANSHIP_INTERVENTION, "end_intervention", {"outcome": "close"}),
        (Stage.ASSISTANCE, "close", {"reason": "resolved"}),
    ])
    def test_every_path_that_closes_a_once_urgent_case_is_gated(
        self, memory_app: Wardship, stage: Stage, action: str, params: dict[str, Any]
    ) -> None:
        driver = case_at(memory_app, stage, grade="orange")
        refused(driver, ApprovalRequired, action, **params)
        driver.approve("closure")
        assert driver.do(action, **params)["stage"] == Stage.CLOSED

    def test_the_closure_approval_is_spent_by_the_closing_and_gone_after_reopening(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("record_assessment", guardianship_capacity="adequate")
        driver.approve("closure")
        assert driver.do("complete_assessment", outcome="close")["approvals"] == {}
        driver.do("reopen", reason="a new report")
        refused(driver, ApprovalRequired, "screen_out", reason="the same concern")

    def test_reopening_clears_an_approval_granted_but_not_used(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.GUARDIANSHIP_INTERVENTION, grade="yellow")
        driver.approve("long_term_guardianship")
        driver.do("end_intervention", outcome="close")
        assert driver.do("reopen", reason="a new report")["approvals"] == {}

    def test_a_regrade_upwards_clears_an_approval_not_yet_used(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="orange")
        driver.approve("closure")
        view = driver.do("record_assessment", guardianship_capacity="harmful", grade="red")
        assert view["approvals"] == {}
        refused(driver, ApprovalRequired, "close", reason="safe now")

    def test_an_approval_granted_in_the_old_area_lapses_with_a_transfer(
        self, memory_app: Wardship
    ) -> None:
        driver = case_at(memory_app, Stage.ASSESSMENT, grade="red")
        driver.do("request_approval", subject="closure", reason="safe now")
        driver.do("approve", SUPERVISOR_2, subject="closure")  # the township's supervisor
        driver.do("transfer_jurisdiction", SUPERVISOR, jurisdiction="511102002")
        refused(driver, ApprovalRequired, "close", SUPERVISOR, reason="safe now")


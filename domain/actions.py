"""The action table: for each action, who may take it, in which stage, where it leads, which
deadlines it meets, what approval gates it, which event records it (its
Chinese term is in the message catalogue, `domain.i18n`, under the context 'action').

Everything else derives from this table: the aggregate's stage checks, the allowed actions
of a case, the API's request union and labels, and the relay's topics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domain import events as ev
from domain.codes import (
    ApprovalSubject,
    AssessmentOutcome,
    AssistanceOutcome,
    Grade,
    InterventionOutcome,
    Role,
    Stage,
)
from domain.policy import SERVICE_DELIVERY

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from domain.case import ProtectionCase

OPEN_STAGES = frozenset(stage for stage in Stage if stage is not Stage.CLOSED)
ALL_STAGES = frozenset(Stage)
# Inspectors never write; reporters only open cases.
WORKERS = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Decided:
    """The stage an action leads to is decided by one of its fields (its grade or outcome)."""

    by: str
    stages: Mapping[str, Stage]


@dataclass(frozen=True)
class ActionRule:
    """One row of the table; `leads_to` None means the case stays in its stage."""

    name: str
    event: type[ev.CaseEvent]
    stages: frozenset[Stage]
    roles: frozenset[Role] = WORKERS
    leads_to: Stage | Decided | None = None
    meets: tuple[str, ...] = ()
    gate: ApprovalSubject | None = None
    # Something the case must have for the action to make sense (a referral to answer...).
    needs: Callable[[ProtectionCase], bool] | None = field(default=None, compare=False)

    def target(self, decided: str | None = None) -> Stage | None:
        """The stage the action leads to, given the value of the field that decides it."""
        if isinstance(self.leads_to, Decided):
            assert decided is not None, f"'{self.name}' is decided by its {self.leads_to.by}"
            return self.leads_to.stages[decided]
        return self.leads_to

    def spends(self, closes: bool) -> set[ApprovalSubject]:
        """The approvals the recorded action uses up: its gate's, and closure's if it closed
        the case."""
        spent = {self.gate} if self.gate else set()
        return spent | {ApprovalSubject.CLOSURE} if closes else spent

    def required_approval(self, target: Stage | None, urgent: bool) -> ApprovalSubject | None:
        """The approval the action needs: its own gate, or closure's when it closes an urgent
        case."""
        if target is Stage.CLOSED and urgent:
            return ApprovalSubject.CLOSURE
        return self.gate


def _by_grade() -> Decided:
    return Decided("grade", {g.value: Stage.EMERGENCY_RESPONSE if g.is_urgent
                             else Stage.ASSESSMENT for g in Grade})


_ONE = frozenset  # reads as "in this one stage" in the table below
_D, _R, _E = Stage.DISCOVERY, Stage.REPORT, Stage.EMERGENCY_RESPONSE
_A, _S, _G, _C = Stage.ASSESSMENT, Stage.ASSISTANCE, Stage.GUARDIANSHIP_INTERVENTION, Stage.CLOSED

ACTIONS: tuple[ActionRule, ...] = (
    # discovery and report
    ActionRule("file_report", ev.ReportFiled, _ONE({_D}), leads_to=_R,
               meets=("report_filing",)),
    ActionRule("dismiss", ev.CaseDismissed, _ONE({_D}), leads_to=_C),
    ActionRule("accept_report", ev.ReportAccepted, _ONE({_R}), leads_to=_by_grade(),
               meets=("intake", "intake_danger")),
    ActionRule("screen_out", ev.ReportScreenedOut, _ONE({_R}), leads_to=_C,
               meets=("intake", "intake_danger")),
    # emergency response
    ActionRule("dispatch_response", ev.ResponseDispatched, _ONE({_E}),
               meets=("response_dispatch",)),
    ActionRule("place_child", ev.ChildPlaced, _ONE({_E})),
    ActionRule("complete_emergency", ev.EmergencyCompleted, _ONE({_E}), leads_to=_A,
               meets=("emergency_completion",)),
    # assessment
    ActionRule("record_assessment", ev.AssessmentRecorded, _ONE({_A})),
    ActionRule("complete_assessment", ev.AssessmentCompleted, _ONE({_A}),
               leads_to=Decided("outcome", {AssessmentOutcome.ASSISTANCE: _S,
                                            AssessmentOutcome.INTERVENTION: _G,
                                            AssessmentOutcome.CLOSE: _C}),
               meets=("assessment",)),
    # assistance
    ActionRule("create_plan", ev.PlanCreated, _ONE({_S}), meets=("plan_creation",)),
    ActionRule("deliver_service", ev.ServiceDelivered,
               _ONE({_S}), meets=(SERVICE_DELIVERY,),
               needs=lambda case: case.has_undelivered_service),
    ActionRule("record_visit", ev.VisitRecorded, _ONE({_S}), meets=("home_visit",)),
    ActionRule("sign_care_agreement", ev.CareAgreementSigned, _ONE({_S})),
    ActionRule("record_guardian_contact", ev.GuardianContactRecorded, _ONE({_S})),
    ActionRule("complete_assistance", ev.AssistanceCompleted, _ONE({_S}),
               leads_to=Decided("outcome", {AssistanceOutcome.CLOSE: _C,
                                            AssistanceOutcome.INTERVENTION: _G,
                                            AssistanceOutcome.REASSESS: _A})),
    # guardianship intervention
    ActionRule("admonish_guardian", ev.GuardianAdmonished, _ONE({_G})),
    ActionRule("order_family_education", ev.FamilyEducationOrdered, _ONE({_G})),
    ActionRule("start_temporary_guardianship", ev.TemporaryGuardianshipStarted, _ONE({_G})),
    ActionRule("petition_court", ev.CourtPetitioned, _ONE({_G}),
               gate=ApprovalSubject.COURT_PETITION),
    ActionRule("record_court_decision", ev.CourtDecisionRecorded, _ONE({_G})),
    ActionRule("start_long_term_guardianship", ev.LongTermGuardianshipStarted, _ONE({_G}),
               gate=ApprovalSubject.LONG_TERM_GUARDIANSHIP),
    ActionRule("end_intervention", ev.InterventionEnded, _ONE({_G}),
               leads_to=Decided("outcome", {InterventionOutcome.CLOSE: _C,
                                            InterventionOutcome.ASSISTANCE: _S})),
    # closed
    ActionRule("reopen", ev.CaseReopened, _ONE({_C}), leads_to=_R),
    # any open stage (a note also on a closed case; escalation from outside an emergency)
    ActionRule("assign", ev.CaseAssigned, OPEN_STAGES),
    ActionRule("add_note", ev.NoteAdded, ALL_STAGES),
    ActionRule("refer", ev.CaseReferred, OPEN_STAGES),
    ActionRule("record_referral_response", ev.ReferralResponseRecorded, OPEN_STAGES,
               meets=("referral_response",), needs=lambda case: case.has_open_referral),
    ActionRule("escalate", ev.CaseEscalated, OPEN_STAGES - {_E}, leads_to=_E),
    ActionRule("transfer_jurisdiction", ev.JurisdictionTransferred, OPEN_STAGES),
    ActionRule("close", ev.CaseClosed, OPEN_STAGES, leads_to=_C),
    ActionRule("review_case", ev.CaseReviewed, OPEN_STAGES, roles=SUPERVISORS,
               meets=("case_review",)),
    ActionRule("review_guardianship", ev.GuardianshipReviewed, OPEN_STAGES,
               meets=("guardianship_review",),
               needs=lambda case: case.temporary_guardianship is not None),
    # approvals
    ActionRule("request_approval", ev.ApprovalRequested, OPEN_STAGES),
    ActionRule("approve", ev.ApprovalGranted, OPEN_STAGES, roles=SUPERVISORS,
               meets=("approval",), needs=lambda case: case.has_pending_approval),
    ActionRule("reject", ev.ApprovalRejected, OPEN_STAGES, roles=SUPERVISORS,
               meets=("approval",), needs=lambda case: case.has_pending_approval),
)

RULES: dict[str, ActionRule] = {rule.name: rule for rule in ACTIONS}
RULE_OF_EVENT: dict[type[ev.CaseEvent], ActionRule] = {rule.event: rule for rule in ACTIONS}
ACTION_NAMES: tuple[str, ...] = tuple(RULES)

"""Property-based: any sequence of actions, allowed or refused, keeps the case valid, and
replaying its stored events gives back exactly the same case."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actions import ACTION_NAMES
from domain.application import Wardship
from domain.case import ProtectionCase
from domain.codes import (
    ApprovalSubject,
    AssessmentOutcome,
    AssistanceOutcome,
    Grade,
    GuardianshipCapacity,
    InterventionOutcome,
    LegalGround,
    Partner,
    Placement,
    Stage,
)
from domain.errors import DeadlineNotDue, DomainError
from domain.storage import event_store_env
from domain.views import case_view
from tests.domain.builders import (
    CASEWORKER,
    INSPECTOR,
    SUPERVISOR,
    SUPERVISOR_2,
    T0,
    open_case,
)

if TYPE_CHECKING:
    from datetime import datetime

    from domain.actors import Actor
    from domain.events import CaseEvent

ACTORS = [CASEWORKER, CASEWORKER, SUPERVISOR, SUPERVISOR_2, INSPECTOR]
GROUNDS = [g.value for g in LegalGround]


def values(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def params_for(
    action: str, case: ProtectionCase, clock: datetime, data: st.DataObject
) -> dict[str, Any]:
    """Valid-looking parameters for action (grounds of any article, so some are refused)."""
    text = st.sampled_from(["seen", "follow-up", "family moved"])
    draw = data.draw
    undelivered = [k for k, s in case.services.items() if not s.delivered] or ["svc-0-0"]
    unanswered = [k for k, r in case.referrals.items() if not r.responded] or ["ref-0"]
    table: dict[str, Any] = {
        "file_report": lambda: {"danger_now": draw(st.booleans())},
        "dismiss": lambda: {"reason": draw(text)},
        "screen_out": lambda: {"reason": draw(text)},
        "accept_report": lambda: {"grade": draw(values(Grade)), "assignee": "cw-1"},
        "dispatch_response": lambda: {"responders": ["police"]},
        "place_child": lambda: {"placement": draw(values(Placement)),
                                "ground": draw(st.sampled_from([None, *GROUNDS]))},
        "complete_emergency": dict,
        "record_assessment": lambda: {
            "guardianship_capacity": draw(values(GuardianshipCapacity)),
            "grade": draw(st.sampled_from([None, *[g.value for g in Grade]]))},
        "complete_assessment": lambda: {"outcome": draw(values(AssessmentOutcome))},
        "create_plan": lambda: {"services": [
            {"type": "tutoring", "provider": "school",
             "due_at": clock + timedelta(days=draw(st.integers(1, 30)))}
            for _ in range(draw(st.integers(1, 2)))]},
        "deliver_service": lambda: {"service_id": draw(st.sampled_from(undelivered))},
        "record_visit": lambda: {"child_seen": draw(st.booleans())},
        "sign_care_agreement": lambda: {"caregiver": "Aunt C", "period_start": "2026-09-01",
                                        "period_end": "2027-08-31"},
        "record_guardian_contact": dict,
        "complete_assistance": lambda: {"outcome": draw(values(AssistanceOutcome))},
        "admonish_guardian": dict,
        "order_family_education": dict,
        "start_temporary_guardianship": lambda: {"ground": draw(st.sampled_from(GROUNDS)),
                                                 "placement": draw(values(Placement))},
        "petition_court": lambda: {"ground": draw(st.sampled_from(GROUNDS))},
        "record_court_decision": lambda: {"decision": "granted"},
        "start_long_term_guardianship": lambda: {"ground": draw(st.sampled_from(GROUNDS))},
        "review_guardianship": dict,
        "end_intervention": lambda: {"outcome": draw(values(InterventionOutcome))},
        "assign": lambda: {"assignee": draw(st.sampled_from(["cw-1", "cw-2"]))},
        "add_note": lambda: {"text": draw(text)},
        "refer": lambda: {"partner": draw(values(Partner))},
        "record_referral_response": lambda: {
            "referral_id": draw(st.sampled_from(unanswered)), "response": "done"},
        "escalate": lambda: {"grade": draw(st.sampled_from(["red", "orange"])),
                             "reason": "danger"},
        "transfer_jurisdiction": lambda: {
            "jurisdiction": draw(st.sampled_from(["511102001", "511102002"]))},
        "close": lambda: {"reason": draw(text)},
        "review_case": dict,
        "request_approval": lambda: {"subject": draw(values(ApprovalSubject))},
        "approve": lambda: {"subject": draw(values(ApprovalSubject))},
        "reject": lambda: {"subject": draw(values(ApprovalSubject)), "reason": "not yet"},
        "reopen": lambda: {"reason": "new report"},
    }
    return cast("dict[str, Any]", table[action]())


def check_invariants(case: ProtectionCase) -> None:
    assert case.stage in set(Stage)
    open_ = case.open_deadlines()
    for deadline in open_:
        assert deadline.stage in (None, case.stage), deadline
    if case.stage == Stage.CLOSED:
        assert open_ == []
    keys = [(d.kind, d.ref) for d in open_]
    assert len(keys) == len(set(keys)), f"two open deadlines for one step: {keys}"
    for subject, approval in case.approvals.items():
        assert subject in set(ApprovalSubject)
        assert approval.status in ("requested", "approved")
        if approval.status == "approved":
            assert approval.approved_by != approval.requested_by
        assert any(d.kind == "approval" and d.ref == subject for d in case.deadlines.values())


def replayed(app: Wardship, case: ProtectionCase) -> ProtectionCase:
    folded: Any = None
    for event in app.events.get(case.id):
        folded = cast("CaseEvent", event).mutate(folded)
    assert isinstance(folded, ProtectionCase)
    return folded


class TestAnySequenceOfActions:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), entry=st.sampled_from(["discovery", "report"]))
    def test_keeps_the_case_valid_and_replays_to_the_same_case(
        self, data: st.DataObject, entry: str
    ) -> None:
        app = Wardship(env=event_store_env(None))
        try:
            driver = open_case(app, entry=entry, at=T0)
            clock = T0
            for _ in range(data.draw(st.integers(5, 40), label="steps")):
                case = driver.case
                clock += timedelta(minutes=data.draw(st.integers(1, 3 * 24 * 60)))
                if data.draw(st.integers(0, 9)) == 0 and case.deadlines:
                    deadline = data.draw(st.sampled_from(sorted(case.deadlines)))
                    level = data.draw(st.integers(0, 3))
                    # The service's clock may not have reached the due time: refused.
                    with contextlib.suppress(DeadlineNotDue):
                        if level == 0:
                            app.record_deadline_missed(case.id, deadline, clock)
                        else:
                            app.record_escalation(case.id, deadline, level, clock)
                else:
                    allowed = case.allowed_actions()
                    use_allowed = bool(allowed) and data.draw(st.integers(0, 4)) > 0
                    pool = list(allowed if use_allowed else ACTION_NAMES)
                    action = data.draw(st.sampled_from(sorted(pool)), label="action")
                    actor: Actor = data.draw(st.sampled_from(ACTORS))
                    params = params_for(action, case, clock, data)
                    before = case_view(case)
                    try:
                        app.perform(case.id, actor, action, params, occurred_at=clock,
                                    now=clock)
                    except DomainError:
                        assert case_view(driver.case) == before, f"refused {action} changed it"
                    else:
                        assert driver.case.version == case.version + 1
                check_invariants(driver.case)
            current = driver.case
            again = replayed(app, current)
            assert case_view(again) == case_view(current)
            assert vars(again) == vars(current)
            assert app.verify_chain(current.id)["valid"] is True
        finally:
            app.close()

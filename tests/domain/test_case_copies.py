"""Commands work on copies of cached cases: a copy's changes never reach the original."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from domain.actors import Context
from domain.case_state import private_copy
from domain.codes import Stage
from domain.views import case_view
from tests.domain.builders import CASEWORKER, SUPERVISOR, T0, case_at

if TYPE_CHECKING:
    from domain.application import Wardship
    from tests.domain.builders import CaseDriver


def every_table_filled(app: Wardship) -> CaseDriver:
    """A case with something in every table that events write into."""
    driver = case_at(app, Stage.ASSISTANCE)
    driver.do("create_plan", services=[
        {"type": "tutoring", "provider": "school", "due_at": T0 + timedelta(days=5)}])
    driver.do("refer", partner="education", reason="school absence")
    driver.do("request_approval", subject="closure", reason="stable")
    return driver


class TestCaseCopies:
    def test_acting_on_a_copy_leaves_the_cached_case_as_it_was(
        self, memory_app: Wardship
    ) -> None:
        driver = every_table_filled(memory_app)
        visit = next(d for d in driver.view["deadlines"] if d["kind"] == "home_visit")
        referral = next(d for d in driver.view["deadlines"] if d["kind"] == "referral_response")
        missed_at = T0 + timedelta(days=400)
        memory_app.record_deadline_missed(driver.case_id, visit["id"], missed_at)
        memory_app.record_escalation(driver.case_id, visit["id"], 1, missed_at)
        original = driver.case
        before = case_view(original)
        notifications = dict(original.notifications)

        # Every kind of change, made on a copy and never saved.
        clone = private_copy(original)
        at = Context(actor=CASEWORKER, policy=memory_app.policy, now=missed_at)
        clone.deliver_service(at, service_id=next(iter(clone.services)))
        clone.record_referral_response(at, referral_id=next(iter(clone.referrals)),
                                       response="seen")
        clone.approve(Context(actor=SUPERVISOR, policy=memory_app.policy, now=missed_at),
                      subject="closure")
        nid = next(iter(clone.notifications))
        clone.record_delivery(nid, "webhook", True, "200", missed_at)
        clone.record_deadline_missed(referral["id"], missed_at)

        assert case_view(original) == before
        assert original.notifications == notifications
        assert original.pending_events == []

    def test_every_table_of_a_case_holds_only_values_that_cannot_change(
        self, memory_app: Wardship
    ) -> None:
        # The copy is one level deep, so nothing inside a table may be changed in place.
        case = every_table_filled(memory_app).case
        tables = {name: value for name, value in vars(case).items()
                  if isinstance(value, dict) and name not in ("child", "concern", "source")}
        assert {"deadlines", "approvals", "referrals", "services", "notifications"} <= set(tables)
        for table in tables.values():
            for value in table.values():
                first = dataclasses.fields(value)[0].name
                with pytest.raises(dataclasses.FrozenInstanceError):
                    setattr(value, first, None)

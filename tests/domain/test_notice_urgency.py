"""Which notices go out at once and which wait for the morning digest, when the digest is
due, and the ledger that gathers each held notice into exactly one digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from domain.calendar import CHINA_TIME
from domain.digests import HeldNotice, next_digest_at
from domain.policy import load_policy
from tests.domain.builders import CASEWORKER, T0, open_case

if TYPE_CHECKING:
    from domain.application import Wardship
    from tests.domain.builders import CaseDriver


def escalate_assessment(app: Wardship, grade: str, level: int) -> tuple[CaseDriver, str]:
    """A report accepted at `grade` whose case review was missed, escalated to `level`."""
    driver = open_case(app)
    driver.do("accept_report", grade=grade, assignee=CASEWORKER.subject)
    review = driver.deadline("case_review")
    assert app.record_deadline_missed(driver.case_id, review["id"], review["due_at"])
    nid = app.record_escalation(driver.case_id, review["id"], level,
                                review["due_at"] + timedelta(days=4))
    assert nid is not None
    return driver, nid


class TestUrgency:
    @pytest.mark.parametrize(("grade", "urgent"), [
        ("red", True), ("orange", True), ("yellow", False), ("blue", False)])
    def test_level_one_of_red_and_orange_goes_at_once_the_rest_waits_for_the_digest(
        self, app: Wardship, grade: str, urgent: bool
    ) -> None:
        driver, nid = escalate_assessment(app, grade, 1)
        assert driver.case.notifications[nid].urgent is urgent
        recorded = [e for e in app.case_events(driver.case_id)
                    if type(e).__name__ == "EscalationRecorded"]
        assert [e.urgent for e in recorded] == [urgent]  # type: ignore[attr-defined]

    @pytest.mark.parametrize("level", [2, 3])
    def test_every_escalation_beyond_level_one_goes_at_once(
        self, memory_app: Wardship, level: int
    ) -> None:
        driver, nid = escalate_assessment(memory_app, "blue", level)
        assert driver.case.notifications[nid].urgent is True

    def test_a_miss_of_a_report_nobody_has_graded_goes_at_once(
        self, memory_app: Wardship
    ) -> None:
        driver = open_case(memory_app)
        intake = driver.deadline("intake")
        assert memory_app.record_deadline_missed(driver.case_id, intake["id"], intake["due_at"])
        nid = memory_app.record_escalation(driver.case_id, intake["id"], 1, intake["due_at"])
        assert nid is not None
        assert driver.case.notifications[nid].urgent is True

    def test_a_held_notice_keeps_the_hash_chain_whole(self, app: Wardship) -> None:
        driver, _ = escalate_assessment(app, "blue", 1)
        assert app.verify_chain(driver.case_id)["valid"]


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA_TIME)


class TestDigestTime:
    @pytest.mark.parametrize(("after", "expected"), [
        # before 08:30 on a working day: that morning
        ("2026-09-01 08:10", "2026-09-01 08:30"),
        # after it: the next working day's
        ("2026-09-01 08:30", "2026-09-02 08:30"),
        # Friday evening: Monday
        ("2026-09-04 18:00", "2026-09-07 08:30"),
        # an adjusted working Saturday (调休) before Spring Festival has its digest
        ("2026-02-13 09:00", "2026-02-14 08:30"),
        # the Spring Festival holiday (15-23 February 2026) has none
        ("2026-02-14 09:00", "2026-02-24 08:30"),
    ])
    def test_the_digest_goes_out_at_the_policy_time_on_working_days_in_china_time(
        self, after: str, expected: str
    ) -> None:
        at = next_digest_at(china(after).astimezone(UTC), load_policy())
        assert at == china(expected)


class TestDigestLedger:
    def test_each_held_notice_is_gathered_into_one_digest_only(
        self, memory_app: Wardship
    ) -> None:
        gathered: list[tuple[int, int]] = []

        def gather(after: int, upto: int) -> dict[str, list[HeldNotice]]:
            gathered.append((after, upto))
            return {"contact-1": [HeldNotice(f"case-{after}", f"n-{upto}")]}

        open_case(memory_app)
        first = memory_app.prepare_digest("2026-09-01", gather)
        again = memory_app.prepare_digest("2026-09-01", gather)
        assert again.batches == first.batches
        open_case(memory_app, at=T0 + timedelta(hours=1))
        memory_app.prepare_digest("2026-09-02", gather)
        # The second day starts where the first stopped; the repeat gathered nothing.
        assert len(gathered) == 2
        assert gathered[1][0] == gathered[0][1] > 0
        assert gathered[1][1] > gathered[1][0]

    def test_a_target_reached_is_not_recorded_again(self, memory_app: Wardship) -> None:
        memory_app.prepare_digest("2026-09-01", lambda after, upto: {
            "contact-1": [HeldNotice("case", "n")]})
        memory_app.record_digest_delivery("2026-09-01", "email:contact-1:0", False, "timeout")
        memory_app.record_digest_delivery("2026-09-01", "email:contact-1:0", True, "accepted")
        memory_app.record_digest_delivery("2026-09-01", "email:contact-1:0", True, "accepted")
        digest = memory_app.prepare_digest("2026-09-01", lambda after, upto: {})
        assert digest.outcomes == {"email:contact-1:0": "delivered"}
        assert digest.version == 3  # prepared, failed once, delivered once

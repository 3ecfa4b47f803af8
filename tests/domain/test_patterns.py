"""Patterns no single report shows (监测预警): a second report within days, a report soon after
a case closed, a risk level rising twice in a quarter each raise one alarm to the township."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from api.imports.reader import open_import
from api.imports.runner import run_job, start_job
from domain.actors import Actor
from domain.codes import Role
from domain.errors import ActionNotAllowed, PolicyError
from domain.patterns import REPORT, PatternRule, Signal, matches, parse_patterns
from domain.policy import load_policy
from tests.domain.builders import (
    CASEWORKER,
    CHILD,
    SUPERVISOR,
    SUPERVISOR_2,
    T0,
    TOWNSHIP,
    open_case,
)
from tests.domain.test_hotline_orders import DESK
from tests.domain.test_monitoring import CHILD_SUPERVISOR, act, start
from tests.imports_data import id_number, school_roll

if TYPE_CHECKING:
    from domain.application import Wardship

DAY = timedelta(days=1)
IMPORTER = Actor("ad-1", frozenset({Role.ADMIN}), TOWNSHIP[:6], "Invented Admin")
OTHER_CHILD = {**CHILD, "name": "Test Child Z", "id_number": "511102201501010013"}


def alarms(app: Wardship, file_id: str | UUID) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = app.child_file(UUID(str(file_id)))["alarms"]
    return found


class TestRules:
    RULE = PatternRule("repeat_report", REPORT, timedelta(days=7), count=2)

    def test_a_count_rule_matches_when_the_new_signal_makes_the_count_in_the_window(
        self,
    ) -> None:
        first = Signal(REPORT, T0, "case-1")
        second = Signal(REPORT, T0 + 6 * DAY, "case-2")
        assert self.RULE.match([first], second) == [first, second]
        assert self.RULE.match([first], Signal(REPORT, T0 + 8 * DAY, "case-2")) is None

    def test_the_new_signal_is_not_counted_twice_when_the_history_holds_it(self) -> None:
        new = Signal(REPORT, T0, "case-1")
        assert self.RULE.match([new], new) is None

    def test_an_after_rule_matches_a_signal_soon_after_the_other_kind(self) -> None:
        rule = PatternRule("report_after_closing", REPORT, timedelta(days=30),
                           after="case_closed")
        closed = Signal("case_closed", T0, "case-1")
        assert rule.match([closed], Signal(REPORT, T0 + 29 * DAY, "c2")) is not None
        assert rule.match([closed], Signal(REPORT, T0 + 31 * DAY, "c2")) is None

    def test_a_rule_that_alarmed_stays_quiet_within_its_window(self) -> None:
        history = [Signal(REPORT, T0, "c1"), Signal(REPORT, T0 + DAY, "c2")]
        third = Signal(REPORT, T0 + 2 * DAY, "c3")
        assert matches([self.RULE], history, third, {"repeat_report": T0 + DAY}) == []
        later = Signal(REPORT, T0 + 9 * DAY, "c4")
        assert matches([self.RULE], [*history, third, Signal(REPORT, T0 + 8 * DAY, "c5")],
                       later, {"repeat_report": T0 + DAY})

    def test_the_shipped_policy_has_the_three_rules_as_data(self) -> None:
        rules = {rule.code: rule for rule in load_policy().patterns}
        assert rules["repeat_report"] == PatternRule("repeat_report", REPORT,
                                                     timedelta(days=7), count=2)
        assert rules["report_after_closing"].after == "case_closed"
        assert rules["risk_rising"].window == timedelta(days=90)

    @pytest.mark.parametrize(("rule", "message"), [
        ({"signal": "rumour", "window": "7d"}, "signal"),
        ({"signal": "report", "window": "7wd"}, "calendar days"),
        ({"signal": "report", "window": "7d", "count": 0}, "count"),
        ({"signal": "report", "after": "case_closed", "window": "7d", "count": 2}, "after"),
        ({"signal": "report", "window": "7d", "when": "never"}, "unknown key"),
    ])
    def test_a_bad_rule_is_refused_naming_it(self, rule: dict[str, Any], message: str) -> None:
        with pytest.raises(PolicyError, match=message):
            parse_patterns({"bad": rule}, "test.toml")


class TestAlarms:
    def test_a_second_report_within_7_days_alarms_the_township_once(
        self, app: Wardship
    ) -> None:
        first = open_case(app)
        second = open_case(app, at=T0 + 6 * DAY)
        (alarm,) = alarms(app, first.view["child_id"])
        assert alarm["rule"] == "repeat_report"
        assert alarm["recipient_jurisdiction"] == TOWNSHIP
        assert [s["ref"] for s in alarm["signals"]] == [str(first.case_id), str(second.case_id)]
        open_case(app, at=T0 + 6 * DAY + timedelta(hours=1))  # the same run of reports
        assert len(alarms(app, first.view["child_id"])) == 1

    def test_a_12345_order_linked_to_the_open_case_is_a_second_report(
        self, app: Wardship
    ) -> None:
        first = open_case(app)
        view, opened = app.receive_hotline_order(
            DESK, ticket="12345-2026-000777", received_at=T0 + 2 * DAY, jurisdiction=TOWNSHIP,
            urgent=False, content="neighbours say the child is often home alone",
            caller={"name": "Invented Caller"}, child=dict(CHILD), now=T0 + 2 * DAY)
        assert not opened
        assert view["id"] == str(first.case_id)
        (alarm,) = alarms(app, first.view["child_id"])
        assert alarm["rule"] == "repeat_report"
        assert [s["ref"] for s in alarm["signals"]] == [
            str(first.case_id), f"{first.case_id}:12345-2026-000777"]

    def test_a_risk_row_of_an_import_is_a_report_about_the_child(self, app: Wardship) -> None:
        recently = datetime.now(UTC) - 2 * DAY
        child = {**CHILD, "id_number": id_number(3, TOWNSHIP[:6]), "name": "学生3"}
        first = open_case(app, child=child, at=recently)
        roll = school_roll(4, bad=False)  # row 3 is a dropout: a discovery case
        data = open_import(roll.text.encode(), "school_roll")
        run_job(app, IMPORTER, data, start_job(app, IMPORTER, data, TOWNSHIP[:6]))
        (alarm,) = alarms(app, first.view["child_id"])
        assert alarm["rule"] == "repeat_report"
        assert alarm["signals"][0]["ref"] == str(first.case_id)
        assert alarm["recipient_jurisdiction"] == TOWNSHIP

    def test_reports_further_apart_or_about_other_children_raise_nothing(
        self, memory_app: Wardship
    ) -> None:
        first = open_case(memory_app)
        other = open_case(memory_app, child=OTHER_CHILD, at=T0 + DAY)
        open_case(memory_app, at=T0 + 8 * DAY)
        assert alarms(memory_app, first.view["child_id"]) == []
        assert alarms(memory_app, other.view["child_id"]) == []

    def test_a_report_within_30_days_of_closing_alarms(self, memory_app: Wardship) -> None:
        first = open_case(memory_app)
        first.do("screen_out", reason="not a protection matter")
        open_case(memory_app, at=T0 + 20 * DAY)
        (alarm,) = alarms(memory_app, first.view["child_id"])
        assert alarm["rule"] == "report_after_closing"
        assert [s["kind"] for s in alarm["signals"]] == ["case_closed", "report"]

    def test_reopening_a_case_within_30_days_of_closing_alarms(self, app: Wardship) -> None:
        case = open_case(app)
        case.do("screen_out", reason="not a protection matter")
        case.do("reopen", at=T0 + 10 * DAY, reason="new report: the child is alone again")
        (alarm,) = alarms(app, case.view["child_id"])
        assert alarm["rule"] == "report_after_closing"
        assert [s["ref"] for s in alarm["signals"]] == [
            f"{case.case_id}:closed-1", f"{case.case_id}:reopen-{case.view['version']}"]

    def test_a_report_long_after_closing_raises_nothing(self, memory_app: Wardship) -> None:
        first = open_case(memory_app)
        first.do("screen_out", reason="not a protection matter")
        open_case(memory_app, at=T0 + 40 * DAY)
        assert alarms(memory_app, first.view["child_id"]) == []

    def test_a_risk_level_rising_twice_in_a_quarter_alarms(self, memory_app: Wardship) -> None:
        file_id = start(memory_app, risk="low")
        # Rises on days 10 and 120 are more than a quarter apart; the fall is no rise.
        for level, day in [("medium", 10), ("low", 20), ("medium", 120)]:
            act(memory_app, CHILD_SUPERVISOR, file_id, "set_risk_level", T0 + day * DAY,
                risk_level=level, risk_reason=f"changed on day {day}")
        assert alarms(memory_app, file_id) == []
        act(memory_app, CHILD_SUPERVISOR, file_id, "set_risk_level", T0 + 150 * DAY,
            risk_level="high", risk_reason="guardian left")
        (alarm,) = alarms(memory_app, file_id)
        assert alarm["rule"] == "risk_rising"
        assert [s["at"] for s in alarm["signals"]] == [
            (T0 + 120 * DAY).isoformat(), (T0 + 150 * DAY).isoformat()]

    def test_the_township_supervisor_acknowledges_an_alarm_and_nobody_else(
        self, app: Wardship
    ) -> None:
        first = open_case(app)
        open_case(app, at=T0 + DAY)
        file_id = UUID(first.view["child_id"])
        (alarm,) = alarms(app, file_id)
        with pytest.raises(ActionNotAllowed):
            app.acknowledge_notification(file_id, alarm["notification_id"], SUPERVISOR)
        assert app.acknowledge_notification(file_id, alarm["notification_id"], SUPERVISOR_2)
        assert not app.acknowledge_notification(file_id, alarm["notification_id"],
                                                SUPERVISOR_2)
        assert alarms(app, file_id)[0]["acknowledged_by"] == SUPERVISOR_2.subject

    def test_a_policy_without_patterns_raises_no_alarm(self, memory_app: Wardship) -> None:
        memory_app.policy = dataclasses.replace(memory_app.policy, patterns=())
        first = open_case(memory_app)
        open_case(memory_app, at=T0 + DAY, actor=CASEWORKER)
        assert alarms(memory_app, first.view["child_id"]) == []

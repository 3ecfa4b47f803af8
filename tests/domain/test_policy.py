"""Deadline arithmetic from the versioned policy: hours, days, PRC working days; validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING

import pytest

from domain.calendar import CHINA_TIME, calendar_for
from domain.codes import Grade, RiskLevel
from domain.durations import Duration
from domain.errors import PolicyError
from domain.policy import KINDS, OPTIONAL_KINDS, load_policy, parse_policy

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT = load_policy()
DEFAULT_TEXT = resources.files("domain.policies").joinpath("cn-default-1.toml").read_text("utf-8")


def cst(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA_TIME)


def policy_text(**overrides: str) -> str:
    """The shipped policy's text with some `key = value` lines replaced (or removed if '')."""
    lines = []
    for line in DEFAULT_TEXT.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in overrides:
            if overrides[key]:
                lines.append(f"{key} = {overrides[key]}")
            continue
        lines.append(line)
    return "\n".join(lines)


class TestFixedDurations:
    @pytest.mark.parametrize(("text", "delta"), [
        ("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("3d", timedelta(days=3)),
    ])
    def test_seconds_minutes_hours_and_days_add_exactly(self, text: str, delta: timedelta) -> None:
        start = cst(9, 30, 23, 59)
        assert Duration.parse(text, "t").after(start, calendar_for("CN")) == start + delta

    def test_calendar_days_run_straight_through_a_holiday(self) -> None:
        # Assessment of a red case: 3 calendar days, even across National Day.
        assert DEFAULT.due_at("assessment", Grade.RED, cst(9, 30)) == cst(10, 3)

    def test_intake_is_24_hours_and_1_hour_when_the_child_is_in_danger(self) -> None:
        start = datetime(2026, 9, 1, 1, tzinfo=UTC)
        assert DEFAULT.due_at("intake", None, start) == start + timedelta(hours=24)
        assert DEFAULT.due_at("intake_danger", None, start) == start + timedelta(hours=1)

    def test_a_graded_kind_has_no_deadline_where_the_policy_sets_none(self) -> None:
        start = cst(9, 1)
        assert DEFAULT.due_at("response_dispatch", Grade.RED, start) == start + timedelta(hours=1)
        assert DEFAULT.due_at("response_dispatch", Grade.ORANGE, start) == start + timedelta(
            hours=24)
        assert DEFAULT.due_at("response_dispatch", Grade.YELLOW, start) is None
        assert DEFAULT.due_at("emergency_completion", Grade.BLUE, start) is None


class TestWorkingDays:
    """2026 National Day: Oct 1-7 off; Sun Sep 20 and Sat Oct 10 are adjusted working days."""

    def test_the_package_calendar_has_the_2026_national_day_arrangement(self) -> None:
        calendar = calendar_for("CN")
        assert not any(calendar.is_working_day(cst(10, d).date()) for d in range(1, 8))
        assert calendar.is_working_day(cst(10, 10).date())  # a Saturday
        assert calendar.is_working_day(cst(9, 20).date())  # a Sunday
        assert not calendar.is_working_day(cst(9, 25).date())  # Mid-Autumn Festival

    @pytest.mark.parametrize(("count", "due"), [
        (1, cst(10, 8)), (2, cst(10, 9)), (3, cst(10, 10)), (4, cst(10, 12)),
        (5, cst(10, 13)), (10, cst(10, 20)),
    ])
    def test_working_days_skip_the_october_holiday_and_count_the_adjusted_saturday(
        self, count: int, due: datetime
    ) -> None:
        assert Duration(count, "wd").after(cst(9, 30), calendar_for("CN")) == due

    def test_an_adjusted_sunday_is_the_next_working_day_after_a_friday(self) -> None:
        assert Duration(1, "wd").after(cst(9, 18), calendar_for("CN")) == cst(9, 20)

    def test_a_referral_sent_before_the_holiday_is_due_five_working_days_later(self) -> None:
        assert DEFAULT.due_at("referral_response", None, cst(9, 29, 15)) == cst(10, 12, 15)

    def test_yellow_assessment_takes_ten_working_days(self) -> None:
        assert DEFAULT.due_at("assessment", Grade.YELLOW, cst(9, 30)) == cst(10, 20)

    def test_working_days_count_by_the_date_in_china_not_in_utc(self) -> None:
        # 20:00 UTC on Sep 30 is 04:00 on Oct 1 in China: already in the holiday.
        start = datetime(2026, 9, 30, 20, tzinfo=UTC)
        due = Duration(1, "wd").after(start, calendar_for("CN"))
        assert due == cst(10, 8, 4)
        assert due.tzinfo == UTC  # answered in the caller's offset


class TestPolicyFile:
    def test_the_shipped_default_loads_with_every_kind(self) -> None:
        assert DEFAULT.version == "cn-default-1"
        assert DEFAULT.calendar_country == "CN"
        assert set(DEFAULT.durations) == {*KINDS, *OPTIONAL_KINDS}
        assert str(DEFAULT.duration("home_visit", Grade.BLUE)) == "90d"
        assert str(DEFAULT.duration("visit", RiskLevel.HIGH)) == "30d"
        assert str(DEFAULT.duration("hotline_reply", None)) == "5wd"
        assert str(DEFAULT.duration("approval", None)) == "2wd"
        assert DEFAULT.escalation_levels == (
            timedelta(0), timedelta(hours=24), timedelta(hours=72))

    def test_a_policy_file_is_loaded_from_a_path(self, tmp_path: Path) -> None:
        path = tmp_path / "fast.toml"
        path.write_text(policy_text(version='"fast-1"', intake='"30s"'), "utf-8")
        policy = load_policy(path)
        assert (policy.version, str(policy.duration("intake", None))) == ("fast-1", "30s")

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError, match=r"nope\.toml: cannot read"):
            load_policy(tmp_path / "nope.toml")

    @pytest.mark.parametrize(("overrides", "message"), [
        ({"intake": '"24 hours"'},
         r"deadlines\.intake: bad duration '24 hours'; write a whole number followed by"),
        ({"plan_creation": '"-7d"'}, r"deadlines\.plan_creation: bad duration"),
        ({"approval": "2"}, r"deadlines\.approval: expected a duration"),
        ({"assessment": '{ red = "3d", orange = "3d", yellow = "10wd" }'},
         r"deadlines\.assessment: missing grade 'blue'"),
        ({"home_visit": '{ red = "7d", orange = "14d", yellow = "30d", blue = "90d", '
                        'purple = "1d" }'},
         r"deadlines\.home_visit: unknown grade 'purple'"),
        ({"intake": '{ red = "1h" }'},
         r"deadlines\.intake: this kind takes one duration, not one per grade"),
        ({"case_review": ""}, r"deadline kind 'case_review' is missing"),
        ({"version": ""}, r"'version' must be a non-empty string"),
        ({"levels": '["0s", "72h", "24h"]'}, r"escalation\.levels must not decrease"),
        ({"levels": '["0s", "1wd"]'}, r"working days have no fixed length"),
    ], ids=["bad-unit", "negative", "not-text", "missing-grade", "unknown-grade",
            "graded-ungraded-kind", "missing-kind", "no-version", "levels-decrease",
            "levels-wd"])
    def test_an_invalid_policy_is_refused_naming_the_key_and_the_fix(
        self, overrides: dict[str, str], message: str
    ) -> None:
        with pytest.raises(PolicyError, match=message):
            parse_policy(policy_text(**overrides), "custom.toml")

    def test_an_unknown_deadline_kind_is_refused_listing_the_known_kinds(self) -> None:
        text = policy_text().replace("[deadlines]", '[deadlines]\nlunch_break = "1h"')
        with pytest.raises(PolicyError, match="unknown deadline kind 'lunch_break'") as caught:
            parse_policy(text, "custom.toml")
        assert "report_filing" in caught.value.message
        assert caught.value.code == "policy_invalid"

    def test_text_that_is_not_toml_is_refused(self) -> None:
        with pytest.raises(PolicyError, match=r"custom\.toml: not valid TOML"):
            parse_policy("version = ", "custom.toml")


class TestMonitoringKinds:
    def test_visits_are_due_by_risk_level_and_each_level_is_required(self) -> None:
        text = resources_default().replace(
            'visit = { high = "30d", medium = "90d", low = "180d" }',
            'visit = { high = "30d", medium = "90d" }')
        with pytest.raises(PolicyError, match=r"deadlines\.visit: missing risk level 'low'"):
            parse_policy(text, "p.toml")
        with pytest.raises(PolicyError, match=r"one duration per risk level"):
            parse_policy(text.replace('visit = { high = "30d", medium = "90d" }',
                                      'visit = "30d"'), "p.toml")

    def test_a_policy_without_monitoring_runs_no_monitoring(self) -> None:
        lines = [line for line in resources_default().splitlines()
                 if not line.startswith(("visit", "child_file_review", "care_agreement",
                                         "hotline_reply"))]
        policy = parse_policy("\n".join(lines), "p.toml")
        assert policy.duration("visit", RiskLevel.HIGH) is None


def resources_default() -> str:
    from importlib import resources

    return resources.files("domain.policies").joinpath("cn-default-1.toml").read_text("utf-8")

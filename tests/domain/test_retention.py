"""When a child's erasure falls due under the policy's retention (domain.retention)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import PolicyError
from domain.personal import ERASED
from domain.retention import Retention, erasure_due, parse_retention

CLOSED = datetime(2020, 6, 1, tzinfo=UTC)
RULE = Retention(years_after_closed=5, until_age=18)


def test_the_later_of_years_after_the_last_closing_and_the_age() -> None:
    assert erasure_due(RULE, [CLOSED], "2000-01-01") == datetime(2025, 6, 1, tzinfo=UTC)
    assert erasure_due(RULE, [CLOSED], "2014-03-02") == datetime(2032, 3, 2, tzinfo=UTC)
    later = datetime(2022, 1, 1, tzinfo=UTC)
    assert erasure_due(RULE, [CLOSED, later], None) == datetime(2027, 1, 1, tzinfo=UTC)


def test_never_while_a_case_is_open_or_none_was_recorded() -> None:
    assert erasure_due(RULE, [CLOSED, None], "2000-01-01") is None
    assert erasure_due(RULE, [], "2000-01-01") is None


def test_an_unknown_birth_date_counts_the_years_alone() -> None:
    assert erasure_due(RULE, [CLOSED], ERASED) == datetime(2025, 6, 1, tzinfo=UTC)


def test_the_policy_table_is_checked() -> None:
    assert parse_retention(None, "p") == Retention()
    assert parse_retention({"years_after_closed": 10}, "p").years_after_closed == 10
    with pytest.raises(PolicyError, match=r"retention\.until_age"):
        parse_retention({"until_age": "18"}, "p")

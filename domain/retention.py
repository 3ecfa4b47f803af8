"""How long a child's personal data is kept (PIPL: no longer than its purpose needs): the
policy's `[retention]`, and when a child file's erasure falls due under it.

Due at the later of: `years_after_closed` years after the child's last case closed, and the
child's `until_age` birthday (when the birth date is known). Never while a case is open.
A policy without `[retention]` keeps 5 years after the last closing or until 18.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from domain.errors import PolicyError

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class Retention:
    """The retention rule of a policy."""

    years_after_closed: int = 5
    until_age: int = 18

    def __str__(self) -> str:
        return f"{self.years_after_closed} years after the last case closed, or age " \
               f"{self.until_age}, whichever is later"


DEFAULT_RETENTION = Retention()


def parse_retention(table: Any, source: str) -> Retention:
    """The `[retention]` table (optional): years_after_closed, until_age (whole numbers)."""
    if table is None:
        return DEFAULT_RETENTION
    if not isinstance(table, dict):
        raise PolicyError(f"{source}: [retention] must be a table")
    values = {}
    for key in ("years_after_closed", "until_age"):
        value = table.get(key, getattr(DEFAULT_RETENTION, key))
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise PolicyError(f"{source}: retention.{key} must be a whole number of years")
        values[key] = value
    return Retention(**values)


def erasure_due(rule: Retention, closed_at: Sequence[datetime | None],
                birth_date: Any) -> datetime | None:
    """When the child's erasure falls due; None while a case is open or none is recorded."""
    if not closed_at or any(moment is None for moment in closed_at):
        return None
    last = max(moment for moment in closed_at if moment is not None)
    due = _years_after(last, rule.years_after_closed)
    born = _date(birth_date)
    if born is not None:
        due = max(due, _years_after(datetime(born.year, born.month, born.day, tzinfo=UTC),
                                    rule.until_age))
    return due


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year without it
        return moment.replace(year=moment.year + years, day=28)


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None  # unknown, or erased already

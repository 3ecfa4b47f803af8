"""Policy durations ("30s", "15m", "24h", "3d", "10wd") and their arithmetic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.errors import PolicyError

if TYPE_CHECKING:
    from domain.calendar import WorkingCalendar

_PATTERN = re.compile(r"^(\d+)(s|m|h|d|wd)$")
_FIXED = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1),
          "d": timedelta(days=1)}


@dataclass(frozen=True)
class Duration:
    """An amount of seconds, minutes, hours, calendar days or working days."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str, where: str) -> Duration:
        match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise PolicyError(
                f"{where}: bad duration {text!r}; write a whole number followed by "
                "s, m, h, d or wd, e.g. \"24h\" or \"10wd\""
            )
        return cls(int(match.group(1)), match.group(2))

    def after(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        """The moment this duration after start ends."""
        if self.unit == "wd":
            return calendar.add_working_days(start, self.amount)
        return start + self.amount * _FIXED[self.unit]

    def as_timedelta(self) -> timedelta:
        """Fixed-length durations only (escalation delays)."""
        if self.unit == "wd":
            raise PolicyError("working days have no fixed length")
        return self.amount * _FIXED[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

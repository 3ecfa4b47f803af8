"""The PRC working-day calendar: statutory holidays and adjusted working days (调休)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import holidays

# China keeps one time zone and no daylight saving, so a fixed offset is exact.
CHINA_TIME = timezone(timedelta(hours=8), "CST")


class WorkingCalendar:
    """Answers which days are working days, from the maintained `holidays` package."""

    def __init__(self, country: str) -> None:
        self.country = country
        self._days = holidays.country_holidays(country)

    def is_working_day(self, day: date) -> bool:
        return bool(self._days.is_working_day(day))

    def add_working_days(self, start: datetime, count: int) -> datetime:
        """The same local time of day on the count-th working day after start's date."""
        local = start.astimezone(CHINA_TIME)
        day = local.date()
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


@lru_cache(maxsize=8)
def calendar_for(country: str) -> WorkingCalendar:
    """One calendar per country code, shared: building it loads years of holiday data."""
    return WorkingCalendar(country)

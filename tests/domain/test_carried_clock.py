"""The database's clock, read once and carried forward, never runs ahead of the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.clock import CarriedClock


class Source:
    """A database clock that counts how often it is asked; its time runs with `ticks`."""

    def __init__(self) -> None:
        self.asked = 0
        self.ticks = 0.0

    def now(self) -> datetime:
        self.asked += 1
        return datetime(2026, 5, 3, 14, 5, tzinfo=UTC) + timedelta(seconds=self.ticks)

    def monotonic(self) -> float:
        return self.ticks


def test_a_burst_of_readings_asks_the_database_once_and_never_reads_ahead_of_it() -> None:
    source = Source()
    clock = CarriedClock(source.now, refresh=30.0, monotonic=source.monotonic)
    readings = []
    for _ in range(1000):
        source.ticks += 0.01
        readings.append(clock())
    assert source.asked == 1
    truth = datetime(2026, 5, 3, 14, 5, tzinfo=UTC) + timedelta(seconds=source.ticks)
    assert readings[-1] <= truth
    assert truth - readings[-1] < timedelta(milliseconds=20)
    assert readings == sorted(readings)


def test_an_old_reading_is_replaced_by_asking_again() -> None:
    source = Source()
    clock = CarriedClock(source.now, refresh=30.0, monotonic=source.monotonic)
    clock()
    source.ticks += 31
    assert clock() == datetime(2026, 5, 3, 14, 5, 31, tzinfo=UTC)
    assert source.asked == 2

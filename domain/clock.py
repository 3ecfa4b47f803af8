"""The service's clock, which alone says when a deadline has fallen due: the event store's.

Every event goes through one PostgreSQL database, so its clock is the one every worker, API
replica and workflow shares; a host whose clock runs ahead, or a workflow woken early,
cannot make a miss due sooner. A store in memory (unit tests) has only the system clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventsourcing.persistence import Recorder

# What a clock is: a function giving an aware UTC time.
Clock = Callable[[], datetime]
# How much faster this host's monotonic clock may run than the database's: NTP slews a
# clock by at most 500 ppm, so time carried forward here is slowed by twice that.
MAX_RATE_ERROR = 1e-3
# How long one reading of the database's clock is carried forward before it is asked again.
REFRESH_AFTER = 30.0  # seconds


def system_clock() -> datetime:
    """This host's clock."""
    return datetime.now(UTC)


def store_clock(recorder: Recorder) -> Clock:
    """The clock of the database `recorder` writes to; the system's for a store in memory."""
    # eventsourcing's PostgreSQL recorders hold their datastore (pool); others have none.
    datastore: Any = getattr(recorder, "datastore", None)
    if datastore is None:
        return system_clock

    def database_clock() -> datetime:
        # One autocommit round trip on a pooled connection (no transaction around it).
        with datastore.get_connection() as connection:
            row = connection.execute("SELECT clock_timestamp() AS now").fetchone()
        return row["now"].astimezone(UTC)  # type: ignore[no-any-return]

    return CarriedClock(database_clock)


class CarriedClock:
    """Asks `source` at most once per `refresh` seconds and carries its answer forward on this
    host's monotonic clock, slowed by the rate it may be off: never ahead of `source`.

    A thousand deadlines waking together then cost one query, not one each (each had spilled
    into the burst at the due time: docs/performance.md, deadline latency).
    """

    def __init__(self, source: Clock, refresh: float = REFRESH_AFTER,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._refresh = refresh
        self._monotonic = monotonic
        self._reading: tuple[datetime, float] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        reading = self._reading
        if reading is None or self._monotonic() - reading[1] > self._refresh:
            with self._lock:  # one caller asks; the others wait for its answer
                reading = self._reading
                if reading is None or self._monotonic() - reading[1] > self._refresh:
                    # Taken after the answer came: the source's time then was at least this.
                    reading = (self._source(), self._monotonic())
                    self._reading = reading
        asked, answered = reading
        carried = (self._monotonic() - answered) / (1 + MAX_RATE_ERROR)
        return asked + timedelta(seconds=carried)

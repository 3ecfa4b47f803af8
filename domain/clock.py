"""The service's clock, which alone says when a deadline has fallen due: the event store's.

Every event goes through one PostgreSQL database, so its clock is the one every worker, API
replica and workflow shares; a host whose clock runs ahead, or a workflow woken early,
cannot make a miss due sooner. A store in memory (unit tests) has only the system clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventsourcing.persistence import Recorder

# What a clock is: a function giving an aware UTC time.
Clock = Callable[[], datetime]


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

    return database_clock

"""The application's recorder: the library's PostgreSQL recorder with the time index
(`domain.time_index`), reading pages of the log as plain rows in PostgreSQL's binary format.

The library reads a page as text rows made into dicts: each event's state arrives as hex
and is decoded, which took 4-5 µs an event, against about 1 µs this way (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row

from domain.time_index import TimeIndexedRecorder

if TYPE_CHECKING:
    from collections.abc import Sequence


class Recorder(TimeIndexedRecorder):
    """Writes events with their time index; reads the log in binary."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The log's entries from `start` (after it, unless inclusive), up to `stop`, of
        the given topics (all if none), at most `limit`: as the library's."""
        where: list[str] = []
        params: list[Any] = []
        if start is not None:
            where.append("notification_id >= %s" if inclusive_of_start
                         else "notification_id > %s")
            params.append(start)
        if stop is not None:
            where.append("notification_id <= %s")
            params.append(stop)
        if topics:
            where.append("topic = ANY(%s)")
            params.append(list(topics))
        params.append(limit)
        query = (f"SELECT notification_id, originator_id, originator_version, topic, state"  # noqa: S608
                 f" FROM {self._events}"
                 f"{' WHERE ' + ' AND '.join(where) if where else ''}"
                 " ORDER BY notification_id LIMIT %s")
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, params, prepare=True)
            return [Notification(originator_id, version, topic, state, notification_id)
                    for notification_id, originator_id, version, topic, state
                    in curs.fetchall()]

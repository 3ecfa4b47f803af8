"""The application's recorder: the library's PostgreSQL recorder with the time index
(`domain.time_index`), appending through one database function and reading pages of the log
as plain rows in PostgreSQL's binary format.

The library appends with six pipelined statements (lock, notify, events as an array of
composites, index rows, ids, commit), and its Python side cost the API's writer thread about a
third of the process's interpreter time; one call with plain arrays does the same work. It
reads a page as text rows made into dicts: each event's state arrives as hex and is decoded,
which took 4-5 µs an event, against about 1 µs this way (docs/performance.md).
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

from domain.time_index import TimedStoredEvent, TimeIndexedRecorder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresDatastore


class Recorder(TimeIndexedRecorder):
    """Writes events with their time index in one call; reads the log in binary."""

    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        name = events_table_name.removesuffix("_events") + "_append_events"
        self._append = f'"{datastore.schema}"."{name}"'

    def _create_table(self, curs: Any) -> None:
        super()._create_table(curs)
        # Created with the tables by `wardship migrate` (the owner); the app role only calls
        # it, as itself (SECURITY INVOKER), so it may do no more than the statements could.
        # The lock keeps the log's order the commit order, as the library's lock does.
        curs.execute(f"""
            CREATE OR REPLACE FUNCTION {self._append}(
                ids {self.datastore.originator_id_type}[], versions bigint[], topics text[],
                states bytea[], times timestamptz[], wait text)
            RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
            BEGIN
                PERFORM set_config('lock_timeout', wait, true);
                LOCK TABLE {self._events} IN EXCLUSIVE MODE;
                NOTIFY "{self.channel_name}";
                -- The events first: a save that lost a race fails on their own key.
                RETURN QUERY
                    INSERT INTO {self._events} (originator_id, originator_version, topic, state)
                    SELECT * FROM unnest(ids, versions, topics, states)
                    RETURNING notification_id;
                INSERT INTO {self._times} (originator_id, originator_version, recorded_at)
                    SELECT i, v, t FROM unnest(ids, versions, times) AS u(i, v, t)
                    WHERE t IS NOT NULL;
                RETURN;
            END
            $body$""")  # noqa: S608

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events and their index rows in one transaction; their log positions."""
        if not stored_events:
            return None
        params = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events], [e.state for e in stored_events],
            [e.recorded_at if isinstance(e, TimedStoredEvent) else None
             for e in stored_events],
            f"{self.datastore.lock_timeout}s",
        )
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            # Not prepared: the statement's text on the wire is where the commit happens.
            curs.execute(f"SELECT * FROM {self._append}(%s, %s, %s, %s, %s, %s)",  # noqa: S608
                         params, prepare=False)
            return [row[0] for row in curs.fetchall()]

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

"""The time index: each stored event's version by the time it was recorded, written in the
same transaction as the event, so "the case as it stood at 14:05" is one indexed lookup.

Store machinery beside the domain, like `domain.store`. The recorded time is the event's own
`timestamp`, taken as the command records it, just before the insert: the `recorded_at` that
inspectors read in a case's history and in an as-of answer, which as-of meant before the
index. (The transaction's own clock would trail it by the save's latency, and a moment copied
from the history would then answer the version before it.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import InterfaceError, Mapper, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from eventsourcing.persistence import EventStore
    from eventsourcing.postgres import PostgresDatastore

log = logging.getLogger(__name__)

# Events decoded and indexed per transaction by the backfill.
BACKFILL_PAGE = 2000


@dataclass(frozen=True)
class TimedStoredEvent(StoredEvent):
    """A stored event that carries its domain event's timestamp to the recorder."""

    recorded_at: datetime | None = None


class TimeIndexedRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, appending the events and their time index in one
    call of a database function."""

    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        stem = events_table_name.removesuffix("_events")
        self.times_table_name = f"{stem}_event_times"
        self._times = f'"{datastore.schema}"."{self.times_table_name}"'
        self._events = f'"{datastore.schema}"."{events_table_name}"'
        self._append = f'"{datastore.schema}"."{stem}_append_events"'

    def _create_table(self, curs: Any) -> None:
        super()._create_table(curs)
        # The primary key keeps one row an event; the second index is the lookup's.
        curs.execute(f"""
            CREATE TABLE IF NOT EXISTS {self._times} (
                originator_id      uuid        NOT NULL,
                originator_version bigint      NOT NULL,
                recorded_at        timestamptz NOT NULL,
                PRIMARY KEY (originator_id, originator_version))""")
        curs.execute(f"""
            CREATE INDEX IF NOT EXISTS "{self.times_table_name}_by_time"
                ON {self._times} (originator_id, recorded_at, originator_version)""")
        # Every append goes through this function. `wardship migrate` (the owner) creates it;
        # the app role only calls it, as itself (SECURITY INVOKER), so it may do no more than
        # the statements could. The lock makes the log's order the commit order, as the
        # library's lock does: a reader tailing the log never passes an event still to come.
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
        """Append the events and their index rows in one transaction; their log positions.

        One call of the append function with plain arrays: the library's six pipelined
        statements (lock, notify, the events as composites, index rows, ids, commit) cost the
        API's writer thread a third of the process's interpreter time (docs/performance.md).
        """
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
            # Sent as text (not prepared): a one-line call is cheap to parse, and a test's
            # proxy sees in it the moment a transaction commits (tests/commit_cut.py).
            curs.execute(f"SELECT * FROM {self._append}(%s, %s, %s, %s, %s, %s)",  # noqa: S608
                         params, prepare=False)
            return [row[0] for row in curs.fetchall()]

    def insert_at(self, rows: Sequence[tuple[int, StoredEvent]]) -> None:
        """Store events at the given log positions, with their index rows, in one transaction
        (`domain.reseal` copies a log position for position; new events number on after)."""
        if not rows:
            return
        events = [e for _, e in rows]
        timed = [e for e in events if isinstance(e, TimedStoredEvent) and e.recorded_at]
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self._events} (originator_id, originator_version, topic, "  # noqa: S608
                "state, notification_id) SELECT * FROM unnest(%s::uuid[], %s::bigint[], "
                "%s::text[], %s::bytea[], %s::bigint[])",
                ([e.originator_id for e in events], [e.originator_version for e in events],
                 [e.topic for e in events], [e.state for e in events], [n for n, _ in rows]))
            curs.execute(
                f"INSERT INTO {self._times} (originator_id, originator_version, recorded_at) "  # noqa: S608
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[])",
                ([e.originator_id for e in timed], [e.originator_version for e in timed],
                 [e.recorded_at for e in timed]))
            curs.execute("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                         (self._events, max(n for n, _ in rows)))

    def version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        """The greatest version of the aggregate recorded at or before `moment` (None: it
        had no event by then). One backward step in the index, whatever the length."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(
                f"SELECT originator_version FROM {self._times} "  # noqa: S608
                "WHERE originator_id = %s AND recorded_at <= %s "
                "ORDER BY recorded_at DESC, originator_version DESC LIMIT 1",
                (aggregate_id, moment), prepare=True).fetchone()
        return None if row is None else int(row["originator_version"])

    def backfill(self, mapper: Mapper[UUID], page: int = BACKFILL_PAGE) -> int:
        """Index the events recorded without an index row (before the index existed, or by
        older code); returns how many. Decodes only those; idempotent."""
        indexed = 0
        after = 0
        while True:
            with self.datastore.transaction(commit=True) as curs:
                if after == 0 and self._all_indexed(curs):
                    return 0
                rows = curs.execute(
                    f"SELECT e.originator_id, e.originator_version, e.topic, e.state, "  # noqa: S608
                    f"e.notification_id FROM {self._events} e WHERE e.notification_id > %s "
                    f"AND NOT EXISTS (SELECT 1 FROM {self._times} t WHERE "
                    "t.originator_id = e.originator_id AND "
                    "t.originator_version = e.originator_version) "
                    "ORDER BY e.notification_id LIMIT %s", (after, page)).fetchall()
                if not rows:
                    return indexed
                after = rows[-1]["notification_id"]
                times = [(row, _timestamp(mapper, row)) for row in rows]
                timed = [(row, at) for row, at in times if at is not None]
                curs.execute(
                    f"INSERT INTO {self._times} "  # noqa: S608
                    "(originator_id, originator_version, recorded_at) "
                    "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[]) "
                    "ON CONFLICT DO NOTHING",
                    ([r["originator_id"] for r, _ in timed],
                     [r["originator_version"] for r, _ in timed], [at for _, at in timed]))
                indexed += len(timed)

    def _all_indexed(self, curs: Any) -> bool:
        # Rows are only ever written for stored events, one each: equal counts, nothing to do.
        row = curs.execute(f"SELECT (SELECT count(*) FROM {self._events}) = "  # noqa: S608
                           f"(SELECT count(*) FROM {self._times}) AS done").fetchone()
        return bool(row["done"])


def version_by_decoding(events: EventStore[UUID], aggregate_id: UUID, moment: datetime
                        ) -> int | None:
    """The version at `moment` found by decoding the aggregate's events in order, for a
    store without the index (in memory); what the index answers, at the cost of a replay."""
    version = None
    for event in events.get(aggregate_id):
        if cast("Any", event).timestamp > moment:
            break
        version = event.originator_version
    return version


def _timestamp(mapper: Mapper[UUID], row: Any) -> datetime | None:
    stored = StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                         bytes(row["state"]))
    try:
        event = mapper.to_domain_event(stored)
    except Exception:
        # Left out, not fatal to the migration: the log names it, the chain check too.
        log.warning("time_index_undecodable", extra={
            "originator_id": str(row["originator_id"]), "version": row["originator_version"]})
        return None
    at: datetime | None = getattr(event, "timestamp", None)
    return at

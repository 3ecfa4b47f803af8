"""Parked events: what a consumer of the log (the relay, a read model) could not decode or
apply, set aside so that it goes on with the next event instead of halting.

Used by both consumers and by `wardship parked`. Only an event's own failure parks it: a
failure of the database or the network is raised, so the consumer retries the whole batch
and no event is parked because the server was down. A parking is written on the consumer's
cursor, in the transaction that moves its position, so a crash neither loses nor repeats it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import PersistenceError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from eventsourcing.persistence import Mapper, Notification

log = structlog.get_logger("wardship.parked")

TABLE = "wardship_parked_events"
# How many events are parked now, per consumer: what /metrics and /readyz show (the partial
# index of migration 0060 keeps it one small index scan).
COUNT_QUERY = (
    f"SELECT consumer, count(*) FROM {TABLE} WHERE status = 'parked' GROUP BY consumer"  # noqa: S608
)
# Failures of the server, the network or the process, never of one event.
_TRANSIENT = (PersistenceError, OSError, TimeoutError, MemoryError)
# How a resolution made by `wardship parked resolve` starts (a retry's says "retried: ").
BY_HAND = "by hand: "
_COLUMNS = ("id, consumer, position, originator_id, originator_version, topic, error_type,"
            " error, first_seen, last_seen, attempts, status, resolution")


def projection_consumer(model: str) -> str:
    """The consumer name of a read model's parked events."""
    return f"projection:{model}"


def relay_consumer(relay: str) -> str:
    """The consumer name of a relay's parked events."""
    return f"relay:{relay}"


def is_transient(error: BaseException) -> bool:
    """Whether `error` says the database or the network failed rather than the event.

    A psycopg data or integrity error (SQLSTATE classes 22, 23: a value the event carried
    did not fit) is the event's own; any other psycopg error (connection lost, server shut
    down, lock or statement timeout, serialization failure) is not. eventsourcing wraps
    psycopg's errors, so the explicit cause decides first.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, psycopg.Error):
            return not isinstance(cause, psycopg.DataError | psycopg.IntegrityError)
        cause = cause.__cause__
    return isinstance(error, _TRANSIENT)


def raise_if_transient(error: BaseException, ping: Callable[[], object]) -> None:
    """Re-raise `error` unless it is the event's own; `ping` asks the database whether it
    still answers (it raises if not), so a failure that merely looks like the event's own
    while the server is going away parks nothing."""
    if is_transient(error):
        raise error
    ping()


def describe(error: BaseException) -> tuple[str, str]:
    """The error's type and where it was raised: never its message, which may quote the
    event's personal data."""
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        frame = frames[-1]
        place = "/".join(PurePath(frame.filename).parts[-2:])
        where = f" at {place}:{frame.lineno} in {frame.name}"
    code = getattr(error, "sqlstate", None)
    return name, f"{name}{where}" + (f" (SQLSTATE {code})" if code else "")


@dataclass(frozen=True)
class Parking:
    """One event a consumer sets aside: where it is in the log, whose it is, and why."""

    consumer: str
    position: int
    originator_id: UUID | None
    originator_version: int | None
    topic: str
    stage: str  # what failed: decode, apply (a read model), load (the relay's case)
    error: BaseException

    @classmethod
    def of(cls, consumer: str, notification: Notification, stage: str,
           error: BaseException) -> Parking:
        originator = notification.originator_id
        return cls(consumer, notification.id,
                   originator if isinstance(originator, UUID) else None,
                   notification.originator_version, notification.topic, stage, error)


def park(cur: psycopg.Cursor[Any], parking: Parking) -> None:
    """Record `parking` on the consumer's cursor (in the transaction that moves its position).

    Parked again at the same position (a rebuild), it counts one more attempt and is parked
    again, unless someone resolved it by hand: they already chose to do without it.
    """
    error_type, where = describe(parking.error)
    kept = f"{TABLE}.resolution LIKE '{BY_HAND}%%'"
    cur.execute(
        f"INSERT INTO {TABLE} (consumer, position, originator_id, originator_version, topic,"  # noqa: S608
        " error_type, error) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (consumer, position) DO UPDATE SET last_seen = now(),"
        f" attempts = {TABLE}.attempts + 1, error_type = EXCLUDED.error_type,"
        " error = EXCLUDED.error,"
        f" status = CASE WHEN {kept} THEN 'resolved' ELSE 'parked' END,"
        f" resolved_at = CASE WHEN {kept} THEN {TABLE}.resolved_at END,"
        f" resolution = CASE WHEN {kept} THEN {TABLE}.resolution END",
        (parking.consumer, parking.position, parking.originator_id,
         parking.originator_version, parking.topic, error_type,
         f"{parking.stage} failed: {where}"),
    )
    log.warning("event_parked", consumer=parking.consumer, position=parking.position,
                stage=parking.stage, error_type=error_type)


class Decoder:
    """Decodes each notification once; one that cannot be decoded gives None, and its error
    is kept in `errors`. Any failure is taken as the event's own (another cipher key, a
    damaged state, an unknown topic).

    With `personal=False` (read models, which keep no personal data) the fields sealed under
    a child's key are left sealed (None): no key is read, so decoding reads nothing from the
    database.
    """

    def __init__(self, mapper: Mapper[Any], *, personal: bool = True) -> None:
        self.mapper = mapper
        sealed = getattr(mapper, "to_sealed_event", None)
        self._decode = mapper.to_domain_event if personal or sealed is None else sealed
        self.events: dict[int, Any] = {}
        self.errors: dict[int, Exception] = {}

    def __call__(self, notification: Notification) -> Any | None:
        if notification.id not in self.events and notification.id not in self.errors:
            try:
                self.events[notification.id] = self._decode(notification)
            except Exception as error:
                self.errors[notification.id] = error
        return self.events.get(notification.id)

    def failures(self, consumer: str,
                 notifications: Iterable[Notification]) -> list[Parking]:
        """Parkings for those of `notifications` that cannot be decoded."""
        return [Parking.of(consumer, n, "decode", self.errors[n.id])
                for n in notifications if self(n) is None]


@dataclass(frozen=True)
class ParkedEvent:
    """A row of the parked-events table, as `wardship parked list` shows it."""

    id: int
    consumer: str
    position: int
    originator_id: UUID | None
    originator_version: int | None
    topic: str
    error_type: str
    error: str
    first_seen: datetime
    last_seen: datetime
    attempts: int
    status: str
    resolution: str | None


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many events each consumer has parked now."""
    return {str(name): int(count) for name, count in conn.execute(COUNT_QUERY).fetchall()}


def rows(conn: psycopg.Connection[Any], *, include_resolved: bool = False,
         ids: Iterable[int] | None = None) -> list[ParkedEvent]:
    """Parked events in log order (by consumer); `ids` picks some by id."""
    where, params = ("TRUE" if include_resolved else "status = 'parked'"), list[Any]()
    if ids is not None:
        where, params = "id = ANY(%s)", [list(ids)]
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE {where} ORDER BY consumer, position",  # noqa: S608
        params,
    ).fetchall()
    return [ParkedEvent(*row) for row in found]


def resolve(cur: psycopg.Cursor[Any], parked_id: int, resolution: str) -> bool:
    """Mark a parked event handled (`resolution` says how); False if none is parked by that id."""
    cur.execute(
        f"UPDATE {TABLE} SET status = 'resolved', resolved_at = now(), resolution = %s"  # noqa: S608
        " WHERE id = %s AND status = 'parked'",
        (resolution, parked_id),
    )
    return cur.rowcount == 1


def failed_again(conn: psycopg.Connection[Any], parked_id: int, error: BaseException) -> None:
    """Count one more failed attempt of a parked event (a retry that failed)."""
    error_type, where = describe(error)
    conn.execute(
        f"UPDATE {TABLE} SET attempts = attempts + 1, last_seen = now(), error_type = %s,"  # noqa: S608
        " error = %s WHERE id = %s",
        (error_type, f"retry failed: {where}", parked_id),
    )

"""Stored events the application cannot decode, written as they happen in real life: by a
writer with another cipher key, by a bad import straight into the table, by disk damage."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from domain.application import Wardship
from domain.events import CaseOpened
from domain.storage import event_store_env

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg

OTHER_KEY = base64.b64encode(b"another-deployment-s-key-32bytes").decode()
GARBAGE = b"\x00\x01 not an event \xff"


def written_with_another_key(
    db_url: str, open_case: Callable[[Wardship], UUID], **app_args: Any
) -> UUID:
    """A case opened in the same event store by an application with another cipher key."""
    other = Wardship(env=event_store_env(db_url, OTHER_KEY), **app_args)
    try:
        return open_case(other)
    finally:
        other.close()


def insert_garbage(conn: psycopg.Connection[Any]) -> tuple[UUID, int]:
    """A case-opening event whose state is not an event at all, inserted by the owner with
    SQL; its case id and log position."""
    case_id = uuid4()
    found = conn.execute(
        "INSERT INTO wardship_events (originator_id, originator_version, topic, state)"
        " VALUES (%s, 1, %s, %s) RETURNING notification_id",
        (case_id, get_topic(CaseOpened), GARBAGE),
    ).fetchone()
    assert found is not None
    return case_id, int(found[0])


def damage(conn: psycopg.Connection[Any], case_id: UUID, version: int) -> bytes:
    """Overwrite one stored event's state with garbage (the append-only triggers lifted for
    this session, as only a superuser can); returns the original state to restore."""
    found = conn.execute(
        "SELECT state FROM wardship_events WHERE originator_id = %s AND originator_version = %s",
        (case_id, version)).fetchone()
    assert found is not None
    _overwrite(conn, case_id, version, GARBAGE)
    return bytes(found[0])


def restore(conn: psycopg.Connection[Any], case_id: UUID, version: int, state: bytes) -> None:
    """Put a damaged event's original state back (as a restore from a backup would)."""
    _overwrite(conn, case_id, version, state)


def _overwrite(conn: psycopg.Connection[Any], case_id: UUID, version: int, state: bytes) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE wardship_events SET state = %s"
            " WHERE originator_id = %s AND originator_version = %s", (state, case_id, version))


def positions_of(conn: psycopg.Connection[Any], case_id: UUID) -> list[int]:
    """The log positions of a case's events."""
    return [int(row[0]) for row in conn.execute(
        "SELECT notification_id FROM wardship_events WHERE originator_id = %s"
        " ORDER BY notification_id", (case_id,)).fetchall()]

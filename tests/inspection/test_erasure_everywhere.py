"""A child erased through one process reads erased in every other within about a second
(issue 16), not after the key cache's minute: each hears the destroy (LISTEN/NOTIFY), and one
that cannot hear it keeps keys for a second only and no decoded aggregate at all."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from psycopg import sql

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.keyring import CACHE_TTL
from domain.personal import ERASED
from tests.inspection.support import CASEWORKER, CHILD, CIPHER_KEY, SUPERVISOR, wardship_on
from tests.waiting import within

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from domain.application import Wardship


# How long another process may take to show an erasure: far below the key cache's minute (the
# backstop the announcement beats), and far above the pauses of a loaded machine.
HEARD = 10.0

def closed_case(app: Wardship, name: str) -> tuple[UUID, UUID]:
    """A closed case about an invented child called `name`: (case id, child file id)."""
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001",
        child={**CHILD, "name": name, "id_number": None},
        concern={"categories": ["neglect"], "summary": "left alone", "danger_now": False},
        source={"channel": "school", "reporter": {"name": "Teacher B", "phone": "000-1111",
                                                  "organisation": "School", "mandatory": True}})
    app.perform(UUID(view["id"]), CASEWORKER, "screen_out", {"reason": "handled by the school"})
    return UUID(view["id"]), UUID(view["child_id"])


def erase(app: Wardship, file_id: UUID) -> None:
    app.request_erasure(CASEWORKER, file_id, "the guardian's lawful request (invented)")
    app.approve_erasure(SUPERVISOR, file_id)


def name_in(app: Wardship, case_id: UUID) -> str:
    """The child's name as the case shows it in `app`'s process."""
    return str(app.get_case_aggregate(case_id).child["name"])


@contextlib.contextmanager
def other_process(db_url: str, tmp_path: Path) -> Iterator[Wardship]:
    """The application as every other process builds it (api.bootstrap), with the default
    key cache of a minute."""
    app = bootstrap(Settings(database_url=db_url, cipher_key=CIPHER_KEY, state_dir=tmp_path))
    try:
        yield app
    finally:
        app.close()


def listener_pids(conn: psycopg.Connection[tuple[int]]) -> list[int]:
    found = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                         "AND datname = current_database()", (f"wardship-keys-{os.getpid()}",))
    return [row[0] for row in found]


def allow_connections(server_url: str, db_url: str, allow: bool) -> None:
    """Let new connections to `db_url`'s database in, or refuse them (open ones stay)."""
    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.Literal(allow)))


def test_a_process_that_read_the_child_shows_it_erased_once_it_hears_the_destroy(
        db_url: str, tmp_path: Path) -> None:
    with wardship_on(db_url) as erasing, other_process(db_url, tmp_path) as reading:
        case_id, file_id = closed_case(erasing, "Test Child A")
        assert name_in(reading, case_id) == "Test Child A"  # key and case cached there

        erase(erasing, file_id)

        # Forgotten when heard, not when next read, and long before the cache's minute.
        within(HEARD, lambda: str(file_id) not in reading.keyring.cached_ids())
        assert name_in(reading, case_id) == ERASED


def test_a_process_that_cannot_hear_keeps_keys_a_second_and_no_case(
        database_url: str, db_url: str, tmp_path: Path) -> None:
    with wardship_on(db_url) as erasing, other_process(db_url, tmp_path) as reading, \
            psycopg.connect(db_url, autocommit=True) as admin:
        case_id, file_id = closed_case(erasing, "Test Child A")
        assert name_in(reading, case_id) == "Test Child A"
        assert reading.keyring.ttl == CACHE_TTL

        # The listener's connection is killed and cannot come back (open ones stay).
        allow_connections(database_url, db_url, False)
        try:
            [pid] = listener_pids(admin)
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

            # The destroy's announcement is lost; the child reads erased all the same.
            erase(erasing, file_id)
            within(HEARD, lambda: name_in(reading, case_id) == ERASED)
            assert listener_pids(admin) == []
            assert not reading.store.caching
            assert reading.keyring.ttl <= 1.0
        finally:
            allow_connections(database_url, db_url, True)

        # Listening again: trusted again, and the next erasure is heard.
        within(2 * HEARD, lambda: reading.store.caching and reading.keyring.ttl == CACHE_TTL)
        second_case, second_file = closed_case(erasing, "Test Child B")
        assert name_in(reading, second_case) == "Test Child B"
        erase(erasing, second_file)
        within(HEARD, lambda: str(second_file) not in reading.keyring.cached_ids())
        assert name_in(reading, second_case) == ERASED

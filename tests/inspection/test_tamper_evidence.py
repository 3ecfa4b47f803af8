"""Tamper evidence: the stored hash chain names the first changed, removed or moved event,
and the database itself refuses to change or delete stored events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
import pytest

from domain.application import Wardship
from domain.case import ProtectionCase
from domain.storage import event_store_env
from tests.domain.builders import CIPHER_KEY
from tests.domain.builders import long_case as lived_case
from tests.domain.test_hotline_orders import DESK
from tests.inspection.support import CASEWORKER, CHILD, long_case, open_case, wardship_on

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

TRIGGER = "wardship_events_append_only"
# Without a cipher the events are plain JSON; the children's data keys still need a master
# key every process shares (a store in PostgreSQL refuses to start without one).
MASTER_KEYS = "test:" + base64.b64encode(b"m" * 32).decode()


@pytest.fixture(params=["encrypted", "plain"])
def stored(request: pytest.FixtureRequest, db_url: str) -> Iterator[tuple[Wardship, str]]:
    """The application on this test's PostgreSQL database, with and without the cipher."""
    key = CIPHER_KEY if request.param == "encrypted" else None
    app = Wardship(env={**event_store_env(db_url, key), "MASTER_KEYS": MASTER_KEYS})
    yield app, request.param
    app.close()


def tamper(db_url: str, case_id: UUID, *statements: str) -> None:
    """Change stored events as a superuser who switched every trigger off."""
    with psycopg.connect(db_url) as conn:
        conn.execute("ALTER TABLE wardship_events DISABLE TRIGGER ALL")
        for statement in statements:
            conn.execute(statement.replace("%CASE%", f"'{case_id}'"))
        conn.execute("ALTER TABLE wardship_events ENABLE TRIGGER ALL")


def _row(version: int) -> str:
    return f"originator_id = %CASE% AND originator_version = {version}"


class TestVerifyChain:
    def test_an_untouched_case_verifies_on_every_store(
        self, stored: tuple[Wardship, str]
    ) -> None:
        app, _ = stored
        driver = lived_case(app)
        result = app.verify_chain(driver.case_id)
        assert result["valid"] is True
        assert result["events"] == driver.view["version"]
        assert result["head_hash"] == driver.case.last_hash

    def test_a_changed_byte_is_named(self, stored: tuple[Wardship, str], db_url: str) -> None:
        app, mode = stored
        driver = lived_case(app)
        tamper(db_url, driver.case_id,
               "UPDATE wardship_events SET state = set_byte(state, length(state) / 2,"
               f" get_byte(state, length(state) / 2) # 1) WHERE {_row(7)}")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 7)
        if mode == "encrypted":  # any change fails authenticated decryption
            assert "cannot be decoded" in result["problem"]

    def test_edited_json_content_is_named(self, db_url: str) -> None:
        app = Wardship(env={**event_store_env(db_url), "MASTER_KEYS": MASTER_KEYS})
        try:
            driver = lived_case(app)
            version = next(e.originator_version for e in app.case_events(driver.case_id)
                           if type(e).__name__ == "ResponseDispatched")
            tamper(db_url, driver.case_id,
                   "UPDATE wardship_events SET state = convert_to(replace("
                   "convert_from(state, 'UTF8'), 'civil_affairs', 'nobody_went'), 'UTF8')"
                   f" WHERE {_row(version)}")
            stored = app.case_events(driver.case_id, gt=version - 1, lte=version)[0]
            assert stored.responders == ["police", "nobody_went"]  # type: ignore[attr-defined]
            result = app.verify_chain(driver.case_id)
            assert (result["valid"], result["first_bad_version"]) == (False, version)
            assert "does not match its hash" in result["problem"]
        finally:
            app.close()

    def test_a_deleted_event_is_named(self, stored: tuple[Wardship, str], db_url: str) -> None:
        app, _ = stored
        driver = lived_case(app)
        tamper(db_url, driver.case_id, f"DELETE FROM wardship_events WHERE {_row(5)}")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 5)
        assert "missing" in result["problem"]

    def test_two_events_with_swapped_payloads_are_named(
        self, stored: tuple[Wardship, str], db_url: str
    ) -> None:
        app, _ = stored
        driver = lived_case(app)
        tamper(db_url, driver.case_id,
               "CREATE TEMP TABLE pair AS SELECT originator_version AS v, topic, state"
               " FROM wardship_events WHERE originator_id = %CASE%"
               " AND originator_version IN (9, 10)",
               "UPDATE wardship_events e SET topic = p.topic, state = p.state FROM pair p"
               " WHERE e.originator_id = %CASE% AND e.originator_version IN (9, 10)"
               " AND p.v = 19 - e.originator_version")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 9)


    def test_a_removed_tail_before_the_latest_snapshot_is_named(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 105)
            tamper(db_url, case_id, "DELETE FROM wardship_events"
                   " WHERE originator_id = %CASE% AND originator_version >= 98")
            result = app.verify_chain(case_id)
            assert (result["valid"], result["first_bad_version"]) == (False, 98)

    def test_a_swapped_pair_is_named(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 10)
            tamper(db_url, case_id,
                   "UPDATE wardship_events SET originator_version = -5"
                   " WHERE originator_id = %CASE% AND originator_version = 5",
                   "UPDATE wardship_events SET originator_version = 5"
                   " WHERE originator_id = %CASE% AND originator_version = 6",
                   "UPDATE wardship_events SET originator_version = 6"
                   " WHERE originator_id = %CASE% AND originator_version = -5")
            result = app.verify_chain(case_id)
            assert (result["valid"], result["first_bad_version"]) == (False, 5)


class TestSnapshots:
    """A snapshot row written by someone with the service's database access."""

    @staticmethod
    def forge(app: Wardship, case_id: UUID, version: int, **changes: object) -> None:
        case = app.get_case_aggregate(case_id, version)
        vars(case).update(changes)
        assert app.snapshots is not None
        app.snapshots.put([ProtectionCase.Snapshot.take(case)])

    def test_a_snapshot_naming_another_events_hash_is_not_loaded_and_is_named(
        self, db_url: str
    ) -> None:
        with wardship_on(db_url) as app:
            case_id, views = long_case(app, 105)
            self.forge(app, case_id, 103, grade="blue", last_hash="0" * 64)
        with wardship_on(db_url) as fresh:
            assert fresh.get_case(case_id) == views[max(views)]
            result = fresh.verify_chain(case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 103)
        assert "another event's hash" in result["problem"]

    def test_a_snapshot_whose_state_was_changed_is_named(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 105)
            self.forge(app, case_id, 104, grade="blue")
            result = app.verify_chain(case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 104)
        assert "not what its events give" in result["problem"]


    def test_a_snapshot_of_a_case_with_a_linked_order_and_a_closing_equals_its_replay(
        self, db_url: str
    ) -> None:
        """What the pattern rules read of a case (orders linked later, when it closed) is
        kept in snapshots just as its events give it."""
        with wardship_on(db_url) as app:
            case_id = open_case(app)
            app.receive_hotline_order(
                DESK, ticket="12345-2026-000900", received_at=datetime.now(UTC),
                jurisdiction="511102001", urgent=False, content="invented",
                caller={"name": "Invented Caller"}, child=dict(CHILD))
            app.perform(case_id, CASEWORKER, "screen_out", {"reason": "not a protection matter"})
            for n in range(100):
                app.perform(case_id, CASEWORKER, "add_note", {"text": f"note {n}"})
            assert app.store.latest_snapshot_version(case_id) >= 100
        with wardship_on(db_url) as fresh:
            assert fresh.verify_chain(case_id)["valid"]
            case = fresh.get_case_aggregate(case_id)
            assert [ticket for ticket, _ in case.later_reports] == ["12345-2026-000900"]
            assert len(case.closings) == 1


class TestAppendOnly:
    @pytest.mark.parametrize("statement", [
        "UPDATE wardship_events SET topic = topic",
        "DELETE FROM wardship_events",
        "TRUNCATE wardship_events",
        "UPDATE wardship_snapshots SET topic = topic",
        "DELETE FROM wardship_snapshots",
    ])
    def test_changing_stored_history_fails_even_for_a_superuser(
        self, db_url: str, statement: str
    ) -> None:
        with wardship_on(db_url) as app:
            long_case(app, 105)  # events and a snapshot
        with (psycopg.connect(db_url) as conn,
              pytest.raises(psycopg.errors.InsufficientPrivilege, match="never changed")):
            conn.execute(statement)

    def test_migrations_can_run_again_and_re_enable_a_disabled_trigger(
        self, db_url: str
    ) -> None:
        from deploy.migrate import apply_migrations

        with wardship_on(db_url):
            pass
        url = db_url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE wardship_events DISABLE TRIGGER {TRIGGER}")
        apply_migrations(url)
        with psycopg.connect(url) as conn:
            enabled = conn.execute(
                "SELECT tgenabled FROM pg_trigger WHERE tgname = %s", (TRIGGER,)
            ).fetchone()
        assert enabled == ("O",)

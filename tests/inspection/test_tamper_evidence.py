"""Tamper evidence: the stored hash chain names the first changed, removed or moved event,
and the database itself refuses to change or delete stored events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.inspection.support import long_case, wardship_on

if TYPE_CHECKING:
    from uuid import UUID

TRIGGER = "wardship_events_append_only"


def tamper(db_url: str, case_id: UUID, *statements: str) -> None:
    """Change stored events as a superuser who switched the append-only trigger off."""
    with psycopg.connect(db_url) as conn:
        conn.execute(f"ALTER TABLE wardship_events DISABLE TRIGGER {TRIGGER}")
        for statement in statements:
            conn.execute(statement.replace("%CASE%", f"'{case_id}'"))
        conn.execute(f"ALTER TABLE wardship_events ENABLE TRIGGER {TRIGGER}")


class TestVerifyChain:
    def test_an_untouched_case_verifies(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, views = long_case(app, 10)
            result = app.verify_chain(case_id)
            assert result["valid"] is True
            assert result["events"] == max(views)

    @pytest.mark.parametrize("cipher", [True, False], ids=["encrypted", "plain"])
    def test_a_changed_byte_in_a_stored_event_is_named(self, db_url: str, cipher: bool) -> None:
        key = None if not cipher else "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
        with wardship_on(db_url, key) as app:
            case_id, _ = long_case(app, 10)
            # Flip one byte in the middle of event 6's stored state.
            tamper(db_url, case_id,
                   "UPDATE wardship_events SET state = set_byte(state, length(state) / 2,"
                   " get_byte(state, length(state) / 2) # 1)"
                   " WHERE originator_id = %CASE% AND originator_version = 6")
            result = app.verify_chain(case_id)
            assert result["valid"] is False
            assert result["first_bad_version"] == 6

    def test_a_deleted_event_is_named(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 10)
            tamper(db_url, case_id, "DELETE FROM wardship_events"
                   " WHERE originator_id = %CASE% AND originator_version = 4")
            result = app.verify_chain(case_id)
            assert (result["valid"], result["first_bad_version"]) == (False, 4)

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

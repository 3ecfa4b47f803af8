"""The per-case hash chain: verify_chain passes an untouched case and names the first event
that was changed in the database, removed, or swapped with another."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest

from domain.application import Wardship
from domain.storage import event_store_env
from tests.domain.builders import CIPHER_KEY, long_case

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID


@pytest.fixture(params=["encrypted", "plain"])
def stored(request: pytest.FixtureRequest, db_url: str) -> Iterator[tuple[Wardship, str]]:
    """The application on this test's PostgreSQL database, with and without the cipher."""
    key = CIPHER_KEY if request.param == "encrypted" else None
    app = Wardship(env=event_store_env(db_url, key))
    yield app, request.param
    app.close()


def tamper(db_url: str, case_id: UUID, *statements: str) -> None:
    """Change stored rows as a superuser, with any append-only trigger switched off."""
    with psycopg.connect(db_url) as conn:
        conn.execute("ALTER TABLE wardship_events DISABLE TRIGGER ALL")
        for statement in statements:
            conn.execute(statement, {"case": case_id})
        conn.execute("ALTER TABLE wardship_events ENABLE TRIGGER ALL")


def row(version: int) -> str:
    return f"originator_id = %(case)s AND originator_version = {version}"


class TestVerifyChain:
    def test_an_untouched_case_verifies_on_every_store(self, app: Wardship) -> None:
        driver = long_case(app)
        result = app.verify_chain(driver.case_id)
        assert result["valid"] is True
        assert result["events"] == driver.view["version"]
        assert result["head_hash"] == driver.case.last_hash

    def test_a_changed_byte_is_named(self, stored: tuple[Wardship, str], db_url: str) -> None:
        app, mode = stored
        driver = long_case(app)
        tamper(db_url, driver.case_id,
               "UPDATE wardship_events SET state = set_byte(state, length(state) / 2,"
               f" get_byte(state, length(state) / 2) # 1) WHERE {row(7)}")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 7)
        if mode == "encrypted":  # any change fails authenticated decryption
            assert "cannot be decoded" in result["problem"]

    def test_edited_json_content_is_named(self, db_url: str) -> None:
        app = Wardship(env=event_store_env(db_url))
        try:
            driver = long_case(app)
            version = next(e.originator_version for e in app.case_events(driver.case_id)
                           if type(e).__name__ == "ResponseDispatched")
            tamper(db_url, driver.case_id,
                   "UPDATE wardship_events SET state = convert_to(replace("
                   "convert_from(state, 'UTF8'), 'civil_affairs', 'nobody_went'), 'UTF8')"
                   f" WHERE {row(version)}")
            stored = app.case_events(driver.case_id, gt=version - 1, lte=version)[0]
            assert stored.responders == ["police", "nobody_went"]  # type: ignore[attr-defined]
            result = app.verify_chain(driver.case_id)
            assert (result["valid"], result["first_bad_version"]) == (False, version)
            assert "does not match its hash" in result["problem"]
        finally:
            app.close()

    def test_a_deleted_event_is_named(self, stored: tuple[Wardship, str], db_url: str) -> None:
        app, _ = stored
        driver = long_case(app)
        tamper(db_url, driver.case_id, f"DELETE FROM wardship_events WHERE {row(5)}")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 5)
        assert "missing" in result["problem"]

    def test_two_events_with_swapped_payloads_are_named(
        self, stored: tuple[Wardship, str], db_url: str
    ) -> None:
        app, _ = stored
        driver = long_case(app)
        tamper(db_url, driver.case_id,
               "CREATE TEMP TABLE pair AS SELECT originator_version AS v, topic, state"
               " FROM wardship_events WHERE originator_id = %(case)s"
               " AND originator_version IN (9, 10)",
               "UPDATE wardship_events e SET topic = p.topic, state = p.state FROM pair p"
               " WHERE e.originator_id = %(case)s AND e.originator_version IN (9, 10)"
               " AND p.v = 19 - e.originator_version")
        result = app.verify_chain(driver.case_id)
        assert (result["valid"], result["first_bad_version"]) == (False, 9)

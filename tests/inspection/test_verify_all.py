"""`wardship verify --all`: every case's hash chain in the event store, checked in one pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from api.cli import main as wardship
from api.settings import get_settings
from domain.application import Wardship
from domain.storage import event_store_env
from tests.domain.builders import CIPHER_KEY, long_case
from tests.inspection.test_tamper_evidence import tamper

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wardship]:
    """The application on this test's database, and `wardship` set up to use the same."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WARDSHIP_CIPHER_KEY", CIPHER_KEY)
    get_settings.cache_clear()
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    try:
        yield app
    finally:
        app.close()
        get_settings.cache_clear()


def test_every_case_of_an_untouched_store_verifies(
    store: Wardship, capsys: pytest.CaptureFixture[str]
) -> None:
    events = sum(long_case(store).view["version"] for _ in range(2))
    assert wardship(["verify", "--all"]) == 0
    assert f"OK: every chain verifies (2 cases, {events} events)" in capsys.readouterr().out


def test_a_case_with_a_deleted_event_is_named_among_the_others(
    store: Wardship, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    intact, broken = long_case(store), long_case(store)
    tamper(db_url, broken.case_id, "DELETE FROM wardship_events"
           " WHERE originator_id = %CASE% AND originator_version = 5")
    assert wardship(["verify", "--all"]) == 1
    out = capsys.readouterr().out
    assert f"INVALID: case {broken.case_id}, event 5:" in out
    assert str(intact.case_id) not in out
    assert "INVALID: 1 of 2 cases" in out


def test_a_file_or_all_is_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert wardship(["verify"]) == 2
    assert "either a case file or --all" in capsys.readouterr().out

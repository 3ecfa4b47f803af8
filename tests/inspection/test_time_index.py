"""The time index: each event's version by recorded time, written with the events or not at
all, answers "the case as it stood at a moment" as replaying every event does, also for a
case stored before the index existed once `wardship migrate` has run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from api.cli import main as wardship
from api.settings import get_settings
from domain.actors import Context
from domain.application import Wardship
from domain.errors import CaseNotFound, VersionConflict
from domain.storage import event_store_env
from domain.time_index import version_by_decoding
from tests.inspection.support import (
    CASEWORKER,
    CIPHER_KEY,
    WITHOUT_TIME_INDEX,
    long_case,
    open_case,
    wardship_on,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from uuid import UUID


def index_rows(db_url: str, case_id: UUID) -> dict[int, datetime]:
    """The case's rows in the time index: recorded time by version."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT originator_version, recorded_at FROM wardship_event_times "
            "WHERE originator_id = %s", (case_id,)).fetchall()
    return {version: at for version, at in rows}


def recorded_times(app: Wardship, case_id: UUID) -> dict[int, datetime]:
    """Each version's recorded time as the case's history shows it (`recorded_at`)."""
    return {e.originator_version: e.timestamp for e in app.case_events(case_id)}


def add_note(case: Any, text: str) -> None:
    case.add_note(Context(actor=CASEWORKER, now=datetime.now(UTC)), text=text)


def count_decoding(app: Wardship) -> list[int]:
    """A counter of the events and snapshots `app` decodes from now on."""
    decoded = [0]
    decode = app.mapper.to_domain_event

    def counted(stored: Any) -> Any:
        decoded[0] += 1
        return decode(stored)

    app.mapper.to_domain_event = counted  # type: ignore[method-assign,assignment]
    return decoded


class TestWrittenWithTheEvents:
    def test_every_event_has_its_row_with_the_time_its_history_shows(
        self, db_url: str
    ) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 12)
            assert index_rows(db_url, case_id) == recorded_times(app, case_id)

    def test_a_save_that_loses_a_race_leaves_no_row(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id = open_case(app)
            first, second = app.get_case_aggregate(case_id), app.get_case_aggregate(case_id)
            add_note(first, "first")
            app.store.save(first)
            add_note(second, "second")
            with pytest.raises(VersionConflict):
                app.store.save(second)
            assert index_rows(db_url, case_id) == recorded_times(app, case_id)
            assert len(index_rows(db_url, case_id)) == 2

    def test_a_connection_whose_first_save_lost_a_race_saves_the_next(
        self, db_url: str
    ) -> None:
        """A race lost in a connection's first pipelined save is a conflict, and leaves the
        connection fit for the next save."""
        with wardship_on(db_url) as app:
            case_id = open_case(app)
            with Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=1)) as other:
                late = other.get_case_aggregate(case_id)
                early = app.get_case_aggregate(case_id)
                add_note(early, "first")
                app.store.save(early)
                add_note(late, "second")
                with pytest.raises(VersionConflict):
                    other.store.save(late)
                retried = other.get_case_aggregate(case_id)
                add_note(retried, "second, again")
                other.store.save(retried)
            assert index_rows(db_url, case_id) == recorded_times(app, case_id)

    def test_a_failed_transaction_takes_its_other_rows_with_it(self, db_url: str) -> None:
        """One save of two cases: the second's event is refused after the index rows were
        written (a writer without the index took its version), so neither keeps a row."""
        with wardship_on(db_url) as app:
            kept, lost = open_case(app), open_case(app)
            one, other = app.get_case_aggregate(kept), app.get_case_aggregate(lost)
            with Wardship(env={**event_store_env(db_url, CIPHER_KEY), **WITHOUT_TIME_INDEX}) as old:
                taken = old.get_case_aggregate(lost)
                add_note(taken, "recorded by the code before the index")
                old.save(taken)
            add_note(one, "kept")
            add_note(other, "lost")
            with pytest.raises(VersionConflict):
                app.store.save(one, other)
            assert index_rows(db_url, kept) == recorded_times(app, kept)
            assert set(index_rows(db_url, kept)) == {1}
            assert set(index_rows(db_url, lost)) == {1}


class TestAsOfAMoment:
    def test_every_moment_gives_the_version_that_replaying_the_events_gives(
        self, db_url: str
    ) -> None:
        with wardship_on(db_url) as app:
            case_id, views = long_case(app, 15)
            times = recorded_times(app, case_id)
            moments = [moment for at in times.values()
                       for moment in (at - timedelta(microseconds=1), at,
                                      at + timedelta(microseconds=1))]
            for moment in moments[1:]:
                expected = version_by_decoding(app.events, case_id, moment)
                assert expected is not None
                assert app.case_as_of(case_id, as_of=moment) == views[expected], moment

    def test_finding_the_version_decodes_no_event(self, db_url: str) -> None:
        """A moment costs what its version costs: the snapshot before it and the events
        after that, not a replay of the case up to the moment."""
        with wardship_on(db_url) as app:
            case_id = open_case(app)
            case = app.get_case_aggregate(case_id)
            for n in range(250):
                add_note(case, f"note {n}")
            app.save(case)
            moment = recorded_times(app, case_id)[240]
        with Wardship(env=event_store_env(db_url, CIPHER_KEY)) as fresh:
            decoded = count_decoding(fresh)
            by_version = fresh.case_as_of(case_id, version=240)
            decodes_by_version, decoded[0] = decoded[0], 0
            assert fresh.case_as_of(case_id, as_of=moment) == by_version
            assert decoded[0] == decodes_by_version < 50

    def test_before_the_first_event_the_case_did_not_exist(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id = open_case(app)
            opened = recorded_times(app, case_id)[1]
            with pytest.raises(CaseNotFound):
                app.case_as_of(case_id, as_of=opened - timedelta(microseconds=1))

    def test_after_the_last_event_it_is_the_case_as_it_is(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, views = long_case(app, 8)
            later = datetime.now(UTC) + timedelta(days=1)
            assert app.case_as_of(case_id, as_of=later) == views[max(views)]


@pytest.fixture
def migrated_by_cli(db_url: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`wardship migrate` for `db_url`, with the tests' cipher key; run it with `migrate()`."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WARDSHIP_CIPHER_KEY", CIPHER_KEY)
    monkeypatch.setenv("WARDSHIP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("api.logs.configure_logging", lambda *args: None)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


class TestCasesStoredBeforeTheIndex:
    def test_wardship_migrate_indexes_them_and_they_answer(self, migrated_by_cli: str) -> None:
        db_url = migrated_by_cli
        with Wardship(env={**event_store_env(db_url, CIPHER_KEY), **WITHOUT_TIME_INDEX}) as old:
            case_id, views = long_case(old, 10)
            times = recorded_times(old, case_id)
        assert wardship(["migrate"]) == 0
        assert index_rows(db_url, case_id) == times
        with Wardship(env=event_store_env(db_url, CIPHER_KEY)) as app:
            for version, at in times.items():
                assert app.case_as_of(case_id, as_of=at) == views[version], version
            with pytest.raises(CaseNotFound):
                app.case_as_of(case_id, as_of=times[1] - timedelta(seconds=1))
        assert wardship(["migrate"]) == 0  # again: nothing left to index, nothing doubled
        assert index_rows(db_url, case_id) == times

"""No silent hang: whatever happens to the group-commit writer, every save gets an answer."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from domain.application import SNAPSHOT_INTERVAL, Wardship
from domain.errors import StoreUnavailable
from domain.storage import event_store_env
from domain.store import GroupCommit
from tests.domain.builders import CASEWORKER, CIPHER_KEY, T0, open_case

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

# On the code before this change a dead writer left its callers waiting forever: each save
# here runs in a helper thread that is given this long to answer.
ANSWER_WITHIN = 5.0


class Interrupted(BaseException):
    """Not an Exception: what `except Exception` lets through (e.g. a gevent kill, an abort)."""


@dataclass
class Pending:
    """The least an aggregate offers a save: an id and the events it collects once."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    events: list[Any] = field(default_factory=list)

    def collect_events(self) -> list[Any]:
        events, self.events = self.events, []
        return events


@dataclass
class Event:
    originator_id: uuid.UUID


@dataclass
class Stored:
    """What the store answers for one recorded event."""

    domain_event: Event


def one_pending() -> Pending:
    aggregate = Pending()
    aggregate.events.append(Event(aggregate.id))
    return aggregate


def answer(save: Callable[[], Any], within: float = ANSWER_WITHIN) -> tuple[str, Any]:
    """Run `save` in a helper thread: ("result", value), ("error", exception) or ("hang", None)."""
    outcome: list[tuple[str, Any]] = []

    def run() -> None:
        try:
            outcome.append(("result", save()))
        except BaseException as error:  # the outcome is the test's to judge
            outcome.append(("error", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    return outcome[0] if outcome else ("hang", None)


class Recorder:
    """A record function that fails in a chosen way on its first call, then records."""

    def __init__(self, first: Callable[[], Any] | None = None) -> None:
        self.first = first
        self.recorded: list[Any] = []

    def __call__(self, aggregates: Sequence[Any], events: Sequence[Any]) -> list[Any]:
        first, self.first = self.first, None
        if first is not None:
            return list(first())
        self.recorded.extend(events)
        return [Stored(event) for event in events]


@pytest.fixture
def writers() -> Iterator[list[GroupCommit]]:
    made: list[GroupCommit] = []
    yield made
    for writer in made:
        writer.close()


class TestTheWriterSurvives:
    def test_a_base_exception_in_the_record_function_fails_that_save_only(
        self, writers: list[GroupCommit]
    ) -> None:
        def interrupt() -> list[Any]:
            raise Interrupted

        record = Recorder(first=interrupt)
        writers.append(commit := GroupCommit(record))
        # The save that met the failure hears of it, as the store being unavailable.
        kind, error = answer(lambda: commit.save([one_pending()]))
        assert kind == "error"
        assert isinstance(error, StoreUnavailable)
        # The next save is recorded by the same writer.
        kind, stored = answer(lambda: commit.save([one_pending()]))
        assert kind == "result"
        assert len(stored) == 1
        assert len(record.recorded) == 1

    def test_an_error_building_the_answer_still_answers_the_caller(
        self, writers: list[GroupCommit]
    ) -> None:
        record = Recorder(first=lambda: [object()])  # recordings without an event
        writers.append(commit := GroupCommit(record))
        kind, _ = answer(lambda: commit.save([one_pending()]))
        assert kind == "error"
        kind, _ = answer(lambda: commit.save([one_pending()]))
        assert kind == "result"

    def test_a_writer_that_died_is_restarted_by_the_next_save(
        self, writers: list[GroupCommit]
    ) -> None:
        def exit_thread() -> list[Any]:
            raise SystemExit  # ends the writer thread for good

        record = Recorder(first=exit_thread)
        writers.append(commit := GroupCommit(record))
        kind, error = answer(lambda: commit.save([one_pending()]))
        assert (kind, type(error)) == ("error", StoreUnavailable)
        kind, _ = answer(lambda: commit.save([one_pending()]))
        assert kind == "result"
        assert len(record.recorded) == 1


class TestEveryCallerGetsAnAnswerInTime:
    def test_a_stuck_store_answers_store_unavailable_within_the_timeout(
        self, writers: list[GroupCommit]
    ) -> None:
        release = threading.Event()

        def stuck() -> list[Any]:
            release.wait(30)  # the store neither answers nor fails
            return []

        record = Recorder(first=stuck)
        writers.append(commit := GroupCommit(record, timeout=0.3))
        started = time.monotonic()
        kind, error = answer(lambda: commit.save([one_pending()]))
        took = time.monotonic() - started
        assert (kind, type(error)) == ("error", StoreUnavailable)
        assert took < 5.0  # the timeout's 0.3 s with room for a loaded machine, not the 30 s
        # The writer had taken that save, so it cannot say whether it will commit.
        assert "may or may not" in str(error)
        # A save queued behind the stuck one is given up before the writer takes it:
        # it is never recorded, and the caller is told so.
        kind, error = answer(lambda: commit.save([one_pending()]))
        assert (kind, type(error)) == ("error", StoreUnavailable)
        assert "nothing was recorded" in str(error)
        release.set()
        kind, _ = answer(lambda: commit.save([one_pending()]))
        assert kind == "result"
        assert len(record.recorded) == 1

    def test_the_application_takes_its_save_timeout_from_its_settings(self) -> None:
        app = Wardship(env={**event_store_env(None), "SAVE_TIMEOUT": "0.5"})
        try:
            assert app.store._group_commit._timeout == 0.5
        finally:
            app.close()


class TestFailedSnapshots:
    def test_a_snapshot_that_cannot_be_stored_does_not_fail_the_save(self, db_url: str) -> None:
        app = Wardship(env=event_store_env(db_url, CIPHER_KEY))
        try:
            driver = open_case(app, at=T0)
            # The snapshot table is gone: every snapshot put fails in the database.
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("DROP TABLE wardship_snapshots")
            version = driver.view["version"]
            while version < SNAPSHOT_INTERVAL + 1:
                view = app.perform(driver.case_id, CASEWORKER, "add_note",
                                   {"text": f"note {version}"})
                version = view["version"]
            # The save that crossed the interval stood, and so did every one after it.
            assert len(app.case_events(driver.case_id)) == SNAPSHOT_INTERVAL + 1
        finally:
            app.close()


class TestForgottenKeys:
    def test_a_case_loaded_before_its_key_was_forgotten_is_not_cached_by_its_save(
        self, memory_app: Wardship, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Another process destroyed the child's key while this one ran a command on a case
        # it had loaded: the case holds the child's details and must not stay cached.
        case = open_case(memory_app)
        child_id = memory_app.get_case(case.case_id)["child_id"]
        load = memory_app.store.load

        def load_then_hear_destroy(*args: Any, **kwargs: Any) -> Any:
            aggregate = load(*args, **kwargs)
            memory_app.store.forget([child_id])
            return aggregate

        monkeypatch.setattr(memory_app.store, "load", load_then_hear_destroy)
        memory_app.perform(case.case_id, CASEWORKER, "add_note", {"text": "rang the school"},
                           occurred_at=T0, now=T0)
        cache = memory_app.repository.cache
        assert cache is not None
        with pytest.raises(KeyError):
            cache.get(case.case_id)

"""A command carries an id recorded in its events: its retry records nothing and gets the
first answer, also after a commit whose answer the connection lost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.application import Wardship
from domain.errors import StaleVersion
from domain.hashchain import event_hash
from domain.storage import event_store_env
from tests.commit_cut import commit_cut_proxy
from tests.domain.builders import CASEWORKER, CHILD, CIPHER_KEY, SOURCE, T0, open_case

if TYPE_CHECKING:
    from collections.abc import Iterator

CONCERN = {"categories": ["neglect"], "summary": "left alone", "danger_now": False}


def _without_position(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "position"}


def _open(app: Wardship, command_id: str, name: str = "Test Child A") -> dict[str, Any]:
    return app.open_case(CASEWORKER, entry="report", jurisdiction="511102001",
                         child=dict(CHILD, id_number=None, name=name), concern=dict(CONCERN),
                         source=dict(SOURCE), occurred_at=T0, now=T0, command_id=command_id)


class TestRetriedCommands:
    def test_a_retried_action_records_nothing_and_answers_as_the_first_did(
        self, app: Wardship
    ) -> None:
        driver = open_case(app)
        first = app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                            expected_version=1, command_id="note-1")
        # Someone else acts meanwhile; the retry still names the version its sender read.
        app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "other"})
        again = app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                            expected_version=1, command_id="note-1")
        assert _without_position(again) == _without_position(first)
        assert again["version"] == 2
        assert len(app.case_events(driver.case_id)) == 3
        assert app.case_events(driver.case_id)[1].command_id == "note-1"

    def test_another_command_id_is_another_command(self, app: Wardship) -> None:
        driver = open_case(app)
        app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "a"}, command_id="a")
        app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "a"}, command_id="b")
        with pytest.raises(StaleVersion):
            app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "a"},
                        expected_version=1, command_id="c")
        assert len(app.case_events(driver.case_id)) == 3

    def test_a_retried_opening_answers_the_case_it_opened(self, app: Wardship) -> None:
        first = _open(app, "open-1")
        app.perform(UUID(first["id"]), CASEWORKER, "add_note", {"text": "later"})
        again = _open(app, "open-1")
        assert _without_position(again) == _without_position(first)
        assert len(app.case_events(UUID(first["id"]))) == 2
        assert _open(app, "open-2")["id"] != first["id"]

    def test_a_retried_merge_answers_the_merge_it_recorded(self, app: Wardship) -> None:
        one, two = _open(app, "open-a"), _open(app, "open-b", name="Test Child A2")
        source, target = UUID(two["child_id"]), UUID(one["child_id"])
        first = app.merge_child_files(CASEWORKER, source, target, "one child", "merge-1")
        again = app.merge_child_files(CASEWORKER, source, target, "one child", "merge-1")
        assert _without_position(again) == _without_position(first)
        assert len(list(app.events.get(target))) == 2  # registered, merged once

    def test_the_chain_covers_the_command_id(self, app: Wardship) -> None:
        driver = open_case(app)
        app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "x"}, command_id="x")
        assert app.verify_chain(driver.case_id)["valid"]
        event = app.case_events(driver.case_id)[-1]
        topic = get_topic(type(event))
        assert event_hash(topic, dict(vars(event))) == event.hash
        assert event_hash(topic, {**vars(event), "command_id": "y"}) != event.hash


@pytest.fixture
def app_behind_proxy(db_url: str) -> Iterator[tuple[Wardship, Any]]:
    """The application on PostgreSQL through a proxy that can cut a connection at COMMIT."""
    Wardship(env=event_store_env(db_url, CIPHER_KEY)).close()  # tables, made directly
    with commit_cut_proxy(db_url) as proxy:
        # Connections out of reach fail fast: each of the library's retries waits this long.
        app = Wardship(env={**event_store_env(proxy.url, CIPHER_KEY),
                            "POSTGRES_CONNECT_TIMEOUT": "1"})
        yield app, proxy
        app.close()


class TestAmbiguousCommit:
    @pytest.mark.parametrize("expected_version", [1, None], ids=["if-match", "no-if-match"])
    def test_an_action_whose_commit_answer_was_lost_is_recorded_once_and_not_a_conflict(
        self, app_behind_proxy: tuple[Wardship, Any], db_url: str, expected_version: int | None
    ) -> None:
        app, proxy = app_behind_proxy
        driver = open_case(app)
        # The group commit's COMMIT reaches PostgreSQL; its answer never comes back. The
        # event-store library retries the insert, which finds the versions taken.
        proxy.cut_next_commit()
        view = app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                           expected_version=expected_version, command_id="note-1")
        assert proxy.cuts == 1
        assert view["version"] == 2
        # Another process reading the database sees the note recorded once.
        other = Wardship(env=event_store_env(db_url, CIPHER_KEY))
        try:
            assert [e.command_id for e in other.case_events(driver.case_id)] == [None, "note-1"]
            assert other.verify_chain(driver.case_id)["valid"]
        finally:
            other.close()

    def test_a_lost_answer_on_the_last_attempt_is_not_a_conflict_either(
        self, app_behind_proxy: tuple[Wardship, Any], db_url: str
    ) -> None:
        app, proxy = app_behind_proxy
        driver = open_case(app)
        # Another process writes: this one's cached case is behind, so the action is judged
        # on a fresh read in the last attempt, and that attempt's answer is lost.
        other = Wardship(env=event_store_env(db_url, CIPHER_KEY))
        try:
            other.perform(driver.case_id, CASEWORKER, "add_note", {"text": "elsewhere"})
        finally:
            other.close()
        proxy.cut_next_commit()
        view = app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                           expected_version=2, command_id="note-2")
        assert proxy.cuts == 1
        assert view["version"] == 3
        assert len(app.case_events(driver.case_id)) == 3

    def test_a_save_that_failed_after_its_commit_is_retried_as_done(
        self, app_behind_proxy: tuple[Wardship, Any], db_url: str
    ) -> None:
        app, proxy = app_behind_proxy
        driver = open_case(app)
        # The COMMIT is durable, then the database stays out of reach: the save fails.
        proxy.cut_next_commit(then_down=True)
        with pytest.raises(Exception):  # noqa: B017,PT011 (the driver's lost-connection error)
            app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                        expected_version=1, command_id="note-1")
        proxy.restore()
        # The caller retries the command it was not answered: done, not a conflict.
        view = app.perform(driver.case_id, CASEWORKER, "add_note", {"text": "seen"},
                           expected_version=1, command_id="note-1")
        assert view["version"] == 2
        assert [e.command_id for e in app.case_events(driver.case_id)] == [None, "note-1"]

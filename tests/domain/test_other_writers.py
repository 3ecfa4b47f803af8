"""Two processes (API and worker, or two API replicas) change the same cases.

Each process judges commands on the case as it last saw it and lets the store's version
check tell it when another process wrote in between; these tests hold it to that promise.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import Wardship
from domain.errors import ActionNotAllowed, StaleVersion
from domain.storage import event_store_env
from tests.domain.builders import CASEWORKER, CIPHER_KEY, STEP, T0, open_case

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID


@pytest.fixture
def apps(db_url: str) -> Iterator[tuple[Wardship, Wardship]]:
    """Two applications on one database, each with its own cache: two processes."""
    first = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    second = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    yield first, second
    first.close()
    second.close()


def changed_elsewhere(
    apps: tuple[Wardship, Wardship], action: str, params: dict[str, Any]
) -> tuple[Wardship, UUID, dict[str, Any]]:
    """A case opened by the first process (which caches it), then changed by the second.

    Returns the first process, the case id, and the case as the second left it.
    """
    here, there = apps
    driver = open_case(here, at=T0)
    view = there.perform(driver.case_id, CASEWORKER, action, params,
                         occurred_at=T0 + STEP, now=T0 + STEP)
    return here, driver.case_id, view


def test_an_action_allowed_only_after_another_process_wrote_is_judged_on_the_new_state(
    apps: tuple[Wardship, Wardship],
) -> None:
    # `here` caches the case at its report stage; `there` accepts the report.
    here, case_id, _ = changed_elsewhere(
        apps, "accept_report", {"grade": "yellow", "assignee": "cw-1"})

    when = T0 + 2 * STEP
    view = here.perform(case_id, CASEWORKER, "record_assessment",
                        {"guardianship_capacity": "impaired", "needs": ["schooling"]},
                        occurred_at=when, now=when)

    assert view["stage"] == "assessment"
    assert [type(e).__name__ for e in here.case_events(case_id)][-2:] == [
        "ReportAccepted", "AssessmentRecorded"]
    assert here.verify_chain(case_id)["valid"]


def test_a_write_on_an_out_of_date_case_is_neither_lost_nor_overwrites_the_other(
    apps: tuple[Wardship, Wardship],
) -> None:
    here, case_id, _ = changed_elsewhere(apps, "add_note", {"text": "from there"})

    here.perform(case_id, CASEWORKER, "add_note", {"text": "from here"})

    there = apps[1]
    notes = [e.text for e in there.case_events(case_id) if hasattr(e, "text")]
    assert notes == ["from there", "from here"]
    assert there.verify_chain(case_id)["valid"]


def test_the_expected_version_is_checked_against_the_store_not_the_cache(
    apps: tuple[Wardship, Wardship],
) -> None:
    here, case_id, newer = changed_elsewhere(apps, "add_note", {"text": "first"})

    # The caller read the newer version (from the other process): it is current.
    view = here.perform(case_id, CASEWORKER, "add_note", {"text": "second"},
                        expected_version=newer["version"])
    assert view["version"] == newer["version"] + 1
    # The version `here` had cached is stale, and is refused as such.
    with pytest.raises(StaleVersion):
        here.perform(case_id, CASEWORKER, "add_note", {"text": "third"},
                     expected_version=newer["version"] - 1)


def test_a_refusal_is_reported_only_when_the_store_agrees(
    apps: tuple[Wardship, Wardship],
) -> None:
    here, case_id, _ = changed_elsewhere(
        apps, "screen_out", {"reason": "not a protection matter"})

    # `here` still has the case open at report, where accepting is allowed; it is closed now.
    with pytest.raises(ActionNotAllowed):
        here.perform(case_id, CASEWORKER, "accept_report",
                     {"grade": "yellow", "assignee": "cw-1"}, occurred_at=T0 + 2 * STEP,
                     now=T0 + 2 * STEP)
    assert here.get_case(case_id)["stage"] == "closed"


def test_saves_grouped_with_one_that_lost_its_race_are_all_kept(
    apps: tuple[Wardship, Wardship],
) -> None:
    here, there = apps
    drivers = [open_case(here, at=T0) for _ in range(8)]
    versions = [d.view["version"] for d in drivers]
    there.perform(drivers[0].case_id, CASEWORKER, "add_note", {"text": "from there"})

    def write(index: int) -> str:
        try:
            here.perform(drivers[index].case_id, CASEWORKER, "add_note", {"text": "here"},
                         expected_version=versions[index])
        except StaleVersion:
            return "stale"
        return "saved"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(write, range(8)))
    assert outcomes == ["stale"] + ["saved"] * 7
    # One more event on every case: the note from there on the first, from here on the rest.
    assert [len(here.case_events(d.case_id)) for d in drivers] == [v + 1 for v in versions]


def test_a_reader_tailing_the_log_misses_nothing_that_several_processes_append(
    db_url: str,
) -> None:
    """The relay and the projection runners read the log from their last position on. A
    position must never be passed before an event below it commits, or that event is skipped
    for good: appends from several processes enter the log in the order they commit."""
    writers = [Wardship(env=event_store_env(db_url, CIPHER_KEY)) for _ in range(4)]
    reader = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    per_writer, written, seen = 150, set(), set()
    done = threading.Event()

    def append(app: Wardship) -> None:
        for _ in range(per_writer):
            event = StoredEvent(uuid4(), 1, "test:appended", b"{}")
            app.recorder.insert_events([event])
            written.add(event.originator_id)

    def tail() -> None:
        position = 0
        while not done.is_set() or reader.recorder.max_notification_id() != position:
            for entry in reader.recorder.select_notifications(
                    position, 100, inclusive_of_start=False):
                seen.add(entry.originator_id)
                position = entry.id

    try:
        with ThreadPoolExecutor(len(writers) + 1) as pool:
            tailing = pool.submit(tail)
            for future in [pool.submit(append, app) for app in writers]:
                future.result()
            done.set()
            tailing.result(timeout=30)
    finally:
        for app in (*writers, reader):
            app.close()
    assert len(written) == len(writers) * per_writer
    assert written - seen == set()

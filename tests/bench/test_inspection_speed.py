"""Inspection speed on a case of 10,000 events: current state, as-of state, history, verify.

Targets: current state under 20 ms with snapshots; as-of a moment at most 10 ms, through the
time index (its baseline, measured beside it: finding the version by decoding every event, as
before the index). Run with `./run bench -k inspection_speed`; printed, not asserted.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from domain.actors import Context
from domain.application import Wardship
from domain.storage import event_store_env
from domain.time_index import TimeIndexedRecorder, version_by_decoding
from tests.inspection.support import (
    CASEWORKER,
    CIPHER_KEY,
    WITHOUT_TIME_INDEX,
    open_case,
    wardship_on,
)

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.bench

EVENTS = 10_000
BATCH = 500
MIDDLE = EVENTS // 2 - 37
SAVES = 200  # one-note actions a round, for the write cost of the index


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    """The median wall time of fn in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def test_inspection_speed_on_a_case_of_10000_events(db_url: str) -> None:
    url = db_url
    with wardship_on(db_url) as app:
        case_id = open_case(app)
        app.perform(case_id, CASEWORKER, "accept_report", {"grade": "yellow", "assignee": "cw-1"})
        start = time.perf_counter()
        while (case := app.get_case_aggregate(case_id)).version < EVENTS:
            # Many notes per save: building the case is not what is measured.
            for n in range(min(BATCH, EVENTS - case.version)):
                case.add_note(Context(actor=CASEWORKER, now=datetime.now(UTC)), text=f"n{n}")
            app.save(case)
        built = time.perf_counter() - start
        # Between snapshots, as for the version below: a snapshot and 63 events to replay.
        middle = app.case_events(case_id, gt=MIDDLE - 1, lte=MIDDLE)[0].timestamp

    # A fresh process: no aggregate cache, snapshots and the event table only.
    cold = Wardship(env=event_store_env(url, CIPHER_KEY))
    assert isinstance(cold.recorder, TimeIndexedRecorder)
    index = cold.recorder

    def as_of_by_decoding() -> None:
        version = version_by_decoding(cold.events, case_id, middle)
        cold.case_as_of(case_id, version=version)

    try:
        figures = {
            "current state, fresh process (snapshot + tail)": timed(
                lambda: Wardship.get_case(cold, case_id), runs=1),
            "current state, cached (API process)": timed(lambda: cold.get_case(case_id)),
            "as-of version 5,000 (snapshot + tail)": timed(
                lambda: cold.case_as_of(case_id, version=MIDDLE)),
            "as-of a moment (time index, then snapshot + tail)": timed(
                lambda: cold.case_as_of(case_id, as_of=middle)),
            "  of which the index lookup": timed(lambda: index.version_at(case_id, middle)),
            "as-of a moment, baseline (decode every event)": timed(as_of_by_decoding, runs=3),
            "history, one page of 100": timed(
                lambda: cold.case_events(case_id, gt=EVENTS // 2, limit=101)),
            "history, all 10,000 events": timed(lambda: cold.case_events(case_id), runs=3),
            "verify the whole chain": timed(lambda: cold.verify_chain(case_id), runs=3),
        }
    finally:
        cold.close()
    print(f"\ncase of {EVENTS} events built in {built:.1f} s (batches of {BATCH})")
    for name, ms in figures.items():
        print(f"  {name:<52} {ms:9.1f} ms")


def test_what_the_time_index_adds_to_a_save(db_url: str) -> None:
    """A one-note action saved with its index row, beside the library's recorder alone (the
    code before the index), on the same database in alternating rounds."""
    with wardship_on(db_url) as indexed, \
            Wardship(env={**event_store_env(db_url, CIPHER_KEY), **WITHOUT_TIME_INDEX}) as plain:
        cases = {name: open_case(app) for name, app in (("indexed", indexed), ("plain", plain))}
        samples: dict[str, list[float]] = {"indexed": [], "plain": []}
        for _round in range(5):
            for name, app in (("indexed", indexed), ("plain", plain)):
                start = time.perf_counter()
                for _ in range(SAVES):
                    app.perform(cases[name], CASEWORKER, "add_note", {"text": "n"})
                samples[name].append((time.perf_counter() - start) * 1000 / SAVES)
    with_index, before = (statistics.median(samples[k]) for k in ("indexed", "plain"))
    print(f"\none-note action, {SAVES} a round, median of 5 rounds: {with_index:.2f} ms with "
          f"the time index, {before:.2f} ms without ({with_index / before:.2f}x)")

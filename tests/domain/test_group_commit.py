"""Saves from many threads share transactions, yet every writer learns its own outcome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from domain.errors import VersionConflict
from tests.domain.builders import CASEWORKER, T0, open_case

if TYPE_CHECKING:
    from domain.application import Wardship

THREADS = 8


class TestGroupCommit:
    def test_notes_from_many_threads_on_many_cases_are_all_stored(self, app: Wardship) -> None:
        drivers = [open_case(app, at=T0) for _ in range(THREADS)]

        def write(index: int) -> int | None:
            view = app.perform(drivers[index % THREADS].case_id, CASEWORKER, "add_note",
                               {"text": f"note {index}"})
            position: int | None = view["position"]
            return position

        with ThreadPoolExecutor(THREADS) as pool:
            positions = list(pool.map(write, range(THREADS * 5)))
        # Every write answered with its own log position, and every note is in the store.
        assert len(set(positions)) == THREADS * 5
        assert all(len(app.case_events(d.case_id)) == 6 for d in drivers)

    def test_writers_racing_on_one_version_one_wins_the_rest_are_told(
        self, app: Wardship
    ) -> None:
        driver = open_case(app, at=T0)
        version = driver.view["version"]

        def write(index: int) -> str:
            try:
                app.perform(driver.case_id, CASEWORKER, "add_note", {"text": f"n{index}"},
                            expected_version=version)
            except VersionConflict:
                return "conflict"
            return "saved"

        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = list(pool.map(write, range(THREADS)))
        stored = len(app.case_events(driver.case_id))
        assert outcomes.count("saved") == stored - 1 >= 1
        assert outcomes.count("conflict") == THREADS - outcomes.count("saved")
        assert app.verify_chain(driver.case_id)["valid"]

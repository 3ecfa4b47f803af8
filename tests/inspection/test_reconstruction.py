"""Point-in-time state: rebuilt from events alone, equal to what the case was at the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import CaseNotFound
from tests.inspection.support import long_case, wardship_on


class TestReconstruction:
    def test_every_version_of_a_long_case_rebuilds_to_the_state_it_had_then(
        self, db_url: str
    ) -> None:
        with wardship_on(db_url) as app:
            # A case long enough to cross two snapshots.
            case_id, views = long_case(app, 230)
            for version, then in views.items():
                assert app.case_as_of(case_id, version=version) == then, version

    def test_as_of_a_moment_gives_the_last_version_recorded_by_then(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, views = long_case(app, 12)
            events = app.case_events(case_id)
            for event in events:
                rebuilt = app.case_as_of(case_id, as_of=event.timestamp)
                assert rebuilt == views[event.originator_version]
            # Before the first event the case did not exist.
            with pytest.raises(CaseNotFound):
                app.case_as_of(case_id, as_of=events[0].timestamp - timedelta(seconds=1))
            assert app.case_as_of(case_id, as_of=datetime.now(UTC)) == views[max(views)]

    def test_deadline_statuses_are_those_of_that_moment(self, db_url: str) -> None:
        with wardship_on(db_url) as app:
            case_id, _ = long_case(app, 8)
            statuses = {d["kind"]: d["status"]
                        for d in app.case_as_of(case_id, version=1)["deadlines"]}
            later = {d["kind"]: d["status"]
                     for d in app.case_as_of(case_id, version=2)["deadlines"]}
            assert statuses["intake"] == "open"
            assert later["intake"] == "missed"

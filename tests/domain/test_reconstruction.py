"""Reconstruction: the case at any version or moment, from events alone, is what it was then;
snapshots change how fast a long case loads, never what it loads as."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from domain.application import SNAPSHOT_INTERVAL, Wardship
from domain.case import ProtectionCase
from domain.errors import CaseNotFound
from domain.storage import event_store_env
from domain.views import case_view
from tests.domain.builders import CIPHER_KEY, long_case

if TYPE_CHECKING:
    from uuid import UUID

    from domain.events import CaseEvent


def replayed(app: Wardship, case_id: UUID) -> ProtectionCase:
    """The case folded from every stored event, no snapshot involved."""
    case: Any = None
    for event in app.events.get(case_id):
        case = cast("CaseEvent", event).mutate(case)
    assert isinstance(case, ProtectionCase)
    return case


class TestPointInTime:
    def test_every_version_of_a_long_case_is_what_the_case_was_then(
        self, app: Wardship
    ) -> None:
        driver = long_case(app, 40)
        last = driver.view["version"]
        assert set(driver.views) == set(range(1, last + 1))
        for version, view in driver.views.items():
            assert app.case_as_of(driver.case_id, version=version) == view, version

    def test_the_case_as_recorded_at_a_moment(self, memory_app: Wardship) -> None:
        driver = long_case(memory_app)
        events = memory_app.case_events(driver.case_id)
        for event in events[::5]:
            view = memory_app.case_as_of(driver.case_id, as_of=event.timestamp)
            assert view["version"] >= event.originator_version
            assert view == driver.views[view["version"]]
        with pytest.raises(CaseNotFound):
            memory_app.case_as_of(driver.case_id,
                                  as_of=events[0].timestamp - timedelta(microseconds=1))


class TestSnapshots:
    def test_a_long_case_loads_the_same_with_and_without_snapshots(
        self, app: Wardship
    ) -> None:
        driver = long_case(app, SNAPSHOT_INTERVAL + 10)
        assert app.snapshots is not None
        assert list(app.snapshots.get(driver.case_id)), "no snapshot was taken"
        last = driver.view["version"]
        from_snapshot = app.get_case_aggregate(driver.case_id, version=last)
        from_events = replayed(app, driver.case_id)
        assert case_view(from_snapshot) == case_view(from_events) == driver.views[last]
        assert vars(from_snapshot) == vars(from_events)

    def test_a_fresh_application_loads_a_long_case_from_its_snapshot(self, db_url: str) -> None:
        env = event_store_env(db_url, CIPHER_KEY)
        writer = Wardship(env=env)
        try:
            driver = long_case(writer, SNAPSHOT_INTERVAL + 5)
            expected = driver.view
        finally:
            writer.close()
        reader = Wardship(env=env)
        try:
            assert reader.get_case(driver.case_id) == expected
            assert reader.verify_chain(driver.case_id)["valid"] is True
        finally:
            reader.close()

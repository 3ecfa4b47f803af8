"""Read models are given events with each child's personal fields still sealed: they keep no
personal data and cannot, a rebuild reads no child's key, and every model's rows are the
same as from events with the fields opened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from api.cli.demo_data import load_demo
from api.cli.demo_ledger import load_ledger
from domain.application import Wardship
from domain.personal import CASE_FIELDS, own_key_fields, paths
from domain.storage import event_store_env
from projections import runner
from projections.base import CASE_EVENT_TOPICS, Positioned, ReadModel
from projections.parked import Decoder
from projections.registry import MODELS
from projections.runner import Worker, ensure, rebuild_models
from tests.projections.conftest import CIPHER_KEY, project_all, snapshot
from tests.projections.test_imported_files import import_rows

if TYPE_CHECKING:
    import psycopg

    from projections.store import Batch, Table


def personal_values(event: Any) -> list[str]:
    """The paths of `event` that hold a personal value."""
    patterns = CASE_FIELDS.get(type(event).__name__) if type(event).__module__ == \
        "domain.events" else own_key_fields(type(event))
    return paths(patterns or (), vars(event))


class EveryEvent(ReadModel):
    """A model with no table that keeps what it is given."""

    name = "every_event"
    tables: ClassVar[tuple[Table, ...]] = ()
    topics = CASE_EVENT_TOPICS | frozenset().union(*(m.topics for m in MODELS.values()))

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        self.seen.extend(event for _, event in events)


@pytest.fixture
def personal_log(app: Wardship) -> None:
    """Cases about named children with notes and visits, monitored children, an import."""
    load_demo(app, children=12, seed=3)
    load_ledger(app, children=6, seed=3)
    import_rows(app, 4, "sealed")


def test_a_read_model_is_given_no_personal_value_and_no_key_is_read(
    store_url: str, conn: psycopg.Connection[Any], personal_log: None,
) -> None:
    cold = Wardship(env=event_store_env(store_url, CIPHER_KEY))  # no key unwrapped yet
    try:
        model = EveryEvent()
        ensure(conn, model)
        Worker(model, cold, conn).catch_up(limit=50)
        assert len(model.seen) > 100
        assert cold.keyring.cached_ids() == set()
        opened = [cold.mapper.to_domain_event(n) for n in
                  cold.recorder.select_notifications(0, 10_000, topics=sorted(model.topics))]
        # The same events, opened, hold names, notes, guardians, import rows...
        assert sum(bool(personal_values(e)) for e in opened) > 50
        assert {type(e).__name__ for e in opened if personal_values(e)} >= {
            "CaseOpened", "Imported", "MonitoringStarted"}
        # ... given to a read model, none.
        assert [personal_values(e) for e in model.seen if personal_values(e)] == []
        case = next(e for e in model.seen if type(e).__name__ == "CaseOpened")
        assert case.child["name"] is None
        assert case.child["category"]  # codes stay readable
    finally:
        cold.close()


def test_every_model_has_the_same_rows_as_from_events_with_personal_fields_opened(
    app: Wardship, conn: psycopg.Connection[Any], personal_log: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(runner, "decoder", lambda app: Decoder(app.mapper, personal=True))
        project_all(app, conn, limit=61)
        opened = snapshot(conn)
    assert all(opened[table] for table in ("rm_cases", "rm_children", "rm_ledger"))
    rebuild_models([model_class() for model_class in MODELS.values()], app, conn)
    assert snapshot(conn) == opened

"""What quarantine costs a read model: one runner over 20,000 events, and a batch of 2,000
positions clean against the same batch with one case whose events make `apply` raise.

Run with `./run bench -k parked_speed`; figures are printed, not asserted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from deploy.migrate import apply_migrations
from domain.application import Wardship
from domain.storage import event_store_env
from projections import parked
from projections.cases import CasesModel
from projections.registry import MODELS
from projections.runner import Fleet, Worker, ensure
from tests.bench import test_projection_speed as log
from tests.projections.conftest import CIPHER_KEY

if TYPE_CHECKING:
    from projections.base import Positioned
    from projections.store import Batch

pytestmark = pytest.mark.bench

EVENTS = 20_000


def test_fleet_speed_and_the_cost_of_a_bad_case(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(log, "EVENTS", EVENTS)
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=4))
    log.build_log(app)
    apply_migrations(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for run in range(3):
            conn.execute("DROP TABLE IF EXISTS wardship_projections CASCADE")
            models = [model_class() for model_class in MODELS.values()]
            for model in models:
                ensure(conn, model)
            started = time.perf_counter()
            fleet = Fleet(models, app, conn)
            while fleet.step():
                pass
            seconds = time.perf_counter() - started
            print(f"\nfive models, one runner, run {run}: {EVENTS / seconds:6.0f} events/s")

        victim = app.recorder.select_notifications(1000, 1)[0].originator_id

        class Faulty(CasesModel):
            def apply(self, batch: Batch, events: list[Positioned]) -> None:
                if any(event.originator_id == victim for _, event in events):
                    raise KeyError("a field the event lacks")
                super().apply(batch, events)

        for label, model in (("clean", CasesModel()), ("one bad case", Faulty())):
            conn.execute("UPDATE wardship_projections SET position = 0 WHERE name = 'cases'")
            conn.execute("DELETE FROM rm_cases")
            started = time.perf_counter()
            Worker(model, app, conn).step(2000)
            print(f"cases model, a batch of 2,000 positions, {label}: "
                  f"{1000 * (time.perf_counter() - started):.0f} ms")
        print(f"parked: {parked.counts(conn)}")
    app.close()

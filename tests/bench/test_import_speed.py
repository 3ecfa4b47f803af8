"""Import speed: a generated 100,000-row school roll (bad rows and dropouts included) through
`wardship import`'s reader and runner, beside the event store's raw insert rate in the same
run (pre-encoded events, 1,000 a transaction, no domain work).

Target: 100,000 rows in under 60 s. Run with `./run bench -k import_speed`; figures are
printed, not asserted.
"""

from __future__ import annotations

import time
import uuid

import pytest

from api.imports.reader import open_import
from api.imports.runner import run_job, start_job
from deploy.migrate import apply_migrations
from domain.actors import Actor
from domain.application import Wardship
from domain.child import ChildFile
from domain.codes import Role
from domain.storage import event_store_env
from tests.imports_data import school_roll
from tests.projections.conftest import CIPHER_KEY

pytestmark = pytest.mark.bench

ROWS = 100_000
RAW_EVENTS = 20_000
ADMIN = Actor("ad-1", frozenset({Role.ADMIN}), "511102")


def raw_insert_rate(app: Wardship) -> float:
    """Events per second the recorder stores when handed encoded events 1,000 at a time."""
    personal = {"name": "学生", "sex": "male", "birth_date": "2012-01-01",
                "id_number": "511102201201010011", "address": None, "school": "第一小学"}
    batches = []
    for _ in range(RAW_EVENTS // 1000):
        files = [ChildFile.imported(uuid.uuid4(), jurisdiction="511102001001",
                                    category="other", personal=personal,
                                    source="school_roll", row_key="S1", job_id="bench",
                                    recorded_by="b", command_id="c") for _ in range(1000)]
        batches.append([app.mapper.to_stored_event(e) for f in files
                        for e in f.collect_events()])
    started = time.perf_counter()
    for stored in batches:
        app.recorder.insert_events(stored)
    return RAW_EVENTS / (time.perf_counter() - started)


def test_import_speed(db_url: str) -> None:
    apply_migrations(db_url)
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=4))
    roll = school_roll(ROWS)
    data = roll.text.encode()
    try:
        started = time.perf_counter()
        file = open_import(data, "school_roll")
        job = run_job(app, ADMIN, file, start_job(app, ADMIN, file, "511102"))
        seconds = time.perf_counter() - started
        events = app.recorder.max_notification_id() or 0
        raw = raw_insert_rate(app)
    finally:
        app.close()
    assert job["finished"]
    assert job["rows_done"] == ROWS
    print(f"\nimport of {ROWS:,} rows ({len(data) / 1e6:.1f} MB, {job['rejected']} rejected, "
          f"{job['cases_opened']} discovery cases, {events:,} events): {seconds:.1f} s, "
          f"{ROWS / seconds:,.0f} rows/s, {events / seconds:,.0f} events/s")
    print(f"raw insert rate of the event store (1,000 encoded events a transaction): "
          f"{raw:,.0f} events/s; the import stores events at "
          f"{events / seconds / raw:.2f}x that rate")

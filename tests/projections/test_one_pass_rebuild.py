"""Rebuilding every read model in one pass over the log: the rows of the live runner and of
model-by-model rebuilds, undecodable events parked for each model that reads them, and a
rebuild that fails half-way leaving the live tables serving."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest

from api.cli.demo_data import load_demo
from api.cli.demo_ledger import load_ledger
from deploy.migrate import apply_migrations
from domain.actors import Actor
from domain.codes import Role
from projections.registry import MODELS
from projections.runner import (
    SHADOW,
    position_of,
    rebuild,
    rebuild_models,
    run_models,
    wait_until,
)
from projections.stats import StatsModel
from tests.projections.conftest import project_all, snapshot
from tests.projections.test_imported_files import import_rows
from tests.projections.test_parked import accept, report, wardship
from tests.undecodable import insert_garbage, written_with_another_key

if TYPE_CHECKING:
    from pathlib import Path

    from domain.application import Wardship
    from projections.base import Positioned
    from projections.store import Batch

ADMIN = Actor("ad-1", frozenset({Role.ADMIN}), "511102")


def every_model() -> list[Any]:
    return [model_class() for model_class in MODELS.values()]


def states(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    """Each projection's state row: generation and position."""
    return {name: (generation, position) for name, generation, position in conn.execute(
        "SELECT name, generation, position FROM wardship_projections").fetchall()}


def tables_of_generation(conn: psycopg.Connection[Any], generation: int) -> list[str]:
    found = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE %s",
                         (f"rm\\_%\\_\\_g{generation}",)).fetchall()
    return sorted(name for (name,) in found)


@pytest.fixture
def mixed(app: Wardship) -> None:
    """Cases with deadlines, escalations and child files; monitored children; an import of
    a school roll; a contact on duty (an event no read model reads)."""
    load_demo(app, children=30, seed=11)
    load_ledger(app, children=15, seed=11)
    import_rows(app, 6, "one pass")
    app.register_contact(ADMIN, {"jurisdiction": "511102", "name": "值班联系人",
                                 "role": "supervisor",
                                 "channels": [{"type": "webhook", "url": "https://x.invalid/h"}]})


class TestOnePass:
    def test_gives_the_rows_of_the_live_runner_and_of_model_by_model_rebuilds(
        self, app: Wardship, conn: psycopg.Connection[Any], mixed: None
    ) -> None:
        project_all(app, conn, limit=97)
        live = snapshot(conn)
        assert all(live[table] for table in (
            "rm_cases", "rm_deadlines", "rm_notifications", "rm_children", "rm_child_cases",
            "rm_stat_spells", "rm_ledger"))
        for model in every_model():
            rebuild(model, app, conn)
        assert snapshot(conn) == live

        position = rebuild_models(every_model(), app, conn, limit=53)

        assert snapshot(conn) == live
        head = app.recorder.max_notification_id()
        assert position == head
        assert states(conn) == dict.fromkeys(MODELS, (3, head))  # no shadow row is left
        assert tables_of_generation(conn, 2) == []  # the generation it replaced is dropped

    def test_the_named_models_only(
        self, app: Wardship, conn: psycopg.Connection[Any], mixed: None
    ) -> None:
        project_all(app, conn)
        live = snapshot(conn)
        rebuild_models([MODELS["ledger"](), MODELS["cases"]()], app, conn)
        assert snapshot(conn) == live
        head = app.recorder.max_notification_id()
        assert {name: state[0] for name, state in states(conn).items()} == {
            **dict.fromkeys(MODELS, 1), "ledger": 2, "cases": 2}
        assert position_of(conn, "ledger") == position_of(conn, "cases") == head


def parkings(conn: psycopg.Connection[Any]) -> dict[tuple[str, int], int]:
    """Attempts per parked (consumer, position)."""
    return {(consumer, position): attempts for consumer, position, attempts in conn.execute(
        "SELECT consumer, position, attempts FROM wardship_parked_events").fetchall()}


def test_an_undecodable_event_is_parked_for_each_model_that_reads_it(
    app: Wardship, conn: psycopg.Connection[Any], store_url: str
) -> None:
    apply_migrations(store_url)
    first = report(app)
    start = app.recorder.max_notification_id() or 0
    written_with_another_key(store_url, report)  # a case and a child file
    foreign = set(range(start + 1, (app.recorder.max_notification_id() or 0) + 1))
    _, garbage = insert_garbage(conn)
    second = report(app)
    accept(app, first)
    project_all(app, conn)
    # Model by model, as before: each parks what it reads of the bad events.
    for model in every_model():
        rebuild(model, app, conn)
    by_model = parkings(conn)
    log = app.recorder.select_notifications(1, 10_000)
    for name, model_class in MODELS.items():
        bad = {n.id for n in log if n.topic in model_class.topics
               and (n.id in foreign or n.id == garbage)}
        assert {p for consumer, p in by_model if consumer == f"projection:{name}"} == bad
    live = snapshot(conn)

    rebuild_models(every_model(), app, conn)

    # The one pass parks the same events for the same models (one more attempt each)...
    assert parkings(conn) == {key: attempts + 1 for key, attempts in by_model.items()}
    # ...and applies everything else.
    assert snapshot(conn) == live
    stages = dict(conn.execute("SELECT case_id, stage FROM rm_cases").fetchall())
    assert set(stages) == {first, second}
    assert stages[first] != "report"


class Failing(StatsModel):
    """The stats model losing its database connection on the third batch of a rebuild."""

    batches = 0

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        Failing.batches += 1
        if Failing.batches == 3:
            raise psycopg.OperationalError("connection lost")
        super().apply(batch, events)


def test_a_rebuild_that_fails_half_way_leaves_the_live_tables_serving(
    app: Wardship, conn: psycopg.Connection[Any], mixed: None
) -> None:
    project_all(app, conn)
    live, before = snapshot(conn), states(conn)
    views = conn.execute("SELECT viewname, definition FROM pg_views"
                         " WHERE viewname LIKE 'rm\\_%' ORDER BY 1").fetchall()
    models = [Failing() if name == "stats" else MODELS[name]() for name in MODELS]

    with pytest.raises(psycopg.OperationalError, match="connection lost"):
        rebuild_models(models, app, conn, limit=50)

    assert Failing.batches == 3
    assert snapshot(conn) == live
    assert states(conn) == before  # no shadow row left behind either
    assert conn.execute("SELECT viewname, definition FROM pg_views"
                        " WHERE viewname LIKE 'rm\\_%' ORDER BY 1").fetchall() == views
    assert tables_of_generation(conn, 2) == []  # the half-built tables are dropped
    # The live runner goes on, and the next rebuild succeeds.
    case_id = report(app)
    project_all(app, conn)
    assert UUID(str(case_id)) in dict(conn.execute("SELECT case_id, stage FROM rm_cases"))
    rebuild_models(every_model(), app, conn)
    assert states(conn) == dict.fromkeys(MODELS, (2, app.recorder.max_notification_id()))


def test_the_rebuild_command_rebuilds_every_model_in_one_pass(
    app: Wardship, conn: psycopg.Connection[Any], store_url: str, tmp_path: Path, mixed: None
) -> None:
    apply_migrations(store_url)
    project_all(app, conn)
    live = snapshot(conn)
    done = wardship(tmp_path, store_url, "projections", "rebuild")
    assert done.returncode == 0, done.stderr
    assert f"rebuilt {', '.join(MODELS)} up to log position" in done.stdout
    assert snapshot(conn) == live
    assert {state[0] for state in states(conn).values()} == {2}
    assert wardship(tmp_path, store_url, "projections", "rebuild", "--all").returncode == 0
    assert wardship(tmp_path, store_url, "projections", "rebuild", "inbox").returncode == 0
    assert states(conn)["inbox"][0] == 4
    assert states(conn)["cases"][0] == 3
    assert not any(name.endswith(SHADOW) for name in states(conn))


def test_a_rebuild_under_the_live_runner_and_writers_loses_and_repeats_nothing(
    app: Wardship, conn: psycopg.Connection[Any], store_url: str, mixed: None
) -> None:
    project_all(app, conn)
    stop_runner, stop_writing = threading.Event(), threading.Event()
    runner = threading.Thread(target=run_models, args=(list(MODELS), app, store_url,
                                                       stop_runner))
    opened: list[UUID] = []

    def write() -> None:
        while not stop_writing.is_set():
            case_id = report(app)
            accept(app, case_id)
            opened.append(case_id)

    writer = threading.Thread(target=write)
    runner.start()
    writer.start()
    try:
        rebuild_models(every_model(), app, conn, limit=40)
    finally:
        stop_writing.set()
        writer.join()
    head = app.recorder.max_notification_id() or 0
    try:
        for name in MODELS:
            assert wait_until(conn, name, head, 30), name
    finally:
        stop_runner.set()
        runner.join()
    assert opened
    served = snapshot(conn)
    assert set(opened) <= {row[0] for row in served["rm_cases"]}
    # Rebuilt again from the log with nothing moving, every table is the same.
    rebuild_models(every_model(), app, conn)
    assert snapshot(conn) == served

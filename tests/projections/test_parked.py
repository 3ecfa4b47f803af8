"""A read model parks an event it cannot decode or apply and keeps moving; a lost database
parks nothing; `wardship parked` lists, retries and resolves what was parked."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest

from api.cli.demo_data import caseworker
from deploy.migrate import apply_migrations
from projections import parked
from projections.cases import CasesModel
from projections.registry import MODELS
from projections.runner import Fleet, Worker, ensure, position_of
from tests.projections.conftest import CIPHER_KEY
from tests.undecodable import damage, insert_garbage, restore, written_with_another_key

if TYPE_CHECKING:
    from pathlib import Path

    from domain.application import Wardship
    from projections.base import Positioned
    from projections.store import Batch

TOWNSHIP = "511102001"
CHILD_NAME = "测试儿童"


def report(app: Wardship) -> UUID:
    view = app.open_case(
        caseworker(TOWNSHIP), entry="report", jurisdiction=TOWNSHIP,
        child={"name": CHILD_NAME, "sex": "female", "birth_date": "2015-05-05",
               "category": "left_behind", "id_number": None},
        concern={"categories": ["neglect"], "summary": "invented", "danger_now": False},
        source={"channel": "school", "reporter": {"mandatory": True}},
    )
    return UUID(view["id"])


def accept(app: Wardship, case_id: UUID) -> None:
    worker = caseworker(TOWNSHIP)
    app.perform(case_id, worker, "accept_report", {"grade": "yellow", "assignee": worker.subject})


def stages(conn: psycopg.Connection[Any]) -> dict[UUID, str]:
    return dict(conn.execute("SELECT case_id, stage FROM rm_cases").fetchall())


def parked_positions(conn: psycopg.Connection[Any], consumer: str) -> set[int]:
    return {row.position for row in parked.rows(conn) if row.consumer == consumer}


@pytest.fixture
def migrated(app: Wardship, store_url: str) -> str:
    """The store with the project's migrations (the parked-events table among them)."""
    apply_migrations(store_url)
    return store_url


def run_fleet(app: Wardship, conn: psycopg.Connection[Any], limit: int = 2000) -> None:
    """Every read model in one runner, as `wardship projections run` has them, until caught up."""
    models = [model_class() for model_class in MODELS.values()]
    for model in models:
        ensure(conn, model)
    fleet = Fleet(models, app, conn)
    while fleet.step(limit):
        pass


class TestUndecodableEvents:
    def test_the_runner_parks_events_of_another_key_and_garbage_and_applies_those_after(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        # Good events of two cases, with undecodable ones between them.
        first = report(app)
        foreign = written_with_another_key(migrated, report)
        garbage, garbage_position = insert_garbage(conn)
        second = report(app)
        accept(app, first)

        run_fleet(app, conn)

        # The read models moved past the bad events to the end of the log...
        head = app.recorder.max_notification_id()
        assert {name: position_of(conn, name) for name in MODELS} == dict.fromkeys(MODELS, head)
        assert stages(conn) == {first: app.get_case(first)["stage"], second: "report"}
        assert stages(conn)[first] != "report"  # the acceptance after the bad events counted
        # ...and each parked every bad event it reads, with where it is and what failed.
        bad = {n.id for n in app.recorder.select_notifications(1, 1000)
               if n.topic in CasesModel.topics and n.originator_id == foreign}
        assert bad
        assert parked_positions(conn, "projection:cases") == bad | {garbage_position}
        rows = {row.position: row for row in parked.rows(conn)
                if row.consumer == "projection:cases"}
        assert rows[garbage_position].originator_id == garbage
        assert rows[garbage_position].originator_version == 1
        assert rows[min(bad)].error_type == "eventsourcing.persistence.MapperDeserialisationError"
        assert rows[min(bad)].error.startswith("decode failed: eventsourcing.persistence.")
        assert {row.status for row in rows.values()} == {"parked"}
        assert parked.counts(conn)["projection:cases"] == len(bad) + 1
        # The error names where it was raised, never what the event says.
        assert not any(CHILD_NAME in row.error for row in parked.rows(conn))

    def test_running_again_counts_an_attempt_instead_of_a_second_row(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        _, position = insert_garbage(conn)
        run_fleet(app, conn)
        conn.execute("UPDATE wardship_projections SET position = 0 WHERE name = 'cases'")
        run_fleet(app, conn)
        [row] = [row for row in parked.rows(conn) if row.consumer == "projection:cases"]
        assert (row.position, row.attempts) == (position, 2)


class Faulty(CasesModel):
    """The cases model with a bug that only one case's events trigger."""

    victim: UUID | None = None

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        if any(event.originator_id == self.victim for _, event in events):
            raise KeyError("a field the event lacks")
        super().apply(batch, events)


class TestApplyErrors:
    def test_only_the_event_that_fails_to_apply_is_parked_the_rest_of_its_batch_applies(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        before, victim, after = report(app), report(app), report(app)
        ensure(conn, CasesModel())
        model = Faulty()
        model.victim = victim

        Worker(model, app, conn).catch_up()

        assert set(stages(conn)) == {before, after}
        assert parked_positions(conn, "projection:cases") == {
            n.id for n in app.recorder.select_notifications(1, 100)
            if n.originator_id == victim and n.topic in CasesModel.topics}
        [error] = {row.error for row in parked.rows(conn)}
        assert error.startswith("apply failed: KeyError at projections/test_parked.py:")

    def test_a_data_error_from_the_database_parks_the_event(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        class Dividing(CasesModel):
            def apply(self, batch: Batch, events: list[Positioned]) -> None:
                batch.cur.execute("SELECT 1 / 0")  # a value of the event the database refuses
                super().apply(batch, events)

        report(app)
        ensure(conn, CasesModel())
        Worker(Dividing(), app, conn).catch_up()
        assert position_of(conn, "cases") == app.recorder.max_notification_id()
        assert {row.error_type for row in parked.rows(conn)} == {"psycopg.errors.DivisionByZero"}

    def test_a_lost_connection_parks_nothing_and_the_batch_is_applied_once_it_is_back(
        self, app: Wardship, store_url: str, migrated: str
    ) -> None:
        report(app)
        victim = report(app)

        class Disconnected(CasesModel):
            """The runner's connection is cut while it applies, then apply fails: the failure
            looks like the event's own, but the database is what went away."""

            def apply(self, batch: Batch, events: list[Positioned]) -> None:
                with psycopg.connect(store_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)",
                                  (batch.cur.connection.info.backend_pid,))
                raise KeyError("a field the event lacks")

        with psycopg.connect(store_url, autocommit=True) as cut:
            ensure(cut, CasesModel())
            with pytest.raises(psycopg.OperationalError):
                Worker(Disconnected(), app, cut).step()
        with psycopg.connect(store_url, autocommit=True) as conn:
            assert parked.rows(conn, include_resolved=True) == []
            assert position_of(conn, "cases") == 0
            # The next runner (or the retry) applies the batch whole.
            Worker(CasesModel(), app, conn).catch_up()
            assert victim in stages(conn)
            assert parked.rows(conn, include_resolved=True) == []


def wardship(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`wardship ARGS` as an operator runs it, against this test's store."""
    env = {**os.environ, "DATABASE_URL": db_url, "WARDSHIP_CIPHER_KEY": CIPHER_KEY,
           "WARDSHIP_STATE_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120, check=False)


class TestParkedCommand:
    def test_list_retry_after_a_restore_and_resolve(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str, tmp_path: Path
    ) -> None:
        # A case whose opening event was damaged on disk, and one from another key.
        damaged = report(app)
        original = damage(conn, damaged, 1)
        foreign = written_with_another_key(migrated, report)
        run_fleet(app, conn)
        assert damaged not in stages(conn)
        listed = wardship(tmp_path, migrated, "parked", "list")
        assert listed.returncode == 0, listed.stderr
        assert str(damaged) in listed.stdout
        assert str(foreign) in listed.stdout
        assert "CaseOpened" in listed.stdout

        # Restored from a backup, the damaged event is retried into every read model.
        restore(conn, damaged, 1, original)
        ids = [str(row.id) for row in parked.rows(conn) if row.originator_id == damaged]
        retried = wardship(tmp_path, migrated, "parked", "retry", *ids)
        assert retried.returncode == 0, retried.stderr
        assert stages(conn)[damaged] == "report"
        assert all(row.status == "resolved" for row in parked.rows(conn, include_resolved=True)
                   if row.originator_id == damaged)

        # Another key's events still fail: counted, kept parked, exit status 1.
        [foreign_id] = [row.id for row in parked.rows(conn)
                        if row.consumer == "projection:cases" and row.originator_id == foreign
                        and row.originator_version == 1]
        again = wardship(tmp_path, migrated, "parked", "retry", str(foreign_id))
        assert again.returncode == 1
        assert "still fails (eventsourcing.persistence.MapperDeserialisationError" in again.stderr
        [row] = parked.rows(conn, ids=[foreign_id])
        assert (row.status, row.attempts) == ("parked", 2)

        # Handled by hand instead: resolved with the reason, kept, no longer listed.
        resolved = wardship(tmp_path, migrated, "parked", "resolve", str(foreign_id),
                            "--reason", "written by a test deployment; re-entered by hand")
        assert resolved.returncode == 0, resolved.stderr
        [row] = parked.rows(conn, ids=[foreign_id])
        assert row.status == "resolved"
        assert row.resolution == "by hand: written by a test deployment; re-entered by hand"
        assert f"\n{foreign_id}\t" not in wardship(tmp_path, migrated, "parked", "list").stdout
        assert f"\n{foreign_id}\t" in wardship(
            tmp_path, migrated, "parked", "list", "--all").stdout
        unknown = wardship(tmp_path, migrated, "parked", "resolve", str(foreign_id),
                           "--reason", "twice")
        assert unknown.returncode == 1

    def test_a_rebuild_parks_again_what_a_retry_resolved_but_not_what_was_resolved_by_hand(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        _, by_hand = insert_garbage(conn)
        _, retried = insert_garbage(conn)
        run_fleet(app, conn)
        rows = {row.position: row for row in parked.rows(conn)
                if row.consumer == "projection:cases"}
        with conn.cursor() as cur:
            parked.resolve(cur, rows[by_hand].id, parked.BY_HAND + "not needed")
            parked.resolve(cur, rows[retried].id, "retried: applied to the read model")
        conn.execute("UPDATE wardship_projections SET position = 0 WHERE name = 'cases'")
        run_fleet(app, conn)
        rows = {row.position: row for row in parked.rows(conn, include_resolved=True)
                if row.consumer == "projection:cases"}
        assert (rows[by_hand].status, rows[by_hand].attempts) == ("resolved", 2)
        assert rows[by_hand].resolution == "by hand: not needed"
        assert (rows[retried].status, rows[retried].attempts) == ("parked", 2)
        assert rows[retried].resolution is None

    def test_rows_are_never_deleted(
        self, app: Wardship, conn: psycopg.Connection[Any], migrated: str
    ) -> None:
        insert_garbage(conn)
        run_fleet(app, conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM wardship_parked_events")


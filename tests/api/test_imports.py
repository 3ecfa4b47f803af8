"""`wardship import FILE` on PostgreSQL: a generated 10,000-row school roll with bad rows,
killed half way and run again, adds each good row once and reports each bad row; rows match
the files of cases opened before; a risk row opens one discovery case, a rerun none."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from api.bootstrap import bootstrap
from api.cli import main as wardship
from api.cli.migrate import migrate_database
from api.settings import get_settings
from domain.actors import Actor
from domain.child import ChildFile
from domain.codes import Role
from domain.errors import CaseNotFound
from domain.events import CaseOpened
from domain.import_job import import_job_id
from tests.imports_data import HEADER, id_number, school_roll

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from domain.application import Wardship

COUNTY = "511102"
ADMIN = Actor("ad-1", frozenset({Role.ADMIN}), COUNTY)


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wardship]:
    """`wardship` set up on this test's migrated database, and the application reading it."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WARDSHIP_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    migrate_database(get_settings())
    app = bootstrap(get_settings(), pool_size=2)
    try:
        yield app
    finally:
        app.close()
        get_settings.cache_clear()


def import_file(path: Path, *extra: str) -> int:
    return wardship(["import", str(path), "--source", "school_roll", "--by", "ad-1",
                     "--jurisdiction", COUNTY, *extra])


def job_of(app: Wardship, path: Path) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return app.import_job(ADMIN, import_job_id("school_roll", COUNTY, digest))


def imported_rows(app: Wardship, file_id: UUID) -> list[Any]:
    return [e for e in app.events.get(file_id)
            if isinstance(e, ChildFile.Imported | ChildFile.DetailsImported)]


def opened_cases(app: Wardship) -> list[Any]:
    topics = [f"{CaseOpened.__module__}:{CaseOpened.__qualname__}"]
    return [app.get_case_aggregate(UUID(str(n.originator_id)))
            for n in app.recorder.select_notifications(0, 100_000, topics=topics)]


def file_id_of(app: Wardship, number: str) -> UUID:
    from domain.child import child_file_id

    return child_file_id(f"id:{number}", app._identity_key)


class TestResumedImport:
    def test_a_roll_killed_half_way_and_run_again_adds_each_good_row_once(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        roll = school_roll(10_000)
        path = tmp_path / "roll.csv"
        path.write_text(roll.text, encoding="utf-8")
        # The first run is killed (SIGKILL) once some batches are saved.
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "import", str(path), "--source", "school_roll",
             "--by", "ad-1", "--jurisdiction", COUNTY, "--batch", "250"],
            env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        done = 0
        while done < 2000 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
            with contextlib.suppress(CaseNotFound):
                done = job_of(store, path)["rows_done"]
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted = job_of(store, path)
        assert 0 < interrupted["rows_done"] < 10_000
        assert not interrupted["finished"]

        # The second run continues and finishes; rows were rejected, so it exits 1.
        assert import_file(path) == 1
        job = job_of(store, path)
        assert job["finished"]
        assert (job["rows_done"], job["accepted"], job["rejected"]) == (
            10_000, len(roll.good), len(roll.bad_lines))
        assert job["files_created"] == len(roll.good)
        assert job["cases_opened"] == len(roll.dropouts)
        # Each good row is on its child's file once, each dropout has one discovery case.
        assert all(len(imported_rows(store, file_id_of(store, n))) == 1 for n in roll.good)
        cases = opened_cases(store)
        assert len(cases) == len(roll.dropouts)
        assert len({c.child_id for c in cases}) == len(roll.dropouts)
        # Each bad row is reported by line and column, without what it held.
        rejected = {(r["line"], r["column"]) for r in job["rejections"]}
        assert rejected == set(roll.bad_lines.items())
        report = path.with_name("roll.csv.rejects.csv").read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(report.splitlines()))
        assert {(int(r["line"]), r["column"]) for r in rows} == rejected
        assert not any(id_number(i)[:14] in report for i in range(200))
        summary = capsys.readouterr().out
        assert f"{len(roll.good)} accepted, {len(roll.bad_lines)} rejected" in summary


class TestMatching:
    def test_a_row_about_a_child_with_a_case_links_to_the_cases_file(
        self, store: Wardship, tmp_path: Path
    ) -> None:
        number = id_number(3)
        opened = store.open_case(
            Actor("cw-1", frozenset({Role.CASEWORKER}), COUNTY), entry="report",
            jurisdiction="511102001001",
            child={"name": "学生3", "id_number": number, "category": "left_behind"},
            concern={"categories": ["neglect"], "summary": "s", "danger_now": False},
            source={"channel": "school", "reporter": {"mandatory": True}})
        path = tmp_path / "roll.csv"
        path.write_text(school_roll(10, bad=False).text, encoding="utf-8")
        assert import_file(path) == 0
        job = job_of(store, path)
        assert (job["files_created"], job["files_matched"]) == (9, 1)
        file = store.child_file(UUID(opened["child_id"]))
        assert opened["id"] in file["case_ids"]
        sources = [d.get("source", "case") for d in file["details"]]
        assert sorted(sources) == ["case", "case", "school_roll"]  # the report, the
        # dropout's discovery case (row 3 is a dropout) and the roll's row


class TestRisks:
    def test_a_dropout_opens_one_discovery_case_at_the_township_and_a_rerun_none(
        self, store: Wardship, tmp_path: Path
    ) -> None:
        roll = school_roll(40, bad=False)
        path = tmp_path / "roll.csv"
        path.write_text(roll.text, encoding="utf-8")
        assert import_file(path) == 0
        cases = opened_cases(store)
        assert len(cases) == len(roll.dropouts) == 2
        case = next(c for c in cases if c.child["id_number"] == roll.dropouts[0])
        assert (case.stage, case.jurisdiction, case.source["channel"]) == (
            "discovery", "511102001", "data_match")
        assert case.concern["categories"] == ["neglect"]
        assert case.child_id == str(file_id_of(store, roll.dropouts[0]))
        assert str(case.id) in store.child_file(UUID(case.child_id))["case_ids"]

        # The same file again: nothing new. Another file with the same rows and one more
        # dropout: only that row's file and case.
        head = store.recorder.max_notification_id()
        assert import_file(path) == 0
        assert store.recorder.max_notification_id() == head
        extra = tmp_path / "roll2.csv"
        more = school_roll(44, bad=False)
        extra.write_text(more.text, encoding="utf-8")
        assert import_file(extra) == 0
        job = job_of(store, extra)
        assert (job["unchanged"], job["files_created"], job["cases_opened"]) == (40, 4, 1)
        assert len(opened_cases(store)) == 3


class TestFiles:
    def test_an_xlsx_roll_and_a_csv_with_bom_import_alike(
        self, store: Wardship, tmp_path: Path
    ) -> None:
        from openpyxl import Workbook

        roll = school_roll(5, bad=False)
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for line in roll.text.splitlines():
            sheet.append(line.split(","))
        book.save(tmp_path / "roll.xlsx")
        assert import_file(tmp_path / "roll.xlsx") == 0
        bom = tmp_path / "bom.csv"
        bom.write_text("\ufeff" + HEADER + roll.text.splitlines(keepends=True)[1], "utf-8")
        assert import_file(bom) == 0
        assert job_of(store, bom)["unchanged"] == 1  # the XLSX's first row, once

    def test_an_unknown_column_is_refused_before_anything_is_recorded(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "roll.csv"
        path.write_text("id_number,name,division_code,dropout\n", encoding="utf-8")
        assert import_file(path) == 2
        assert "unknown: dropout" in capsys.readouterr().err
        assert store.recorder.max_notification_id() in (None, 0)


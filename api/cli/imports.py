"""`wardship import FILE --source SOURCE --by SUBJECT --jurisdiction CODE`: a department's
list (CSV or XLSX) into the child files, with a progress bar, a summary and a CSV of the
rejected rows (line, column, reason).

Stopped half way (Ctrl-C, a crash), the same command continues where the last saved batch
ended; run again when finished, it records nothing twice. Output names lines and columns,
never a cell's value.
"""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING, Any

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse
    from pathlib import Path


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from domain.imports import LAYOUTS

    parser.add_argument("file", type=Path, metavar="FILE", help="CSV (UTF-8) or XLSX")
    parser.add_argument("--source", required=True, choices=sorted(LAYOUTS),
                        help="which department's list it is (its column layout: README)")
    parser.add_argument("--by", required=True, metavar="SUBJECT",
                        help="the admin the import is recorded under (their user id)")
    parser.add_argument("--jurisdiction", required=True, metavar="CODE",
                        help="that admin's division code: rows outside it are rejected")
    parser.add_argument("--rejects", type=Path, metavar="PATH", default=None,
                        help="where the CSV of rejected rows goes (default: beside FILE, "
                             "FILE.rejects.csv)")
    parser.add_argument("--batch", type=int, default=None, metavar="ROWS",
                        help="rows saved per transaction")


def run(args: argparse.Namespace) -> int:
    """0: imported, every row accepted; 1: imported, some rows rejected (see the CSV);
    2: bad usage or an unreadable file; 130: interrupted (run again to continue)."""
    from api.bootstrap import bootstrap
    from api.imports.reader import ImportFileError, open_import
    from api.imports.runner import BATCH_ROWS, run_job, start_job
    from api.settings import get_settings
    from domain.actors import Actor
    from domain.codes import Role, jurisdiction_is_valid
    from domain.errors import DomainError

    settings = get_settings()
    if settings.database_url is None:
        print("wardship import needs DATABASE_URL", file=sys.stderr)
        return 2
    if not jurisdiction_is_valid(args.jurisdiction):
        print(f"--jurisdiction {args.jurisdiction!r} is not a division code", file=sys.stderr)
        return 2
    try:
        file = open_import(args.file.read_bytes(), args.source,
                           xlsx=True if args.file.suffix.lower() == ".xlsx" else None)
    except (OSError, ImportFileError) as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 2
    admin = Actor(args.by, frozenset({Role.ADMIN}), args.jurisdiction)
    app = bootstrap(settings, pool_size=2)
    try:
        job = start_job(app, admin, file, args.jurisdiction)
        with _Bar(file.total_rows, job["rows_done"]) as bar:
            job = run_job(app, admin, file, job, batch_rows=args.batch or BATCH_ROWS,
                          progress=bar.update)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue from the last saved "
              "batch", file=sys.stderr)
        return 130
    except DomainError as error:
        print(f"{args.file}: {error.message}", file=sys.stderr)
        return 2
    finally:
        app.close()
    rejects = args.rejects or args.file.with_name(args.file.name + ".rejects.csv")
    write_rejects(rejects, job["rejections"])
    print(summary(job, rejects))
    return 1 if job["rejected"] else 0


class _Bar:
    """A progress bar of rows done (rich), on the terminal's standard error."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows · {task.fields[rejected]} rejected"), TimeRemainingColumn(),
            console=Console(stderr=True))
        self._task = self._progress.add_task("import", total=total, completed=done,
                                             rejected=0)

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        self._progress.update(self._task, completed=job["rows_done"],
                              rejected=job["rejected"])


def write_rejects(path: Path, rejections: list[dict[str, Any]]) -> None:
    """The rejected rows as CSV: line, column, reason (UTF-8 with BOM, for spreadsheets)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("line", "column", "reason"))
        writer.writerows((r["line"], r["column"], r["reason"]) for r in rejections)


def summary(job: dict[str, Any], rejects: Path) -> str:
    """What the import did, in a few lines."""
    return (f"import {job['id']} ({job['source']}, {job['jurisdiction']}): "
            f"{job['rows_done']} of {job['total_rows']} rows; {job['accepted']} accepted, "
            f"{job['rejected']} rejected\n"
            f"  child files: {job['files_created']} created, {job['files_matched']} matched, "
            f"{job['unchanged']} already up to date\n"
            f"  discovery cases opened: {job['cases_opened']}\n"
            f"  rejected rows: {rejects}")


COMMAND = Command("import", "import a department's list (school roll, household register, "
                  "disability register) into the child files", run, _add_arguments)

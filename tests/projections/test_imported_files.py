"""Child files opened or matched by an import (摸底排查、数据比对) in the children read model:
a file without a case counts none, a risk row's discovery case counts one, and a matched
row changes no count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.codes import Role
from tests.imports_data import school_roll
from tests.projections.conftest import project_all

if TYPE_CHECKING:
    import psycopg

    from domain.application import Wardship

ADMIN = Actor("ad-1", frozenset({Role.ADMIN}), "511102")


def import_rows(app: Wardship, rows: int, digest: str) -> None:
    lines = school_roll(rows, bad=False).text.splitlines()
    header = lines[0].split(",")
    job = app.start_import(ADMIN, source="school_roll", jurisdiction="511102",
                           digest=digest, total_rows=rows)
    batch = [(n + 2, dict(zip(header, line.split(","), strict=True)))
             for n, line in enumerate(lines[1:])]
    app.import_rows(ADMIN, UUID(job["id"]), 0, batch, app.child_file_ids())


def test_imported_files_show_with_the_cases_their_risks_opened(
    app: Wardship, conn: psycopg.Connection[Any]
) -> None:
    import_rows(app, 5, "first")  # row 3 (index 3) is a dropout
    import_rows(app, 6, "second")  # the same 5 rows again, and one more
    project_all(app, conn)
    rows = conn.execute("SELECT jurisdiction, category, case_count FROM rm_children"
                        " ORDER BY jurisdiction").fetchall()
    assert len(rows) == 6
    assert sorted(count for _, _, count in rows) == [0, 0, 0, 0, 0, 1]
    assert {category for _, category, _ in rows} == {"other"}
    (cases,) = conn.execute("SELECT count(*) FROM rm_child_cases").fetchone() or (0,)
    assert cases == 1

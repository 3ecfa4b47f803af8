"""Case list and search: one row per case with stage, grade, assignee, category, overdue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from domain import events as ev
from projections.base import (
    ASSIGNED,
    Positioned,
    ReadModel,
    fetch_rows,
    grade_after,
    like_prefix,
    where_equal,
)
from projections.deadlines import overdue_sql
from projections.store import Batch, Table

if TYPE_CHECKING:
    from datetime import datetime

    from psycopg import AsyncConnection

CASES = Table(
    "rm_cases",
    (
        ("case_id", "uuid"), ("child_id", "text"), ("jurisdiction", "text"),
        ("stage", "text"), ("grade", "text"), ("assignee", "text"),
        ("child_category", "text"), ("entry", "text"), ("source_channel", "text"),
        ("reporter_mandatory", "boolean"), ("opened_at", "timestamptz"),
        ("updated_at", "timestamptz"), ("version", "int"), ("opened_position", "bigint"),
        ("position", "bigint"), ("next_due_at", "timestamptz"), ("escalating", "int"),
        # Open deadlines and missed ones still escalating: {id: {"due_at", "missed"}}.
        ("pending", "jsonb"),
    ),
    ("case_id",),
    (
        "jurisdiction text_pattern_ops, opened_position",
        "opened_position",
        "assignee",
        "next_due_at",
    ),
)


def pending_after(pending: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The deadlines still needing action after an event's deadline changes."""
    pending = dict(pending)
    for change in changes:
        op, deadline_id = change["op"], change["id"]
        if op == "open":
            pending[deadline_id] = {"due_at": change["due_at"].isoformat(), "missed": False}
        elif op == "missed" and deadline_id in pending:
            pending[deadline_id] = {**pending[deadline_id], "missed": True}
        else:  # met, cancelled, or a missed step resolved
            pending.pop(deadline_id, None)
    return pending


class CasesModel(ReadModel):
    """Rows of `rm_cases`, kept current with each case event."""

    name = "cases"
    tables: ClassVar[tuple[Table, ...]] = (CASES,)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        rows = batch.rows(CASES.name)
        rows.prefetch(batch.cur, "case_id", {e.originator_id for _, e in events})
        for position, event in events:
            if isinstance(event, ev.CaseOpened):
                row = rows.put(opened_row(event, position))
            else:
                found = rows.get(batch.cur, event.originator_id)
                if found is None:
                    continue  # an event of a case opened before this model existed: impossible
                row = found
                _change(row, event)
            row["stage"] = event.stage
            row["version"] = event.originator_version
            row["updated_at"] = event.occurred_at
            row["position"] = position
            if event.deadline_changes or row["pending"] is None:
                # Only a change of deadlines moves these (most events change none).
                row["pending"] = pending_after(row["pending"] or {}, event.deadline_changes)
                row["next_due_at"] = _next_due(row["pending"])
                row["escalating"] = sum(1 for d in row["pending"].values() if d["missed"])
            rows.touch(row)


def opened_row(event: ev.CaseOpened, position: int) -> dict[str, Any]:
    reporter = (event.source or {}).get("reporter") or {}
    return {
        "case_id": event.originator_id, "child_id": event.child_id,
        "jurisdiction": event.jurisdiction, "stage": event.stage, "grade": None,
        "assignee": None, "child_category": (event.child or {}).get("category") or "other",
        "entry": event.entry, "source_channel": (event.source or {}).get("channel") or "other",
        "reporter_mandatory": bool(reporter.get("mandatory")),
        "opened_at": event.occurred_at, "opened_position": position, "pending": {},
    }


def _change(row: dict[str, Any], event: Any) -> None:
    row["grade"] = grade_after(event, row["grade"])
    if isinstance(event, ASSIGNED):
        row["assignee"] = event.assignee
    elif isinstance(event, ev.JurisdictionTransferred):
        row["jurisdiction"] = event.to_jurisdiction


def _next_due(pending: dict[str, Any]) -> datetime | None:
    from datetime import datetime

    dues = [datetime.fromisoformat(d["due_at"]) for d in pending.values() if not d["missed"]]
    return min(dues) if dues else None


# A case is overdue when one of its deadlines is: the earliest open one is past due, or a
# missed one still escalates. With nothing open the rule is false, not NULL, so NOT works.
OVERDUE = overdue_sql(is_open="next_due_at IS NOT NULL", due_at="next_due_at",
                      awaits_escalation="escalating > 0")
_SEARCH = (
    "SELECT case_id AS id, child_id, jurisdiction, stage, grade, assignee,"  # noqa: S608
    " child_category, source_channel, opened_at, updated_at, version, next_due_at,"
    f" {OVERDUE} AS overdue, opened_position FROM rm_cases"
)


async def search(
    conn: AsyncConnection[Any], *, prefix: str, stage: str | None = None,
    grade: str | None = None, assignee: str | None = None, category: str | None = None,
    overdue: bool | None = None, before: int | None = None, limit: int = 50,
) -> list[dict[str, Any]]:
    """Cases under the code `prefix` that match every given filter, newest first, opened
    before log position `before` (each row's `opened_position`)."""
    where = ["jurisdiction LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit}
    where_equal(where, params, (("stage", stage), ("grade", grade), ("assignee", assignee),
                                ("child_category", category)))
    if overdue is not None:
        where.append(OVERDUE if overdue else f"NOT {OVERDUE}")
    if before is not None:
        where.append("opened_position < %(before)s")
        params["before"] = before
    query = (f"{_SEARCH} WHERE {' AND '.join(where)}"
             " ORDER BY opened_position DESC LIMIT %(limit)s")
    return await fetch_rows(conn, query, params, ("id",))

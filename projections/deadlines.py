"""Open deadlines and the overdue board per jurisdiction, from each event's `deadline_changes`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

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
from projections.store import Batch, Table

if TYPE_CHECKING:
    from datetime import datetime

    from psycopg import AsyncConnection

DEADLINES = Table(
    "rm_deadlines",
    (
        ("case_id", "uuid"), ("deadline_id", "text"), ("kind", "text"), ("stage", "text"),
        ("ref", "text"), ("due_at", "timestamptz"), ("opened_at", "timestamptz"),
        ("status", "text"), ("closed_at", "timestamptz"), ("resolved_at", "timestamptz"),
        ("jurisdiction", "text"), ("grade", "text"), ("assignee", "text"),
        ("position", "bigint"),
    ),
    ("case_id", "deadline_id"),
    ("jurisdiction text_pattern_ops, due_at", "status, due_at"),
)
# What the board needs to know about each case: where it is, its grade and lead.
DEADLINE_CASES = Table(
    "rm_deadline_cases",
    (("case_id", "uuid"), ("jurisdiction", "text"), ("grade", "text"), ("assignee", "text")),
    ("case_id",),
)


def overdue_sql(*, is_open: str, due_at: str, awaits_escalation: str) -> str:
    """The overdue rule as SQL over a table's columns: open and past its due time, or missed
    and not yet put right (the domain's `Deadline.is_open` and `awaits_escalation`)."""
    return f"(({is_open} AND {due_at} < now()) OR {awaits_escalation})"


# An rm_deadlines row that is overdue.
OVERDUE = overdue_sql(is_open="status = 'open'", due_at="due_at",
                      awaits_escalation="(status = 'missed' AND resolved_at IS NULL)")


class DeadlinesModel(ReadModel):
    """Rows of `rm_deadlines`: every deadline ever opened, with its status."""

    name = "deadlines"
    tables: ClassVar[tuple[Table, ...]] = (DEADLINES, DEADLINE_CASES)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        cases, deadlines = batch.rows(DEADLINE_CASES.name), batch.rows(DEADLINES.name)
        ids = {e.originator_id for _, e in events}
        cases.prefetch(batch.cur, "case_id", ids)
        deadlines.prefetch(batch.cur, "case_id", ids)
        for position, event in events:
            case = cases.get(batch.cur, event.originator_id)
            if isinstance(event, ev.CaseOpened):
                case = cases.put({"case_id": event.originator_id,
                                  "jurisdiction": event.jurisdiction,
                                  "grade": None, "assignee": None})
            if case is None:
                continue
            if _case_changed(case, event):
                cases.touch(case)
                for row in deadlines.matching(event.originator_id):
                    row.update(jurisdiction=case["jurisdiction"], grade=case["grade"],
                               assignee=case["assignee"], position=position)
                    deadlines.touch(row)
            for change in event.deadline_changes:
                _apply_change(deadlines, batch, event, case, change, position)


def _case_changed(case: dict[str, Any], event: Any) -> bool:
    before = dict(case)
    case["grade"] = grade_after(event, case["grade"])
    if isinstance(event, ASSIGNED):
        case["assignee"] = event.assignee
    elif isinstance(event, ev.JurisdictionTransferred):
        case["jurisdiction"] = event.to_jurisdiction
    return case != before


def _apply_change(
    deadlines: Any, batch: Batch, event: Any, case: dict[str, Any], change: dict[str, Any],
    position: int,
) -> None:
    op, deadline_id = change["op"], change["id"]
    if op == "open":
        deadlines.put({
            "case_id": event.originator_id, "deadline_id": deadline_id, "kind": change["kind"],
            "stage": change.get("stage"), "ref": change.get("ref"), "due_at": change["due_at"],
            "opened_at": event.occurred_at, "status": "open", "closed_at": None,
            "resolved_at": None, "jurisdiction": case["jurisdiction"], "grade": case["grade"],
            "assignee": case["assignee"], "position": position,
        })
        return
    row = deadlines.get(batch.cur, event.originator_id, deadline_id)
    if row is None:
        return
    if op == "resolve":
        row["resolved_at"] = event.occurred_at
    else:
        row.update(status=op, closed_at=event.occurred_at)
    row["position"] = position
    deadlines.touch(row)


BoardStatus = Literal["overdue", "open", "missed", "all"]
_STATUS_FILTERS: dict[str, str] = {
    "overdue": OVERDUE, "open": "status = 'open'", "missed": "status = 'missed'", "all": "true",
}
_BOARD = (
    "SELECT case_id, deadline_id AS id, kind, stage, ref, due_at, opened_at,"  # noqa: S608
    " status, closed_at, resolved_at, jurisdiction, grade, assignee,"
    f" {OVERDUE} AS overdue FROM rm_deadlines"
)


async def board(
    conn: AsyncConnection[Any], *, prefix: str, status: BoardStatus = "overdue",
    kind: str | None = None, after: tuple[datetime, str, str] | None = None, limit: int = 100,
    stage: str | None = None, grade: str | None = None, due_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """Deadlines under the code `prefix` in `status` (and the given kind, stage, grade, due
    before a time), earliest due first, after the (due_at, case_id, id) of a previous row;
    each row says whether it is overdue."""
    where = ["jurisdiction LIKE %(prefix)s", _STATUS_FILTERS[status]]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit}
    where_equal(where, params, (("kind", kind), ("stage", stage), ("grade", grade)))
    if due_before is not None:
        where.append("due_at < %(due_before)s")
        params["due_before"] = due_before
    if after is not None:
        where.append("(due_at, case_id::text, deadline_id) > (%(due)s, %(case)s, %(deadline)s)")
        params.update(zip(("due", "case", "deadline"), after, strict=True))
    query = (f"{_BOARD} WHERE {' AND '.join(where)}"
             " ORDER BY due_at, case_id::text, deadline_id LIMIT %(limit)s")
    return await fetch_rows(conn, query, params, ("case_id",))


async def township_counts(
    conn: AsyncConnection[Any], *, prefix: str, due_before: datetime
) -> list[dict[str, Any]]:
    """Per township (the code's first 9 digits) under `prefix`: deadlines overdue now, and
    open ones not yet overdue but due before `due_before`."""
    cur = await conn.execute(
        f"SELECT left(jurisdiction, 9) AS township, count(*) FILTER (WHERE {OVERDUE}),"  # noqa: S608
        f" count(*) FILTER (WHERE NOT {OVERDUE} AND status = 'open'"
        " AND due_at < %(due_before)s) FROM rm_deadlines WHERE jurisdiction LIKE %(prefix)s"
        f" AND ({OVERDUE} OR (status = 'open' AND due_at < %(due_before)s))"
        " GROUP BY 1 ORDER BY 1",
        {"prefix": like_prefix(prefix), "due_before": due_before})
    return [{"township": township, "overdue": overdue, "soon": soon}
            for township, overdue, soon in await cur.fetchall()]

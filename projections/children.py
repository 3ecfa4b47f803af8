"""The child file (一人一档): each child's category and cases, last contact, next visit due.

No personal data here: names, ID numbers and addresses stay encrypted in the event store, and
the API reads them from the domain's ChildFile (`app.child_file`) when a permitted user asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from psycopg.rows import dict_row

from domain import events as ev
from domain.child import ChildFile
from projections.base import (
    CASE_EVENT_TOPICS,
    Positioned,
    ReadModel,
    fetch_rows,
    grade_after,
    topics_of,
)
from projections.store import Batch, Table

if TYPE_CHECKING:
    from psycopg import AsyncConnection

CHILDREN = Table(
    "rm_children",
    (
        ("child_id", "text"), ("jurisdiction", "text"), ("category", "text"),
        ("registered_at", "timestamptz"), ("case_count", "int"), ("position", "bigint"),
    ),
    ("child_id",),
    ("jurisdiction text_pattern_ops",),
)
CHILD_CASES = Table(
    "rm_child_cases",
    (
        ("case_id", "uuid"), ("child_id", "text"), ("jurisdiction", "text"), ("stage", "text"),
        ("grade", "text"), ("opened_at", "timestamptz"), ("updated_at", "timestamptz"),
        ("last_contact_at", "timestamptz"), ("next_visit_due", "timestamptz"),
        ("visit_deadline_id", "text"), ("position", "bigint"),
    ),
    ("case_id",),
    ("child_id",),
)
_CONTACT = (ev.VisitRecorded, ev.GuardianContactRecorded)


class ChildrenModel(ReadModel):
    """Rows of `rm_children` (from ChildFile events) and `rm_child_cases` (from case events)."""

    name = "children"
    tables: ClassVar[tuple[Table, ...]] = (CHILDREN, CHILD_CASES)
    topics = CASE_EVENT_TOPICS | topics_of(ChildFile.Registered, ChildFile.CaseLinked,
                                           ChildFile.FileMerged, ChildFile.MergedInto,
                                           ChildFile.Imported, ChildFile.DetailsImported)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        children, cases = batch.rows(CHILDREN.name), batch.rows(CHILD_CASES.name)
        children.prefetch(batch.cur, "child_id", {
            str(e.originator_id) for _, e in events if isinstance(e, ChildFile.Event)
        })
        cases.prefetch(batch.cur, "case_id", {
            e.originator_id for _, e in events if isinstance(e, ev.CaseEvent)
        } | {UUID(c) for _, e in events if isinstance(e, ChildFile.FileMerged)
             for c in e.case_ids})
        for position, event in events:
            if isinstance(event, ChildFile.FileMerged):
                _merged(children, cases, batch, event, position)
                continue
            if isinstance(event, ChildFile.Event):
                _child_event(children, batch, event, position)
                continue
            if isinstance(event, ev.CaseOpened):
                row: dict[str, Any] | None = cases.put({
                    "case_id": event.originator_id, "child_id": event.child_id,
                    "jurisdiction": event.jurisdiction, "grade": None,
                    "opened_at": event.occurred_at, "last_contact_at": None,
                    "next_visit_due": None, "visit_deadline_id": None,
                })
            else:
                row = cases.get(batch.cur, event.originator_id)
            if row is None:
                continue
            _case_event(row, event)
            row.update(stage=event.stage, updated_at=event.occurred_at, position=position)
            cases.touch(row)


def _child_event(children: Any, batch: Batch, event: Any, position: int) -> None:
    if isinstance(event, ChildFile.Registered):
        children.put({
            "child_id": str(event.originator_id), "jurisdiction": event.jurisdiction,
            "category": event.category, "registered_at": event.timestamp, "case_count": 1,
            "position": position,
        })
        return
    if isinstance(event, ChildFile.Imported):
        # A file from another department's list (摸底排查、数据比对): no case yet.
        children.put({
            "child_id": str(event.originator_id), "jurisdiction": event.jurisdiction,
            "category": event.category, "registered_at": event.timestamp, "case_count": 0,
            "position": position,
        })
        return
    row = children.get(batch.cur, str(event.originator_id))
    if row is None:
        return
    if isinstance(event, ChildFile.DetailsImported):
        row.update(category=event.category or row["category"], position=position)
    elif isinstance(event, ChildFile.MergedInto):
        row.update(case_count=0, position=position)  # its cases now count in the other file
    else:
        row.update(category=event.category or row["category"],
                   case_count=row["case_count"] + 1, position=position)
    children.touch(row)


def _merged(children: Any, cases: Any, batch: Batch, event: Any, position: int) -> None:
    """Another file's cases now belong to this child's file."""
    target = str(event.originator_id)
    for case_id in event.case_ids:
        case = cases.get(batch.cur, UUID(case_id))
        if case is not None:
            case.update(child_id=target, position=position)
            cases.touch(case)
    row = children.get(batch.cur, target)
    if row is not None:
        row.update(case_count=row["case_count"] + len(event.case_ids), position=position)
        children.touch(row)


def _case_event(row: dict[str, Any], event: Any) -> None:
    if isinstance(event, _CONTACT):
        row["last_contact_at"] = event.occurred_at  # as the case itself counts contact
    elif isinstance(event, ev.JurisdictionTransferred):
        row["jurisdiction"] = event.to_jurisdiction
    elif isinstance(event, ev.ReceivedFromPartition):
        row["child_id"] = event.child_id  # the child's file in this partition
    row["grade"] = grade_after(event, row["grade"])
    for change in event.deadline_changes:
        if change["op"] == "open" and change.get("kind") == "home_visit":
            row.update(next_visit_due=change["due_at"], visit_deadline_id=change["id"])
        elif change["id"] == row["visit_deadline_id"] and change["op"] in ("met", "cancelled"):
            row.update(next_visit_due=None, visit_deadline_id=None)


async def find_child(conn: AsyncConnection[Any], child_id: str) -> dict[str, Any] | None:
    """The child's row: jurisdiction, category, when registered, how many cases."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM rm_children WHERE child_id = %s", (child_id,))
        return await cur.fetchone()


async def child_cases(conn: AsyncConnection[Any], child_id: str) -> list[dict[str, Any]]:
    """Every case of the child, oldest first, with its last contact and next visit due."""
    return await fetch_rows(
        conn, "SELECT case_id AS id, jurisdiction, stage, grade, opened_at, updated_at,"
        " last_contact_at, next_visit_due FROM rm_child_cases WHERE child_id = %s"
        " ORDER BY opened_at", (child_id,), ("id",))

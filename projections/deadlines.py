"""Open deadlines and the overdue board per jurisdiction, from each event's `deadline_changes`."""

from __future__ import annotations

from typing import Any, ClassVar

from domain import events as ev
from projections.base import Positioned, ReadModel, grade_after
from projections.store import Batch, Table

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
    if isinstance(event, ev.ReportAccepted | ev.CaseAssigned):
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

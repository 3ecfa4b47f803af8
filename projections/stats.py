"""Statistics per jurisdiction and period: facts per case, deadline and stage spell.

The model keeps one row per fact; `GET /v1/stats` aggregates them for any jurisdiction prefix
and date range (counts, share met, medians), which running counters could not answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from domain import events as ev
from projections.base import Positioned, ReadModel, grade_after
from projections.store import Batch, Table

STAT_CASES = Table(
    "rm_stat_cases",
    (
        ("case_id", "uuid"), ("jurisdiction", "text"), ("opened_at", "timestamptz"),
        ("stage", "text"), ("grade", "text"), ("entry", "text"), ("source_channel", "text"),
        ("reporter_mandatory", "boolean"), ("spells", "int"),
    ),
    ("case_id",),
    ("jurisdiction text_pattern_ops, opened_at",),
)
STAT_DEADLINES = Table(
    "rm_stat_deadlines",
    (
        ("case_id", "uuid"), ("deadline_id", "text"), ("jurisdiction", "text"),
        ("due_at", "timestamptz"), ("kind", "text"), ("stage", "text"), ("status", "text"),
    ),
    ("case_id", "deadline_id"),
    ("jurisdiction text_pattern_ops, due_at",),
)
# One row per time a case spent in a stage; left_at is null while it is still there.
STAT_SPELLS = Table(
    "rm_stat_spells",
    (
        ("case_id", "uuid"), ("seq", "int"), ("jurisdiction", "text"), ("stage", "text"),
        ("entered_at", "timestamptz"), ("left_at", "timestamptz"),
    ),
    ("case_id", "seq"),
    ("jurisdiction text_pattern_ops, entered_at",),
)


class StatsModel(ReadModel):
    """Facts for statistics: cases (by stage, grade, channel), deadlines, stage spells."""

    name = "stats"
    tables: ClassVar[tuple[Table, ...]] = (STAT_CASES, STAT_DEADLINES, STAT_SPELLS)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        cases = batch.rows(STAT_CASES.name)
        deadlines = batch.rows(STAT_DEADLINES.name)
        spells = batch.rows(STAT_SPELLS.name)
        ids = {e.originator_id for _, e in events}
        cases.prefetch(batch.cur, "case_id", ids)
        for _, event in events:
            if isinstance(event, ev.CaseOpened):
                reporter = (event.source or {}).get("reporter") or {}
                case: dict[str, Any] | None = cases.put({
                    "case_id": event.originator_id, "jurisdiction": event.jurisdiction,
                    "opened_at": event.occurred_at, "stage": event.stage, "grade": None,
                    "entry": event.entry,
                    "source_channel": (event.source or {}).get("channel") or "other",
                    "reporter_mandatory": bool(reporter.get("mandatory")), "spells": 1,
                })
                spells.put({"case_id": event.originator_id, "seq": 1, "stage": event.stage,
                            "jurisdiction": event.jurisdiction,
                            "entered_at": event.occurred_at, "left_at": None})
            else:
                case = cases.get(batch.cur, event.originator_id)
            if case is None:
                continue
            if event.stage != case["stage"]:
                _new_spell(spells, batch, case, event)
            _case_change(case, event)
            cases.touch(case)
            for change in event.deadline_changes:
                _deadline_change(deadlines, batch, case, event, change)


def _new_spell(spells: Any, batch: Batch, case: dict[str, Any], event: Any) -> None:
    current = spells.get(batch.cur, case["case_id"], case["spells"])
    if current is not None:
        current["left_at"] = event.occurred_at
        spells.touch(current)
    case["spells"] += 1
    case["stage"] = event.stage
    spells.put({"case_id": case["case_id"], "seq": case["spells"], "stage": event.stage,
                "jurisdiction": case["jurisdiction"], "entered_at": event.occurred_at,
                "left_at": None})


def _case_change(case: dict[str, Any], event: Any) -> None:
    case["grade"] = grade_after(event, case["grade"])


def _deadline_change(
    deadlines: Any, batch: Batch, case: dict[str, Any], event: Any, change: dict[str, Any]
) -> None:
    if change["op"] == "open":
        deadlines.put({"case_id": case["case_id"], "deadline_id": change["id"],
                       "jurisdiction": case["jurisdiction"], "due_at": change["due_at"],
                       "kind": change["kind"], "stage": change.get("stage"), "status": "open"})
    elif change["op"] in ("met", "missed", "cancelled"):
        row = deadlines.get(batch.cur, case["case_id"], change["id"])
        if row is not None:
            row["status"] = change["op"]
            deadlines.touch(row)

"""Statistics per jurisdiction and period: facts per case, deadline and stage spell.

The model keeps one row per fact; `summary` aggregates them for any jurisdiction prefix and
period (counts, share met, medians), which running counters could not answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from domain import events as ev
from projections.base import Positioned, ReadModel, grade_after, like_prefix
from projections.store import Batch, Table

if TYPE_CHECKING:
    from datetime import datetime

    from psycopg import AsyncConnection

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


_COUNTS = {
    "by_stage": "stage", "by_grade": "coalesce(grade, 'ungraded')",
    "by_source_channel": "source_channel",
    "by_reporter_type": "CASE WHEN reporter_mandatory THEN 'mandatory' ELSE 'other' END",
}


async def summary(
    conn: AsyncConnection[Any], *, prefix: str, since: datetime, until: datetime
) -> dict[str, Any]:
    """Under the code `prefix`, from `since` up to (not including) `until`: cases opened by
    stage, grade, channel and reporter type; share of deadlines due that were met, per stage
    and kind; median days spent in each stage left."""
    params = {"prefix": like_prefix(prefix), "low": since, "high": until}
    answer: dict[str, Any] = {}
    for name, expression in _COUNTS.items():
        cur = await conn.execute(
            f"SELECT {expression}, count(*) FROM rm_stat_cases"  # noqa: S608
            " WHERE jurisdiction LIKE %(prefix)s AND opened_at >= %(low)s"
            " AND opened_at < %(high)s GROUP BY 1 ORDER BY 1", params)
        answer[name] = {str(key): count for key, count in await cur.fetchall()}
    answer["cases"] = sum(answer["by_stage"].values())
    cur = await conn.execute(
        "SELECT coalesce(stage, 'case') AS stage, kind,"
        " count(*) FILTER (WHERE status = 'met'),"
        " count(*) FILTER (WHERE status = 'missed')"
        " FROM rm_stat_deadlines WHERE jurisdiction LIKE %(prefix)s"
        " AND due_at >= %(low)s AND due_at < %(high)s AND status IN ('met', 'missed')"
        " GROUP BY 1, 2 ORDER BY 1, 2", params)
    answer["deadlines_met"] = [
        {"stage": stage, "kind": kind, "met": met, "missed": missed,
         "share_met": round(met / (met + missed), 4)}
        for stage, kind, met, missed in await cur.fetchall()
    ]
    cur = await conn.execute(
        "SELECT stage, count(*), percentile_cont(0.5) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM left_at - entered_at)) FROM rm_stat_spells"
        " WHERE jurisdiction LIKE %(prefix)s AND left_at IS NOT NULL"
        " AND entered_at >= %(low)s AND entered_at < %(high)s GROUP BY 1 ORDER BY 1",
        params)
    answer["median_days_in_stage"] = {
        stage: {"spells": count, "median_days": round(float(seconds) / 86400, 3)}
        for stage, count, seconds in await cur.fetchall()
    }
    return answer


async def met_by_township(
    conn: AsyncConnection[Any], *, prefix: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per township (the code's first 9 digits) under `prefix`: deadlines due in the period
    that were met and missed, and the share met."""
    cur = await conn.execute(
        "SELECT left(jurisdiction, 9), count(*) FILTER (WHERE status = 'met'),"
        " count(*) FILTER (WHERE status = 'missed') FROM rm_stat_deadlines"
        " WHERE jurisdiction LIKE %(prefix)s AND due_at >= %(low)s AND due_at < %(high)s"
        " AND status IN ('met', 'missed') GROUP BY 1 ORDER BY 1",
        {"prefix": like_prefix(prefix), "low": since, "high": until})
    return [{"township": township, "met": met, "missed": missed,
             "share_met": round(met / (met + missed), 4)}
            for township, met, missed in await cur.fetchall()]


async def monthly(
    conn: AsyncConnection[Any], *, prefix: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per month (China time) of the period: cases opened, deadlines met and missed."""
    params = {"prefix": like_prefix(prefix), "low": since, "high": until}
    month = "to_char({} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    cur = await conn.execute(
        f"SELECT {month.format('opened_at')}, count(*) FROM rm_stat_cases"  # noqa: S608
        " WHERE jurisdiction LIKE %(prefix)s AND opened_at >= %(low)s"
        " AND opened_at < %(high)s GROUP BY 1", params)
    months: dict[str, dict[str, Any]] = {}
    for key, count in await cur.fetchall():
        months.setdefault(key, {"month": key, "opened": 0, "met": 0, "missed": 0})["opened"] = count
    cur = await conn.execute(
        f"SELECT {month.format('due_at')}, count(*) FILTER (WHERE status = 'met'),"  # noqa: S608
        " count(*) FILTER (WHERE status = 'missed') FROM rm_stat_deadlines"
        " WHERE jurisdiction LIKE %(prefix)s AND due_at >= %(low)s AND due_at < %(high)s"
        " AND status IN ('met', 'missed') GROUP BY 1", params)
    for key, met, missed in await cur.fetchall():
        row = months.setdefault(key, {"month": key, "opened": 0, "met": 0, "missed": 0})
        row.update(met=met, missed=missed)
    return [months[key] for key in sorted(months)]


async def cases_by_stage_and_grade(
    conn: AsyncConnection[Any], *, prefix: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Cases opened in the period under `prefix`, counted by their stage and grade now."""
    cur = await conn.execute(
        "SELECT stage, coalesce(grade, 'ungraded'), count(*) FROM rm_stat_cases"
        " WHERE jurisdiction LIKE %(prefix)s AND opened_at >= %(low)s"
        " AND opened_at < %(high)s GROUP BY 1, 2 ORDER BY 1, 2",
        {"prefix": like_prefix(prefix), "low": since, "high": until})
    return [{"stage": stage, "grade": grade, "cases": count}
            for stage, grade, count in await cur.fetchall()]

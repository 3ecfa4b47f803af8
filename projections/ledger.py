"""The monitoring ledger (台账): one row per monitored child with category, risk level, last
visit and next visit due, for `GET /v1/children` and visit coverage in `GET /v1/stats`.

No personal data here: guardians and caregivers stay encrypted in the event store, and the
API reads them from the domain's MonitoringRecord when a permitted user asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from domain import monitoring_events as mev
from projections.base import Positioned, ReadModel, fetch_rows, like_prefix, topics_of
from projections.deadlines import overdue_sql
from projections.store import Batch, Table

if TYPE_CHECKING:
    from psycopg import AsyncConnection

LEDGER = Table(
    "rm_ledger",
    (
        ("record_id", "uuid"), ("child_id", "text"), ("jurisdiction", "text"),
        ("category", "text"), ("risk_level", "text"), ("status", "text"),
        ("started_at", "timestamptz"), ("started_position", "bigint"),
        ("last_visit_at", "timestamptz"), ("visits", "int"),
        ("next_visit_due", "timestamptz"), ("visit_deadline_id", "text"),
        ("visit_missed", "boolean"), ("version", "int"), ("position", "bigint"),
    ),
    ("record_id",),
    ("jurisdiction text_pattern_ops, started_position", "started_position", "child_id"),
)
# A monitored child's visit is overdue when the visit due is past, or was missed and nobody
# has visited since; an ended record is never overdue.
VISIT_OVERDUE = ("(status = 'monitoring' AND " + overdue_sql(
    is_open="(visit_deadline_id IS NOT NULL AND NOT visit_missed)",
    due_at="next_visit_due", awaits_escalation="visit_missed") + ")")


class LedgerModel(ReadModel):
    """Rows of `rm_ledger`, kept current with each monitoring event."""

    name = "ledger"
    tables: ClassVar[tuple[Table, ...]] = (LEDGER,)
    topics = topics_of(*mev.MONITORING_EVENTS)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        rows = batch.rows(LEDGER.name)
        rows.prefetch(batch.cur, "record_id", {e.originator_id for _, e in events})
        for position, event in events:
            if isinstance(event, mev.MonitoringStarted):
                row: dict[str, Any] | None = rows.put({
                    "record_id": event.originator_id, "child_id": event.file_id,
                    "jurisdiction": event.jurisdiction, "category": event.category,
                    "started_at": event.occurred_at, "started_position": position,
                    "last_visit_at": None, "visits": 0, "next_visit_due": None,
                    "visit_deadline_id": None, "visit_missed": False,
                })
            else:
                row = rows.get(batch.cur, event.originator_id)
            if row is None:
                continue
            _change(row, event)
            row.update(status=event.stage, version=event.originator_version, position=position)
            rows.touch(row)


_RISK_SET = mev.MonitoringStarted | mev.RiskLevelSet


def _change(row: dict[str, Any], event: Any) -> None:
    if isinstance(event, _RISK_SET):
        row["risk_level"] = event.risk_level
    elif isinstance(event, mev.MonitoringVisitRecorded):
        row.update(last_visit_at=event.occurred_at, visits=row["visits"] + 1,
                   risk_level=event.risk_level or row["risk_level"])
    for change in event.deadline_changes:
        if change["op"] == "open" and change.get("kind") == "visit":
            row.update(next_visit_due=change["due_at"], visit_deadline_id=change["id"],
                       visit_missed=False)
        elif change["id"] != row["visit_deadline_id"]:
            continue
        elif change["op"] == "missed":
            row["visit_missed"] = True
        elif change["op"] in ("met", "cancelled", "resolve"):
            row.update(next_visit_due=None, visit_deadline_id=None, visit_missed=False)


_LIST = (
    "SELECT child_id, jurisdiction, category, risk_level, status,"  # noqa: S608
    " started_at, last_visit_at, visits, next_visit_due,"
    f" {VISIT_OVERDUE} AS visit_overdue, started_position FROM rm_ledger"
)


async def ledger(
    conn: AsyncConnection[Any], *, prefix: str, category: str | None = None,
    risk_level: str | None = None, status: str | None = None, overdue: bool | None = None,
    before: int | None = None, limit: int = 50,
) -> list[dict[str, Any]]:
    """Monitored children under the code `prefix` matching every given filter, newest taken
    into the ledger first, started before log position `before`."""
    where = ["jurisdiction LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit}
    for column, value in (("category", category), ("risk_level", risk_level),
                          ("status", status)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = str(value)
    if overdue is not None:
        where.append(VISIT_OVERDUE if overdue else f"NOT {VISIT_OVERDUE}")
    if before is not None:
        where.append("started_position < %(before)s")
        params["before"] = before
    query = (f"{_LIST} WHERE {' AND '.join(where)}"
             " ORDER BY started_position DESC LIMIT %(limit)s")
    return await fetch_rows(conn, query, params)


async def ledger_entry(conn: AsyncConnection[Any], child_id: str) -> dict[str, Any] | None:
    """The ledger row of one child file, if the child was ever monitored."""
    rows = await fetch_rows(conn, f"{_LIST} WHERE child_id = %s", (child_id,))
    return rows[0] if rows else None


async def visit_coverage(conn: AsyncConnection[Any], prefix: str) -> list[dict[str, Any]]:
    """Per township under `prefix`: children monitored now, and how many of them are not
    overdue for their visit (visited on time, or not yet due)."""
    return await fetch_rows(
        conn, "SELECT left(jurisdiction, 9) AS township, count(*) AS monitored,"  # noqa: S608
        f" count(*) FILTER (WHERE NOT {VISIT_OVERDUE}) AS on_time FROM rm_ledger"
        " WHERE status = 'monitoring' AND jurisdiction LIKE %s"
        " GROUP BY 1 ORDER BY 1", (like_prefix(prefix),))

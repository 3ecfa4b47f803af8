"""The supervisor inbox: escalation notifications per recipient jurisdiction, deliveries, acks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from domain import events as ev
from domain.case_state import handover_notice, notified_jurisdiction
from domain.holders import ACKNOWLEDGED, ALARMED, DELIVERED, DELIVERY_FAILED, ESCALATED
from projections.base import Positioned, ReadModel, fetch_rows, like_prefix, topics_of
from projections.store import Batch, Table

if TYPE_CHECKING:
    from psycopg import AsyncConnection

# The pseudo-channel of a notice held for the morning digest.
DIGEST, HELD = "digest", "held"

NOTIFICATIONS = Table(
    "rm_notifications",
    (
        ("notification_id", "text"), ("position", "bigint"), ("case_id", "uuid"),
        ("deadline_id", "text"), ("kind", "text"), ("due_at", "timestamptz"), ("level", "int"),
        ("recipient_jurisdiction", "text"), ("assignee", "text"),
        ("case_jurisdiction", "text"), ("recorded_at", "timestamptz"),
        # {channel: "delivered" | "failed"}, or {"digest": "held"} for a notice waiting for
        # the morning digest
        ("deliveries", "jsonb"), ("acknowledged_by", "text"),
        ("acknowledged_at", "timestamptz"), ("updated_position", "bigint"),
    ),
    ("notification_id",),
    ("recipient_jurisdiction, position", "case_id"),
)


class InboxModel(ReadModel):
    """Rows of `rm_notifications`; `position` (log order) is the SSE event id."""

    name = "inbox"
    tables: ClassVar[tuple[Table, ...]] = (NOTIFICATIONS,)
    topics = topics_of(
        *ESCALATED, *ALARMED, *DELIVERED, *DELIVERY_FAILED, *ACKNOWLEDGED,
        ev.JurisdictionTransferred)

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        rows = batch.rows(NOTIFICATIONS.name)
        rows.prefetch(batch.cur, "notification_id", {_notice(e) for _, e in events})
        for position, event in events:
            if isinstance(event, ev.JurisdictionTransferred):
                # The old area is told that the case left it (no deadline, not overdue).
                rows.put({
                    "notification_id": _notice(event), "position": position,
                    "case_id": event.originator_id, "deadline_id": None, "kind": "handover",
                    "due_at": None, "level": 1,
                    "recipient_jurisdiction": notified_jurisdiction(event.from_jurisdiction, 1),
                    "assignee": None, "case_jurisdiction": event.to_jurisdiction,
                    "recorded_at": event.timestamp, "deliveries": {}, "acknowledged_by": None,
                    "acknowledged_at": None, "updated_position": position,
                })
                continue
            if isinstance(event, ESCALATED + ALARMED):
                rows.put({
                    "notification_id": event.notification_id, "position": position,
                    # A pattern alarm is about a child: the case whose report raised it, if
                    # a report did (its id begins with the child file's).
                    "case_id": event.case_id if isinstance(event, ALARMED)
                    else event.originator_id,
                    "deadline_id": event.deadline_id,
                    "kind": event.kind, "due_at": event.due_at, "level": event.level,
                    "recipient_jurisdiction": event.recipient_jurisdiction,
                    "assignee": event.assignee, "case_jurisdiction": event.case_jurisdiction,
                    "recorded_at": event.timestamp,
                    # A notice held for the morning digest says so until a channel has it.
                    "deliveries": {} if event.urgent is not False else {DIGEST: HELD},
                    "acknowledged_by": None, "acknowledged_at": None,
                    "updated_position": position,
                })
                continue
            row = rows.get(batch.cur, event.notification_id)
            if row is None:
                continue
            if isinstance(event, ACKNOWLEDGED):
                row.update(acknowledged_by=event.actor_id, acknowledged_at=event.occurred_at)
            else:
                outcome = "delivered" if isinstance(event, DELIVERED) else "failed"
                row["deliveries"] = {**(row["deliveries"] or {}), event.channel: outcome}
            row["updated_position"] = position
            rows.touch(row)


def _notice(event: Any) -> str:
    """The notification an event is or is about."""
    if isinstance(event, ev.JurisdictionTransferred):
        return handover_notice(event.originator_id, event.originator_version)
    return str(event.notification_id)


_INBOX = (
    "SELECT notification_id AS id, position, case_id, deadline_id, kind, due_at, level,"
    " recipient_jurisdiction, assignee, case_jurisdiction, recorded_at, deliveries,"
    " acknowledged_by, acknowledged_at FROM rm_notifications"
)


async def notifications(
    conn: AsyncConnection[Any], code: str, *, after: int | None = None,
    before: int | None = None, acknowledged: bool | None = None, limit: int = 50,
    ascending: bool = False,
) -> list[dict[str, Any]]:
    """Notifications addressed to exactly `code` between log positions `after` and `before`,
    in log order (newest first unless `ascending`), each with its overall `delivery`."""
    where = ["recipient_jurisdiction = %(code)s"]
    params: dict[str, Any] = {"code": code, "limit": limit}
    if after is not None:
        where.append("position > %(after)s")
        params["after"] = after
    if before is not None:
        where.append("position < %(before)s")
        params["before"] = before
    if acknowledged is not None:
        where.append("acknowledged_by IS " + ("NOT NULL" if acknowledged else "NULL"))
    order = "ASC" if ascending else "DESC"
    query = (f"{_INBOX} WHERE {' AND '.join(where)}"
             f" ORDER BY position {order} LIMIT %(limit)s")
    rows = await fetch_rows(conn, query, params, ("case_id",))
    for row in rows:
        row["delivery"] = _delivery(row["deliveries"] or {})
    return rows


def _delivery(deliveries: dict[str, str]) -> str:
    """Delivered if any channel delivered, failed if all tried failed, held while it waits
    for the morning digest, else pending."""
    outcomes = {v for k, v in deliveries.items() if k != DIGEST}
    if "delivered" in outcomes:
        return "delivered"
    if outcomes:
        return "failed"
    return HELD if deliveries.get(DIGEST) == HELD else "pending"


async def addressed_codes(conn: AsyncConnection[Any], prefix: str) -> list[str]:
    """Every jurisdiction under `prefix` that a deadline's notice was addressed to."""
    cur = await conn.execute(
        "SELECT DISTINCT recipient_jurisdiction FROM rm_notifications"
        " WHERE recipient_jurisdiction LIKE %s AND deadline_id IS NOT NULL",
        (like_prefix(prefix),))
    return sorted(str(code) for (code,) in await cur.fetchall())

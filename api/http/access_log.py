"""The access log: every read of a case or child file by a person (who, what, when).

Each read is written (committed) to the append-only `wardship_access_log` table before its
answer leaves; a read that cannot be logged is refused with a 503, so no read goes unrecorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
import structlog

from api.http.problems import Problem
from projections.base import fetch_rows, like_prefix, where_equal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from domain.actors import Actor

log = structlog.get_logger("wardship.access_log")

COLUMNS = ("read_at, subject, role, jurisdiction, resource_type, resource_id, child_id,"
           " case_jurisdiction, purpose, request_id")
INSERT = (f"INSERT INTO wardship_access_log ({COLUMNS})"  # noqa: S608 (constant columns)
          " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
# Every resource an answer showed, in one statement: one row each.
INSERT_MANY = (
    f"INSERT INTO wardship_access_log ({COLUMNS})"  # noqa: S608 (constant columns)
    " SELECT %s, %s, %s, %s, %s, shown.id, shown.child_id, shown.code, %s, %s"
    " FROM unnest(%s::text[], %s::text[], %s::text[]) AS shown (id, child_id, code)"
)
RETRY_AFTER = "5"


@dataclass(frozen=True)
class AccessEntry:
    """One read: who (subject, role, jurisdiction), what (resource), when, and why (purpose)."""

    read_at: datetime
    subject: str
    role: str
    jurisdiction: str
    resource_type: str
    resource_id: str
    child_id: str | None
    case_jurisdiction: str | None
    purpose: str
    request_id: str | None = None


@dataclass(frozen=True)
class Shown:
    """One resource an answer shows: its id, its child, and the code of its case."""

    resource_id: str
    child_id: str | None = None
    case_jurisdiction: str | None = None


def shown_cases(rows: Iterable[dict[str, Any]], id_key: str = "case_id",
                code_key: str = "jurisdiction") -> list[Shown]:
    """The cases a list or board shows, once each, from its rows."""
    seen: dict[str, Shown] = {}
    for row in rows:
        if row[id_key] is None:
            continue  # a pattern alarm raised by no case (a rise of the risk level)
        case_id = str(row[id_key])
        if case_id not in seen:
            seen[case_id] = Shown(case_id, row.get("child_id"), row.get(code_key))
    return list(seen.values())


def unavailable() -> Problem:
    """The answer to a read that could not be logged: nothing of the read, retry later."""
    return Problem(503, "access_log_unavailable", "The read cannot be logged now",
                   "reads of personal data are answered only once logged; retry shortly",
                   headers={"Retry-After": RETRY_AFTER})


class AccessLog:
    """Writes reads to the database before they are answered (kept in memory without one)."""

    def __init__(self, pool: AsyncConnectionPool | None) -> None:
        self._pool = pool
        # Without a database every record of the process is in memory, its events included.
        self.kept: list[AccessEntry] = []

    async def record(
        self, actor: Actor, *, resource_type: str, resource_id: str, purpose: str = "read",
        child_id: str | None = None, case_jurisdiction: str | None = None,
    ) -> None:
        """Log one read by `actor` now; a `Problem` 503 if it cannot be logged."""
        await self.record_shown(actor, [Shown(resource_id, child_id, case_jurisdiction)],
                                resource_type=resource_type, purpose=purpose)

    async def record_shown(
        self, actor: Actor, shown: list[Shown], *, resource_type: str = "case",
        purpose: str = "read",
    ) -> None:
        """Log that an answer to `actor` shows each of `shown`, in one statement; a
        `Problem` 503 if it cannot be logged (nothing is logged for an empty answer)."""
        if not shown:
            return
        read_at = datetime.now(UTC)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        who = (read_at, actor.subject, actor.role.value, actor.jurisdiction, resource_type)
        if self._pool is None:
            self.kept.extend(AccessEntry(*who, s.resource_id, s.child_id, s.case_jurisdiction,
                                         purpose, request_id) for s in shown)
            return
        params: tuple[Any, ...]
        if len(shown) == 1:
            query, params = INSERT, (*who, shown[0].resource_id, shown[0].child_id,
                                     shown[0].case_jurisdiction, purpose, request_id)
        else:
            query, params = INSERT_MANY, (
                *who, purpose, request_id, [s.resource_id for s in shown],
                [s.child_id for s in shown], [s.case_jurisdiction for s in shown])
        try:
            async with self._pool.connection() as conn:
                await conn.execute(query, params)
        except psycopg.Error as error:  # PoolTimeout is one too
            log.error("access_log_write_failed", resource_type=resource_type,
                      purpose=purpose, error_type=type(error).__name__)
            raise unavailable() from None


async def entries(
    conn: AsyncConnection[Any], *, prefix: str, resource_type: str | None = None,
    resource_id: str | None = None, child_id: str | None = None, subject: str | None = None,
    since: datetime | None = None, before: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Reads of cases under the code `prefix` (and of child files) matching every given
    filter, newest first, with ids below `before`."""
    where = ["coalesce(case_jurisdiction, '') LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit}
    where_equal(where, params, (("resource_type", resource_type), ("resource_id", resource_id),
                                ("child_id", child_id), ("subject", subject)))
    if since is not None:
        where.append("read_at >= %(since)s")
        params["since"] = since
    if before is not None:
        where.append("id < %(before)s")
        params["before"] = before
    query = ("SELECT id, read_at, subject, role, jurisdiction, resource_type, resource_id,"  # noqa: S608
             " child_id, case_jurisdiction, purpose, request_id FROM wardship_access_log"
             f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %(limit)s")
    return await fetch_rows(conn, query, params)

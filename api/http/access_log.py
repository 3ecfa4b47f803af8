"""The access log: every read of a case or child file by a person (who, what, when).

Reads answer without waiting for the database: entries are queued and written in batches
by one background task (and on shutdown), to the append-only `wardship_access_log` table.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from psycopg.rows import dict_row

from projections.base import like_prefix

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from domain.actors import Actor

log = structlog.get_logger("wardship.access_log")

FLUSH_INTERVAL = 0.2
BATCH = 500
# Beyond this many unwritten entries the database has been down a long time; say so loudly.
BACKLOG_WARNING = 10_000

INSERT = (
    "INSERT INTO wardship_access_log (read_at, subject, role, jurisdiction, resource_type,"
    " resource_id, child_id, case_jurisdiction, purpose, request_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


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
    request_id: str | None = field(default=None)


class AccessLog:
    """Queues access entries and writes them in batches; without a database it keeps them."""

    def __init__(self, pool: AsyncConnectionPool | None) -> None:
        self._pool = pool
        self._pending: list[AccessEntry] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.kept: list[AccessEntry] = []  # in-memory mode only (no database configured)

    def record(
        self, actor: Actor, *, resource_type: str, resource_id: str, purpose: str = "read",
        child_id: str | None = None, case_jurisdiction: str | None = None,
    ) -> None:
        """Queue one read by `actor` (call it from request handling, on the event loop)."""
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        self._pending.append(AccessEntry(
            datetime.now(UTC), actor.subject, actor.role.value, actor.jurisdiction,
            resource_type, resource_id, child_id, case_jurisdiction, purpose, request_id,
        ))
        if len(self._pending) == BACKLOG_WARNING:
            log.warning("access_log_backlog", pending=len(self._pending))

    async def flush(self) -> None:
        """Write every queued entry now; entries stay queued if the database refuses."""
        async with self._lock:
            while self._pending:
                batch = self._pending[:BATCH]
                if self._pool is None:
                    self.kept.extend(batch)
                else:
                    async with self._pool.connection() as conn, conn.cursor() as cursor:
                        await cursor.executemany(INSERT, [astuple(e) for e in batch])
                del self._pending[:len(batch)]

    def start(self) -> None:
        """Start the background writer (in the app's lifespan)."""
        self._task = asyncio.create_task(self._run(), name="access-log-writer")

    async def stop(self) -> None:
        """Stop the writer and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception as error:
            log.error("access_log_lost", pending=len(self._pending),
                      error_type=type(error).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception as error:
                log.warning("access_log_write_failed", pending=len(self._pending),
                            error_type=type(error).__name__)


async def entries(
    conn: AsyncConnection[Any], *, prefix: str, resource_type: str | None = None,
    resource_id: str | None = None, child_id: str | None = None, subject: str | None = None,
    since: datetime | None = None, before: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Reads of cases under the code `prefix` (and of child files) matching every given
    filter, newest first, with ids below `before`."""
    where = ["coalesce(case_jurisdiction, '') LIKE %(prefix)s"]
    params: dict[str, Any] = {"prefix": like_prefix(prefix), "limit": limit}
    for column, value in (("resource_type", resource_type), ("resource_id", resource_id),
                          ("child_id", child_id), ("subject", subject)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if since is not None:
        where.append("read_at >= %(since)s")
        params["since"] = since
    if before is not None:
        where.append("id < %(before)s")
        params["before"] = before
    query = ("SELECT id, read_at, subject, role, jurisdiction, resource_type, resource_id,"  # noqa: S608
             " child_id, case_jurisdiction, purpose, request_id FROM wardship_access_log"
             f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %(limit)s")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()

"""Reading the projections from the API: read-your-writes waits, cursors, scopes, lag.

A client that sends `X-Min-Position: N` (a notification-log position, e.g. the one a command
answered with) gets list answers from a projection that has applied at least position N; the
wait is short and bounded, after which the answer says how far behind it still is.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Any

import psycopg
from prometheus_client.core import GaugeMetricFamily
from psycopg_pool import PoolTimeout

from api.http.problems import Problem
from projections.store import STATE_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI
    from psycopg_pool import AsyncConnectionPool

MAX_WAIT = 2.0  # seconds a list query waits for its projection to catch up
EVENTS_TABLE = "wardship_events"
# A scrape reuses lag figures read this recently: however often Prometheus (or anyone with
# the token) scrapes, the database sees at most two cheap queries per interval.
LAG_REFRESH_EVERY = 5.0


class OwnWrites:
    """The log position of each user's latest write, so their next list query includes it."""

    MAX_USERS = 10_000

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}

    def wrote(self, subject: str, position: int | None) -> None:
        if position is None:
            return
        if len(self._positions) >= self.MAX_USERS and subject not in self._positions:
            self._positions.clear()  # a bound, not an LRU: forgetting only costs a shorter wait
        self._positions[subject] = max(position, self._positions.get(subject, 0))

    def position(self, subject: str) -> int | None:
        return self._positions.get(subject)


async def projection_position(pool: AsyncConnectionPool, name: str) -> int:
    async with pool.connection() as conn:
        try:
            cur = await conn.execute(
                f"SELECT position FROM {STATE_TABLE} WHERE name = %s", (name,)  # noqa: S608
            )
        except psycopg.errors.UndefinedTable:
            raise not_built(name) from None
        row = await cur.fetchone()
    if row is None:
        raise not_built(name)
    return int(row[0])


def not_built(name: str) -> Problem:
    return Problem(503, "projection_not_ready", "Read model not ready",
                   f"the '{name}' read model has not been built yet; start the projection "
                   "runner (`wardship projections run`) and retry", headers={"Retry-After": "5"})


async def wait_for(pool: AsyncConnectionPool, name: str, position: int | None) -> int:
    """The projection's position, after waiting up to MAX_WAIT for it to reach `position`."""
    current = await projection_position(pool, name)
    deadline = time.monotonic() + MAX_WAIT
    while position is not None and current < position and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        current = await projection_position(pool, name)
    return current


def encode_cursor(*values: Any) -> str:
    text = "|".join(str(v) for v in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def invalid_cursor() -> Problem:
    return Problem(422, "invalid_cursor", "The cursor is not valid",
                   "pass back the 'next_cursor' of a previous answer unchanged")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        values = []
    # NUL cannot reach the database as text; no cursor this API wrote holds one.
    if len(values) != parts or any("\x00" in value for value in values):
        raise invalid_cursor()
    return values


def jurisdiction_prefix(requested: str | None, code: str) -> str:
    """The jurisdiction prefix to filter on: the caller's own, or a finer one under it."""
    if requested is None:
        return code
    if not requested.isdigit() or not requested.startswith(code):
        raise Problem(403, "jurisdiction_forbidden", "Outside your jurisdiction",
                      f"you may read division codes starting with {code!r} only")
    return requested


class ProjectionLag:
    """Prometheus collector: how far each projection is behind the log (positions, seconds).

    Collecting only reports the figures of the last `refresh`, an async query the scrape
    awaits first: a collector cannot await, and a blocking query would stall the event loop.
    """

    def __init__(self, every: float = LAG_REFRESH_EVERY) -> None:
        self.rows: list[tuple[str, int, float]] = []
        self.every = every
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, pool: AsyncConnectionPool) -> None:
        """Read the lag of each projection unless read in the last `every` seconds (scrapes
        arriving together share one read); on a database error report none."""
        async with self._lock:
            if time.monotonic() - self._read_at < self.every:
                return
            await self._read(pool)
            self._read_at = time.monotonic()

    async def _read(self, pool: AsyncConnectionPool) -> None:
        try:
            async with pool.connection(timeout=2) as conn:
                await conn.execute("SET statement_timeout = 2000")
                cur = await conn.execute(
                    f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"  # noqa: S608
                )
                head = await cur.fetchone()
                cur = await conn.execute(
                    f"SELECT name, position, extract(epoch FROM now() - updated_at)"  # noqa: S608
                    f" FROM {STATE_TABLE} WHERE name NOT LIKE '%%~%%'"
                )
                rows = await cur.fetchall()
        except (psycopg.Error, PoolTimeout):
            self.rows = []
            return
        newest = int(head[0]) if head else 0
        self.rows = [(name, newest - int(pos), float(age)) for name, pos, age in rows]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily("wardship_projection_lag_events",
                                   "Newest log position minus the projection's position",
                                   labels=["projection"])
        seconds = GaugeMetricFamily("wardship_projection_lag_seconds",
                                    "Seconds since a projection that is behind last advanced",
                                    labels=["projection"])
        for name, lag, age in self.rows:
            events.add_metric([name], lag)
            seconds.add_metric([name], age if lag > 0 else 0.0)
        yield events
        yield seconds


def install_lag_metrics(app: FastAPI) -> None:
    """Add the projection-lag gauges to the app's metrics registry (once per app)."""
    metrics = getattr(app.state, "metrics", None)
    url = app.state.settings.database_url
    if metrics is None or url is None or getattr(app.state, "projection_lag", None):
        return
    app.state.projection_lag = ProjectionLag()
    metrics.registry.register(app.state.projection_lag)

"""Riding out an outage: which errors mean a server is unreachable, and the pace of retries.

One place for both, used by the API's 503 answer, the relay, the worker and the read-model
runners. A loop retries with capped backoff and logs once when an outage starts and once when
it ends, not once per attempt.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing import persistence

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

# Refused or dropped connections (AdminShutdown among them), no pooled connection in time
# (PoolTimeout), and the event store's wrappers of the same.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)
# Seconds to establish one connection: a server that does not answer at all (a dropped
# network) fails like a refused one instead of hanging a thread.
CONNECT_TIMEOUT = 5
FIRST_DELAY = 0.5
# Seconds between attempts at most: an outage is noticed to be over within this.
MOST_DELAY = 5.0


class Backoff:
    """Delays between retries while something is down; logs the outage's start and end."""

    def __init__(self, log: FilteringBoundLogger | Any, what: str,
                 first: float = FIRST_DELAY, most: float = MOST_DELAY) -> None:
        self._log = log
        self._what = what
        self._first = first
        self._most = most
        self._delay = first
        self._since: float | None = None

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> float:
        """Note a failed attempt; returns the seconds to wait before the next one."""
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(f"{self._what}_unavailable", error_type=type(error).__name__,
                              retrying_every_at_most=self._most)
        delay, self._delay = self._delay, min(self._delay * 2, self._most)
        return delay

    def succeeded(self) -> None:
        """Note a successful attempt: the outage, if any, is over."""
        if self._since is not None:
            self._log.info(f"{self._what}_recovered",
                           outage_seconds=round(time.monotonic() - self._since, 1))
        self._since = None
        self._delay = self._first

"""A lease that one process at a time holds: a PostgreSQL session advisory lock.

The relay takes it so that any number of worker replicas can run while exactly one relays.
The lock lives as long as the holder's database session, so when its process or connection
dies PostgreSQL releases it and a standby takes over.
"""

from __future__ import annotations

import time
import zlib
from typing import TYPE_CHECKING, Any

from deploy.outages import DATABASE_UNREACHABLE

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool


class Lease:
    """A named lease over one connection borrowed from the event store's pool while held."""

    def __init__(self, pool: ConnectionPool[Any], name: str, check_every: float = 1.0) -> None:
        self._pool = pool
        # A held lease is confirmed at most this often (seconds), not on every call.
        self._check_every = check_every
        self._checked = 0.0
        # Advisory locks take a bigint; a CRC keeps distinct names apart in practice.
        self._key = zlib.crc32(f"wardship-lease:{name}".encode())
        self._conn: Connection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> bool:
        """Take the lease if it is free, or check it is still ours; True while we hold it."""
        if self._conn is not None:
            if time.monotonic() - self._checked < self._check_every:
                return True
            try:
                self._conn.execute("SELECT 1")
            except Exception:
                # The session is gone, and the lock with it; another process may hold it now.
                self._give_back()
                return False
            self._checked = time.monotonic()
            return True
        conn = self._pool.getconn()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s) AS taken", (self._key,)).fetchone()
        except Exception:
            self._pool.putconn(conn)
            raise
        if row is None or not row["taken"]:
            self._pool.putconn(conn)
            return False
        self._conn = conn
        self._checked = time.monotonic()
        return True

    def release(self) -> None:
        """Let another process take the lease (nothing if not held)."""
        if self._conn is None:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except DATABASE_UNREACHABLE:
            pass  # the session is gone, and the lock with it
        finally:
            self._give_back()

    def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)

"""A real database outage for one test's database: its sessions killed and new ones refused."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Iterator


class Outage:
    """Takes the database of `db_url` away and gives it back, as its server's superuser."""

    def __init__(self, admin_url: str, db_url: str) -> None:
        self.admin_url = admin_url
        self.name = urlsplit(db_url).path.lstrip("/")

    def begin(self) -> None:
        """Refuse new connections to the database, then terminate every open one."""
        self._set(allow=False)
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def end(self) -> None:
        self._set(allow=True)

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    def _set(self, *, allow: bool) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(self.name), sql.Literal(allow)))

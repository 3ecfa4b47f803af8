"""Apply the project's own SQL migrations (`deploy/migrations/*.sql`) to a database.

Every script is idempotent and all run, in name order, in one transaction under an advisory
lock, then the schema version (the highest script number) is recorded. Only `wardship migrate`
runs them, as the tables' owner; the services only read the recorded version. The events table
is created by eventsourcing when the Application is constructed: construct it first, then
migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: serialises concurrent migrators on one database.
_LOCK_KEY = 0x57415244
VERSION_TABLE = "wardship_schema_version"


def migration_files() -> list[Path]:
    """The migration scripts, in the order they are applied."""
    return sorted(MIGRATIONS.glob("*.sql"))


def version_of(path: Path) -> int:
    """A script's number: `0051_access_log.sql` is version 51."""
    return int(path.name.split("_", 1)[0])


# The schema this code expects: the highest script it ships with.
SCHEMA_VERSION = max(version_of(path) for path in migration_files())
# What a service reads to tell whether the schema is at (or past) the version it expects.
SCHEMA_VERSION_QUERY = f"SELECT max(version) FROM {VERSION_TABLE}"  # noqa: S608


def apply_migrations(database_url: str) -> list[str]:
    """Apply every migration script, then record the schema version; return the names applied."""
    applied: list[str] = []
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for path in migration_files():
            conn.execute(path.read_text("utf-8").encode())
            applied.append(path.name)
        conn.execute(
            f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s) ON CONFLICT DO NOTHING",  # noqa: S608
            (SCHEMA_VERSION,),
        )
    return applied


def applied_version(conn: psycopg.Connection[Any]) -> int | None:
    """The schema version recorded in the database (None: never migrated)."""
    found = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)
    ).fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute(SCHEMA_VERSION_QUERY).fetchone()
    return None if row is None or row[0] is None else int(row[0])

"""Apply the project's own SQL migrations (`deploy/migrations/*.sql`) to a database.

Every script is idempotent and all run at every start, in name order, in one transaction
under an advisory lock, so the API, the worker and `wardship migrate` may start together.
The events table is created by eventsourcing when the Application is constructed: construct
it first, then migrate.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: serialises concurrent migrators on one database.
_LOCK_KEY = 0x57415244


def migration_files() -> list[Path]:
    """The migration scripts, in the order they are applied."""
    return sorted(MIGRATIONS.glob("*.sql"))


def apply_migrations(database_url: str) -> list[str]:
    """Apply every migration script to the database; return the names applied."""
    applied: list[str] = []
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for path in migration_files():
            conn.execute(path.read_text("utf-8").encode())
            applied.append(path.name)
    return applied

"""`wardship migrate`: the only command that changes the schema; run it as the tables' owner.

It creates the event store tables, the relay's and the 12345 replies' tracking tables and
every read model, indexes by recorded time the events stored before the time index existed
(`domain.time_index`), applies `deploy/migrations/*.sql` and records the schema version.
Deployments run it once before the services, which log in as the app role and never issue
DDL. `--wait` is the services' side: it waits (with any role) until the schema is at the
version this code expects.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    from api.settings import Settings


def migrate_database(settings: Settings) -> list[str]:
    """Bring the database of `settings` to this code's schema; returns the scripts applied."""
    import psycopg

    from api.bootstrap import bootstrap
    from deploy.migrate import apply_migrations
    from domain.time_index import TimeIndexedRecorder
    from projections.runner import install_all
    from workflows import hotline_replies
    from workflows.relay import create_tracking_table

    url = settings.database_url
    if url is None:
        raise ValueError("no database to migrate")
    # eventsourcing creates its tables once, here, as the owner.
    app = bootstrap(settings, pool_size=1, create_tables=True)
    try:
        create_tracking_table(app)
        hotline_replies.create_tracking_table(app)
        if isinstance(app.recorder, TimeIndexedRecorder):
            # Before the version is recorded: services that wait for it find every case
            # indexed. Decodes only the events without an index row.
            app.recorder.backfill(app.mapper)
    finally:
        app.close()
    with psycopg.connect(url, autocommit=True) as conn:
        install_all(conn)
    # Last, so a recorded version means everything above is in place.
    return apply_migrations(url)


def wait_for_schema(database_url: str, timeout: float) -> bool:
    """Whether the schema reached the version this code expects within `timeout` seconds."""
    import psycopg

    from deploy.migrate import SCHEMA_VERSION, applied_version

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(database_url, connect_timeout=5) as conn:
                version = applied_version(conn)
            if version is not None and version >= SCHEMA_VERSION:
                return True
        except psycopg.OperationalError:
            pass  # the database is not up yet
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", type=float, metavar="SECONDS",
        help="change nothing; wait until the schema is migrated (an init step of the services)")


def run(args: argparse.Namespace) -> int:
    """Migrate, or with `--wait` wait until another process has."""
    from api.settings import get_settings
    from deploy.migrate import SCHEMA_VERSION

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the database to migrate")
        return 1
    if args.wait is not None:
        if wait_for_schema(settings.database_url, args.wait):
            return 0
        print(f"the schema is not at version {SCHEMA_VERSION} after {args.wait:.0f}s: "
              "run `wardship migrate` as the tables' owner", file=sys.stderr)
        return 1
    applied = migrate_database(settings)
    print(f"schema version {SCHEMA_VERSION}; applied: " + ", ".join(applied))
    return 0


COMMAND = Command("migrate", "create every table and apply the SQL migrations (as the owner)",
                  run, _add_arguments)

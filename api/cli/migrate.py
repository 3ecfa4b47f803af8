"""`wardship migrate`: create the event store tables and apply `deploy/migrations/*.sql`.

Run it as the tables' owner (`wardship_owner`, deploy/roles.sql) before the services start;
the services themselves log in as `wardship_app` with `CREATE_TABLE=n`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def run(args: argparse.Namespace) -> int:
    """Construct the application (creates its tables), then apply every migration."""
    del args
    from api.bootstrap import bootstrap
    from api.settings import get_settings
    from deploy.migrate import migration_files

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the database to migrate")
        return 1
    bootstrap(settings).close()  # applies the migrations after creating the tables
    print("applied: " + ", ".join(path.name for path in migration_files()))
    return 0


COMMAND = Command("migrate", "create the event tables and apply the SQL migrations", run)

"""`wardship restore FILE`: load a `wardship backup` archive into an empty database.

Run it as the role that will own the tables (the owner of deploy/roles.sql, or the
superuser in development): every object is restored as that role's, and the app role's
grants are then applied afresh by the same step as `wardship migrate`, and the data keys of
every erasure in the restored log are destroyed again. A database that holds
anything is refused. Afterwards: `wardship verify --all`, then `wardship rearm` against the
Temporal server the worker will use.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    from api.settings import Settings


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an archive written by `wardship backup`")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the archive is loaded and migrated; 1, saying why, with nothing loaded."""
    import psycopg

    from api.cli.backup import database
    from api.cli.migrate import migrate_database
    from api.settings import get_settings
    from deploy.backups import BackupError, restore
    from deploy.migrate import SCHEMA_VERSION, applied_version

    settings = get_settings()
    started = time.monotonic()
    try:
        with database(settings) as url:
            restore(url, args.file)
            with psycopg.connect(url) as conn:
                version = applied_version(conn)
            # Grants (restored without owners or privileges), and any newer schema.
            restored = settings.model_copy(update={"database_url": url})
            migrate_database(restored)
            # The backup may predate erasures its log records: their keys go again.
            erasures = reapply_erasures(restored)
    except BackupError as error:
        print(f"restore failed: {error}", file=sys.stderr)
        return 1
    print(f"restored {args.file} in {time.monotonic() - started:.1f}s "
          f"(schema version {version} in the backup, {SCHEMA_VERSION} now; {erasures} "
          "erasures applied again to the keys); next: "
          "`wardship verify --all`, then `wardship rearm`")
    return 0


def reapply_erasures(settings: Settings) -> int:
    """Destroy again the data keys of every erasure recorded in the restored log, which
    also drops the kept answers that name the erased records (api.bootstrap)."""
    from api.bootstrap import bootstrap

    app = bootstrap(settings, pool_size=1)
    try:
        return app.reapply_erasures()
    finally:
        app.close()


COMMAND = Command("restore", "load a backup into an empty database (then verify and rearm)",
                  run, _add_arguments)

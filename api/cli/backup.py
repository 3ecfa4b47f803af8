"""`wardship backup FILE`: the whole database in one custom-format archive (`pg_dump -Fc`).

The database is DATABASE_URL's, else the embedded one `./run` uses. The archive holds the
events, snapshots, read models and their positions, the relay's position, idempotency
answers, the access log and the schema version; `wardship restore` brings it back.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from api.settings import Settings


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, else the embedded server's URL (started for the command if not running)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    from deploy.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(settings.state_dir / "pg")
    started = not server.is_running()
    url = server.start()
    try:
        yield url
    finally:
        if started:
            server.stop()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="where to write the archive (replaced if it exists)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the archive written whole; 1, saying why, with nothing written."""
    from api.settings import get_settings
    from deploy.backups import BackupError, dump

    started = time.monotonic()
    try:
        with database(get_settings()) as url:
            dump(url, args.file)
    except BackupError as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    size = args.file.stat().st_size
    print(f"backed up to {args.file} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s")
    return 0


COMMAND = Command("backup", "write the whole database to one archive (pg_dump custom format)",
                  run, _add_arguments)

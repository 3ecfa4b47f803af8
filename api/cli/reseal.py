"""`wardship reseal --target URL`: copy the store (DATABASE_URL) into a new database with every
child's personal data under their own key, so children recorded before per-child keys can be
erased (docs/privacy.md, "Resealing a store recorded before per-child keys").

Offline: stop the API, workers and read-model runners first. The target is migrated, then
every event is copied in log order at its log position (`domain.reseal`), snapshots are
taken anew, the access log, parked events and the relay's and 12345 replies' positions are
copied, the read models rebuilt, and last the signed link record is stored in the target and
printed (`--links-out` writes it to a file). A run that stopped is run again with the same
target: it continues after the last page written. A target that already holds a link record
is refused. Then point the services at the target and run `wardship verify --all --links`.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

# Copied whole to the target: the access log (evidence of who read what), events set aside,
# and the consumers' log positions (the positions are the same in the copy). The idempotency
# answers are not: they may hold a child's details in the clear, and no retry is pending
# while the service is stopped.
COPIED_TABLES = ("wardship_access_log", "wardship_parked_events", "wardship_relay_tracking",
                 "wardship_hotline_reply_tracking")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, metavar="DATABASE_URL",
                        help="a new, empty database to copy into (or the one a stopped run "
                             "was copying into)")
    parser.add_argument("--links-out", type=Path, metavar="FILE",
                        help="also write the signed link record to FILE")
    parser.add_argument("--page", type=int, default=500, metavar="EVENTS",
                        help="events copied per transaction")


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the store copied and the link record stored; 1 (nothing more written)
    when the copy cannot go on; 2 when misused."""
    import psycopg
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from api.bootstrap import bootstrap
    from api.cli.migrate import migrate_database
    from api.inspection.links import link_document, store_links, stored_links
    from api.inspection.signing import service_signing_key
    from api.settings import get_settings
    from deploy.migrate import SCHEMA_VERSION, applied_version
    from domain.reseal import ResealError, reseal

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the store to copy from",
              file=sys.stderr)
        return 2
    if _where(args.target) == _where(settings.database_url):
        print("the target must be another database than DATABASE_URL", file=sys.stderr)
        return 2
    with psycopg.connect(settings.database_url) as conn:
        version = applied_version(conn)
    if version is None or version < SCHEMA_VERSION:
        print(f"the source is at schema version {version}, this code at {SCHEMA_VERSION}: run "
              "`wardship migrate` on it first", file=sys.stderr)
        return 2
    started = time.monotonic()
    target_settings = settings.model_copy(update={"database_url": args.target})
    migrate_database(target_settings)
    source, target = bootstrap(settings, pool_size=2), bootstrap(target_settings, pool_size=2)
    try:
        if stored_links(target):
            print("the target already holds a link record: it is a finished copy",
                  file=sys.stderr)
            return 1
        total = _count_events(settings.database_url)
        with Progress(TextColumn("resealing events"), BarColumn(), MofNCompleteColumn(),
                      console=Console(stderr=True)) as progress:
            task = progress.add_task("reseal", total=total)
            try:
                result = reseal(source, target, page=args.page,
                                progress=lambda n: progress.advance(task, n))
            except ResealError as error:
                print(f"reseal stopped: {error}", file=sys.stderr)
                return 1
        # Complete, or no link record: a service still writing to the source, or anything
        # written to the target between runs, would leave events out without an error.
        if (source.recorder.max_notification_id() != target.recorder.max_notification_id()
                or _count_events(settings.database_url) != _count_events(args.target)):
            print("reseal stopped: the target does not hold every event of the source (was "
                  "the service still writing to it?); stop every service on the source and "
                  "run again into a new target", file=sys.stderr)
            return 1
        copy_tables(settings.database_url, args.target, COPIED_TABLES)
        _rebuild_read_models(target, args.target)
        document = link_document(result, source=_where(settings.database_url),
                                 made_at=datetime.now(UTC), key=service_signing_key(settings))
        store_links(target, document)
    finally:
        source.close()
        target.close()
    if args.links_out is not None:
        args.links_out.write_text(json.dumps(document, ensure_ascii=False, indent=1), "utf-8")
    changed = sum(1 for link in result.links() if link["old_head"] != link["new_head"])
    print(f"resealed {result.resealed} of {result.events} events into {_where(args.target)} "
          f"in {time.monotonic() - started:.1f}s; {changed} of {len(result.chains)} case "
          f"chains have a new head; link record signed by key "
          f"{document['signature']['key_id']}; next: `wardship verify --all --links` "
          "with DATABASE_URL set to the target")
    return 0


def _where(url: str) -> str:
    """A database's host, port and name, without the credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}{parts.path or '/postgres'}"


def _count_events(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM wardship_events").fetchone()
    return int(row[0]) if row else 0


def copy_tables(source_url: str, target_url: str, tables: tuple[str, ...]) -> None:
    """Copy each table whole into the target's, unless the target's already holds rows (a
    run that stopped after copying it). Both are at the same schema version."""
    import psycopg

    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as dst:
        for table in tables:
            if dst.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone() != (False,):  # noqa: S608
                continue
            with src.cursor().copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as out, \
                    dst.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as into:
                for data in out:
                    into.write(data)
            _follow_sequence(dst, table)
        dst.commit()


def _follow_sequence(conn: Any, table: str) -> None:
    """Move a copied table's id sequence past the copied ids (tables with a serial id)."""
    row = conn.execute("SELECT pg_get_serial_sequence(%s, column_name) FROM "
                       "information_schema.columns WHERE table_name = %s AND "
                       "column_name = 'id'", (table, table)).fetchone()
    if row and row[0]:
        conn.execute(f"SELECT setval(%s, coalesce((SELECT max(id) FROM {table}), 0) + 1, "  # noqa: S608
                     "false)", (row[0],))


def _rebuild_read_models(target: Any, target_url: str) -> None:
    """Every read model from the copied log (the source's hold the old chains' hashes and
    may hold plaintext)."""
    import psycopg

    from projections.registry import MODELS
    from projections.runner import rebuild_models

    with psycopg.connect(target_url, autocommit=True) as conn:
        rebuild_models([model() for model in MODELS.values()], target, conn)


COMMAND = Command("reseal", "copy the store into a new database with every child's personal "
                  "data under their own key (offline; docs/privacy.md)", run, _add_arguments)

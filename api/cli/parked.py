"""`wardship parked list|retry|resolve`: the events the relay, the read models and the 12345
replies set aside.

`retry` hands an event back to its consumer after a fix: a read model applies it now, the
relay signals that case's workflow with the case as it is now, the 12345 replies send what
the case owes now; each marks it resolved.
`resolve` marks one handled without applying it (e.g. after a manual fix or a rebuild).
Rows are never deleted.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    import psycopg

    from api.settings import Settings
    from domain.application import Wardship
    from projections.parked import ParkedEvent

# A retry reads the log from one thread: two event-store connections are plenty.
POOL_SIZE = 2


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="the parked events, oldest position first")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    retry = sub.add_parser("retry", help="hand parked events back to their consumer")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every parked event")
    resolve = sub.add_parser("resolve", help="mark a parked event handled without applying it")
    resolve.add_argument("id", type=int, metavar="ID")
    resolve.add_argument("--reason", required=True,
                         help="what was done instead (kept with the row; no personal data)")


def run(args: argparse.Namespace) -> int:
    """List, retry or resolve; exit 1 if a retry still fails or no such event is parked."""
    import psycopg

    from api.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        print("wardship parked needs DATABASE_URL", file=sys.stderr)
        return 2
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.action == "list":
            return show(conn, include_resolved=args.all)
        if args.action == "resolve":
            return resolve_one(conn, args.id, args.reason)
        return retry(conn, settings, None if args.all else args.ids)


def show(conn: psycopg.Connection[Any], *, include_resolved: bool) -> int:
    """Print the parked events, one a line."""
    from projections import parked

    found = parked.rows(conn, include_resolved=include_resolved)
    if not found:
        print("no parked events")
        return 0
    print("ID\tSTATUS\tCONSUMER\tPOSITION\tCASE\tVERSION\tEVENT\tATTEMPTS\tLAST SEEN\tERROR")
    for row in found:
        event = row.topic.rpartition(":")[2]
        print(f"{row.id}\t{row.status}\t{row.consumer}\t{row.position}\t"
              f"{row.originator_id or '-'}\t{row.originator_version or '-'}\t{event}\t"
              f"{row.attempts}\t{row.last_seen:%Y-%m-%d %H:%M:%S%z}\t{row.error}"
              + (f"\t({row.resolution})" if row.resolution else ""))
    return 0


def resolve_one(conn: psycopg.Connection[Any], parked_id: int, reason: str) -> int:
    from projections import parked

    with conn.cursor() as cur:
        if not parked.resolve(cur, parked_id, parked.BY_HAND + reason):
            print(f"no parked event {parked_id} (see `wardship parked list`)", file=sys.stderr)
            return 1
    print(f"{parked_id}: resolved")
    return 0


def retry(conn: psycopg.Connection[Any], settings: Settings, ids: list[int] | None) -> int:
    """Retry the parked events `ids` (None: all); the number still failing decides the exit."""
    from api.bootstrap import bootstrap
    from projections import parked
    from workflows.hotline_replies import CONSUMER_PREFIX as HOTLINE_REPLIES

    found = parked.rows(conn) if ids is None else parked.rows(conn, ids=ids)
    missing = set(ids or ()) - {row.id for row in found if row.status == "parked"}
    for parked_id in sorted(missing):
        print(f"{parked_id}: not parked (see `wardship parked list --all`)", file=sys.stderr)
    todo = [row for row in found if row.status == "parked"]
    relayed = [row for row in todo if row.consumer.startswith("relay:")]
    if relayed and settings.temporal_address is None:
        print("retrying the relay's events needs TEMPORAL_ADDRESS", file=sys.stderr)
        return 2
    app = bootstrap(settings, pool_size=POOL_SIZE)
    try:
        failed = sum(not _retry_projection(conn, app, row)
                     for row in todo if row.consumer.startswith("projection:"))
        if relayed:
            failed += asyncio.run(_retry_relayed(conn, app, settings, relayed))
        failed += sum(not _retry_reply(conn, app, settings, row) for row in todo
                      if row.consumer.startswith(HOTLINE_REPLIES))
    finally:
        app.close()
    return 1 if failed or missing else 0


def _retry_projection(conn: psycopg.Connection[Any], app: Wardship, row: ParkedEvent) -> bool:
    """Apply the event to its read model now; resolved in the same transaction."""
    from projections import parked
    from projections.registry import MODELS
    from projections.runner import Worker

    model = MODELS[row.consumer.removeprefix("projection:")]()
    try:
        with conn.transaction(), conn.cursor() as cur:
            Worker(model, app, conn).apply_at(cur, row.position)
            parked.resolve(cur, row.id, "retried: applied to the read model")
    except Exception as error:
        _still_failing(conn, row, error)
        return False
    print(f"{row.id}: applied to {model.name}")
    return True


async def _retry_relayed(conn: psycopg.Connection[Any], app: Wardship, settings: Settings,
                         rows: list[ParkedEvent]) -> int:
    """Signal each case's workflow with the case as it is now; returns how many failed."""
    from temporalio.client import Client

    from projections import parked
    from workflows.relay import Relay

    assert settings.temporal_address is not None
    client = await Client.connect(settings.temporal_address,
                                  namespace=settings.temporal_namespace)
    failed = 0
    for row in rows:
        relay = Relay(app, client, settings.task_queue, name=row.consumer.removeprefix("relay:"),
                      wake_early=settings.deadline_wake_early)
        try:
            if row.originator_id is None:
                raise LookupError("the parked event names no case")
            await relay.retell(row.originator_id, row.originator_version, row.topic)
        except Exception as error:
            _still_failing(conn, row, error)
            failed += 1
            continue
        with conn.cursor() as cur:
            parked.resolve(cur, row.id, "retried: the case's workflow was signalled")
        print(f"{row.id}: case {row.originator_id} signalled")
    return failed


def _retry_reply(conn: psycopg.Connection[Any], app: Wardship, settings: Settings,
                 row: ParkedEvent) -> bool:
    """Send the 12345 replies the parked event's case owes now; resolved once recorded."""
    from projections import parked
    from workflows.hotline_replies import from_settings

    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    replies = from_settings(app, settings.hotline_reply_url, secret)
    try:
        if replies is None:
            raise LookupError("set WARDSHIP_HOTLINE_REPLY_URL and WARDSHIP_WEBHOOK_SECRET")
        if row.originator_id is None:
            raise LookupError("the parked event names no case")
        replies.reply_to(row.originator_id)
    except Exception as error:
        _still_failing(conn, row, error)
        return False
    with conn.cursor() as cur:
        parked.resolve(cur, row.id, "retried: the case's 12345 replies were sent")
    print(f"{row.id}: case {row.originator_id} replied")
    return True


def _still_failing(conn: psycopg.Connection[Any], row: ParkedEvent, error: Exception) -> None:
    """Count the failed attempt and say so; the event stays parked."""
    from projections import parked

    parked.failed_again(conn, row.id, error)
    print(f"{row.id}: still fails ({parked.describe(error)[1]}); it stays parked",
          file=sys.stderr)


COMMAND = Command("parked", "list, retry or resolve the events the relay and read models "
                  "set aside", run, _add_arguments)

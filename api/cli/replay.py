"""`wardship replay CASE_ID`: print a case's timeline from its events (`--lang zh`: Chinese)."""

from __future__ import annotations

import getpass
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from api.cli.command import Command
from api.labels import LANGUAGES

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case_id", help="the case's id")
    parser.add_argument("--lang", choices=LANGUAGES, default="en",
                        help="labels for stages and actions (default en)")


def run(args: argparse.Namespace) -> int:
    """Print the timeline and the hash-chain result; exit 1 if the case is unknown."""
    import psycopg

    from api.bootstrap import bootstrap
    from api.http.access_log import INSERT
    from api.inspection.history import history_entry
    from api.inspection.timeline import timeline_lines
    from api.settings import get_settings
    from domain.errors import CaseNotFound

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the event store to replay from")
        return 1
    try:
        case_id = uuid.UUID(args.case_id)
    except ValueError:
        print(f"{args.case_id!r} is not a case id (a UUID)")
        return 1
    app = bootstrap(settings)
    try:
        events = app.case_events(case_id)
        chain = app.verify_chain(case_id)
    except CaseNotFound:
        print(f"no case {case_id}")
        return 1
    finally:
        app.close()
    entries = [history_entry(e, reveal_personal=False) for e in events]
    for entry in entries:
        entry["case_id"] = str(case_id)
    # A replay is a read by a person: it goes to the access log like any API read.
    opened = vars(events[0])
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(INSERT, (
            datetime.now(UTC), f"cli:{getpass.getuser()}", "admin", "", "case", str(case_id),
            opened.get("child_id"), opened.get("jurisdiction"), "replay", None,
        ))
    print("\n".join(timeline_lines(entries, chain, args.lang)))
    return 0


COMMAND = Command("replay", "print a case's timeline from its events", run, _add_arguments)

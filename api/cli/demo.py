"""`wardship demo`: record the invented Leshan (5111) demo data set through the domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--children", type=int, default=300, help="how many children (cases)")
    parser.add_argument("--monitored", type=int, default=300,
                        help="how many monitored children in the ledger (台账)")
    parser.add_argument("--if-empty", action="store_true",
                        help="do nothing when the event store already holds events")


def run(args: argparse.Namespace) -> int:
    """Load the demo set; with --if-empty only into an empty event store (what ./run does)."""
    from api.bootstrap import bootstrap
    from api.cli.demo_data import load_demo
    from api.cli.demo_ledger import load_ledger
    from api.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        print("the demo needs DATABASE_URL")
        return 2
    app = bootstrap(settings)
    try:
        if args.if_empty and app.recorder.max_notification_id():
            print("event store not empty: demo data not loaded")
            return 0
        cases = load_demo(app, children=args.children)
        monitored = load_ledger(app, children=args.monitored)
    finally:
        app.close()
    print(f"demo data: {cases} invented cases and {monitored} monitored children in Leshan "
          "(5111)")
    return 0


COMMAND = Command("demo", "load invented demo data for Leshan city (5111)", run, _add_arguments)

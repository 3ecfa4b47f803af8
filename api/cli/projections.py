"""`wardship projections run|rebuild`: run the read models, or rebuild them from the log."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse
    from types import FrameType

# A runner reads the log from one thread: two event-store connections are plenty.
RUNNER_POOL_SIZE = 2


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from projections.registry import MODELS

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="run every read model (or the named ones) until stopped")
    run.add_argument("names", nargs="*", choices=[*MODELS, []], metavar="NAME")
    rebuild = sub.add_parser(
        "rebuild", help="rebuild every read model (or the named ones) from the log in one pass,"
        " then switch")
    rebuild.add_argument("names", nargs="*", choices=[*MODELS, []], metavar="NAME")
    rebuild.add_argument("--all", action="store_true", help="every read model (the default)")


def run_until_signal(names: list[str]) -> int:
    """Run the read models until SIGTERM or SIGINT; each batch commits or rolls back whole."""
    from api.bootstrap import bootstrap
    from api.logs import configure_logging
    from api.settings import get_settings
    from deploy.collector import tune_collector
    from deploy.heartbeat import Heartbeat
    from projections.runner import run_models

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.database_url is None:
        print("projections need DATABASE_URL")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    app = bootstrap(settings, pool_size=RUNNER_POOL_SIZE)
    tune_collector()
    try:
        heartbeat = Heartbeat(settings.heartbeat_file) if settings.heartbeat_file else None
        run_models(names, app, settings.database_url, stop, heartbeat)
    finally:
        app.close()
    return 0


def run(args: argparse.Namespace) -> int:
    from projections.registry import MODELS

    if args.action == "run":
        return run_until_signal(list(args.names or MODELS))
    if args.all and args.names:
        print("name read models or give --all, not both")
        return 2
    return rebuild_some(list(dict.fromkeys(args.names or MODELS)))


def rebuild_some(names: list[str]) -> int:
    """Rebuild the named read models in one pass over the log into new tables, while the
    live runner serves the old ones."""
    import time

    import psycopg

    from api.bootstrap import bootstrap
    from api.settings import get_settings
    from deploy.collector import tune_collector
    from projections.registry import MODELS
    from projections.runner import rebuild_models

    settings = get_settings()
    if settings.database_url is None:
        print("projections need DATABASE_URL")
        return 2
    app = bootstrap(settings, pool_size=RUNNER_POOL_SIZE)
    tune_collector()
    started = time.monotonic()
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            position = rebuild_models([MODELS[name]() for name in names], app, conn)
    except PermissionError as error:
        print(error)
        return 2
    finally:
        app.close()
    print(f"rebuilt {', '.join(names)} up to log position {position}"
          f" in {time.monotonic() - started:.1f}s")
    return 0


COMMAND = Command("projections", "run or rebuild the read models", run, _add_arguments)

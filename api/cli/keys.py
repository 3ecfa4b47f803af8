"""`wardship keys status` and `wardship keys rotate`: the per-child data keys (docs/privacy.md).

`rotate` re-wraps every live data key under the current master key (the first of
WARDSHIP_PKCS11_KEYS with WARDSHIP_KEY_PROVIDER=pkcs11, else of WARDSHIP_MASTER_KEYS), with a
progress bar, while the service runs: each key is changed alone and only if still under the
master key it was read under, so a run stopped half way is simply run again. No event is
rewritten. When `status` shows no key under an old master key, that key can be removed from
the list (retired).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "rotate"),
                        help="status: keys per master key; rotate: re-wrap under the current")
    parser.add_argument("--batch", type=int, default=500, metavar="KEYS",
                        help="keys read per query while rotating")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done; 2 without a database or its master keys."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from api.bootstrap import bootstrap
    from api.settings import get_settings
    from deploy.hsm import KeyProviderError
    from domain.keyring import DESTROYED

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the event store", file=sys.stderr)
        return 2
    try:
        app = bootstrap(settings, pool_size=2)
    except KeyProviderError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        keyring = app.keyring
        current = keyring.provider.master_key_id
        counts = keyring.table.counts()
        if args.action == "status":
            print(f"current master key: {current}")
            for name, count in sorted(counts.items()):
                print(f"{name}: {count}")
            return 0
        todo = sum(n for name, n in counts.items() if name not in (current, DESTROYED))
        with Progress(TextColumn("re-wrapping data keys"), BarColumn(), MofNCompleteColumn(),
                      console=Console(stderr=True)) as progress:
            task = progress.add_task("rotate", total=todo)
            done = keyring.rotate(args.batch, lambda n: progress.advance(task, n))
        print(f"re-wrapped {done} data keys under master key {current}")
        return 0
    finally:
        app.close()


COMMAND = Command("keys", "the per-child data keys: status, or rotate under a new master key",
                  run, _add_arguments)

"""The `wardship` command: one module per subcommand, named after it, listed in `COMMANDS`.

To add a subcommand, write `api/cli/<name>.py` defining `COMMAND = Command(...)`, import it
here and append it to `COMMANDS`. Keep heavy imports inside `run`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from api.cli import (
    api,
    backup,
    contacts,
    demo,
    dev,
    imports,
    keys,
    migrate,
    parked,
    project,
    projections,
    rearm,
    replay,
    reseal,
    restore,
    token,
    verify,
    worker,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from api.cli.command import Command

COMMANDS: tuple[Command, ...] = (
    dev.COMMAND,
    api.COMMAND,
    projections.COMMAND,
    project.COMMAND,
    demo.COMMAND,
    token.COMMAND,
    worker.COMMAND,
    verify.COMMAND,
    replay.COMMAND,
    migrate.COMMAND,
    parked.COMMAND,
    backup.COMMAND,
    restore.COMMAND,
    rearm.COMMAND,
    contacts.COMMAND,
    imports.COMMAND,
    keys.COMMAND,
    reseal.COMMAND,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="wardship", description="Wardship case service")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wardship`; returns the process exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status

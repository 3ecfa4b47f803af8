"""The `wardship` command: one table of subcommands, each a small module in `api/commands/`.

To add a subcommand, write `api/commands/<name>.py` defining `COMMAND = Command(...)` and
append its module path to `COMMAND_MODULES`. Keep heavy imports inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from api.commands import Command

COMMAND_MODULES: tuple[str, ...] = (
    "api.commands.dev",
    "api.commands.serve",
    "api.commands.projections",
    "api.commands.project",
    "api.commands.demo",
    "api.commands.token",
    "api.commands.worker",
    "api.commands.verify",
    "api.commands.replay",
    "api.commands.migrate",
)


def _commands() -> list[Command]:
    return [importlib.import_module(path).COMMAND for path in COMMAND_MODULES]


def command_names() -> set[str]:
    """Names of the registered subcommands."""
    return {command.name for command in _commands()}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="wardship", description="Wardship case service")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wardship`; returns the process exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""`wardship project NAME`: run one read model in its own process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.cli.command import Command
from api.cli.projections import run_until_signal

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from projections.registry import MODELS

    parser.add_argument("name", choices=sorted(MODELS))


def run(args: argparse.Namespace) -> int:
    """Run the named read model until SIGTERM or SIGINT."""
    return run_until_signal([args.name])


COMMAND = Command("project", "run one read model until stopped", run, _add_arguments)

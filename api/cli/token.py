"""`wardship token`: print a development bearer token; refused in production."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sub", required=True, help="the user's id (subject)")
    parser.add_argument("--role", required=True, action="append",
                        help="reporter, caseworker, supervisor, inspector or admin (repeatable)")
    parser.add_argument("--jurisdiction", required=True, help="division code, e.g. 511102001")
    parser.add_argument("--name", default="", help="display name (default: the subject)")


def run(args: argparse.Namespace) -> int:
    """Print a token signed with the development key."""
    from api.http.auth import dev_token
    from api.http.problems import Problem
    from api.settings import get_settings

    settings = get_settings()
    if settings.environment == "production":
        print("wardship token: refused, the service is configured for production",
              file=sys.stderr)
        return 2
    try:
        token = dev_token(settings, subject=args.sub, roles=args.role,
                          jurisdiction=args.jurisdiction, name=args.name)
    except Problem as problem:
        print(f"wardship token: {problem.detail}", file=sys.stderr)
        return 2
    print(token)
    return 0


COMMAND = Command("token", "print a development bearer token", run, _add_arguments)

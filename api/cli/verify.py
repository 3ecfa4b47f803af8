"""`wardship verify FILE`: check an exported case file offline (signature and hash chain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the case file from GET /v1/cases/{id}/export")
    parser.add_argument(
        "--public-key", metavar="KEY",
        help="the service's published key (base64, from GET /v1/inspection/signing-key); "
             "without it the file's embedded key is checked and its id printed",
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the file is intact and signed; 1, naming the first bad event, when not."""
    from api.inspection.casefile import check_case_file

    try:
        document = json.loads(Path(args.file).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"INVALID: cannot read {args.file}: {error}")
        return 1
    result = check_case_file(document, args.public_key)
    print(("OK: " if result.valid else "INVALID: ") + result.message)
    if result.valid and args.public_key is None:
        print("compare the key id with the one published at GET /v1/inspection/signing-key")
    return 0 if result.valid else 1


COMMAND = Command("verify", "check an exported case file offline", run, _add_arguments)

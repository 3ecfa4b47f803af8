"""`wardship verify FILE`: check an exported case file offline (signature and hash chain).

`wardship verify --all` checks the hash chain of every case in the event store instead
(DATABASE_URL), e.g. after `wardship restore`. `--links` checks the signed link records that
`wardship reseal` stored there (docs/privacy.md), alone or with `--all`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, nargs="?",
                        help="the case file from GET /v1/cases/{id}/export")
    parser.add_argument(
        "--public-key", metavar="KEY",
        help="the service's published key (base64, from GET /v1/inspection/signing-key); "
             "without it the file's embedded key is checked and its id printed",
    )
    parser.add_argument(
        "--all", action="store_true",
        help="instead of a file, check every case's hash chain in the event store (DATABASE_URL)")
    parser.add_argument(
        "--links", action="store_true",
        help="check the store's reseal link records: signed, and each new head in a chain "
             "that verifies (DATABASE_URL)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the file is intact and signed; 1, naming the first bad event, when not."""
    from api.inspection.casefile import check_case_file

    if (args.all or args.links) == (args.file is not None):
        print("give either a case file or --all and/or --links")
        return 2
    if args.all or args.links:
        status = verify_all() if args.all else 0
        return max(status, verify_links(args.public_key)) if args.links else status
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


def verify_all() -> int:
    """Exit 0 when every case's chain verifies; 1, naming each bad case and event, when not."""
    from api.bootstrap import bootstrap
    from api.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the event store to verify")
        return 2
    app = bootstrap(settings, pool_size=2)
    cases = events = bad = 0
    try:
        for case_id in app.case_ids():
            result = app.verify_chain(case_id)
            cases, events = cases + 1, events + result["events"]
            if not result["valid"]:
                bad += 1
                print(f"INVALID: case {case_id}, event {result['first_bad_version']}: "
                      f"{result['problem']}")
    finally:
        app.close()
    if bad:
        print(f"INVALID: {bad} of {cases} cases")
        return 1
    print(f"OK: every chain verifies ({cases} cases, {events} events)")
    return 0


def verify_links(public_key: str | None) -> int:
    """Exit 0 when every link record in the store checks (and there is one); 1 when not."""
    from api.bootstrap import bootstrap
    from api.inspection.links import check_links, stored_links
    from api.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        print("set DATABASE_URL (or WARDSHIP_DATABASE_URL) to the event store to verify")
        return 2
    app = bootstrap(settings, pool_size=2)
    try:
        records = stored_links(app)
        checks = [check_links(app, record, public_key) for record in records]
    finally:
        app.close()
    if not records:
        print("INVALID: no link record in this store (it was not made by `wardship reseal`)")
        return 1
    for number, check in enumerate(checks, start=1):
        print(("OK: " if check.valid else "INVALID: ") + f"link record {number}: "
              + check.message)
    valid = all(check.valid for check in checks)
    if valid and public_key is None:
        print("compare the key id with the one published at GET /v1/inspection/signing-key")
    return 0 if valid else 1


COMMAND = Command("verify", "check an exported case file, or every case's chain (--all) and the "
                  "reseal link records (--links)",
                  run, _add_arguments)

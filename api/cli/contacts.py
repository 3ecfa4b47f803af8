"""`wardship contacts import FILE | list`: the notification contact directory from a CSV file.

The import records each contact as an event naming the admin it is run for (`--by`), within
that admin's area (`--jurisdiction`). Every row is checked first and nothing is recorded
unless all pass; a row's command id is a hash of its content, so importing the same file
again adds nobody twice. Output names lines and ids, never an address or a secret.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from domain.actors import Actor
    from domain.application import Wardship

COLUMNS = ("jurisdiction", "name", "role", "email", "sms", "wecom_url", "dingtalk_url",
           "dingtalk_secret", "webhook_url")
REQUIRED = ("jurisdiction", "name", "role")
# Each channel column, the channel type it fills and the field it fills in SPEC's shape.
_CHANNEL_COLUMNS = (("email", "email", "address"), ("sms", "sms", "number"),
                    ("wecom_url", "wecom", "url"), ("dingtalk_url", "dingtalk", "url"),
                    ("webhook_url", "webhook", "url"))


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser("import", help="add the contacts of a CSV file (UTF-8, with or "
                                         f"without BOM; columns: {','.join(COLUMNS)})")
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--by", required=True, metavar="SUBJECT",
                      help="the admin the import is recorded under (their user id)")
    load.add_argument("--jurisdiction", required=True, metavar="CODE",
                      help="that admin's division code: rows outside it are rejected")
    listing = sub.add_parser("list", help="the contacts on duty, by jurisdiction (no secrets)")
    listing.add_argument("--jurisdiction", metavar="CODE", default="",
                         help="only contacts under this code")


@dataclass(frozen=True)
class Row:
    """One CSV row as a contact body, with the line it starts on (and what the body alone
    cannot show is wrong with it)."""

    line: int
    body: dict[str, Any]
    problem: str | None = None


def read_rows(path: Path) -> Iterator[Row]:
    """The file's rows as contact bodies (SPEC's shape); empty cells add no channel.

    Raises ValueError naming what is wrong with the header.
    """
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        header = [name.strip() for name in reader.fieldnames or []]
        unknown = [name for name in header if name not in COLUMNS]
        missing = [name for name in REQUIRED if name not in header]
        if unknown or missing:
            raise ValueError(f"the header must name columns among {','.join(COLUMNS)} "
                             f"(unknown: {unknown or 'none'}, missing: {missing or 'none'})")
        reader.fieldnames = header
        line = reader.line_num + 1
        for cells in reader:
            row = {k: (v or "").strip() for k, v in cells.items() if isinstance(k, str)}
            problem = None
            if row.get("dingtalk_secret") and not row.get("dingtalk_url"):
                problem = "dingtalk_secret is set but dingtalk_url is empty; give both"
            if None in cells:
                problem = "the row has more cells than the header has columns"
            yield Row(line, _body(row), problem)
            line = reader.line_num + 1


def _body(cells: dict[str, str]) -> dict[str, Any]:
    channels: list[dict[str, str]] = []
    for column, kind, field_name in _CHANNEL_COLUMNS:
        if cells.get(column):
            channels.append({"type": kind, field_name: cells[column]})
            if kind == "dingtalk":
                channels[-1]["secret"] = cells.get("dingtalk_secret", "")
    body: dict[str, Any] = {"jurisdiction": cells.get("jurisdiction", ""),
                            "name": cells.get("name", ""), "role": cells.get("role", ""),
                            "channels": channels}
    return body


def row_command_id(body: dict[str, Any]) -> str:
    """The command id of a row: a hash of its checked content (same row, same contact)."""
    from domain.contacts import channel_as_plain, parse_contact

    entry = parse_contact(body)
    plain = {"jurisdiction": entry.jurisdiction, "name": entry.name, "role": entry.role,
             "channels": [channel_as_plain(c) for c in entry.channels]}
    canonical = json.dumps(plain, sort_keys=True, ensure_ascii=False)
    return "contacts-import:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def check_rows(rows: list[Row], admin: Actor) -> list[str]:
    """Why each rejected row is rejected, as `line N: reason` (empty: every row passes)."""
    from domain import access
    from domain.contacts import parse_contact
    from domain.errors import InvalidCommand

    problems: list[str] = []
    for row in rows:
        if row.problem is not None:
            problems.append(f"line {row.line}: {row.problem}")
            continue
        try:
            entry = parse_contact(row.body)
        except InvalidCommand as error:
            problems.append(f"line {row.line}: {error.message}")
            continue
        if not access.may_manage_contacts(admin, entry.jurisdiction):
            problems.append(f"line {row.line}: jurisdiction {entry.jurisdiction} is outside "
                            f"{admin.jurisdiction}")
    return problems


def import_rows(app: Wardship, rows: list[Row], admin: Actor) -> tuple[int, int, int]:
    """Register each row's contact; (added, already there, removed since and not added)."""
    added = present = removed = 0
    seen: set[str] = set()
    for row in rows:
        command = row_command_id(row.body)
        if command in seen:
            present += 1  # the same row twice in one file
            continue
        seen.add(command)
        answer = app.register_contact(admin, row.body, command_id=command)
        if answer["recorded"]:
            added += 1
        elif answer["removed"]:
            removed += 1
        else:
            present += 1
    return added, present, removed


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 when rows were rejected (nothing recorded), 2 on bad usage."""
    from api.bootstrap import bootstrap
    from api.settings import get_settings
    from domain.codes import jurisdiction_is_valid

    settings = get_settings()
    if settings.database_url is None:
        print("wardship contacts needs DATABASE_URL", file=sys.stderr)
        return 2
    if args.jurisdiction and not jurisdiction_is_valid(args.jurisdiction):
        print(f"--jurisdiction {args.jurisdiction!r} is not a division code", file=sys.stderr)
        return 2
    if args.action == "list":
        app = bootstrap(settings, pool_size=1)
        try:
            return show(app, args.jurisdiction)
        finally:
            app.close()
    return import_file(args.file, args.by, args.jurisdiction,
                       lambda: bootstrap(settings, pool_size=1))


def import_file(path: Path, subject: str, jurisdiction: str,
                open_app: Callable[[], Wardship]) -> int:
    """Check every row, then record them all for the admin `subject` of `jurisdiction`."""
    from domain.actors import Actor
    from domain.codes import Role

    admin = Actor(subject, frozenset({Role.ADMIN}), jurisdiction)
    try:
        rows = list(read_rows(path))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 2
    problems = check_rows(rows, admin)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{len(problems)} of {len(rows)} rows rejected; nothing was recorded. "
              "Correct them and import the file again.", file=sys.stderr)
        return 1
    app = open_app()
    try:
        added, present, removed = import_rows(app, rows, admin)
    finally:
        app.close()
    print(f"imported {added} contacts; {present} already in the directory"
          + (f"; {removed} removed earlier and not added again (add them through the API)"
             if removed else ""))
    return 0


def show(app: Wardship, under: str) -> int:
    """Print the contacts on duty under the code, one a line, channels masked."""
    from domain.contacts import contact_view

    entries = app.contact_directory().under(under)
    if not entries:
        print("no contacts on duty" + (f" under {under}" if under else ""))
        return 0
    print("JURISDICTION\tROLE\tNAME\tID\tCHANNELS")
    for entry in entries:
        view = contact_view(entry)
        channels = ", ".join(
            f"{c['type']}:{c.get('address') or c.get('number') or c.get('url')}"
            for c in view["channels"])
        print(f"{entry.jurisdiction}\t{entry.role}\t{entry.name}\t{entry.id}\t{channels}")
    return 0


COMMAND = Command("contacts", "import or list the notification contact directory", run,
                  _add_arguments)

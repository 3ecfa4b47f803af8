"""Run a set of long-lived child processes; stop them all when one dies or on a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from deploy import processes

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path
    from types import FrameType

log = structlog.get_logger("wardship.supervisor")


class Shutdown(BaseException):
    """Raised in the supervisor when SIGINT, SIGTERM or SIGHUP arrives.

    A BaseException, like KeyboardInterrupt, so retry loops that catch Exception let it pass.
    """


@dataclass(frozen=True)
class Child:
    """A child process: a name (for logs and pid files) and its argument vector."""

    name: str
    argv: Sequence[str]


class Supervisor:
    """Starts children in their own sessions, records their pids, and stops them together.

    Own sessions keep a terminal Ctrl-C away from the children: the supervisor forwards the
    stop to each child and kills what is left after `grace` seconds.
    """

    def __init__(self, run_dir: Path, marker: str, grace: float = 10.0) -> None:
        self.run_dir = run_dir
        self.marker = marker
        self.grace = grace
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def stop_leftovers(self, names: Sequence[str]) -> None:
        """Stop children a crashed supervisor left behind (pids recorded in the run dir)."""
        for name in names:
            processes.stop_leftover(self._pid_file(name), self.marker, self.grace)

    def start(self, child: Child, env: Mapping[str, str]) -> None:
        """Start `child` with `env`; its output goes to the supervisor's own stdout/stderr."""
        process = subprocess.Popen(  # noqa: S603 - argument vectors are our own commands
            list(child.argv), env=dict(env), stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.running[child.name] = process
        processes.write_pid_file(self._pid_file(child.name), process.pid)
        log.info("child_started", process=child.name, pid=process.pid)

    def watch(self) -> Iterator[tuple[str, int]]:
        """Yield (name, exit status) of any child that exits; poll until interrupted."""
        while True:
            for name, process in list(self.running.items()):
                status = process.poll()
                if status is not None:
                    del self.running[name]
                    self._pid_file(name).unlink(missing_ok=True)
                    yield name, status
            time.sleep(0.2)

    def stop_all(self) -> None:
        """SIGTERM every child's process group, wait up to `grace`, then SIGKILL the rest."""
        for process in self.running.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, process in self.running.items():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("child_killed", process=name, pid=process.pid)
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            # A child's own helpers (e.g. uvicorn reload workers) share its group.
            _signal_group(process.pid, signal.SIGKILL)
            self._pid_file(name).unlink(missing_ok=True)
            log.info("child_stopped", process=name, status=process.returncode)
        self.running.clear()

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def raise_shutdown_on_signals() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into `Shutdown` in the main thread."""

    def handler(signum: int, _frame: FrameType | None) -> Any:
        raise Shutdown(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def ignore_signals() -> None:
    """Ignore further stop signals while shutting down, so cleanup runs to the end."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)

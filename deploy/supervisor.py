"""Run a set of long-lived child processes: restart one that dies (with backoff), stop them
all on a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

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


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a child that died: `first`, doubling per quick death up to
    `most`; a child that stayed up `stable_after` seconds starts again from `first`."""

    first: float = 0.5
    most: float = 30.0
    stable_after: float = 60.0

    def delay(self, quick_deaths: int) -> float:
        """The delay after `quick_deaths` deaths in a row (the first is 0)."""
        return min(self.most, self.first * 2.0 ** min(quick_deaths, 32))


@dataclass
class _Slot:
    """One supervised child: its command, environment, process (None while waiting for a
    restart) and its restart history."""

    child: Child
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restarts: int = 0
    restart_at: float = 0.0


class Supervisor:
    """Starts children in their own sessions, records their pids, restarts one that dies, and
    stops them together.

    Own sessions keep a terminal Ctrl-C away from the children: the supervisor forwards the
    stop to each child and kills what is left after `grace` seconds. A child that dies is
    started again after `backoff`, so one crash (a bad record, a database outage) does not
    take the service down; only a signal to the supervisor stops everything.
    """

    def __init__(self, run_dir: Path, marker: str, grace: float = 10.0,
                 backoff: Backoff | None = None) -> None:
        self.run_dir = run_dir
        self.marker = marker
        self.grace = grace
        self.backoff = backoff or Backoff()
        self.slots: dict[str, _Slot] = {}

    @property
    def running(self) -> dict[str, subprocess.Popen[bytes]]:
        """The children running now, by name (one waiting for its restart is not here)."""
        return {name: slot.process for name, slot in self.slots.items()
                if slot.process is not None}

    def stop_leftovers(self, names: Sequence[str]) -> None:
        """Stop children a crashed supervisor left behind (pids recorded in the run dir)."""
        for name in names:
            processes.stop_leftover(self._pid_file(name), self.marker, self.grace)

    def start(self, child: Child, env: Mapping[str, str]) -> None:
        """Start `child` with `env`; its output goes to the supervisor's own stdout/stderr."""
        slot = self.slots[child.name] = _Slot(child, dict(env))
        process = self._spawn(slot)
        log.info("child_started", process=child.name, pid=process.pid)

    def supervise(self, poll: float = 0.2) -> NoReturn:
        """Restart children as they die, until a signal raises `Shutdown`."""
        while True:
            self.check()
            time.sleep(poll)

    def run_once(self, argv: Sequence[str], env: Mapping[str, str], poll: float = 0.2) -> int:
        """Run a one-shot command to its end, restarting children meanwhile; its status."""
        process = subprocess.Popen(list(argv), env=dict(env))  # noqa: S603 - our own command
        try:
            while process.poll() is None:
                self.check()
                time.sleep(poll)
        except BaseException:  # Shutdown: the one-shot must not outlive the supervisor
            process.kill()
            process.wait()
            raise
        return process.returncode

    def check(self) -> None:
        """Notice children that exited (log, schedule a restart); restart those now due."""
        now = time.monotonic()
        for name, slot in self.slots.items():
            process = slot.process
            if process is not None and (status := process.poll()) is not None:
                uptime = now - slot.started_at
                if uptime >= self.backoff.stable_after:
                    slot.quick_deaths = 0
                delay = self.backoff.delay(slot.quick_deaths)
                slot.quick_deaths += 1
                slot.process = None
                slot.restart_at = now + delay
                self._pid_file(name).unlink(missing_ok=True)
                # Its helpers (e.g. uvicorn reload workers) share its group: none may linger.
                _signal_group(process.pid, signal.SIGKILL)
                log.warning("child_exited", process=name, pid=process.pid, status=status,
                            uptime=round(uptime, 1), restarts=slot.restarts,
                            restart_in=delay)
            if slot.process is None and now >= slot.restart_at:
                slot.restarts += 1
                restarted = self._spawn(slot)
                log.warning("child_restarted", process=name, pid=restarted.pid,
                            restarts=slot.restarts)

    def _spawn(self, slot: _Slot) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - argument vectors are our own commands
            list(slot.child.argv), env=slot.env, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        slot.process, slot.started_at = process, time.monotonic()
        processes.write_pid_file(self._pid_file(slot.child.name), process.pid)
        return process

    def stop_all(self) -> None:
        """SIGTERM every child's process group, wait up to `grace`, then SIGKILL the rest."""
        running = self.running
        for process in running.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, process in running.items():
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
        self.slots.clear()

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


@contextlib.contextmanager
def supervised(supervisor: Supervisor) -> Iterator[Supervisor]:
    """Stop signals end the block quietly (`Shutdown`); however it ends, every child of
    `supervisor` is stopped, with further signals ignored until they are."""
    raise_shutdown_on_signals()
    try:
        yield supervisor
    except Shutdown:
        pass
    finally:
        ignore_signals()
        supervisor.stop_all()

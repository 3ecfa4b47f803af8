"""Pid files and stopping processes, so a crashed run leaves nothing that blocks the next."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def is_alive(pid: int) -> bool:
    """True when a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie has exited already; it only waits for its parent to reap it.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def command_line(pid: int) -> str:
    """The process's command line ('' when unknown), to check a pid is still ours."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def write_pid_file(path: Path, pid: int, *fields: object) -> None:
    """Record `pid` and extra fields (e.g. ports) on one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(" ".join(str(value) for value in (pid, *fields)) + "\n")


def read_pid_file(path: Path) -> list[str] | None:
    """The fields of a pid file, or None when there is none."""
    try:
        fields = path.read_text().split()
    except OSError:
        return None
    return fields or None


def stop(pid: int, timeout: float = 10.0, group: bool = True) -> None:
    """SIGTERM the process (its group when it leads one), then SIGKILL after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _send(pid, sig, group)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return
            time.sleep(0.05)


def _send(pid: int, sig: signal.Signals, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_leftover(path: Path, marker: str, timeout: float = 10.0) -> None:
    """Stop the process a crashed run recorded in `path` if it still runs `marker`."""
    fields = read_pid_file(path)
    if fields is not None:
        pid = int(fields[0])
        if pid != os.getpid() and is_alive(pid) and marker in command_line(pid):
            stop(pid, timeout)
    path.unlink(missing_ok=True)

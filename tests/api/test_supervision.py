"""`wardship dev` restarts a child that dies (with backoff) and stops everything only on a
signal: real processes, killed with SIGKILL."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import orjson
from structlog.testing import capture_logs

from deploy import processes
from deploy.ports import free_port
from deploy.supervisor import Backoff, Child, Supervisor

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def wait_for(check: Callable[[], object], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within:.0f}s: {what}"
        time.sleep(0.2)


def pid_of(run_dir: Path, name: str) -> int | None:
    fields = processes.read_pid_file(run_dir / f"{name}.pid")
    return int(fields[0]) if fields else None


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def restarted(supervisor: Supervisor, name: str) -> bool:
    supervisor.check()
    return name in supervisor.running


class TestBackoff:
    def test_doubles_from_half_a_second_up_to_thirty(self) -> None:
        backoff = Backoff()
        assert [backoff.delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
        assert backoff.delay(10_000) == 30


class TestSupervisorRestarts:
    def test_a_child_that_keeps_dying_is_restarted_ever_more_slowly(
        self, tmp_path: Path
    ) -> None:
        """Each death is logged with the next delay (0.1, 0.2, 0.4, 0.4 s); each start (it
        appends its time) comes no sooner than that delay after the one before."""
        starts = tmp_path / "starts"
        script = f"import time; open({str(starts)!r}, 'a').write(f'{{time.monotonic()}}\\n')"
        supervisor = Supervisor(tmp_path, "soak", backoff=Backoff(first=0.1, most=0.4,
                                                                    stable_after=60))
        with capture_logs() as logs:
            supervisor.start(Child("dying", (sys.executable, "-c", script)), os.environ)
            try:
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline and supervisor.slots["dying"].restarts < 4:
                    supervisor.check()
                    time.sleep(0.01)
            finally:
                supervisor.stop_all()
        delays = [line["restart_in"] for line in logs if line["event"] == "child_exited"]
        assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
        restarted = [line for line in logs if line["event"] == "child_restarted"]
        assert [line["restarts"] for line in restarted] == [1, 2, 3, 4]
        times = [float(line) for line in starts.read_text().split()]
        for gap, delay in zip(itertools.pairwise(times), delays, strict=False):
            assert gap[1] - gap[0] >= delay

    def test_a_child_that_stayed_up_starts_its_backoff_again(self, tmp_path: Path) -> None:
        supervisor = Supervisor(tmp_path, "soak", backoff=Backoff(first=0.1, most=5,
                                                                    stable_after=0.5))
        sleeper = Child("sleeper", (sys.executable, "-c", "import time; time.sleep(60)"))
        supervisor.start(sleeper, os.environ)
        try:
            for _ in range(3):  # stays up past `stable_after` each time, then is killed
                time.sleep(0.6)
                os.kill(supervisor.running["sleeper"].pid, signal.SIGKILL)
                supervisor.running["sleeper"].wait()
                supervisor.check()
                assert supervisor.slots["sleeper"].restart_at - time.monotonic() <= 0.1
                wait_for(lambda: restarted(supervisor, "sleeper"), 2, "restart")
            assert supervisor.slots["sleeper"].restarts == 3
        finally:
            supervisor.stop_all()


class TestDevRestartsChildren:
    def test_a_killed_child_comes_back_and_only_sigterm_stops_everything(
        self, tmp_path: Path, db_url: str
    ) -> None:
        """kill -9 the API and the worker: each is restarted (new pid, /readyz answers again)
        while the rest keeps running; SIGTERM then stops every process."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        run_dir = tmp_path / "run"
        env = {key: value for key, value in os.environ.items() if key != "TEMPORAL_ADDRESS"}
        env |= {"DATABASE_URL": db_url, "WARDSHIP_STATE_DIR": str(tmp_path),
                "WARDSHIP_PORT": str(port), "WARDSHIP_LOG_FORMAT": "json"}
        output = tmp_path / "dev.log"
        with output.open("wb") as log:
            dev = subprocess.Popen([sys.executable, "-m", "api.cli", "dev"], env=env,
                                   stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: ready(base), 120, "the stack ready")
            first = {name: pid_of(run_dir, name) for name in ("api", "worker", "projections")}
            temporal = pid_of(run_dir, "temporal")
            assert all(first.values())
            assert temporal

            for victim in ("api", "worker"):
                pid = first[victim]
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda v=victim, p=pid: pid_of(run_dir, v) not in (None, p),  # type: ignore[misc]
                         30, f"{victim} restarted")
                assert dev.poll() is None, output.read_text()
                wait_for(lambda: ready(base), 60, "/readyz answers again")
            now = {name: pid_of(run_dir, name) for name in first}
            assert now["projections"] == first["projections"]  # the others kept running
            assert all(processes.is_alive(pid) for pid in now.values() if pid)
            restarted = [line for line in _log_lines(output)
                         if line.get("event") == "child_restarted"]
            assert {line["process"] for line in restarted} == {"api", "worker"}
            exits = [line for line in _log_lines(output) if line.get("event") == "child_exited"]
            assert {line["status"] for line in exits} == {-signal.SIGKILL}

            dev.send_signal(signal.SIGTERM)
            assert dev.wait(timeout=60) == 0
            for pid in [*now.values(), temporal]:
                assert pid is not None
                assert not processes.is_alive(pid), pid
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.wait()
            for name in ("api", "worker", "projections", "temporal"):
                processes.stop_leftover(run_dir / f"{name}.pid", "", 1)


def _log_lines(path: Path) -> list[dict[str, object]]:
    lines = []
    for raw in path.read_bytes().splitlines():
        if raw.startswith(b"{"):
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue
    return lines

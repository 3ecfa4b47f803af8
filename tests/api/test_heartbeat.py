"""The liveness signal of the processes without a port: `wardship worker` and `wardship
projections run` renew their heartbeat file while their loop turns, even while Temporal is
unreachable (a dependency outage must not get them restarted)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from api.cli.migrate import migrate_database
from api.settings import Settings
from deploy.heartbeat import Heartbeat
from deploy.ports import free_port

if TYPE_CHECKING:
    from pathlib import Path


def renewed(path: Path, within: float) -> bool:
    """The file appears, then its modification time moves on, within `within` seconds."""
    deadline = time.monotonic() + within
    first: float | None = None
    while time.monotonic() < deadline:
        if path.exists():
            mtime = path.stat().st_mtime
            if first is None:
                first = mtime
            elif mtime > first:
                return True
        time.sleep(0.2)
    return False


def test_heartbeat_touches_at_most_once_per_period(tmp_path: Path) -> None:
    heartbeat = Heartbeat(tmp_path / "sub" / "alive", every=60)
    heartbeat.beat()
    first = heartbeat.path.stat().st_mtime_ns
    os.utime(heartbeat.path, ns=(first - 10**9, first - 10**9))
    heartbeat.beat()  # within the period: no write
    assert heartbeat.path.stat().st_mtime_ns == first - 10**9


def test_worker_and_runner_renew_their_heartbeat(tmp_path: Path, db_url: str) -> None:
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url})
    migrate_database(settings)
    env = {**os.environ, "DATABASE_URL": db_url, "WARDSHIP_STATE_DIR": str(tmp_path),
           # Nothing listens there: the worker waits for Temporal, and is still alive.
           "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            env={**env, "WARDSHIP_HEARTBEAT_FILE": str(tmp_path / f"{name}.alive")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, args in (("worker", ("worker",)), ("projections", ("projections", "run")))
    }
    try:
        for name, process in started.items():
            assert renewed(tmp_path / f"{name}.alive", within=60), name
            assert process.poll() is None, name
    finally:
        for process in started.values():
            process.terminate()
            process.wait(timeout=30)

"""Backup and restore of 100,000 events: time and size of each step of the drill.

Run with `./run bench -k backup_speed`; figures are printed (docs/reliability.md keeps them).
Each step runs as the operator runs it, a `wardship` process; the Temporal dev server for
`rearm` is new and in memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.settings import Settings
from deploy.binaries import temporal_cli
from tests.bench.test_projection_speed import build_log
from tests.projections.conftest import CIPHER_KEY, project_all
from tests.workflows.test_backup_restore import empty_db_url

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.bench
__all__ = ["empty_db_url"]


def timed(*args: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds a `wardship ARGS` process took, and what it printed."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return time.perf_counter() - started, done.stdout.strip()


async def test_backup_restore_verify_rearm(db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    env = {"WARDSHIP_CIPHER_KEY": CIPHER_KEY, "WARDSHIP_STATE_DIR": str(tmp_path)}
    settings = Settings(database_url=db_url, cipher_key=CIPHER_KEY, state_dir=tmp_path)
    migrate_database(settings)
    app = bootstrap(settings, pool_size=6)
    try:
        build_log(app)
        events = app.recorder.max_notification_id()
        with psycopg.connect(db_url, autocommit=True) as conn:
            project_all(app, conn)
    finally:
        app.close()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    print(f"\n{events} events; database {row[0] / 1e6:.0f} MB")

    backup = tmp_path / "wardship.dump"
    seconds, _ = timed("backup", str(backup), env={**env, "DATABASE_URL": db_url})
    print(f"backup     {seconds:6.1f}s  archive {backup.stat().st_size / 1e6:.1f} MB")
    target = {**env, "DATABASE_URL": empty_db_url}
    seconds, _ = timed("restore", str(backup), env=target)
    print(f"restore    {seconds:6.1f}s")
    seconds, out = timed("verify", "--all", env=target)
    print(f"verify     {seconds:6.1f}s  {out}")
    temporal = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()))
    try:
        target["TEMPORAL_ADDRESS"] = temporal.client.service_client.config.target_host
        seconds, out = timed("rearm", env=target)
        print(f"rearm      {seconds:6.1f}s  {out}")
        seconds, out = timed("rearm", env=target)
        print(f"rearm again{seconds:6.1f}s  {out}")
    finally:
        await temporal.shutdown()

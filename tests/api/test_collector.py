"""The services' processes collect cyclic garbage less often, over what they made after
start-up only; the benchmarks can measure both ways in one process."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from deploy.collector import THRESHOLDS, collector_tuned

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_the_tuned_collector_leaves_start_up_out_and_is_put_back_afterwards() -> None:
    before = gc.get_threshold()
    made_at_start = [object() for _ in range(10)]  # held: still alive when tuning
    with collector_tuned():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() >= len(made_at_start)
        # A cycle made afterwards is still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_served_app_is_built_with_the_collector_tuned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from api.cli.api import create_logged_app
    from api.settings import get_settings

    # What uvicorn calls in each API process; logging left as the test runner set it.
    monkeypatch.setattr("api.logs.configure_logging", lambda *args: None)
    monkeypatch.setenv("WARDSHIP_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    before = gc.get_threshold()
    try:
        create_logged_app()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        get_settings.cache_clear()


def test_a_read_model_rebuild_runs_with_the_collector_tuned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str
) -> None:
    from api.cli.migrate import migrate_database
    from api.cli.projections import rebuild_some
    from api.settings import Settings, get_settings

    migrate_database(Settings.model_validate({"state_dir": tmp_path, "database_url": db_url}))
    monkeypatch.setenv("WARDSHIP_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    before = gc.get_threshold()
    try:
        assert rebuild_some(["cases"]) == 0
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        get_settings.cache_clear()

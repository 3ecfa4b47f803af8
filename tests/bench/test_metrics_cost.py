"""Benchmark: time per /metrics scrape as the store grows, with the lag read fresh on every
scrape and with the 5 s reuse. `./run bench -k metrics_cost` (real PostgreSQL)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from api.bootstrap import bootstrap
from tests.api.support import project, running_api
from tests.workflows.support import open_red_report

if TYPE_CHECKING:
    from pathlib import Path

    from tests.api.support import Api

pytestmark = pytest.mark.bench
SIZES = (1_000, 10_000)
SCRAPES = 30


def scrape_ms(api: Api, every: float) -> float:
    """Median milliseconds of a scrape, the lag read at most once per `every` seconds."""
    admin = api.auth("adm-1", ["admin"])
    api.client.app.state.projection_lag.every = every  # type: ignore[attr-defined]
    timings = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        assert api.client.get("/metrics", headers=admin).status_code == 200
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def test_metrics_scrape_time_by_store_size(tmp_path: Path, db_url: str) -> None:
    with running_api(tmp_path, db_url) as api:
        app = bootstrap(api.settings, pool_size=8)
        opened = 0
        try:
            lines = []
            for size in SIZES:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda i: open_red_report(app, child=f"Bench Child {i}"),
                                  range(opened, size)))
                opened = size
                project(api)
                fresh, reused = scrape_ms(api, 0.0), scrape_ms(api, 5.0)
                lines.append(f"{size:>7,} cases: {fresh:6.1f} ms read fresh,"
                             f" {reused:6.1f} ms reused (median of {SCRAPES})")
        finally:
            app.close()
    print("\n/metrics scrape time\n" + "\n".join(lines))

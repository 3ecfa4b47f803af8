"""Parked events are visible to an operator's probes: counted in /metrics, and /readyz says
"degraded" with the count while staying ready (200)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from fastapi.testclient import TestClient

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.main import create_app
from api.settings import Settings
from projections import parked
from projections.registry import MODELS
from projections.runner import Fleet
from tests.undecodable import insert_garbage

if TYPE_CHECKING:
    from pathlib import Path

SCRAPE_TOKEN = "scrape-token-for-tests"


def test_readyz_is_degraded_with_the_count_and_metrics_count_per_consumer(
    tmp_path: Path, db_url: str, temporal_address: str
) -> None:
    settings = Settings.model_validate({
        "state_dir": tmp_path, "database_url": db_url, "temporal_address": temporal_address,
        "metrics_token": SCRAPE_TOKEN, "readiness_timeout": 2.0})
    migrate_database(settings)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "up",
                                "temporal": "up"}, "parked_events": 0}

        # One garbage event in the log: every read model that reads its topic parks it.
        app = bootstrap(settings, pool_size=2)
        with psycopg.connect(db_url, autocommit=True) as conn:
            insert_garbage(conn)
            fleet = Fleet([model() for model in MODELS.values()], app, conn)
            while fleet.step():
                pass
            count = sum(parked.counts(conn).values())
        app.close()
        assert count >= 1

        degraded = client.get("/readyz")
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded"
        assert degraded.json()["parked_events"] == count
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert metrics.status_code == 200
        assert 'wardship_parked_events{consumer="projection:cases"} 1.0' in metrics.text

        # Resolved by an operator: ready again, and the gauge drops to no series.
        with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
            for row in parked.rows(conn):
                parked.resolve(cur, row.id, "resolved: test")
        assert client.get("/readyz").json()["status"] == "ready"
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert "wardship_parked_events{" not in metrics.text

"""Liveness and readiness as an orchestrator or `./run` sees them."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.cli.migrate import migrate_database
from api.main import create_app
from api.settings import Settings
from deploy.migrate import SCHEMA_VERSION, VERSION_TABLE
from deploy.ports import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextlib.contextmanager
def serve(tmp_path: Path, **values: object) -> Iterator[TestClient]:
    """The API with `values` as settings, lifespan included."""
    # A short readiness timeout keeps the "down" cases fast.
    settings = Settings.model_validate(
        {"state_dir": tmp_path, "readiness_timeout": 0.5, **values}
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def migrated_url(tmp_path: Path, db_url: str) -> str:
    """A fresh database brought to this code's schema by `wardship migrate`."""
    migrate_database(Settings.model_validate({"state_dir": tmp_path, "database_url": db_url}))
    return db_url


def closed_port() -> int:
    return free_port()


class TestLiveness:
    def test_answers_200_even_when_nothing_is_configured(self, tmp_path: Path) -> None:
        with serve(tmp_path) as client:
            response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "alive"}

    def test_echoes_the_callers_request_id(self, tmp_path: Path) -> None:
        with serve(tmp_path) as client:
            response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"

    def test_mints_a_request_id_when_the_caller_sends_none(self, tmp_path: Path) -> None:
        with serve(tmp_path) as client:
            response = client.get("/healthz")
        assert len(response.headers["X-Request-ID"]) == 32


class TestReadiness:
    def test_ready_when_database_and_temporal_answer(
        self, tmp_path: Path, migrated_url: str, temporal_address: str
    ) -> None:
        with serve(tmp_path, database_url=migrated_url,
                   temporal_address=temporal_address) as client:
            response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "up", "temporal": "up"}

    def test_not_ready_names_temporal_when_its_port_is_closed(
        self, tmp_path: Path, migrated_url: str
    ) -> None:
        temporal = f"127.0.0.1:{closed_port()}"
        with serve(tmp_path, database_url=migrated_url, temporal_address=temporal) as client:
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "not_ready"
        assert problem["checks"] == {"database": "up", "temporal": "down"}
        assert "temporal" in problem["detail"]

    def test_not_ready_names_the_database_when_it_does_not_answer(
        self, tmp_path: Path, temporal_address: str
    ) -> None:
        database = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres"
        with serve(tmp_path, database_url=database, temporal_address=temporal_address) as client:
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "down", "temporal": "up"}

    def test_not_ready_until_the_schema_is_migrated(
        self, tmp_path: Path, db_url: str, temporal_address: str
    ) -> None:
        with serve(tmp_path, database_url=db_url, temporal_address=temporal_address) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"] == {"database": "not migrated", "temporal": "up"}
            migrate_database(Settings.model_validate({"state_dir": tmp_path,
                                                      "database_url": db_url}))
            assert client.get("/readyz").status_code == 200

    def test_not_ready_on_a_schema_older_than_the_code_expects(
        self, tmp_path: Path, migrated_url: str, temporal_address: str
    ) -> None:
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            conn.execute(f"DELETE FROM {VERSION_TABLE}")
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)",
                         (SCHEMA_VERSION - 1,))
        with serve(tmp_path, database_url=migrated_url,
                   temporal_address=temporal_address) as client:
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "not migrated", "temporal": "up"}

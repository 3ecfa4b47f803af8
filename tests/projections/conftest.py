"""Fixtures for read-model tests: the Wardship application on a fresh database, and runners."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from domain.application import Wardship
from domain.storage import event_store_env
from projections.registry import MODELS
from projections.runner import Worker, ensure

if TYPE_CHECKING:
    from collections.abc import Iterator

CIPHER_KEY = base64.b64encode(b"wardship-test-key-not-a-secret!!").decode()


@pytest.fixture
def store_url(db_url: str) -> str:
    return db_url


@pytest.fixture
def app(store_url: str) -> Iterator[Wardship]:
    wardship = Wardship(env=event_store_env(store_url, CIPHER_KEY))
    yield wardship
    wardship.close()


@pytest.fixture
def conn(store_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(store_url, autocommit=True) as connection:
        yield connection


def project_all(app: Wardship, conn: psycopg.Connection[Any], limit: int = 2000) -> None:
    """Bring every read model up to the end of the log."""
    for model_class in MODELS.values():
        model = model_class()
        ensure(conn, model)
        Worker(model, app, conn).catch_up(limit)


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model view's rows, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for model_class in MODELS.values():
        for table in model_class.tables:
            rows = conn.execute(f"SELECT * FROM {table.name}").fetchall()
            tables[table.name] = sorted(rows, key=repr)
    return tables

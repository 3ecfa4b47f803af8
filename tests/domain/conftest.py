"""Fixtures for domain tests: the application in memory, and on a fresh PostgreSQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from domain.application import Wardship
from domain.storage import event_store_env
from tests.domain.builders import CIPHER_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def memory_app() -> Iterator[Wardship]:
    """The application with an in-memory event store (pure domain behaviour)."""
    app = Wardship(env=event_store_env(None))
    yield app
    app.close()


@pytest.fixture(params=["memory", "postgres"])
def app(request: pytest.FixtureRequest) -> Iterator[Wardship]:
    """The application on each store: in memory, and on this test's own PostgreSQL database."""
    url = request.getfixturevalue("db_url") if request.param == "postgres" else None
    application = Wardship(env=event_store_env(url, CIPHER_KEY))
    yield application
    application.close()

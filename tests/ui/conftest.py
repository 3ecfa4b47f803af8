"""Fixtures of the page tests: the app on a fresh database (HTTP tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api.support import Api, running_api

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    """The API and its pages on a fresh PostgreSQL database."""
    with running_api(tmp_path, db_url) as running:
        yield running

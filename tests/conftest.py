"""Shared fixtures: a real PostgreSQL server for the session and a fresh database per test."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from deploy.testing import session_database_url
from tests.softhsm import Token, softhsm_token

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Superuser URL of the session's server: DATABASE_URL, else an embedded PostgreSQL."""
    with session_database_url() as url:
        yield url


@contextlib.contextmanager
def new_database(database_url: str, prefix: str = "test") -> Iterator[str]:
    """URL of a new, empty database on `database_url`'s server; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def db_url(database_url: str) -> Iterator[str]:
    """URL of a new, empty database for this test only; dropped afterwards."""
    with new_database(database_url) as url:
        yield url


@pytest.fixture(scope="session")
def hsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """The session's SoftHSM2 token (SoftHSM reads its configuration once per process)."""
    with softhsm_token(tmp_path_factory.mktemp("softhsm")) as made:
        yield made

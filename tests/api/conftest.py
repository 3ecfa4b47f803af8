"""Fixtures shared by the API tests that need a real Temporal server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_test_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(scope="module")
async def temporal_address() -> AsyncIterator[str]:
    """A real (time-skipping) Temporal server for the module that asks for it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server())
    )
    try:
        yield env.client.service_client.config.target_host
    finally:
        await env.shutdown()

"""A Temporal client that connects on first use, so the API starts while Temporal is down."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client


class TemporalConnector:
    """Holds at most one client; `client()` retries the connection until it succeeds once."""

    def __init__(self, address: str | None, namespace: str, timeout: float = 3.0) -> None:
        self.address = address
        self.namespace = namespace
        self.timeout = timeout
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connected client; raises when Temporal is not configured or not reachable."""
        if self._client is not None:
            return self._client
        if self.address is None:
            raise RuntimeError("TEMPORAL_ADDRESS is not set")
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.wait_for(
                    Client.connect(self.address, namespace=self.namespace), self.timeout
                )
            return self._client

    async def check(self) -> None:
        """Raise unless the server answers a cheap call now."""
        client = await self.client()
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=self.timeout)
        )

"""The baseline server of the API benchmark: one endpoint doing one insert-and-commit."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def create_app() -> FastAPI:
    """A FastAPI app whose one route inserts one row (autocommit) and answers its id."""
    state: dict[str, AsyncConnectionPool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(os.environ["DATABASE_URL"], min_size=8, max_size=10,
                                   kwargs={"autocommit": True}, open=False)
        await pool.open()
        state["pool"] = pool
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/rows")
    async def insert_row(body: dict[str, str]) -> dict[str, int]:
        async with state["pool"].connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO bench_rows (payload) VALUES (%s) RETURNING id", (body["text"],))
            row = await cursor.fetchone()
        assert row is not None
        return {"id": row[0]}

    return app

"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter

from api.deps import OptionalPool, SettingsDep, TemporalDep
from api.http.problems import Problem, problem_answers
from api.routes.answers import Alive, Ready

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from api.http.temporal import TemporalConnector

router = APIRouter(tags=["health"])
log = structlog.get_logger("wardship.health")


@router.get("/healthz", response_model=Alive)
async def healthz() -> dict[str, str]:
    """Alive: answers 200 for as long as the process serves requests."""
    return {"status": "alive"}


@router.get("/readyz", response_model=Ready, responses=problem_answers(503))
async def readyz(
    settings: SettingsDep, pool: OptionalPool, connector: TemporalDep
) -> dict[str, Any]:
    """Ready: the database answers `select 1` and the Temporal server answers."""
    timeout = settings.readiness_timeout
    database, temporal = await asyncio.gather(
        _check_database(pool, timeout), _check_temporal(connector, timeout),
    )
    checks = {"database": database, "temporal": temporal}
    down = [name for name, state in checks.items() if state != "up"]
    if down:
        raise Problem(
            503, "not_ready", "Service not ready", f"down: {', '.join(down)}", checks=checks
        )
    return {"status": "ready", "checks": checks}


async def _check_database(pool: AsyncConnectionPool | None, seconds: float) -> str:
    if pool is None:
        return "not configured"
    try:
        async with pool.connection(timeout=seconds) as connection:
            await connection.execute("select 1")
    except Exception as error:
        log.warning("database_not_ready", error_type=type(error).__name__)
        return "down"
    return "up"


async def _check_temporal(temporal: TemporalConnector, seconds: float) -> str:
    if temporal.address is None:
        return "not configured"
    try:
        await asyncio.wait_for(temporal.check(), seconds)
    except Exception as error:
        log.warning("temporal_not_ready", error_type=type(error).__name__)
        return "down"
    return "up"

"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from fastapi import APIRouter

from api.deps import OptionalPool, SettingsDep, TemporalDep
from api.http.problems import Problem, problem_answers
from api.routes.answers import Alive, Ready
from deploy.migrate import SCHEMA_VERSION, SCHEMA_VERSION_QUERY
from projections.parked import COUNT_QUERY

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
    """Ready: the database answers at the schema version this code expects, and Temporal answers.

    A database not yet migrated to that version (`wardship migrate`) is "not migrated".
    Ready with parked events (`wardship parked list`) is "degraded", still 200: the service
    works, but someone must look at the events its consumers set aside.
    """
    timeout = settings.readiness_timeout
    database, temporal, parked = await asyncio.gather(
        _check_database(pool, timeout), _check_temporal(connector, timeout),
        _count_parked(pool, timeout),
    )
    checks = {"database": database, "temporal": temporal}
    down = [name for name, state in checks.items() if state != "up"]
    if down:
        raise Problem(
            503, "not_ready", "Service not ready", f"down: {', '.join(down)}", checks=checks
        )
    return {"status": "degraded" if parked else "ready", "checks": checks,
            "parked_events": parked}


async def _check_database(pool: AsyncConnectionPool | None, seconds: float) -> str:
    if pool is None:
        return "not configured"
    try:
        async with pool.connection(timeout=seconds) as connection:
            row = await (await connection.execute(SCHEMA_VERSION_QUERY)).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    except Exception as error:
        log.warning("database_not_ready", error_type=type(error).__name__)
        return "down"
    # A newer schema is fine: migrations only add, and older replicas serve during a rollout.
    version = row[0] if row else None
    if version is None or version < SCHEMA_VERSION:
        log.warning("schema_not_migrated", found=version, expected=SCHEMA_VERSION)
        return "not migrated"
    return "up"


async def _count_parked(pool: AsyncConnectionPool | None, seconds: float) -> int:
    """How many events the log's consumers have parked (0 when that cannot be read: the
    database check says why)."""
    if pool is None:
        return 0
    try:
        async with pool.connection(timeout=seconds) as connection:
            rows = await (await connection.execute(COUNT_QUERY)).fetchall()
    except psycopg.errors.UndefinedTable:
        return 0  # not migrated yet: the database check says so
    except Exception as error:
        log.warning("parked_count_failed", error_type=type(error).__name__)
        return 0
    return sum(int(count) for _, count in rows)


async def _check_temporal(temporal: TemporalConnector, seconds: float) -> str:
    if temporal.address is None:
        return "not configured"
    try:
        await asyncio.wait_for(temporal.check(), seconds)
    except Exception as error:
        log.warning("temporal_not_ready", error_type=type(error).__name__)
        return "down"
    return "up"

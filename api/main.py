"""The FastAPI application factory; all resources are opened in `lifespan`, none at import."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from fastapi_offline import FastAPIOffline
from psycopg_pool import AsyncConnectionPool

from api.bootstrap import RECONNECT_SECONDS
from api.http.limits import BodyLimitMiddleware
from api.http.metrics import Metrics, MetricsMiddleware
from api.http.middleware import RequestIdMiddleware
from api.http.problems import install_problem_handlers, problem_schemas
from api.http.services import CaseServices
from api.http.temporal import TemporalConnector
from api.logs import ensure_safe_logging
from api.readmodels import install_lag_metrics
from api.routes import (
    access,
    case_search,
    cases,
    children,
    contacts,
    deadlines,
    health,
    hotline,
    imports,
    inspection,
    metrics,
    notifications,
    oauth,
    privacy,
    stats,
)
from api.settings import Settings, get_settings
from api.ui import install_ui
from deploy.outages import CONNECT_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from fastapi import FastAPI

# Seconds a read waits for a pooled connection (psycopg_pool's default is 30).
READ_POOL_WAIT = 3.0


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI document, also holding the problem-details schema routes refer to
    (FastAPI's documented way to extend the document: replace `app.openapi`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                problem_schemas())
            for operation in _operations(document):
                for parameter in operation.get("parameters", []):
                    parameter["schema"] = _not_null(parameter["schema"])
        return build()

    return openapi


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in document.get("paths", {}).values()
            for operation in path.values()]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without `null`: HTTP can only leave a parameter out."""
    options = schema.get("anyOf", [])
    if {"type": "null"} not in options:
        return schema
    rest = [option for option in options if option != {"type": "null"}]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**rest[0], **outer} if len(rest) == 1 else {**outer, "anyOf": rest}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Wardship API for `settings` (default: read from the environment)."""
    settings = settings or get_settings()
    ensure_safe_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.temporal = TemporalConnector(
            settings.temporal_address, settings.temporal_namespace
        )
        pool: AsyncConnectionPool | None = None
        if settings.database_url is not None:
            # open(wait=False): start even while the database is down; /readyz reports it.
            # Bounded waits and reconnects: while the database is down a read answers 503
            # within the pool wait, and the pool is back within seconds of the database.
            pool = AsyncConnectionPool(
                settings.database_url, min_size=1, max_size=10, open=False,
                timeout=READ_POOL_WAIT, reconnect_timeout=RECONNECT_SECONDS,
                kwargs={"connect_timeout": CONNECT_TIMEOUT},
            )
            await pool.open(wait=False)
        app.state.pool = pool
        services = CaseServices(app, settings, pool)
        await services.start()
        try:
            yield
        finally:
            await services.stop()
            if pool is not None:
                await pool.close()

    # /docs and /redoc with their scripts served from here: offline networks reach no CDN.
    # FastAPI's own OpenTelemetry is off: our metrics are Prometheus's, and its spans and logs
    # would carry URLs with their query strings (search terms, an OIDC code) to any exporter
    # a library set up; asking whether one is set up cost every request a lookup too.
    app = FastAPIOffline(title="Wardship", version="1", lifespan=lifespan,
                         static_url="/docs-assets",
                         telemetry={"tracing": False, "metrics": False, "logs": False})
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.add_middleware(BodyLimitMiddleware,
                       larger={"/v1/imports": settings.import_max_bytes})
    app.add_middleware(RequestIdMiddleware)
    # Outermost, so that it times and counts every answer, 413s included.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_problem_handlers(app)
    # Case commands first: routes are matched in order, and theirs are the busiest.
    app.include_router(cases.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(inspection.router)
    for reads in (case_search, deadlines, notifications, children, stats, access):
        app.include_router(reads.router)
    app.include_router(contacts.router)
    app.include_router(hotline.router)
    app.include_router(oauth.router)
    app.include_router(imports.router)
    app.include_router(privacy.router)
    install_ui(app)
    install_lag_metrics(app)
    return app

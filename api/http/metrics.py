"""Prometheus metrics of one API process: latency by route template, commands, error codes,
the events the log's consumers have parked, and the jurisdictions nobody is on duty for."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import orjson
import psycopg
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from projections.inbox import addressed_codes
from projections.parked import COUNT_QUERY

# How stale the contact directory may be in a scrape (it is caught up from the log).
DIRECTORY_MAX_AGE = 5.0  # seconds

if TYPE_CHECKING:
    from collections.abc import Iterator

    from psycopg_pool import AsyncConnectionPool
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from domain.application import Wardship
    from domain.contacts import Route

log = structlog.get_logger("wardship.metrics")

PROBLEM_MEDIA_TYPE = b"application/problem+json"
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metrics of one app, in a registry of their own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "wardship_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route", "status"], registry=self.registry, buckets=LATENCY_BUCKETS,
        )
        self.commands = Counter(
            "wardship_commands_total", "Case commands by action and outcome",
            ["action", "outcome"], registry=self.registry,
        )
        self.errors = Counter(
            "wardship_errors_total", "Problem-details answers by status and code",
            ["status", "code"], registry=self.registry,
        )
        self.parked = ParkedEvents()
        self.registry.register(self.parked)
        self.unattended = UnattendedJurisdictions()
        self.registry.register(self.unattended)


class ParkedEvents:
    """Prometheus collector: how many events each consumer of the log (relay, read model) has
    parked, as of the last `refresh`, one small indexed query the scrape awaits first."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def refresh(self, pool: AsyncConnectionPool) -> None:
        """Count the parked events now; on a database error report none."""
        try:
            async with pool.connection(timeout=2) as conn:
                rows = await (await conn.execute(COUNT_QUERY)).fetchall()
        except psycopg.Error as error:  # PoolTimeout is one too
            log.warning("parked_count_failed", error_type=type(error).__name__)
            self.counts = {}
            return
        self.counts = {str(consumer): int(count) for consumer, count in rows}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        parked = GaugeMetricFamily(
            "wardship_parked_events", "Events set aside undecoded or unapplied, by consumer "
            "(`wardship parked list`)", labels=["consumer"])
        for consumer, count in sorted(self.counts.items()):
            parked.add_metric([consumer], count)
        yield parked


class UnattendedJurisdictions:
    """Prometheus collector: the jurisdictions sent notices with nobody on duty in the contact
    directory, each labelled with the code covering it (codes only, never names)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    async def refresh(self, pool: AsyncConnectionPool, app: Wardship) -> None:
        """Ask the read model and the directory now; on a database error report none."""
        try:
            async with pool.connection(timeout=2) as conn:
                codes = await addressed_codes(conn, "")
            directory = await asyncio.wait_for(
                asyncio.to_thread(app.contact_directory, DIRECTORY_MAX_AGE), 4)
        except Exception as error:  # an outage of any kind: the scrape still answers
            log.warning("unattended_count_failed", error_type=type(error).__name__)
            self.routes = []
            return
        self.routes = directory.unattended(codes)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "wardship_unattended_jurisdictions", "Jurisdictions sent notices with nobody on "
            "duty in the contact directory (无人值守), by the code covering them ('none': "
            "nobody all the way up)", labels=["jurisdiction", "covered_by"])
        for route in self.routes:
            gauge.add_metric([route.jurisdiction, route.covered_by or "none"], 1)
        yield gauge


class MetricsMiddleware:
    """Times every request by its route template and counts problem answers by `code`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        problem: list[bytes] | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(PROBLEM_MEDIA_TYPE):
                    problem = []
            elif message["type"] == "http.response.body" and problem is not None:
                problem.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
            if problem is not None:
                self.metrics.errors.labels(str(status), _code(b"".join(problem))).inc()


def _code(body: bytes) -> str:
    try:
        code = orjson.loads(body).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return code if isinstance(code, str) else "unknown"

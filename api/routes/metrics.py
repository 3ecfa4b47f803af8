"""Prometheus metrics of this API process."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ScrapedMetrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def metrics(process_metrics: ScrapedMetrics) -> Response:
    """Request latency by route, commands by action, errors by code, projection lag
    (Prometheus text); needs the scrape token or an admin's token."""
    return Response(generate_latest(process_metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)

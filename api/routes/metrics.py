"""Prometheus metrics of this API process."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ScrapedMetrics
from api.http.problems import problem_answers

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={
    200: {"description": "Prometheus text format",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    **problem_answers(401, 403)})
async def metrics(process_metrics: ScrapedMetrics) -> Response:
    """Request latency by route, commands by action, errors by code, projection lag, parked
    events (Prometheus text); needs the scrape token or an admin's token."""
    return Response(generate_latest(process_metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)

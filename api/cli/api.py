"""`wardship api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    from fastapi import FastAPI

    from api.partitioned import PartitionedApi


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reload", action="store_true", help="restart on code changes")


def create_logged_app() -> FastAPI | PartitionedApi:
    """The app (every partition's, when partitions are configured), with logging configured
    in the process that serves it (reload children too)."""
    from api.logs import configure_logging
    from api.partitioned import build_api
    from api.settings import get_settings
    from deploy.collector import tune_collector

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = build_api(settings)
    tune_collector()
    return app


def run(args: argparse.Namespace) -> int:
    """Serve the API on the configured host and port."""
    import uvicorn

    from api.logs import configure_logging
    from api.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "api.cli.api:create_logged_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=args.reload,
        workers=None if args.reload else settings.api_processes,
        # Our middleware logs one access line per request, with the request id.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    return 0


COMMAND = Command("api", "serve the HTTP API", run, _add_arguments)

"""One structlog configuration for every Wardship process (API, worker, projection runners).

JSON lines off a terminal, readable colours on one; stdlib logging goes through the same
renderer so uvicorn, psycopg and temporalio lines look like ours.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import MutableMapping

# Keys that may carry a child's or reporter's personal data. A safety net only: code must
# not put personal fields in log events in the first place.
PERSONAL_KEYS = frozenset(
    {"name", "id_number", "address", "phone", "birth_date", "child", "reporter", "findings"}
)


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace values of keys that may hold personal data (structlog processor)."""
    for key in PERSONAL_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and stdlib logging; call once at each process entry point."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
        structlog.processors.StackInfoRenderer(),
    ]
    use_console = sys.stderr.isatty() if fmt == "auto" else fmt == "console"
    renderer: structlog.typing.Processor
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if use_console:
        renderer = structlog.dev.ConsoleRenderer()
    else:
        final.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    final.append(renderer)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers unless told otherwise; route them to the root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # httpx logs every request at INFO, including URLs with query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)

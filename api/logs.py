"""One structlog configuration for every Wardship process (API, worker, projection runners).

JSON lines off a terminal, readable colours on one; stdlib logging goes through the same
renderer so uvicorn, psycopg and temporalio lines look like ours. No line carries personal
data or a token: tracebacks show no local variables, personal and secret keys are blanked at
any depth, and anything shaped like a bearer token is cut from the rendered line.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

if TYPE_CHECKING:
    from collections.abc import MutableMapping

REDACTED = "[redacted]"
# Keys that may carry a child's or reporter's personal data. A safety net only: code must
# not put personal fields in log events in the first place.
PERSONAL_KEYS = frozenset(
    {"name", "id_number", "address", "phone", "birth_date", "child", "reporter", "findings"}
)
# Keys that may carry a credential, or a whole request (its scope holds the headers, its
# body the child's details); a handler's arguments are the same data again.
SECRET_KEYS = frozenset(
    {"authorization", "cookie", "headers", "scope", "token", "body", "request", "password",
     "secret", "args", "kwargs"}
)
REDACTED_KEYS = PERSONAL_KEYS | SECRET_KEYS
# A JWT or any cut of one (base64url of a JSON object, then dotted parts), or what follows
# "Bearer".
_TOKEN = re.compile(r"eyJ[\w-]{8,}(?:\.[\w-]*){0,2}|(?i:bearer)\s+[^\s\"',;]+")


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Blank the values of personal and secret keys, nested ones too (structlog processor)."""
    for key, value in event_dict.items():
        event_dict[key] = REDACTED if _is_redacted(key) else _redacted(value)
    return event_dict


def _is_redacted(key: object) -> bool:
    return isinstance(key, str) and key.lower() in REDACTED_KEYS


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _is_redacted(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, tuple):  # exc_info is one: keep its type
        return tuple(_redacted(item) for item in value)
    return value


class _TokenScrubbing:
    """Wraps the final renderer: cuts anything shaped like a bearer token from the line."""

    def __init__(self, renderer: structlog.typing.Processor) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        rendered = self.renderer(logger, method, event_dict)
        if isinstance(rendered, bytes):
            rendered = rendered.decode()
        return _TOKEN.sub(REDACTED, rendered) if isinstance(rendered, str) else rendered


def _processors(*, logger_name: bool) -> list[structlog.typing.Processor]:
    """What every line goes through before it is rendered: context, level, time and the
    blanking of personal and secret keys (a stdlib logger also gives its name)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        *([structlog.stdlib.add_logger_name] if logger_name else []),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
        structlog.processors.StackInfoRenderer(),
    ]


def _console(**options: Any) -> structlog.dev.ConsoleRenderer:
    """The readable renderer, its tracebacks without local variables."""
    return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback,
                                         **options)


def ensure_safe_logging() -> None:
    """Give structlog a safe configuration unless a process entry point gave it one.

    structlog's own default renders tracebacks with every frame's local variables (through
    rich), so an app built outside `wardship api` (say, by `uvicorn --factory`) would log a
    failed request's body. Only structlog is touched: stdlib logging stays as the host set it.
    """
    if structlog.is_configured():
        return
    structlog.configure(processors=[
        *_processors(logger_name=False), _TokenScrubbing(_console(colors=False))])


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and stdlib logging; call once at each process entry point."""
    shared = _processors(logger_name=True)
    use_console = sys.stderr.isatty() if fmt == "auto" else fmt == "console"
    renderer: structlog.typing.Processor
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    # Never the frames' local variables: they hold request scopes, bodies and tokens.
    if use_console:
        renderer = _console()
    else:
        final.append(structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False)
        ))
        renderer = structlog.processors.JSONRenderer()
    final.append(_TokenScrubbing(renderer))

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
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Our middleware writes the access line, without the query string: uvicorn's would carry
    # it (an OIDC authorization code, search terms) and cost a second line per request.
    # uvicorn writes its line only while this logger has a handler somewhere.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    # httpx logs every request at INFO, including URLs with query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)

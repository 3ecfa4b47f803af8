"""Request-scoped context: a request id bound into every log line and echoed to the caller."""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# Caller-supplied ids are echoed into logs and headers, so accept only short, plain tokens.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("wardship.access")


class RequestIdMiddleware:
    """Honour or mint `X-Request-ID`, bind it to the log context, and log one access line.

    A plain ASGI middleware (not BaseHTTPMiddleware) so streaming responses pass untouched.
    The access line has method, path, status and duration, never the query string or body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, REQUEST_ID_HEADER.lower().encode())
        # Not uuid4: its os.urandom is a system call per request, and an id needs no secrecy.
        minted = f"{random.getrandbits(128):032x}"
        request_id = supplied if supplied and _VALID_ID.match(supplied) else minted
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None

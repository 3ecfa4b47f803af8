"""Request body limit: bodies over the limit get 413 before any of them is parsed or stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException

from api.http.problems import Problem, problem_response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised while reading a streamed body that passes the limit (answered as 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes; send less")


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes`: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES,
                 larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths (by prefix) that take larger bodies: uploaded lists (`/v1/imports`).
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((size for prefix, size in self.larger.items()
                      if scope["path"].startswith(prefix)), self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            problem = Problem(413, "payload_too_large", "Payload too large",
                              f"the request body is over {limit} bytes; send less")
            await problem_response(problem, scope["path"])(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

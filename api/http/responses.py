"""JSON answers serialised by orjson straight from the domain's plain values."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """`application/json` via orjson: datetimes, UUIDs and str enums as they are.

    A `JSONResponse` so that OpenAPI declares its routes' models, not a string.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def etag(version: int) -> str:
    """The strong entity tag of a case at `version`."""
    return f'"{version}"'

"""The per-case hash chain: each event's hash covers its content and its predecessor's hash."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS = "0" * 64
# Fields that are the chain itself, not content.
_NOT_HASHED = frozenset({"hash"})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def event_hash(topic: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the event's topic and fields (which include prev_hash), canonically encoded."""
    content = {k: v for k, v in fields.items() if k not in _NOT_HASHED}
    encoded = json.dumps(
        {"topic": topic, "fields": _plain(content)},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()

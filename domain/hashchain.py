"""The per-case hash chain: each event's hash covers its content and its predecessor's hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.canonical import plain
from domain.personal import bad_digest, chain_form

if TYPE_CHECKING:
    from collections.abc import Iterable

GENESIS = "0" * 64
# Fields that are the chain itself, not content.
_NOT_HASHED = frozenset({"hash"})
# Fields added after chains were first stored: covered when set, left out when None (as
# events stored before them are read), so older chains verify unchanged.
_COVERED_WHEN_SET = frozenset({"command_id", "urgent"})


def event_hash(topic: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the event's topic and fields (which include prev_hash), canonically encoded;
    sealed personal fields count by their digests (`domain.personal.chain_form`)."""
    content = {k: v for k, v in chain_form(fields).items()
               if k not in _NOT_HASHED and not (k in _COVERED_WHEN_SET and v is None)}
    encoded = json.dumps(
        {"topic": topic, "fields": plain(content)},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """One event as the chain check reads it; `fields` None: it could not be decoded."""

    version: int
    topic: str
    fields: dict[str, Any] | None


@dataclass(frozen=True)
class ChainCheck:
    """The verdict on a chain: the first bad version and why, or the head hash."""

    first_bad_version: int | None
    problem: str | None
    head_hash: str

    @property
    def valid(self) -> bool:
        return self.first_bad_version is None


def check_chain(case_id: str, links: Iterable[ChainLink]) -> ChainCheck:
    """Recompute a case's chain from its first event; name the first event that breaks it."""
    prev = GENESIS
    for expected, link in enumerate(links, start=1):
        problem = _broken(case_id, expected, link, prev)
        if problem:
            return ChainCheck(expected, problem, prev)
        prev = str(link.fields["hash"]) if link.fields else prev
    return ChainCheck(None, None, prev)


def _broken(case_id: str, expected: int, link: ChainLink, prev: str) -> str | None:
    fields = link.fields
    if link.version != expected:
        return f"event {expected} is missing (event removed or reordered)"
    if fields is None:
        return "stored event cannot be decoded (changed bytes)"
    if fields.get("originator_version") != expected:
        return f"expected version {expected} here (event removed or reordered)"
    if str(fields.get("originator_id")) != case_id:
        return "belongs to another case"
    if fields.get("prev_hash") != prev:
        return "previous-hash link broken (event removed or reordered)"
    if event_hash(link.topic, fields) != fields.get("hash"):
        return "content does not match its hash (event changed)"
    if bad_digest(fields) is not None:
        return "a personal field does not match its sealed digest (event changed)"
    return None

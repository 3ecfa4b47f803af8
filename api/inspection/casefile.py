"""The exported case file: every event with its hash, the policy used, signed by the service.

`build_case_file` writes it from the event store; `check_case_file` checks one offline, with no
database: the signature over the whole file, then the hash chain recomputed event by event
with `domain.hashchain`, naming the first event that does not match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from api.inspection.signing import key_id, sign, signature_is_valid

# The chain's own canonical form: exported fields must hash exactly as stored ones did.
from domain.canonical import plain
from domain.hashchain import GENESIS, ChainLink, check_chain

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from domain.actors import Actor
    from domain.events import CaseEvent
    from domain.policy import Policy

FORMAT = "wardship-case-file/1"


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def exported_event(event: CaseEvent) -> dict[str, Any]:
    """One event as it goes into the file: version, topic and every stored field."""
    return {
        "version": event.originator_version,
        "topic": get_topic(type(event)),
        "fields": plain(dict(vars(event))),
    }


def policy_document(policy: Policy) -> dict[str, Any]:
    """The deadline policy the case ran under, in the words of its TOML file."""
    return {
        "version": policy.version,
        "calendar": policy.calendar_country,
        "deadlines": {
            kind: {(str(grade) if grade else "*"): str(d) for grade, d in table.items()}
            for kind, table in policy.durations.items()
        },
        "escalation_levels_seconds": [int(d.total_seconds()) for d in policy.escalation_levels],
    }


def build_case_file(
    *, case_id: str, events: Sequence[CaseEvent], policy: Policy, stored_chain: dict[str, Any],
    exported_at: datetime, exported_by: Actor, key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """The signed, self-contained case file for an inspector."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "case_id": case_id,
        "exported_at": exported_at.isoformat(),
        "exported_by": {"subject": exported_by.subject, "role": exported_by.role.value},
        "policy": policy_document(policy),
        "stored_chain": plain(stored_chain),
        "event_count": len(events),
        "head_hash": str(vars(events[-1]).get("hash")) if events else GENESIS,
        "events": [exported_event(e) for e in events],
    }
    return {**body, "signature": sign(key, canonical(body))}


@dataclass(frozen=True)
class CaseFileCheck:
    """What an offline check of a case file found."""

    valid: bool
    message: str
    events: int = 0
    first_bad_version: int | None = None
    key_id: str | None = None


def check_case_file(document: Any, trusted_public_key: str | None = None) -> CaseFileCheck:
    """Check the file's signature and recompute its hash chain; name the first bad event."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return CaseFileCheck(False, f"not a Wardship case file (expected format {FORMAT})")
    body = {k: v for k, v in document.items() if k != "signature"}
    events = body.get("events")
    if not isinstance(events, list):
        return CaseFileCheck(False, "the file has no list of events")
    bad_version, problem = _first_bad_event(str(body.get("case_id")), events)
    if bad_version is None and (body.get("event_count") != len(events)
                                or body.get("head_hash") != _head(events)):
        problem = "the event count or head hash does not match the events (events removed?)"
    signature = document.get("signature")
    public = signature.get("public_key") if isinstance(signature, dict) else None
    value = signature.get("value") if isinstance(signature, dict) else None
    signer = key_id(public) if isinstance(public, str) and _is_key(public) else None
    if bad_version is not None:
        return CaseFileCheck(False, f"event {bad_version}: {problem}", len(events), bad_version,
                             signer)
    if problem:
        return CaseFileCheck(False, problem, len(events), None, signer)
    if not (isinstance(public, str) and isinstance(value, str)
            and signature_is_valid(public, value, canonical(body))):
        return CaseFileCheck(False, "the signature does not match: the file was changed after "
                             "export, or it was not signed by a Wardship service", len(events),
                             None, signer)
    if trusted_public_key is not None and public != trusted_public_key:
        return CaseFileCheck(False, f"signed by key {signer}, not by the key you trust "
                             f"({key_id(trusted_public_key)})", len(events), None, signer)
    return CaseFileCheck(True, f"valid: {len(events)} events, hash chain intact, signed by "
                         f"key {signer}", len(events), None, signer)


def _first_bad_event(case_id: str, events: list[Any]) -> tuple[int | None, str]:
    for expected, entry in enumerate(events, start=1):
        if not (isinstance(entry, dict) and isinstance(entry.get("fields"), dict)
                and isinstance(entry.get("topic"), str)):
            return expected, "malformed event entry"
    check = check_chain(case_id, (ChainLink(e.get("version"), e["topic"], e["fields"])
                                  for e in events))
    return check.first_bad_version, check.problem or ""


def _head(events: list[Any]) -> str:
    return str(events[-1]["fields"]["hash"]) if events else GENESIS


def _is_key(text: str) -> bool:
    try:
        key_id(text)
    except ValueError:
        return False
    return True

"""Which fields of which events are a child's personal data, and their seal: a salted digest
per field that the hash chain covers instead of the plaintext (docs/privacy.md).

A path names a field inside an event's state: `child.name`, `personal.*` (every key of the
dict), `details.*.values.*`. The salt is random and stored only inside the encrypted box, so
once the child's key is destroyed nobody can test a guess (an ID number) against a digest,
yet the chain still verifies over the digests.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from domain.canonical import plain

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# What a personal field reads as once its child's key is destroyed.
ERASED = "[已删除]"
# Keys a `*` never matches: codes that read models count by, never about a person.
NOT_PERSONAL = frozenset({"category"})
_FREE_TEXT = {
    "ReportFiled": ("summary",), "EmergencyCompleted": ("summary",),
    "AssessmentRecorded": ("summary",), "ServiceDelivered": ("note",),
    "VisitRecorded": ("findings",), "CareAgreementSigned": ("caregiver",),
    "GuardianContactRecorded": ("note",), "GuardianAdmonished": ("note",),
    "FamilyEducationOrdered": ("note",), "CourtPetitioned": ("summary",),
    "CourtDecisionRecorded": ("summary",), "GuardianshipReviewed": ("findings",),
    "NoteAdded": ("text",), "CaseReviewed": ("findings",),
}
# Sealed since per-child keys came (chain version 2): a stored event with one of these set
# and no seal was recorded before, under the shared key only (`recorded_in_clear`).
_SINCE_KEYS: dict[str, tuple[str, ...]] = {
    "CaseOpened": ("child.*", "concern.summary", "source.reporter.name",
                   "source.reporter.organisation", "source.reporter.phone"),
    **_FREE_TEXT,
}
# Reasons, answers and decisions staff type, and a linked 12345 order's caller and report:
# sealed since this change. Those stored before stay readable (written under the rule that
# a reason names no one) and do not hold up an erasure (docs/privacy.md).
_REASONS: dict[str, tuple[str, ...]] = {
    "CaseDismissed": ("reason",), "ReportScreenedOut": ("reason", "referral"),
    "CaseReferred": ("reason",), "ReferralResponseRecorded": ("response",),
    "CaseEscalated": ("reason",), "CaseClosed": ("reason", "outcome"),
    "CaseReopened": ("reason",), "CourtDecisionRecorded": ("decision",),
    "ApprovalRequested": ("reason",), "ApprovalGranted": ("reason",),
    "ApprovalRejected": ("reason",),
    "HotlineOrderLinked": ("content", "caller.*"),
}
# Case events (domain.events), by class name: sealed by the case itself, under its chain.
CASE_FIELDS: dict[str, tuple[str, ...]] = {
    **_SINCE_KEYS,
    **{name: _SINCE_KEYS.get(name, ()) + fields for name, fields in _REASONS.items()},
}
# Events of the child file (domain.child) and of its monitoring record
# (domain.monitoring_events), by module and qualified name: not chained, so sealed by the
# mapper alone, under the key of the aggregate itself (the file's id, the record's id).
_OWN_SINCE_KEYS: dict[str, tuple[str, ...]] = {
    "domain.child:ChildFile.Registered": ("personal.*",),
    "domain.child:ChildFile.CaseLinked": ("personal.*",),
    "domain.child:ChildFile.Imported": ("personal.*", "row_key"),
    "domain.child:ChildFile.DetailsImported": ("personal.*", "row_key"),
    "domain.child:ChildFile.FileMerged": ("details.*.values.*",),
    "domain.monitoring_events:MonitoringStarted": ("guardian.*", "caregiver.*"),
    "domain.monitoring_events:MonitoringVisitRecorded": ("findings",),
    "domain.monitoring_events:CareAgreementRecorded": ("caregiver.*",),
    "domain.monitoring_events:ChildFileReviewed": ("findings",),
    "domain.monitoring_events:ConcernRaised": ("summary",),
}
# Their reasons, as `_REASONS` for cases. The erasure's own events (request, rejection,
# erasure) and legal holds stay readable: they are the audit of what was erased and why it
# was kept, and a hold may be put on an erased file's record (docs/privacy.md).
_OWN_REASONS: dict[str, tuple[str, ...]] = {
    "domain.child:ChildFile.MergedInto": ("reason",),
    "domain.child:ChildFile.FileMerged": ("reason",),
    "domain.monitoring_events:MonitoringStarted": ("risk_reason",),
    "domain.monitoring_events:MonitoringVisitRecorded": ("living_situation", "risk_reason"),
    "domain.monitoring_events:RiskLevelSet": ("risk_reason",),
    "domain.monitoring_events:MonitoringStopped": ("reason",),
}
OWN_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    **_OWN_SINCE_KEYS,
    **{name: _OWN_SINCE_KEYS.get(name, ()) + fields for name, fields in _OWN_REASONS.items()},
}


def own_key_fields(cls: type[Any]) -> tuple[str, ...] | None:
    """The personal paths of an event the mapper seals under its own aggregate's key."""
    return OWN_KEY_FIELDS.get(f"{cls.__module__}:{cls.__qualname__}")
# A case snapshot's state holds what CaseOpened told it.
CASE_STATE_FIELDS: tuple[str, ...] = (
    "state.child.*", "state.concern.summary", "state.source.reporter.name",
    "state.source.reporter.organisation", "state.source.reporter.phone")


def case_state_paths(snapshot: Mapping[str, Any]) -> list[str]:
    """The personal paths of a case snapshot: what CaseOpened told it, and its closed reason
    where the event that gave it sealed it (so that the snapshot reads as its events do)."""
    patterns = CASE_STATE_FIELDS
    if snapshot["state"].get("closed_reason_sealed"):
        patterns = (*patterns, "state.closed_reason")
    return paths(patterns, snapshot)


def paths(patterns: tuple[str, ...], state: Mapping[str, Any]) -> list[str]:
    """The concrete paths the patterns name in `state` that hold a value (None and "" hold
    nothing personal and are left as they are)."""
    found: list[str] = []
    for pattern in patterns:
        found.extend(_expand(pattern.split("."), state, ""))
    return sorted(set(found))


def _expand(parts: list[str], value: Any, prefix: str) -> Iterator[str]:
    if not parts:
        if value not in (None, ""):
            yield prefix
        return
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        keys = [k for k in value if k not in NOT_PERSONAL] if head == "*" else \
            [head] if head in value else []
        for key in keys:
            yield from _expand(rest, value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and head == "*":
        for index, item in enumerate(value):
            yield from _expand(rest, item, f"{prefix}.{index}" if prefix else str(index))


def get_path(state: Mapping[str, Any], path: str) -> Any:
    value: Any = state
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def with_values(state: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `state` with the value at each path replaced (the containers on the way are
    copied, never changed in place: they may be shared with a live event)."""
    result = dict(state)
    for path, value in values.items():
        _put(result, path.split("."), value)
    return result


def _put(container: Any, parts: list[str], value: Any) -> None:
    head = parts[0]
    key: Any = int(head) if isinstance(container, list) else head
    if len(parts) == 1:
        container[key] = value
        return
    child = container[key]
    child = list(child) if isinstance(child, list) else dict(child)
    container[key] = child
    _put(child, parts[1:], value)


def digest(salt: str, path: str, value: Any) -> str:
    """What the chain covers for one personal field: SHA-256 of salt, path and value."""
    encoded = json.dumps(plain(value), sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(f"{salt}\x00{path}\x00{encoded}".encode()).hexdigest()


def seal_of(event_name: str, fields: Mapping[str, Any], key_id: str) -> dict[str, Any] | None:
    """The seal of a new case event: the child's key id, a fresh salt and each personal
    field's digest; None for an event with no personal field set."""
    found = paths(CASE_FIELDS.get(event_name, ()), fields)
    if not found:
        return None
    salt = secrets.token_hex(32)
    return {"key": key_id, "salt": salt,
            "digests": {path: digest(salt, path, get_path(fields, path)) for path in found}}


def chain_form(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields as the hash chain covers them: each sealed field by its digest, the seal
    without its salt (which is secret), and no seal at all on events without one."""
    seal = fields.get("seal")
    if seal is None:
        return {k: v for k, v in fields.items() if k != "seal"}
    digests = seal["digests"]
    covered = with_values(dict(fields), {p: f"sealed:{d}" for p, d in digests.items()})
    covered["seal"] = {"key": seal["key"], "digests": digests}
    return covered


def bad_digest(fields: Mapping[str, Any]) -> str | None:
    """The first sealed field whose value does not match its digest; None when all match, or
    when the salt is gone with the key (the digests are then all there is to check)."""
    seal = fields.get("seal")
    if seal is None or not seal.get("salt"):
        return None
    for path, expected in seal["digests"].items():
        if digest(seal["salt"], path, get_path(fields, path)) != expected:
            return str(path)
    return None


def recorded_in_clear(event: Any) -> bool:
    """Whether a stored event holds personal data under no child's key: recorded before
    per-child keys, so under the shared key only (docs/privacy.md)."""
    if getattr(event, "seal", None):
        return False
    cls = type(event)
    patterns = _SINCE_KEYS.get(cls.__name__) if cls.__module__ == "domain.events" else \
        _OWN_SINCE_KEYS.get(f"{cls.__module__}:{cls.__qualname__}")
    return patterns is not None and bool(paths(patterns, vars(event)))

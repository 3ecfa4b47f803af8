"""A case's history as inspectors read it: one entry per stored event, personal data masked
for roles that may not see it."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.events import CaseEvent

MASK = "***"
# Where events carry sensitive personal data (names, ID numbers, addresses, phones).
PERSONAL_FIELDS: tuple[tuple[str, ...], ...] = (
    ("child", "name"),
    ("child", "id_number"),
    ("child", "address"),
    ("child", "phone"),
    ("source", "reporter", "name"),
    ("source", "reporter", "phone"),
    ("caller", "name"),
    ("caller", "phone"),
    ("caregiver",),
    # Free text can name people too: summaries, findings, notes, reasons, answers.
    ("concern", "summary"),
    ("summary",),
    ("findings",),
    ("note",),
    ("text",),
    ("reason",),
    ("response",),
    ("decision",),
    ("referral",),
    ("content",),
)
# Where a field of that name is free text in one event only (elsewhere it is a code).
EVENT_FREE_TEXT: dict[str, tuple[str, ...]] = {"CaseClosed": ("outcome",)}
# Fields every event has; the rest is the event's own payload.
_COMMON = frozenset({
    "originator_id", "originator_version", "originator_topic", "timestamp", "actor_id",
    "actor_role", "occurred_at", "policy_version", "stage", "deadline_changes", "prev_hash",
    "hash",
})


def masked(payload: dict[str, Any], event_type: str = "") -> dict[str, Any]:
    """The payload with every personal or free-text field that holds a value as `***`."""
    result = copy.deepcopy(payload)
    paths = PERSONAL_FIELDS + tuple((name,) for name in EVENT_FREE_TEXT.get(event_type, ()))
    for path in paths:
        holder: Any = result
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(path[-1]) not in (None, ""):
            holder[path[-1]] = MASK
    return result


def history_entry(event: CaseEvent, *, reveal_personal: bool) -> dict[str, Any]:
    """One event: type, version, who (and in which role), when, policy, payload, chain links."""
    fields = vars(event)
    payload = {k: v for k, v in fields.items() if k not in _COMMON}
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "occurred_at": event.occurred_at,
        "recorded_at": event.timestamp,
        "policy_version": event.policy_version,
        "stage": event.stage,
        "deadline_changes": copy.deepcopy(event.deadline_changes),
        "payload": payload if reveal_personal else masked(payload, type(event).__name__),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }

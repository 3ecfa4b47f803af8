"""A case's history as inspectors read it: one entry per stored event, personal data masked
for roles that may not see it."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from domain.codes import Role

if TYPE_CHECKING:
    from domain.actors import Actor
    from domain.events import CaseEvent

MASK = "***"
# Where events carry names, ID numbers, addresses and phone numbers (SPEC.md: PIPL).
PERSONAL_FIELDS: tuple[tuple[str, ...], ...] = (
    ("child", "name"),
    ("child", "id_number"),
    ("child", "address"),
    ("child", "phone"),
    ("source", "reporter", "name"),
    ("source", "reporter", "phone"),
    ("caregiver",),
)
# Inspectors audit what was known; supervisors lead the case work in their area.
SEES_PERSONAL_DATA = frozenset({Role.INSPECTOR, Role.SUPERVISOR})
# Fields every event has; the rest is the event's own payload.
_COMMON = frozenset({
    "originator_id", "originator_version", "originator_topic", "timestamp", "actor_id",
    "actor_role", "occurred_at", "policy_version", "stage", "deadline_changes", "prev_hash",
    "hash",
})


def sees_personal_data(actor: Actor) -> bool:
    """Whether the actor's roles let them read children's and reporters' personal fields."""
    return bool(actor.roles & SEES_PERSONAL_DATA)


def masked(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with every personal field that holds a value replaced by `***`."""
    result = copy.deepcopy(payload)
    for path in PERSONAL_FIELDS:
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
        "payload": payload if reveal_personal else masked(payload),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }

"""Deadlines of a case: opened when their clock starts, then met, missed or cancelled."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from domain.codes import DeadlineStatus

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True)
class Deadline:
    """One time-limited step: its kind (policy key), due time, stage and status."""

    id: str
    kind: str
    due_at: datetime
    opened_at: datetime
    status: DeadlineStatus = DeadlineStatus.OPEN
    stage: str | None = None  # None: belongs to the case, not to one stage
    ref: str | None = None  # the service, referral or approval subject it is for
    closed_at: datetime | None = None
    resolved_at: datetime | None = None  # a missed step done late, or no longer needed

    @property
    def is_open(self) -> bool:
        return self.status == DeadlineStatus.OPEN

    @property
    def awaits_escalation(self) -> bool:
        """Missed and still not done: the escalation ladder keeps climbing."""
        return self.status == DeadlineStatus.MISSED and self.resolved_at is None

    def closed(self, status: DeadlineStatus, at: datetime) -> Deadline:
        return replace(self, status=status, closed_at=at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "due_at": self.due_at,
            "opened_at": self.opened_at, "status": self.status.value, "stage": self.stage,
            "ref": self.ref, "closed_at": self.closed_at, "resolved_at": self.resolved_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deadline:
        return cls(**{**data, "status": DeadlineStatus(data["status"])})


def opening(
    deadline_id: str, kind: str, due_at: datetime, stage: str | None, ref: str | None = None
) -> dict[str, Any]:
    """A change record that opens a deadline; stored on the event that starts its clock."""
    return {"op": "open", "id": deadline_id, "kind": kind, "due_at": due_at,
            "stage": stage, "ref": ref}


def closing(deadline_id: str, status: DeadlineStatus) -> dict[str, Any]:
    """A change record that closes a deadline as met, missed or cancelled."""
    return {"op": status.value, "id": deadline_id}


def resolving(deadline_id: str) -> dict[str, Any]:
    """A change record that stops a missed deadline's escalation (step done or moot)."""
    return {"op": "resolve", "id": deadline_id}


def apply_changes(
    deadlines: dict[str, Deadline], changes: list[dict[str, Any]], at: datetime
) -> None:
    """Apply an event's deadline changes to the case's deadline table."""
    for change in changes:
        if change["op"] == "open":
            fields = {k: v for k, v in change.items() if k != "op"}
            deadlines[change["id"]] = Deadline(opened_at=at, **fields)
        elif change["op"] == "resolve":
            deadlines[change["id"]] = replace(deadlines[change["id"]], resolved_at=at)
        else:
            deadlines[change["id"]] = deadlines[change["id"]].closed(
                DeadlineStatus(change["op"]), at
            )

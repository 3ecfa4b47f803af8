"""The typed parts of a case's state: approvals, referrals, planned services, notifications.

Each is frozen, like `Deadline`: an event puts a new value in the case's table and never
changes one in place, so a copy of a case only needs its own tables (see `private_copy`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from domain.codes import ApprovalStatus, Grade

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


@dataclass(frozen=True)
class Approval:
    """A request for a supervisor's approval of closure, long-term guardianship or a petition."""

    status: ApprovalStatus
    requested_by: str
    approved_by: str | None = None


@dataclass(frozen=True)
class Referral:
    """A referral to a partner department, answered or not."""

    partner: str
    responded: bool = False


@dataclass(frozen=True)
class Service:
    """One service of an assistance plan, delivered by its due time."""

    id: str
    type: str
    provider: str
    due_at: datetime
    delivered: bool = False


@dataclass(frozen=True)
class Notification:
    """One notice to one jurisdiction (a missed deadline's escalation, or a case handed over
    to another area: no deadline), its deliveries and its acknowledgement."""

    deadline_id: str | None
    level: int
    recipient_jurisdiction: str
    deliveries: Mapping[str, str] = field(default_factory=dict)  # channel -> outcome
    acknowledged_by: str | None = None
    # False: held for the morning digest (see `notice_is_urgent`).
    urgent: bool | None = None


RECORD_TYPES: tuple[type[Any], ...] = (Approval, Referral, Service, Notification)

# Escalation level -> length of the division code notified (township, county, city; then the
# province), never finer than the case's own code.
LEVEL_CODE_LENGTH = {1: 9, 2: 6, 3: 4}


def records_news(notice: Notification, channel: str, delivered: bool) -> bool:
    """Whether a channel's outcome is news for the notice: not recorded yet, and never a
    failure after the channel delivered (a late retry's failure changes nothing)."""
    known = notice.deliveries.get(channel)
    return known != "delivered" and known != ("delivered" if delivered else "failed")


def notified_jurisdiction(case_jurisdiction: str, level: int) -> str:
    """The code whose supervisors a notice at this level is addressed to."""
    return case_jurisdiction[:LEVEL_CODE_LENGTH.get(level, 2)]


def notice_is_urgent(grade: str | None, level: int) -> bool:
    """Whether a notice goes out at once, day or night: every escalation beyond level 1, and
    level 1 of a red or orange case or of one not graded yet (a report nobody has judged may be
    a child in danger). The rest waits for the morning digest."""
    return level > 1 or grade is None or Grade(grade).is_urgent


def handover_notice(case_id: object, version: int) -> str:
    """The id of the notice telling the old area that a case was transferred away."""
    return f"{case_id}:handover-{version}"


def as_plain(record: Any) -> dict[str, Any]:
    """The record as a plain dict, leaving out fields not set yet (the answers' shape)."""
    return {k: v for k, v in asdict(record).items() if v is not None}


def from_plain(record_type: type[Any], data: Mapping[str, Any]) -> Any:
    """A record from a plain dict (snapshots, and snapshots written before records were
    typed)."""
    names = {f.name for f in fields(record_type)}
    values = {k: v for k, v in data.items() if k in names}
    if record_type is Approval:
        values["status"] = ApprovalStatus(values["status"])
    if record_type is Notification:
        values["deliveries"] = dict(values.get("deliveries") or {})
    return record_type(**values)


def private_copy(aggregate: Any) -> Any:
    """A copy of an aggregate with tables of its own: values are immutable, so one level is
    enough whatever tables the aggregate has."""
    clone = object.__new__(type(aggregate))
    state = {
        name: dict(value) if isinstance(value, dict) else
        list(value) if isinstance(value, list) else value
        for name, value in vars(aggregate).items()
    }
    state["_pending_events"] = []
    object.__setattr__(clone, "__dict__", state)
    return clone

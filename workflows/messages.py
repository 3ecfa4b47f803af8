"""Dataclasses that cross Temporal: the case state the relay signals, activity inputs, results.

Standard library only, so workflow code can import this module through the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - Temporal's converter resolves the hints at run time


@dataclass(frozen=True)
class DeadlineTimer:
    """One deadline the workflow watches: open (sleep until due) or missed (climb the ladder)."""

    id: str
    kind: str
    due_at: datetime
    missed: bool = False


@dataclass(frozen=True)
class CaseState:
    """What the relay tells a case's workflow: the case at one version, as far as time matters."""

    case_id: str
    version: int
    stage: str
    closed: bool
    deadlines: list[DeadlineTimer] = field(default_factory=list)
    # Delay after the due time of each escalation level (level 1 first), in seconds.
    escalation_delays: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Rung:
    """The next level of one deadline's escalation ladder and when it is due."""

    deadline_id: str
    due_at: datetime
    level: int
    at: datetime


@dataclass(frozen=True)
class CaseWorkflowInput:
    """The workflow's argument: the case id, plus what a previous run carried over."""

    case_id: str
    state: CaseState | None = None
    ladders: list[Rung] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StepInput:
    """Ask the case: record the miss if still open at its due time, then escalate to `level`.

    `level` 0 records the miss only.
    """

    case_id: str
    deadline_id: str
    level: int
    now: datetime


@dataclass(frozen=True)
class StepResult:
    """The aggregate's answer: is the deadline missed and not done, and the notification raised."""

    awaits_escalation: bool
    notification_id: str | None = None
    channels: list[str] = field(default_factory=list)
    # Not yet due by the case's record (the workflow woke early): plan it again.
    still_open: bool = False


@dataclass(frozen=True)
class DeliveryInput:
    """Push one notification through one channel (or record that it failed after retries)."""

    case_id: str
    notification_id: str
    channel: str
    now: datetime
    detail: str = ""

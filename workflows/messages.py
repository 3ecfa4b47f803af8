"""Dataclasses that cross Temporal: the case state the relay signals, activity inputs, results.

Standard library only, so workflow code can import this module through the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - Temporal's converter resolves the hints at run time

# Seconds a deployed worker's case workflows wake before each due time at most
# (`CaseState.wake_early`); each step's lead is spread over the last four fifths of it. Steps
# due together then reach Temporal at ~40 a second per 10,000 instead of all at once, which a
# 2-core machine's server and worker could not take in time (docs/performance.md).
DEFAULT_WAKE_EARLY = 300.0


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
    # Seconds before each due time that the workflow wakes, so that Temporal's work (the timer,
    # the workflow task) is done by then and only the aggregate's judgement is left at it.
    wake_early: float = 0.0


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
    """Ask the case at `at`: record the miss if still open, then escalate to `level`.

    `level` 0 records the miss only. The activity waits until the service's clock (the
    database's, not the workflow's) reaches `at` before asking.
    """

    case_id: str
    deadline_id: str
    level: int
    at: datetime


@dataclass(frozen=True)
class StepResult:
    """The aggregate's answer: is the deadline missed and not done, and the notification raised."""

    awaits_escalation: bool
    notification_id: str | None = None
    # Delivery targets of an urgent notice (`<channel type>:<contact id>:<index>`); none for
    # one held for the morning digest, or when nobody is on duty all the way up.
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


@dataclass(frozen=True)
class DigestSlot:
    """When the next morning digest goes out, and the day (China Standard Time) it is for."""

    at: datetime
    day: str


@dataclass(frozen=True)
class AlarmInput:
    """A pattern alarm recorded on a child file, to be routed and delivered."""

    file_id: str
    notification_id: str

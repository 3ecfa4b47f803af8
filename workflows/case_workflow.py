"""`CaseWorkflow`: one per case; sleeps until each open deadline, then climbs the escalation ladder.

The workflow owns time, never facts: the relay signals the case's deadlines at a version, and
when one falls due an activity asks the aggregate whether it was missed. It wakes early, at
its own point of the `CaseState.wake_early` window, and the activity waits for the due time,
because when many deadlines fall due together Temporal needs time to fire every timer and
hand out every task. The step is an ordinary activity, so its workflow task closes at once
instead of staying open through the wait. Deterministic code only (`workflow.now()`, no I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.deliveries import (
    STEP_HEARTBEAT_TIMEOUT,
    STEP_RETRY,
    STEP_RUN_LIMIT,
    STEP_TIMEOUT,
    deliver_all,
)

with workflow.unsafe.imports_passed_through():
    from workflows.messages import (
        CaseState,
        CaseWorkflowInput,
        DeadlineTimer,
        Rung,
        StepInput,
        StepResult,
    )

SIGNAL = "case_changed"
# Bounds that keep a long case's history small: a new run carries the state over.
MAX_HISTORY_EVENTS = 5_000
MAX_SIGNALS_PER_RUN = 500
# Workflows begun before steps became ordinary activities replay their local-activity steps,
# and those begun before wake-ups were spread wake every step the whole window early.
STEP_AS_ACTIVITY = "step-as-activity"
SPREAD_WAKE = "spread-wake"
# Share of the wake-early window over which steps' wake-ups are spread: a step wakes between
# the whole window and a fifth of it before its time.
SPREAD = 0.8


def workflow_id(case_id: str) -> str:
    """The id of a case's workflow."""
    return f"case-{case_id}"


@workflow.defn
class CaseWorkflow:
    """Keeps a timer per open deadline of one case and escalates misses level by level."""

    def __init__(self) -> None:
        self._state: CaseState | None = None
        self._ladders: dict[str, Rung] = {}
        self._settled: set[str] = set()
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._signals = 0
        self._wake = False
        self._gone = False
        self._spread = False

    @workflow.signal(name=SIGNAL)
    def case_changed(self, state: CaseState) -> None:
        """A newer version of the case; versions already seen are ignored."""
        self._signals += 1
        if self._state is not None and state.version <= self._state.version:
            return
        self._state = state
        self._absorb(state)
        self._wake = True

    @workflow.query
    def pending(self) -> list[str]:
        """Deadline ids still watched (open, or climbing the ladder)."""
        return sorted({d.id for d in self._open()} | set(self._ladders) | self._busy)

    @workflow.run
    async def run(self, start: CaseWorkflowInput) -> None:
        self._spread = workflow.patched(SPREAD_WAKE)
        if start.state is not None and (
            self._state is None or start.state.version > self._state.version
        ):
            self._state = start.state
        self._ladders.update({rung.deadline_id: rung for rung in start.ladders})
        self._settled.update(start.settled)
        if self._state is not None:
            self._absorb(self._state)
        while True:
            if self._finished():
                return
            if not self._busy and self._history_is_long():
                workflow.continue_as_new(self._carry(start.case_id))
            now = workflow.now()
            for deadline_id, due_at, level, at in self._due(now):
                self._busy.add(deadline_id)
                task = asyncio.create_task(
                    self._step(start.case_id, deadline_id, due_at, level, at))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wake = False
            wake_at = self._next_time()
            if wake_at is None:
                await workflow.wait_condition(lambda: self._wake)
                continue
            timeout = wake_at - workflow.now()
            if timeout <= timedelta(0):
                continue
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._wake, timeout=timeout)

    # --- planning ------------------------------------------------------------------------

    def _early(self) -> timedelta:
        return timedelta(seconds=self._state.wake_early if self._state else 0.0)

    def _lead(self, deadline_id: str, level: int) -> timedelta:
        """How long before its time a step wakes. Deadlines due at one moment (a working
        day's morning) must not all wake Temporal at one moment either: each step's lead is
        spread over the window by a hash of the step, the same on every replay."""
        early = self._early()
        if not self._spread:
            return early
        fraction = zlib.crc32(f"{deadline_id}:{level}".encode()) / 0xFFFFFFFF
        return early * (1 - SPREAD * fraction)

    def _first_level(self) -> int:
        """The level a deadline's first step records: level 1 without delay is recorded with
        the miss itself (one activity, one save), else the miss alone (level 0)."""
        return 1 if self._delays()[0] <= timedelta(0) else 0

    def _delays(self) -> list[timedelta]:
        seconds = self._state.escalation_delays if self._state else []
        return [timedelta(seconds=s) for s in seconds] or [timedelta(0)]

    def _open(self) -> list[DeadlineTimer]:
        if self._state is None:
            return []
        return [d for d in self._state.deadlines if not d.missed
                and d.id not in self._settled and d.id not in self._ladders]

    def _absorb(self, state: CaseState) -> None:
        """Start ladders for misses the case records; drop those whose step was done."""
        listed = {d.id for d in state.deadlines}
        for deadline in state.deadlines:
            if deadline.missed and deadline.id not in self._ladders \
                    and deadline.id not in self._settled and deadline.id not in self._busy:
                self._ladders[deadline.id] = Rung(deadline.id, deadline.due_at, 1,
                                                  deadline.due_at + self._delays()[0])
        for deadline_id in list(self._ladders):
            if deadline_id not in listed and deadline_id not in self._busy:
                del self._ladders[deadline_id]
                self._settled.add(deadline_id)

    def _due(self, now: datetime) -> list[tuple[str, datetime, int, datetime]]:
        """Steps to start now: (deadline id, due time, level, time to act), earliest first."""
        first = self._first_level()
        items = [(d.id, d.due_at, first, d.due_at) for d in self._open()
                 if d.id not in self._busy and d.due_at - self._lead(d.id, first) <= now]
        items += [(r.deadline_id, r.due_at, r.level, r.at) for r in self._ladders.values()
                  if r.deadline_id not in self._busy
                  and r.at - self._lead(r.deadline_id, r.level) <= now]
        return sorted(items, key=lambda item: (item[1], item[0]))

    def _next_time(self) -> datetime | None:
        first = self._first_level()
        times = [d.due_at - self._lead(d.id, first) for d in self._open()
                 if d.id not in self._busy]
        times += [r.at - self._lead(r.deadline_id, r.level) for r in self._ladders.values()
                  if r.deadline_id not in self._busy]
        return min(times, default=None)

    def _finished(self) -> bool:
        if self._gone:
            return True  # the store has no such case (e.g. its database was replaced)
        return (self._state is not None and self._state.closed and not self._busy
                and not self._ladders and not self._open())

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() > MAX_HISTORY_EVENTS
                or self._signals >= MAX_SIGNALS_PER_RUN)

    def _carry(self, case_id: str) -> CaseWorkflowInput:
        listed = {d.id for d in self._state.deadlines} if self._state else set()
        return CaseWorkflowInput(
            case_id=case_id, state=self._state, ladders=list(self._ladders.values()),
            # Settled ids matter only while a stale state still lists them.
            settled=sorted(self._settled & listed),
        )

    # --- acting --------------------------------------------------------------------------

    async def _step(
        self, case_id: str, deadline_id: str, due_at: datetime, level: int, at: datetime
    ) -> None:
        try:
            try:
                result = await self._record_step(StepInput(case_id, deadline_id, level, at))
            except (ActivityError, ApplicationError) as error:
                # Only a lasting refusal gets here (retries are unlimited): no such case or
                # deadline in the store. Stop watching it rather than asking again forever.
                self._refused(deadline_id, error)
                return
            if result.still_open:
                return
            if not result.awaits_escalation:
                self._ladders.pop(deadline_id, None)
                self._settled.add(deadline_id)
                return
            delays = self._delays()
            if level == 0:
                self._ladders[deadline_id] = Rung(deadline_id, due_at, 1, due_at + delays[0])
                return
            delivered = await self._deliver_all(case_id, result)
            if level >= len(delays):
                self._ladders.pop(deadline_id, None)
                self._settled.add(deadline_id)
                return
            # Nobody was reached at this level: the next level is told at once.
            at = workflow.now() if result.channels and not delivered else due_at + delays[level]
            self._ladders[deadline_id] = Rung(deadline_id, due_at, level + 1, at)
        finally:
            self._busy.discard(deadline_id)
            self._wake = True

    async def _record_step(self, step: StepInput) -> StepResult:
        """Run the step. A local activity would hold the workflow task open while it waits
        for the due time, and 10,000 such tasks held at once time out and replay; an
        ordinary activity lets the task close. It beats only once its time has come, so a
        step whose worker died is run again elsewhere `STEP_HEARTBEAT_TIMEOUT` after its
        time, however long it waited, and thousands waiting send no beats."""
        result: StepResult
        if workflow.patched(STEP_AS_ACTIVITY):
            wait = max(step.at - workflow.now(), timedelta(0))
            result = await workflow.execute_activity(
                "record_step", step, result_type=StepResult,
                start_to_close_timeout=wait + STEP_RUN_LIMIT,
                heartbeat_timeout=wait + STEP_HEARTBEAT_TIMEOUT, retry_policy=STEP_RETRY,
            )
        else:
            result = await workflow.execute_local_activity(
                "record_step", step, result_type=StepResult,
                start_to_close_timeout=STEP_TIMEOUT + self._early(), retry_policy=STEP_RETRY,
            )
        return result

    def _refused(self, deadline_id: str, error: ActivityError | ApplicationError) -> None:
        # A local activity's failure arrives as the ApplicationError itself.
        cause = error.cause if isinstance(error, ActivityError) else error
        code = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        workflow.logger.warning("deadline step refused for good: %s (%s)", deadline_id, code)
        self._ladders.pop(deadline_id, None)
        self._settled.add(deadline_id)
        if code == "case_not_found":
            self._gone = True

    async def _deliver_all(self, case_id: str, result: StepResult) -> bool:
        assert result.notification_id is not None
        return await deliver_all(case_id, result.notification_id, result.channels)

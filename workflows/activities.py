"""Activities: the aggregate judges a due deadline and records escalations; transports push
urgent ones to the contacts the directory routes them to.

Every activity is idempotent: the aggregate refuses to record a miss, an escalation level or a
delivery outcome twice, and a channel is not used again once its delivery is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.child import ChildFile
from domain.clock import MAX_RATE_ERROR
from domain.contacts import parse_delivery_key
from domain.errors import DeadlineNotDue, DomainError, VersionConflict
from domain.monitoring import MonitoringRecord
from workflows.deliveries import STEP_HEARTBEAT_TIMEOUT
from workflows.messages import AlarmInput, DeliveryInput, StepInput, StepResult
from workflows.notices import Alarm, Message, Notice, case_link, message_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from concurrent.futures import Executor
    from datetime import datetime

    from domain.application import Wardship
    from domain.case_state import Notification
    from domain.holders import DeadlineHolder, NoticeHolder
    from domain.policy import Policy
    from workflows.transports import Transport

T = TypeVar("T")
log = structlog.get_logger("wardship.steps")
# Longest a judged step keeps its answer while other judgements of the same burst still run.
HOLD_RESULTS_AT_MOST = 1.0  # seconds
# How stale the contact directory may be when a notice is routed (it is caught up from the log).
DIRECTORY_MAX_AGE = 1.0  # seconds
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# Seconds between a long step's heartbeats. The first must reach Temporal within the
# heartbeat timeout's margin past the due time, from an event loop and to a server that a
# burst slows: at 6 s of 10, 98 of 10,000 steps were taken for dead and run again.
BEAT_EVERY = STEP_HEARTBEAT_TIMEOUT.total_seconds() * 0.3


async def beating(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating while it lasts longer than a beat, so that Temporal runs a
    step again elsewhere soon after its worker died and not before. A brief judgement sends
    no beat at all, which matters when thousands are judged at once."""
    task = asyncio.ensure_future(work)
    local = activity.info().is_local
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=BEAT_EVERY)
            if done:
                return task.result()
            if not local:
                activity.heartbeat()
    except asyncio.CancelledError:
        # Temporal says why it stopped a step only here. Under a burst it was `not_found`: the
        # server had timed out an attempt whose first beat reached it late (docs/performance.md).
        details = activity.cancellation_details()
        reasons = dataclasses.asdict(details) if details is not None else {}
        log.warning("step_cancelled", attempt=activity.info().attempt, **reasons)
        raise
    finally:
        task.cancel()  # the step itself was cancelled (e.g. the worker stops); no-op when done


def alarm_of(file: ChildFile, notification_id: str, public_url: str, policy: Policy) -> Alarm:
    """What a message about one pattern alarm says: the rule and its signals, no personal
    data."""
    record = file.notifications[notification_id]
    alarm = file.alarms[notification_id]
    rule = next((r for r in policy.patterns if r.code == alarm.rule), None)
    return Alarm(
        notification_id=notification_id, file_id=str(file.id), rule=alarm.rule,
        signals=[(signal.kind, signal.at) for signal in alarm.signals],
        window_days=rule.window.days if rule is not None else None,
        recipient_jurisdiction=record.recipient_jurisdiction,
        case_jurisdiction=alarm.jurisdiction,
        link=f"{public_url.rstrip('/')}/v1/children/{file.id}",
    )


def notice_of(case: DeadlineHolder, notification_id: str, now: datetime, public_url: str
              ) -> Notice:
    """What a message about one escalation says: facts of the deadline, none of the child."""
    record = case.notifications[notification_id]
    if record.deadline_id is None:
        raise ApplicationError("no such escalation", non_retryable=True)
    deadline = case.deadlines[record.deadline_id]
    return Notice(
        notification_id=notification_id, case_id=str(case.id), kind=deadline.kind,
        level=record.level, due_at=deadline.due_at, stage=str(case.stage),
        recipient_jurisdiction=record.recipient_jurisdiction,
        case_jurisdiction=case.jurisdiction, overdue=now - deadline.due_at,
        link=(f"{public_url.rstrip('/')}/v1/children/{case.file_id}"
              if isinstance(case, MonitoringRecord) else case_link(public_url, str(case.id))),
    )


class CaseActivities:
    """Activities built by the worker with the application and the configured transports."""

    def __init__(
        self, app: Wardship, transports: Mapping[str, Transport],
        executor: Executor | None = None, public_url: str = DEFAULT_PUBLIC_URL,
    ) -> None:
        self.app = app
        self.transports = dict(transports)
        self.public_url = public_url
        # Saves block on the group commit: the more wait at once, the more share a transaction.
        self.executor = executor
        self._judging = 0  # steps being judged now (on the worker's event loop, so no lock)
        self._quiet = asyncio.Event()

    @activity.defn(name="record_step")
    async def record_step(self, step: StepInput) -> StepResult:
        """Wait until the service's clock reaches the step's time, then let the case judge it.

        It heartbeats only from its time on (its timeout is the wait plus
        `STEP_HEARTBEAT_TIMEOUT`): thousands of steps waiting send no beats, and a step
        queued behind a burst's other judgements is not taken for dead."""
        loop = asyncio.get_running_loop()
        now = await loop.run_in_executor(self.executor, self.app.clock)
        if now < step.at:
            # Load the case while there is time, so that at its time the judgement finds it
            # in this process's cache: a cold load was most of a judgement's cost, paid by
            # every step of a burst at the same moment.
            await loop.run_in_executor(self.executor, self._warm, step.case_id)
            now = await loop.run_in_executor(self.executor, self.app.clock)
        if now < step.at:
            await asyncio.sleep((step.at - now).total_seconds() * (1 + MAX_RATE_ERROR))
        return await beating(self._judge_at(step))

    def _warm(self, holder_id: str) -> None:
        """Load a record into the application's cache ahead of its judgement. Only a speed-up:
        whatever fails here, the judgement loads the record itself and meets it there."""
        try:
            self.app.get_deadline_holder(UUID(holder_id))
        except Exception as error:
            log.info("step_warm_up_failed", error=type(error).__name__)

    async def _judge_at(self, step: StepInput) -> StepResult:
        now = await self._time_at_least(step.at)
        loop = asyncio.get_running_loop()
        self._judging += 1
        self._quiet.clear()
        try:
            result = await loop.run_in_executor(self.executor, self._judge, step, now)
        finally:
            self._judging -= 1
            if self._judging == 0:
                self._quiet.set()
        # When many deadlines fall due together, every miss is recorded before the workflows
        # plan their next steps: handing results back at once made each workflow's next
        # activation take the CPU from the judgements still running (p99 ~0.9 s -> ~0.65 s
        # in docs/performance.md). Channels are told up to this much later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), HOLD_RESULTS_AT_MOST)
        return result

    async def _time_at_least(self, at: datetime) -> datetime:
        """The service's clock (`Wardship.clock`) once it reads `at` or later.

        Neither the workflow's clock nor this host's wall clock counts: a workflow woken
        early, or a worker whose clock is set ahead, waits here until the database's clock
        has reached `at` (a wait measured here is stretched by the rate this host's clock may
        be off, so the time read after it has most likely passed `at` already).
        """
        loop = asyncio.get_running_loop()
        now = await loop.run_in_executor(self.executor, self.app.clock)
        while now < at:
            await asyncio.sleep((at - now).total_seconds() * (1 + MAX_RATE_ERROR))
            now = await loop.run_in_executor(self.executor, self.app.clock)
        return now

    def _judge(self, step: StepInput, now: datetime) -> StepResult:
        """Record the miss if the deadline is still open at `now`, escalate, and name whom
        an urgent notice goes to (a held one waits for the morning digest)."""
        command = self._command(step, now)
        result, notice = self._run(lambda: self.app.change(UUID(step.case_id), command))
        if notice is None or notice.urgent is False:
            return result
        route = self.app.contact_directory(DIRECTORY_MAX_AGE).route(notice.recipient_jurisdiction)
        targets = [key for contact in route.contacts for key in contact.delivery_keys()]
        return StepResult(True, result.notification_id, targets)

    def _command(
        self, step: StepInput, now: datetime
    ) -> Callable[[DeadlineHolder], tuple[StepResult, Notification | None]]:
        def command(case: DeadlineHolder) -> tuple[StepResult, Notification | None]:
            deadline = case.deadlines.get(step.deadline_id)
            if deadline is None:
                return StepResult(awaits_escalation=False), None
            if deadline.is_open:
                try:
                    case.record_deadline_missed(step.deadline_id, now)
                except DeadlineNotDue:
                    # Due later than the workflow knew (its new state is on its way).
                    return StepResult(awaits_escalation=False, still_open=True), None
            if step.level == 0:
                return StepResult(case.deadlines[step.deadline_id].awaits_escalation), None
            notification_id = case.record_escalation(step.deadline_id, step.level, now)
            if notification_id is None:
                return StepResult(awaits_escalation=False), None
            return StepResult(True, notification_id), case.notifications[notification_id]

        return command

    @activity.defn(name="route_alarm")
    def route_alarm(self, alarm: AlarmInput) -> list[str]:
        """The delivery targets of a pattern alarm: the contacts on duty for its township,
        or for the nearest covering area when nobody is."""
        file = self._load(alarm.file_id)
        record = file.notifications.get(alarm.notification_id)
        if record is None:
            raise ApplicationError("no such alarm", non_retryable=True)
        route = self.app.contact_directory(DIRECTORY_MAX_AGE).route(record.recipient_jurisdiction)
        return [key for contact in route.contacts for key in contact.delivery_keys()]

    @activity.defn(name="deliver")
    def deliver(self, delivery: DeliveryInput) -> str:
        """Push the notice to one contact's channel, unless it was delivered there already."""
        target = parse_delivery_key(delivery.channel)
        if target is None:
            raise ApplicationError("not a delivery target", non_retryable=True)
        channel_type, contact_id, index = target
        transport = self.transports.get(channel_type)
        if transport is None:
            raise ApplicationError(f"no {channel_type} transport is configured",
                                   non_retryable=True)
        holder = self._load(delivery.case_id)
        record = holder.notifications.get(delivery.notification_id)
        if record is None:
            raise ApplicationError("no such notification", non_retryable=True)
        if record.deliveries.get(delivery.channel) == "delivered":
            return "already delivered"
        contact = self.app.contact_directory(DIRECTORY_MAX_AGE).get(contact_id)
        if contact is None or index >= len(contact.channels):
            raise ApplicationError("the contact was removed from the directory",
                                   non_retryable=True)
        detail = transport.send(contact.channels[index],
                                self._message(holder, delivery.notification_id, delivery.now))
        if contact.jurisdiction != record.recipient_jurisdiction:
            # Nobody on duty for the addressed code: the covering area was told instead.
            detail = (f"{detail}; covering {contact.jurisdiction} for "
                      f"{record.recipient_jurisdiction} (无人值守)")
        self._record(delivery, True, detail)
        return detail

    @activity.defn(name="record_delivery_failed")
    def record_delivery_failed(self, delivery: DeliveryInput) -> bool:
        """Record that a channel failed after its retries, so the failure is not silent."""
        return self._record(delivery, False, delivery.detail)

    def _message(self, holder: NoticeHolder, notification_id: str, now: datetime) -> Message:
        """What a notice says: a pattern alarm of a child file, or a deadline's escalation."""
        if isinstance(holder, ChildFile):
            return alarm_of(holder, notification_id, self.public_url, self.app.policy).message()
        if holder.notifications[notification_id].deadline_id is None:
            raise ApplicationError("no such escalation", non_retryable=True)
        return message_for(notice_of(cast("DeadlineHolder", holder), notification_id, now,
                                     self.public_url))

    def all(self) -> list[Callable[..., Any]]:
        """The activity callables to register with a worker."""
        return [self.record_step, self.route_alarm, self.deliver, self.record_delivery_failed]

    def _load(self, holder_id: str) -> NoticeHolder:
        try:
            return self.app.notice_holder(UUID(holder_id))
        except DomainError as error:
            raise ApplicationError(str(error), type=error.code, non_retryable=True) from None

    def _record(self, delivery: DeliveryInput, delivered: bool, detail: str) -> bool:
        return self._run(lambda: self.app.change_notices(
            UUID(delivery.case_id), lambda holder: holder.record_delivery(
                delivery.notification_id, delivery.channel, delivered, detail, delivery.now)))

    def _run(self, change: Callable[[], T]) -> T:
        try:
            # The application group-commits concurrent saves, so a burst of due deadlines
            # shares a few transactions.
            return change()
        except (VersionConflict, DeadlineNotDue):
            # Another process kept winning the race for this case, or the service's clock has
            # not reached the due time: Temporal retries later.
            raise
        except DomainError as error:
            # A missing case or deadline will not appear by retrying.
            raise ApplicationError(str(error), type=error.code, non_retryable=True) from None


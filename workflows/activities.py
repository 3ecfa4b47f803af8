"""Activities: the aggregate judges a due deadline and records escalations; channels push them.

Every activity is idempotent: the aggregate refuses to record a miss, an escalation level or a
delivery outcome twice, and a channel is not used again once its delivery is recorded.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from copy import deepcopy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.case import ProtectionCase
from domain.errors import DomainError
from workflows.channels import Notification
from workflows.messages import DeliveryInput, StepInput, StepResult

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from domain.application import Wardship
    from workflows.channels import Channel

T = TypeVar("T")


@dataclass
class _Job:
    case_id: UUID
    command: Callable[[ProtectionCase], Any]
    future: Future[Any] = field(default_factory=Future)


class CaseWriter:
    """Saves the aggregate commands of many activities together, one transaction per batch.

    The event store locks its table per write transaction (~600 transactions/s), so when a
    thousand deadlines fall due together, one transaction per miss would take seconds.
    """

    def __init__(self, app: Wardship, max_batch: int = 500) -> None:
        self.app = app
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="case-writer", daemon=True)
        self._thread.start()

    def run(self, case_id: UUID, command: Callable[[ProtectionCase], T]) -> T:
        """Apply `command` to the case and save it; returns the command's result."""
        job = _Job(case_id, command)
        self._queue.put(job)
        result: T = job.future.result()
        return result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.append(more)
            self._write(jobs)

    def _write(self, jobs: list[_Job]) -> None:
        cases: dict[UUID, ProtectionCase] = {}
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        for job in jobs:
            try:
                case = cases.get(job.case_id) or self._cached(job.case_id)
                cases[job.case_id] = case
                outcomes.append((job, job.command(case), None))
            except Exception as error:
                outcomes.append((job, None, error))
        try:
            if cases:
                self.app.save(*cases.values())
        except IntegrityError:
            # Someone (a caseworker) changed one of the cases meanwhile: redo one by one.
            for job in jobs:
                self._write_one(job)
            return
        except Exception as failure:
            for job in jobs:
                job.future.set_exception(failure)
            return
        cache = getattr(self.app.repository, "cache", None)
        if cache is not None:
            # The repository caches only what it reads; the next step of these cases
            # (the next escalation level) starts from what was just saved.
            for case_id, case in cases.items():
                cache.put(case_id, case)
        for job, result, problem in outcomes:
            if problem is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(problem)

    def _cached(self, case_id: UUID) -> ProtectionCase:
        """The case as this process last saw it, without reading the store.

        The relay loads (and so caches) every case it signals, so when deadlines fall due the
        cache is warm, and skipping the per-case read lets one batch of a thousand cases take
        tenths of a second instead of seconds. A stale copy is harmless: the batch's save then
        conflicts on the case's version and every job is redone from a fresh read.
        """
        repository = self.app.repository
        cache = getattr(repository, "cache", None)
        if cache is not None:
            # The relay's reads fast-forward the cached object in place under this per-case
            # lock; copying it mid-way could pair new state with an old version or the reverse.
            lock = repository._use_fastforward_lock(case_id)
            try:
                with lock:
                    try:
                        cached = cache.get(case_id)
                    except KeyError:
                        cached = None
                    if isinstance(cached, ProtectionCase):
                        # A copy: a command's changes reach the cache only once saved.
                        return deepcopy(cached)
            finally:
                repository._disuse_fastforward_lock(case_id)
        return self.app.get_case_aggregate(case_id)

    def _write_one(self, job: _Job, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                case = self.app.get_case_aggregate(job.case_id)
                result = job.command(case)
                self.app.save(case)
            except IntegrityError as conflict:
                if attempt == attempts - 1:
                    job.future.set_exception(conflict)
                    return
            except Exception as error:
                job.future.set_exception(error)
                return
            else:
                job.future.set_result(result)
                return


class CaseActivities:
    """Activities built by the worker with the application and the configured channels."""

    def __init__(
        self, app: Wardship, channels: Sequence[Channel], writer: CaseWriter | None = None
    ) -> None:
        self.app = app
        self.channels = {channel.name: channel for channel in channels}
        self.writer = writer or CaseWriter(app)

    @activity.defn(name="record_step")
    def record_step(self, step: StepInput) -> StepResult:
        """Record the miss if the deadline is still open at its due time, then escalate."""
        channels = sorted(self.channels)

        def command(case: ProtectionCase) -> StepResult:
            deadline = case.deadlines.get(step.deadline_id)
            if deadline is None:
                return StepResult(awaits_escalation=False)
            if deadline.is_open:
                case.record_deadline_missed(step.deadline_id, step.now)
                if case.deadlines[step.deadline_id].is_open:
                    return StepResult(awaits_escalation=False, still_open=True)
            if step.level == 0:
                return StepResult(case.deadlines[step.deadline_id].awaits_escalation)
            notification_id = case.record_escalation(step.deadline_id, step.level, step.now)
            if notification_id is None:
                return StepResult(awaits_escalation=False)
            return StepResult(True, notification_id, channels)

        return self._run(step.case_id, command)

    @activity.defn(name="deliver")
    def deliver(self, delivery: DeliveryInput) -> str:
        """Push the notification through one channel, unless it was delivered there already."""
        channel = self.channels.get(delivery.channel)
        if channel is None:
            raise ApplicationError(f"no channel {delivery.channel!r}", non_retryable=True)
        case = self._load(delivery.case_id)
        record = case.notifications.get(delivery.notification_id)
        if record is None:
            raise ApplicationError("no such notification", non_retryable=True)
        if record["deliveries"].get(delivery.channel) == "delivered":
            return "already delivered"
        deadline = case.deadlines[record["deadline_id"]]
        detail = channel.send(Notification(
            notification_id=delivery.notification_id, case_id=delivery.case_id,
            kind=deadline.kind, level=int(record["level"]),
            due_at=deadline.due_at.isoformat(),
            recipient_jurisdiction=record["recipient_jurisdiction"],
            case_jurisdiction=case.jurisdiction,
        ))
        self._run(delivery.case_id, lambda c: c.record_delivery(
            delivery.notification_id, delivery.channel, True, detail, delivery.now))
        return detail

    @activity.defn(name="record_delivery_failed")
    def record_delivery_failed(self, delivery: DeliveryInput) -> bool:
        """Record that a channel failed after its retries, so the failure is not silent."""
        return self._run(delivery.case_id, lambda c: c.record_delivery(
            delivery.notification_id, delivery.channel, False, delivery.detail, delivery.now))

    def all(self) -> list[Callable[..., Any]]:
        """The activity callables to register with a worker."""
        return [self.record_step, self.deliver, self.record_delivery_failed]

    def _load(self, case_id: str) -> ProtectionCase:
        try:
            return self.app.get_case_aggregate(UUID(case_id))
        except DomainError as error:
            raise ApplicationError(str(error), type=error.code, non_retryable=True) from None

    def _run(self, case_id: str, command: Callable[[ProtectionCase], T]) -> T:
        try:
            return self.writer.run(UUID(case_id), command)
        except DomainError as error:
            # A missing case or deadline will not appear by retrying.
            raise ApplicationError(str(error), type=error.code, non_retryable=True) from None

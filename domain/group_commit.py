"""Group commit: saves from many threads share one event-store transaction.

The PostgreSQL recorder locks its events table for each write transaction (that is how it
keeps the notification log gap-free), which caps one application at ~600-700 saves a second
however many threads write. Queuing concurrent saves and recording them together lifts the
cap without giving up optimistic concurrency: a batch that conflicts is halved until the saves
that lost stand alone, so only the writer that really lost gets the conflict.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

@dataclass
class _Save:
    aggregate: Any
    events: Sequence[Any]
    done: Future[list[Recording[UUID]]] = field(default_factory=Future)


class GroupCommit:
    """One writer thread records every queued save of a moment in a single transaction."""

    def __init__(
        self,
        record: Callable[[ProcessingEvent[UUID]], list[Recording[UUID]]],
        after: Callable[[ProcessingEvent[UUID]], None],
        max_batch: int = 200,
    ) -> None:
        self._record = record
        self._after = after
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Save | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()

    def save(self, aggregate: Any) -> list[Recording[UUID]]:
        """Record the aggregate's pending events; raises IntegrityError if it lost a race."""
        job = _Save(aggregate, list(aggregate.collect_events()))
        if not job.events:
            return []
        self._queue.put(job)
        return job.done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            jobs = [job]
            while len(jobs) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                jobs.append(more)
            self._commit(jobs)

    def _commit(self, jobs: list[_Save]) -> None:
        try:
            recordings = self._record(_processing(jobs))
        except IntegrityError as error:
            if len(jobs) == 1:
                jobs[0].done.set_exception(error)
                return
            # Someone else wrote one of these aggregates: halve the batch until the saves
            # that lost stand alone, so that the others still share transactions.
            middle = len(jobs) // 2
            self._commit(jobs[:middle])
            self._commit(jobs[middle:])
            return
        except Exception as error:
            for job in jobs:
                job.done.set_exception(error)
            return
        self._finish(jobs, recordings)

    def _finish(self, jobs: list[_Save], recordings: list[Recording[UUID]]) -> None:
        try:
            self._after(_processing(jobs))
        finally:
            for job in jobs:
                mine = [r for r in recordings if r.domain_event.originator_id == job.aggregate.id]
                job.done.set_result(mine)


def _processing(jobs: list[_Save]) -> ProcessingEvent[UUID]:
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for job in jobs:
        processing.events.extend(job.events)
        processing.aggregates[job.aggregate.id] = job.aggregate
    return processing

"""Store machinery beside the domain: the aggregate cache, per-case turns, group commit and
the retry of lost races. The rules are in the aggregates; this only loads and saves them.

Why it exists (figures in docs/performance.md): the library's PostgreSQL recorder locks its
events table for each write transaction, which caps one application at ~600-700 saves a
second however many threads write, and a load-command-save cycle without a cache runs
~250-300 a second. Saves of one moment therefore share a transaction (group commit), and a
command is first judged on the cached case without reading the store.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, LRUCache, project_aggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoding

from domain.case_state import RECORD_TYPES, from_plain, private_copy
from domain.deadlines import Deadline
from domain.errors import DomainError, StoreUnavailable, VersionConflict
from domain.keyring import KeyDestroyed

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
    from uuid import UUID

    from eventsourcing.application import Application, Cache
    from eventsourcing.persistence import JSONTranscoder

T = TypeVar("T")
log = logging.getLogger(__name__)

# Locks striped by aggregate id: bounded memory, and distinct cases rarely wait on each other.
LOCK_STRIPES = 256
# Lost races retried: reports about one child re-read its file; actions without an expected
# version and the service's own commands are judged again on the new state.
SAVE_ATTEMPTS = 5
# Longest a caller waits for its save's answer (seconds), below the API's 5 s promise of an
# answer during an outage. A burst of 4,000 due deadlines saves in well under a second
# (docs/performance.md), so only a store that is down or stuck reaches it.
SAVE_TIMEOUT = 4.0


class AggregateStore:
    """Loads private copies of aggregates and saves them through one group-commit writer."""

    def __init__(self, app: Application[UUID], snapshot_intervals: Mapping[type[Any], int],
                 save_timeout: float = SAVE_TIMEOUT):
        self._app = app
        self._intervals = dict(snapshot_intervals)
        # The keys a save's events are sealed under are made ready in the saving thread, so
        # that the one writer never waits on the keys table (domain.sealed_mapper).
        self._group_commit = GroupCommit(self._record, timeout=save_timeout,
                                         prepare=getattr(app.mapper, "prepare", None))
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Off while this process may miss a destroyed key's announcement (domain.key_listener):
        # every load reads the store, so no aggregate decoded under the key outlives it.
        self.caching = True
        # Counts `forget` calls: an aggregate read before one is not cached after it. The
        # lock makes a forget and a cache put exclusive: none lands between check and put.
        self._epoch = 0
        self._forgetting = threading.Lock()

    def close(self) -> None:
        self._group_commit.close()

    def forget(self, key_ids: Collection[str] | None = None) -> None:
        """Drop the cached aggregates holding personal data under these data keys (None:
        every aggregate): the files and records with these ids and these children's cases."""
        with self._forgetting:
            self._epoch += 1
            cache = self._app.repository.cache
            if cache is None:
                return
            wanted = None if key_ids is None else set(key_ids)
            for aggregate_id, aggregate in _entries(cache):
                if wanted is None or str(aggregate_id) in wanted or \
                        getattr(aggregate, "child_id", None) in wanted:
                    with contextlib.suppress(KeyError):
                        cache.get(aggregate_id, evict=True)

    def load(self, aggregate_id: UUID, version: int | None = None, *, read: bool = True,
             snapshotted: bool = True) -> Any:
        """A private copy of an aggregate: at a version, or as it is now.

        The cache holds each aggregate as this process last saw it and is never changed in
        place (a newer copy replaces it), so a copy is never torn by another thread bringing
        it up to date. `read=False` skips asking the store for newer events, for a command
        whose save will find out. `snapshotted=False` skips looking for a snapshot, for
        aggregates that are never snapshotted. Raises the library's AggregateNotFoundError.
        """
        epoch = self._epoch
        cached = self._cached(aggregate_id) if version is None else None
        if cached is None:
            found = self._rebuild(aggregate_id, version, snapshotted)
            if version is None:
                self._remember(found, epoch)
                return private_copy(found)
            return found
        aggregate = private_copy(cached)
        if read:
            newer = list(self._app.events.get(aggregate_id, gt=aggregate.version))
            aggregate = project_aggregate(aggregate, newer)
            if newer:
                self._remember(private_copy(aggregate), epoch)
        return aggregate

    def save(self, *aggregates: Any, loaded_in: int | None = None) -> int | None:
        """Record the aggregates' new events in one transaction; their last log position.

        `loaded_in` is the `epoch` when they were loaded (default: now): after a `forget`
        since, they may hold personal data under a destroyed key and are not cached.
        Raises VersionConflict when another writer saved one of them first, StoreUnavailable
        when the store gave no answer in time.
        """
        epoch = self._epoch if loaded_in is None else loaded_in
        try:
            recordings = self._group_commit.save(aggregates)
        except IntegrityError:
            raise VersionConflict(
                "someone else changed the case at the same moment; reload it and retry"
            ) from None
        if recordings:
            # The next command is judged on the aggregates as saved, without a read. The
            # caller only reads them from now on.
            for aggregate in aggregates:
                self._remember(aggregate, epoch)
        return max((r.notification.id for r in recordings), default=None)

    def change(
        self, aggregate_id: UUID, command: Callable[[Any], T], attempts: int = SAVE_ATTEMPTS,
        companions: Callable[[Any], Sequence[Any]] | None = None,
    ) -> tuple[T, Any, int | None]:
        """Load, command, save; a lost race is judged again. Returns result, aggregate and
        log position (None: nothing to save). `companions(aggregate)`, after the command,
        names other aggregates it changed, saved in the same transaction."""
        # Commands on one aggregate take turns in this process instead of racing each other
        # to the store; other aggregates still share group commits.
        with self._locks[hash(aggregate_id) % len(self._locks)]:
            # First judge the aggregate as this process last saw it, without reading the
            # store: a successful save proves it was current, since the store refuses a
            # version another writer took. A refusal, an answer with nothing to save or a
            # lost race is judged again on a fresh read, so only those pay for the read.
            for attempt in range(attempts + 1):
                read = attempt > 0
                epoch = self._epoch
                aggregate = self.load(aggregate_id, read=read)
                try:
                    result = command(aggregate)
                except DomainError:
                    if read:
                        raise
                    continue
                if not read and not aggregate.pending_events:
                    continue
                others = companions(aggregate) if companions is not None else ()
                try:
                    position = self.save(aggregate, *others, loaded_in=epoch)
                except VersionConflict:
                    if attempt == attempts:
                        raise
                    continue
                return result, aggregate, position
        raise AssertionError("unreachable: the last attempt returns or raises")

    def bad_snapshot(self, aggregate_id: UUID) -> tuple[int, str] | None:
        """The first snapshot that is not the state its events give at its version, and why;
        None when every snapshot is. Replays the events once; a snapshot beyond the stored
        events is the chain check's to name."""
        if self._app.snapshots is None:
            return None
        snapshots: dict[int, Any] = {
            s.originator_version: s for s in self._app.snapshots.get(aggregate_id)}
        if not snapshots:
            return None
        aggregate: Any = None
        events: list[Any] = list(self._app.events.get(aggregate_id, lte=max(snapshots)))
        for event in events:
            aggregate = event.mutate(aggregate)
            snapshot = snapshots.get(event.originator_version)
            if snapshot is None:
                continue
            if snapshot.state.get("last_hash") != getattr(event, "hash", None):
                return snapshot.originator_version, "it names another event's hash"
            if _state(snapshot.mutate(None)) != _state(aggregate):
                return snapshot.originator_version, "its state is not what its events give"
        return None

    def latest_snapshot_version(self, aggregate_id: UUID) -> int:
        """The version of the newest snapshot of the aggregate (0: none)."""
        if self._app.snapshots is None:
            return 0
        latest = list(self._app.snapshots.get(aggregate_id, desc=True, limit=1))
        return latest[0].originator_version if latest else 0

    def _rebuild(self, aggregate_id: UUID, version: int | None, snapshotted: bool = True
                 ) -> Any:
        """The aggregate from its latest snapshot that names the hash of the event it was
        taken at (any other is passed over), then the events after it."""
        start: Any = None
        if self._app.snapshots is not None and snapshotted:
            latest: list[Any] = list(self._app.snapshots.get(aggregate_id, desc=True, limit=1,
                                                             lte=version))
            for snapshot in latest:
                if self._snapshot_matches(snapshot):
                    start = snapshot.mutate(None)
                else:
                    log.warning("snapshot_not_used", extra={"version":
                                                            snapshot.originator_version})
        after = start.version if start is not None else None
        aggregate = project_aggregate(start, self._app.events.get(aggregate_id, gt=after,
                                                                  lte=version))
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def _snapshot_matches(self, snapshot: Any) -> bool:
        """Whether a chained snapshot names the hash of the stored event at its version."""
        named = snapshot.state.get("last_hash")
        if named is None:
            return True  # an aggregate without a hash chain
        version = snapshot.originator_version
        events = list(self._app.events.get(snapshot.originator_id, gt=version - 1,
                                           lte=version))
        return bool(events) and getattr(events[0], "hash", None) == named

    def _record(self, aggregates: Sequence[Any], events: Sequence[Any]
                ) -> list[Recording[UUID]]:
        recordings = self._app.events.put(events)
        try:
            self._snapshot(aggregates, events)
        except Exception:
            # A snapshot only speeds loading; the events are saved, so the save stands.
            log.exception("snapshot_failed")
        return recordings

    def _snapshot(self, aggregates: Sequence[Any], events: Sequence[Any]) -> None:
        """Snapshot an aggregate whose new events crossed a multiple of its interval."""
        if self._app.snapshots is None:
            return
        # Only aggregates with an interval are looked at: an import saves a thousand files
        # in one transaction, and comparing each with every event cost it half its time.
        intervals = {a.id: (a, self._intervals.get(type(a))) for a in aggregates}
        crossed = {e.originator_id for e in events
                   if (interval := intervals.get(e.originator_id, (None, None))[1])
                   and e.originator_version % interval == 0}
        for aggregate_id in crossed:
            self.take_snapshot(intervals[aggregate_id][0])

    def take_snapshot(self, aggregate: Any) -> bool:
        """Store a snapshot of the aggregate as it is; False when its personal data is
        erased (it is then loaded from its events) or the store keeps no snapshots."""
        if self._app.snapshots is None:
            return False
        snapshot_class = getattr(type(aggregate), "Snapshot", None) or type(
            self._app).snapshot_class
        assert snapshot_class is not None, "aggregates here define their Snapshot"
        try:
            self._app.snapshots.put([snapshot_class.take(aggregate)])
        except KeyDestroyed:
            return False
        return True

    def _remember(self, aggregate: Any, epoch: int) -> None:
        """Cache the aggregate, never to be changed again, unless a newer one is there or
        it was read before a `forget`."""
        cache = self._app.repository.cache
        if cache is None or not self.caching:
            return
        with self._forgetting:
            if epoch != self._epoch:
                return
            cached = self._cached(aggregate.id)
            if cached is None or cached.version < aggregate.version:
                cache.put(aggregate.id, aggregate)

    def _cached(self, aggregate_id: UUID) -> Any:
        cache = self._app.repository.cache
        if cache is None or not self.caching:
            return None
        try:
            return cache.get(aggregate_id)
        except KeyError:
            return None


def _entries(cache: Cache[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """The ids and aggregates a cache holds now (the library's caches keep them in `cache`;
    its LRU cache as links of a list)."""
    with getattr(cache, "lock", contextlib.nullcontext()):
        held = list(cache.cache.items())
    for aggregate_id, entry in held:
        yield aggregate_id, entry[LRUCache.RESULT] if isinstance(cache, LRUCache) else entry


class DeadlineAsDict(Transcoding):
    """Lets snapshots carry the case's deadline table."""

    type = Deadline
    name = "deadline"

    def encode(self, obj: Deadline) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Deadline:
        return Deadline.from_dict(data)


class RecordAsDict(Transcoding):
    """Lets snapshots carry the case's typed records (approvals, referrals, ...)."""

    def __init__(self, record_type: type[Any]) -> None:
        self.type = record_type
        self.name = record_type.__name__.lower()

    def encode(self, obj: Any) -> dict[str, Any]:
        return dict(vars(obj))

    def decode(self, data: dict[str, Any]) -> Any:
        return from_plain(self.type, data)


def register_state_transcodings(transcoder: JSONTranscoder) -> None:
    """Let snapshots carry the case's deadlines and typed records."""
    transcoder.register(DeadlineAsDict())
    for record_type in RECORD_TYPES:
        transcoder.register(RecordAsDict(record_type))


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


@dataclass
class _Save:
    aggregates: Sequence[Any]
    events: Sequence[Any]
    done: Future[list[Recording[UUID]]] = field(default_factory=Future)


class GroupCommit:
    """One writer thread records every save queued at a moment in a single transaction.

    A batch that conflicts is halved until the saves that lost stand alone, so only the
    writer that really lost gets the conflict and the others still share transactions.
    Every caller gets an answer within `timeout` seconds, whatever happens to the writer.
    """

    def __init__(
        self,
        record: Callable[[Sequence[Any], Sequence[Any]], list[Recording[UUID]]],
        max_batch: int = 200,
        timeout: float = SAVE_TIMEOUT,
        prepare: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self._record = record
        self._prepare = prepare
        self._max_batch = max_batch
        self._timeout = timeout
        self._queue: queue.SimpleQueue[_Save | None] = queue.SimpleQueue()
        self._closed = False
        self._starting = threading.Lock()
        self._thread = self._start()

    def save(self, aggregates: Sequence[Any]) -> list[Recording[UUID]]:
        """Record the aggregates' pending events; raises IntegrityError if one lost a race,
        StoreUnavailable if no answer came within the timeout."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        if not events:
            return []
        if self._prepare is not None:
            self._prepare(events)
        job = _Save(aggregates, events)
        self._ensure_writer()
        self._queue.put(job)
        try:
            return job.done.result(timeout=self._timeout)
        except (FutureTimeout, CancelledError):
            pass
        if job.done.cancel():
            # The writer had not taken it yet, and now never will: nothing was recorded.
            raise StoreUnavailable(
                "the event store did not answer in time; nothing was recorded, retry shortly")
        # The writer took it and may still commit it once the store answers (or has, and
        # the answer was lost): the caller cannot know. A retry with the same command id
        # recognises a commit that happened; without one, reload before acting again.
        raise StoreUnavailable(
            "the event store did not answer in time; the change may or may not have been "
            "recorded, reload the case before retrying")

    def close(self) -> None:
        with self._starting:
            self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        thread.start()
        return thread

    def _ensure_writer(self) -> None:
        """Restart the writer if it died; the queued saves wait for the new one."""
        if self._thread.is_alive():
            return
        with self._starting:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if not self._thread.is_alive():
                log.error("group_commit_restarted")
                self._thread = self._start()

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
            # A save whose caller gave up before it was taken is dropped, never recorded.
            jobs = [j for j in jobs if j.done.set_running_or_notify_cancel()]
            try:
                self._commit(jobs)
            except BaseException as error:
                # Whatever went wrong, every caller of the batch hears of it, and the
                # writer goes on with the next batch (only an exit request ends it).
                log.exception("group_commit_failed")
                failure = error if isinstance(error, Exception) else StoreUnavailable(
                    "the event store writer failed; retry shortly")
                for j in jobs:
                    if not j.done.done():
                        j.done.set_exception(failure)
                if isinstance(error, (SystemExit, KeyboardInterrupt)):
                    return  # asked to exit: the next save starts a new writer

    def _commit(self, jobs: list[_Save]) -> None:
        if not jobs:
            return
        try:
            recordings = self._record([a for job in jobs for a in job.aggregates],
                                      [e for job in jobs for e in job.events])
        except IntegrityError as error:
            if len(jobs) == 1:
                jobs[0].done.set_exception(error)
                return
            middle = len(jobs) // 2
            self._commit(jobs[:middle])
            self._commit(jobs[middle:])
            return
        except Exception as error:
            for job in jobs:
                job.done.set_exception(error)
            return
        for job in jobs:
            ids = {aggregate.id for aggregate in job.aggregates}
            job.done.set_result([r for r in recordings if r.domain_event.originator_id in ids])

"""The Wardship Application: stores cases and child files, and is the only way to change them."""

from __future__ import annotations

import copy
import hashlib
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, Recording, Transcoding
from eventsourcing.utils import get_topic

from domain.actors import SYSTEM, Actor, Context
from domain.case import ProtectionCase
from domain.child import ChildFile, child_file_id, child_identity
from domain.codes import ChildCategory
from domain.deadlines import Deadline
from domain.errors import (
    CaseNotFound,
    DomainError,
    InvalidCommand,
    PolicyError,
    StaleVersion,
    VersionConflict,
)
from domain.group_commit import GroupCommit
from domain.hashchain import GENESIS, event_hash
from domain.policy import load_policy, shipped_policies
from domain.stages import ALL_ACTIONS
from domain.views import case_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from eventsourcing.persistence import JSONTranscoder

    from domain.events import CaseEvent
    from domain.policy import Policy

T = TypeVar("T")
# Locks striped by case id: bounded memory, and distinct cases rarely wait on each other.
CASE_LOCK_STRIPES = 256

# Long cases are loaded from a snapshot plus the few events after it.
SNAPSHOT_INTERVAL = 100
# Lost races retried: reports about one child re-read its file; actions without an
# expected version are judged again on the new state.
SAVE_ATTEMPTS = 5


class DeadlineAsDict(Transcoding):
    """Lets snapshots carry the case's deadline table."""

    type = Deadline
    name = "deadline"

    def encode(self, obj: Deadline) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Deadline:
        return Deadline.from_dict(data)


class Wardship(Application[UUID]):
    """Cases and child files in one event store, personal data encrypted by the cipher."""

    name = "wardship"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        ProtectionCase: SNAPSHOT_INTERVAL,
    }

    def __init__(
        self, env: dict[str, str] | None = None, policy: Policy | None = None
    ) -> None:
        # Cached aggregates are replaced, never brought up to date in place (see `_load`).
        super().__init__({**(env or {}), self.AGGREGATE_CACHE_FASTFORWARD: "n"})
        self.policy = policy or load_policy()
        self.policies = {p.version: p for p in shipped_policies()}
        self.policies[self.policy.version] = self.policy
        key = self.env.get("CIPHER_KEY") or ""
        self._identity_key = hashlib.sha256(b"wardship-child-identity:" + key.encode()).digest()
        self._group_commit = GroupCommit(self._record, self._take_snapshots)
        self._case_locks = [threading.Lock() for _ in range(CASE_LOCK_STRIPES)]

    def close(self) -> None:
        self._group_commit.close()
        super().close()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DeadlineAsDict())

    # --- commands ------------------------------------------------------------------------

    def open_case(
        self, actor: Actor, *, entry: str, jurisdiction: str, child: dict[str, Any],
        concern: dict[str, Any], source: dict[str, Any], occurred_at: datetime | None = None,
        now: datetime | None = None, case_id: UUID | None = None,
    ) -> dict[str, Any]:
        """Open a case and create or link the child's file, in one transaction."""
        category = str(child.get("category") or ChildCategory.OTHER)
        if category not in set(ChildCategory):
            raise InvalidCommand(f"unknown child category {category!r}")
        ctx = Context(actor=actor, policy=self.policy, now=now or datetime.now(UTC),
                      occurred_at=occurred_at)
        file_id = child_file_id(child_identity(child, jurisdiction), self._identity_key)
        case_id = case_id or uuid4()
        for _attempt in range(SAVE_ATTEMPTS):
            # A failed save has taken the new case's pending events: build it afresh each time.
            case = ProtectionCase.open(
                ctx, case_id=case_id, child_id=str(file_id), entry=entry,
                jurisdiction=jurisdiction, child=child, concern=concern, source=source,
            )
            try:
                recordings = self.save(case, self._child_file_for(file_id, case, category))
            except IntegrityError:
                # Another report about the same child changed its file first: link anew.
                continue
            return {**case_view(case, actor), "position": _position(recordings)}
        raise VersionConflict("the child's file is being changed by other reports; retry")

    def perform(
        self, case_id: UUID, actor: Actor, action: str, params: dict[str, Any], *,
        occurred_at: datetime | None = None, expected_version: int | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Run one action on a case; refuses stale versions and records nothing on refusal."""
        if action not in ALL_ACTIONS:
            raise InvalidCommand(f"unknown action {action!r}")

        def act(case: ProtectionCase) -> None:
            if expected_version is not None and expected_version != case.version:
                raise StaleVersion(
                    f"the case is at version {case.version}, not {expected_version}; reload it"
                )
            ctx = Context(actor=actor, policy=self._policy_of(case),
                          now=now or datetime.now(UTC), occurred_at=occurred_at)
            command: Callable[..., None] = getattr(case, action)
            try:
                command(ctx, **params)
            except TypeError as error:
                raise InvalidCommand(f"bad fields for '{action}': {error}") from None

        # With an expected version the caller judged the case as they read it: no retry.
        # Without one, losing a race means judging the action again on the new state.
        attempts = 1 if expected_version is not None else SAVE_ATTEMPTS
        _, case, position = self._saving(case_id, act, attempts)
        return {**case_view(case, actor), "position": position}

    def change(self, case_id: UUID, command: Callable[[ProtectionCase], T]) -> T:
        """Apply a service command (misses, escalations, deliveries) and save it.

        These commands are judged on the case as it is, so a lost race is retried on the new
        state; they are idempotent, so a retry never records twice.
        """
        result, _, _ = self._saving(case_id, command, SAVE_ATTEMPTS)
        return result

    def _saving(
        self, case_id: UUID, command: Callable[[ProtectionCase], T], attempts: int
    ) -> tuple[T, ProtectionCase, int | None]:
        """Load, command, save; retried on a lost race. Returns result, case and log position."""
        # Commands on one case take turns in this process instead of racing each other to
        # the store; other cases still share group commits.
        with self._case_locks[hash(case_id) % len(self._case_locks)]:
            # First judge the case as this process last saw it, without reading the store:
            # a successful save proves it was current, since the store refuses a version
            # another writer took. A refusal, an answer with nothing to save or a lost race
            # is judged again on the case read afresh, so only those pay for the read.
            for attempt in range(attempts + 1):
                read = attempt > 0
                case = self._case(case_id, read=read)
                try:
                    result = command(case)
                except DomainError:
                    if read:
                        raise
                    continue
                if not read and not case.pending_events:
                    continue
                try:
                    position = self._save_case(case)
                except VersionConflict:
                    if attempt == attempts:
                        raise
                    continue
                return result, case, position
        raise AssertionError("unreachable: the last attempt returns or raises")

    def record_deadline_missed(self, case_id: UUID, deadline_id: str, now: datetime) -> bool:
        return self.change(case_id, lambda case: case.record_deadline_missed(deadline_id, now))

    def record_escalation(
        self, case_id: UUID, deadline_id: str, level: int, now: datetime
    ) -> str | None:
        return self.change(case_id, lambda case: case.record_escalation(deadline_id, level, now))

    def record_delivery(
        self, case_id: UUID, notification_id: str, channel: str, delivered: bool, detail: str,
        now: datetime,
    ) -> bool:
        return self.change(case_id, lambda case: case.record_delivery(
            notification_id, channel, delivered, detail, now))

    def acknowledge_notification(
        self, case_id: UUID, notification_id: str, actor: Actor, now: datetime | None = None
    ) -> bool:
        ctx = Context(actor=actor, now=now or datetime.now(UTC))
        return self.change(case_id, lambda case: case.acknowledge_notification(
            ctx, notification_id))

    # --- queries -------------------------------------------------------------------------

    def get_case(self, case_id: UUID, actor: Actor | None = None) -> dict[str, Any]:
        return case_view(self._case(case_id), actor)

    def get_case_aggregate(self, case_id: UUID, version: int | None = None) -> ProtectionCase:
        """The aggregate itself, for the service's own layers (workflows, inspection)."""
        return self._case(case_id, version)

    def case_as_of(
        self, case_id: UUID, *, version: int | None = None, as_of: datetime | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        """The case as it was at a version, or as recorded at a moment, from events alone."""
        if as_of is not None:
            version = self._version_at(case_id, as_of)
        return case_view(self._case(case_id, version), actor)

    def child_file(self, file_id: UUID) -> dict[str, Any]:
        try:
            file: ChildFile = self._load(file_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no child file {file_id}") from None
        return {"id": str(file.id), "category": file.category, "jurisdiction": file.jurisdiction,
                "personal": dict(file.personal), "case_ids": list(file.case_ids)}

    def case_events(self, case_id: UUID, gt: int | None = None, lte: int | None = None,
                    limit: int | None = None) -> list[CaseEvent]:
        events = list(self.events.get(case_id, gt=gt, lte=lte, limit=limit))
        if not events and gt is None:
            raise CaseNotFound(f"no case {case_id}")
        return events  # type: ignore[return-value]

    def verify_chain(self, case_id: UUID) -> dict[str, Any]:
        """Recompute the case's hash chain from stored records; name the first bad event."""
        records = self.recorder.select_events(case_id)
        if not records:
            raise CaseNotFound(f"no case {case_id}")
        prev = GENESIS
        for expected_version, record in enumerate(records, start=1):
            problem = None
            if record.originator_version != expected_version:
                problem = f"event {expected_version} is missing"
            else:
                try:
                    event = self.mapper.to_domain_event(record)
                except Exception:
                    problem = "stored event cannot be decoded (changed bytes)"
                else:
                    fields = dict(vars(event))
                    if fields.get("prev_hash") != prev:
                        problem = "previous-hash link broken (event removed or reordered)"
                    elif event_hash(get_topic(type(event)), fields) != fields.get("hash"):
                        problem = "content does not match its hash (event changed)"
                    prev = str(fields.get("hash"))
            if problem:
                return {"valid": False, "events": len(records),
                        "first_bad_version": expected_version, "problem": problem}
        snapshot_version = self._latest_snapshot_version(case_id)
        if snapshot_version > len(records):
            # The chain alone cannot show a removed tail; a later snapshot can.
            return {"valid": False, "events": len(records),
                    "first_bad_version": len(records) + 1,
                    "problem": f"event {len(records) + 1} is missing (a snapshot exists at "
                               f"version {snapshot_version})"}
        return {"valid": True, "events": len(records), "first_bad_version": None,
                "problem": None, "head_hash": prev}

    def _latest_snapshot_version(self, case_id: UUID) -> int:
        if self.snapshots is None:
            return 0
        latest = list(self.snapshots.get(case_id, desc=True, limit=1))
        return latest[0].originator_version if latest else 0

    # --- helpers -------------------------------------------------------------------------

    def _load(self, aggregate_id: UUID, version: int | None = None, *, read: bool = True) -> Any:
        """A private copy of an aggregate: at a version, or as it is now.

        The cache holds each aggregate as this process last saw it and is never changed in
        place (a newer copy replaces it), so a copy is never torn by another thread bringing
        it up to date. `read=False` skips asking the store for newer events, for a command
        whose save will find out.
        """
        cached = self._cached(aggregate_id) if version is None else None
        if cached is None:
            # Rebuilt from the store (the library caches the latest version it rebuilds).
            return self.repository.get(aggregate_id, version=version)
        aggregate: Any = copy.deepcopy(cached)
        if read:
            newer = list(self.events.get(aggregate_id, gt=aggregate.version))
            aggregate = project_aggregate(aggregate, newer)
            if newer:
                self._remember(aggregate)
        return aggregate

    def _remember(self, aggregate: Any) -> None:
        """Cache a copy (the caller keeps using its own), unless a newer one is there already."""
        cached = self._cached(aggregate.id)
        if self.repository.cache is not None and (
            cached is None or cached.version < aggregate.version
        ):
            self.repository.cache.put(aggregate.id, copy.deepcopy(aggregate))

    def _cached(self, aggregate_id: UUID) -> Any:
        """The cached aggregate itself (never to be changed), or None."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            return cache.get(aggregate_id)
        except KeyError:
            return None

    def _case(
        self, case_id: UUID, version: int | None = None, *, read: bool = True
    ) -> ProtectionCase:
        try:
            case: ProtectionCase = self._load(case_id, version, read=read)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no case {case_id}") from None
        if not isinstance(case, ProtectionCase):
            raise CaseNotFound(f"no case {case_id}")
        return case

    def _save_case(self, case: ProtectionCase) -> int | None:
        """Save the case's new events; the log position of the last one (None: nothing new)."""
        try:
            recordings = self._group_commit.save(case)
        except IntegrityError:
            raise VersionConflict(
                "someone else changed the case at the same moment; reload it and retry"
            ) from None
        if recordings:
            # The next command on this case is judged on it as saved, without a read.
            self._remember(case)
        return _position(recordings)

    def _policy_of(self, case: ProtectionCase) -> Policy:
        try:
            return self.policies[case.policy_version]
        except KeyError:
            raise PolicyError(
                f"the case runs under policy {case.policy_version!r}, which is not installed"
            ) from None

    def _child_file_for(self, file_id: UUID, case: ProtectionCase, category: str) -> ChildFile:
        personal = {k: v for k, v in case.child.items() if k != "category"}
        try:
            file: ChildFile = self._load(file_id)
        except AggregateNotFoundError:
            return ChildFile.register(file_id, jurisdiction=case.jurisdiction, category=category,
                                      personal=personal, case_id=str(case.id))
        file.link_case(str(case.id), category, personal)
        return file

    def _version_at(self, case_id: UUID, as_of: datetime) -> int:
        version = None
        for event in self.events.get(case_id):
            if cast("CaseEvent", event).timestamp > as_of:
                break
            version = event.originator_version
        if version is None:
            raise CaseNotFound(f"case {case_id} did not exist at {as_of.isoformat()}")
        return version


__all__ = ["SYSTEM", "Wardship"]


def _position(recordings: list[Recording[UUID]]) -> int | None:
    """Where the saved events landed in the notification log, for read-your-writes."""
    return max((r.notification.id for r in recordings), default=None)

"""The one-off copy of a store recorded before per-child keys into a new store where every
child's personal data is under their own key, so that every child can be erased
(docs/privacy.md, "Resealing a store recorded before per-child keys").

Every event of the source is re-recorded in the target in log order, at the same log
position, with the same aggregate id, version, timestamp and content. A case event recorded
before per-child keys gets the seal a new event gets (salt and digests, chain version 2) and
its case's chain is recomputed from there on: each hash covers the digests and the new
predecessor. A child file's or monitoring record's event recorded before per-child keys is
sealed by the target's mapper. Every other event, and every event whose chain is unchanged,
is copied byte for byte (its box is bound to its id, version and topic, which stay, and its
key is copied with the keys table). The new head of each case is kept beside its old one:
the link record (`api.inspection.links`) that shows the new chains are the old ones resealed.

Store machinery beside the domain, like `domain.handover`. The stores share no transaction:
each page of the log is written in one; a stopped run continues after the last page written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from domain.case import ProtectionCase
from domain.events import CaseEvent, CaseOpened
from domain.hashchain import GENESIS, event_hash
from domain.keyring import KEYS_TABLE, KeyDestroyed
from domain.personal import own_key_fields, recorded_in_clear, seal_of
from domain.time_index import TimedStoredEvent, TimeIndexedRecorder

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from eventsourcing.persistence import Notification, StoredEvent

    from domain.application import Wardship

# Log entries read, resealed and written per target transaction.
PAGE = 500


class ResealError(RuntimeError):
    """The copy cannot go on (a source event that does not decode, a target that is not the
    copy of this source); nothing of the page it stopped in is written."""


@dataclass
class Chain:
    """Where one case's chain stands in the copy: its child's key, its old and new heads."""

    child_id: str = ""
    version: int = 0
    old_head: str = GENESIS
    new_head: str = GENESIS


@dataclass
class ResealResult:
    """What the copy did: events copied, events resealed, the last log position, and each
    case's old and new head."""

    events: int = 0
    resealed: int = 0
    position: int = 0
    chains: dict[UUID, Chain] = field(default_factory=dict)

    def links(self) -> list[dict[str, Any]]:
        """Each case's head before and after, at its last version, oldest case first."""
        return [{"case_id": str(case_id), "version": chain.version,
                 "old_head": chain.old_head, "new_head": chain.new_head}
                for case_id, chain in self.chains.items()]


def reseal(source: Wardship, target: Wardship, *, page: int = PAGE,
           progress: Callable[[int], None] | None = None) -> ResealResult:
    """Copy every event of `source` into `target` (migrated, holding none of it or the
    start of this copy), resealed; snapshots taken anew. Read models and the other tables
    are the caller's (`api.cli.reseal`)."""
    recorder = _recorder(target)
    copy_keys(source, target)
    done = recorder.max_notification_id() or 0
    result = ResealResult()
    position = 0
    while batch := _page(source, position, page):
        position = batch[-1].id
        written = {n.id: n for n in target.recorder.select_notifications(
            batch[0].id, page, stop=position)} if batch[0].id <= done else {}
        copies = [(n, *_resealed(source, target, n, result.chains, written)) for n in batch]
        result.events += len(batch)
        result.resealed += sum(1 for _, _, event in copies if event is not None)
        todo = [copy for copy in copies if copy[0].id > done]
        # The keys of the page's children made in a few queries, not one each.
        target.mapper.prepare([e for _, _, e in todo if e is not None])  # type: ignore[attr-defined]
        recorder.insert_at([(n.id, _encoded(target, n, verbatim, event))
                            for n, verbatim, event in todo])
        result.position = position
        if progress is not None:
            progress(len(batch))
    take_snapshots(target, result.chains)
    return result


def _page(source: Wardship, after: int, page: int) -> list[Notification]:
    return list(source.recorder.select_notifications(after, page, inclusive_of_start=False))


def _resealed(source: Wardship, target: Wardship, notification: Notification,
              chains: dict[UUID, Chain], written: dict[int, Notification]
              ) -> tuple[StoredEvent, Any | None]:
    """The event copied as it is stored, and the event to seal instead (None: none)."""
    try:
        event: Any = source.mapper.to_domain_event(notification)
    except Exception as error:
        raise ResealError(f"log position {notification.id} does not decode "
                          f"({type(error).__name__}): run `wardship verify --all` on the "
                          "source first") from None
    verbatim = TimedStoredEvent(notification.originator_id, notification.originator_version,
                                notification.topic, notification.state, event.timestamp)
    if isinstance(event, CaseEvent):
        return verbatim, _rechained(event, chains.setdefault(event.originator_id, Chain()),
                                    written.get(notification.id), target)
    if own_key_fields(type(event)) is not None and recorded_in_clear(event):
        return verbatim, event  # the target's mapper seals it under its own key
    return verbatim, None


def _encoded(target: Wardship, notification: Notification, verbatim: StoredEvent,
             event: Any | None) -> StoredEvent:
    if event is None:
        return verbatim
    try:
        return target.mapper.to_stored_event(event)  # sealed under the child's key
    except KeyDestroyed:
        # Erasure refuses a child with records in the clear, so an erased child's chains
        # never need resealing: this store was changed by hand.
        raise ResealError(f"log position {notification.id} must be resealed under a key "
                          "that is destroyed") from None


def _rechained(event: Any, chain: Chain, written: Notification | None, target: Wardship
               ) -> Any | None:
    """The case event with a seal (if it had none) and its hash over the new predecessor;
    None when neither changes. Moves the case's chain on."""
    if isinstance(event, CaseOpened):
        chain.child_id = event.child_id
    fields = dict(vars(event))
    old_head = fields["hash"]
    changed = False
    if fields.get("seal") is None:
        seal = seal_of(type(event).__name__, fields, chain.child_id)
        if seal is not None:
            fields["seal"], changed = seal, True
    if fields["prev_hash"] != chain.new_head:
        fields["prev_hash"], changed = chain.new_head, True
    if changed:
        fields["hash"] = event_hash(get_topic(type(event)), fields)
    if written is not None:
        # Recorded by a run that stopped: its salt, so its hash, is the one stored.
        fields["hash"] = target.mapper.to_domain_event(written).hash  # type: ignore[attr-defined]
    # A case received from another partition is under its file there from here on.
    chain.child_id = getattr(event, "child_id", None) or chain.child_id
    chain.version, chain.old_head, chain.new_head = \
        event.originator_version, old_head, fields["hash"]
    if not changed:
        return None
    resealed = object.__new__(type(event))
    object.__setattr__(resealed, "__dict__", fields)
    return resealed


def _recorder(target: Wardship) -> TimeIndexedRecorder:
    recorder = target.recorder
    if not isinstance(recorder, TimeIndexedRecorder):
        raise ResealError("the target must be a PostgreSQL event store with the time index")
    return recorder


def copy_keys(source: Wardship, target: Wardship) -> int:
    """Copy the source's keys table (live keys wrapped as they are, destroyed ones as
    destroyed) into the target's, keeping any key already there; how many were new."""
    source_ds: Any = source.recorder.datastore  # type: ignore[attr-defined]
    target_ds: Any = target.recorder.datastore  # type: ignore[attr-defined]
    columns = "key_id, wrapped, master_key_id, created_at, destroyed_at"
    with source_ds.get_connection() as conn:
        rows = conn.execute(f"SELECT {columns} FROM {KEYS_TABLE}").fetchall()  # noqa: S608
    if not rows:
        return 0
    with target_ds.transaction(commit=True) as curs:
        found = curs.execute(
            f"INSERT INTO {KEYS_TABLE} ({columns}) SELECT * FROM unnest(%s::text[], "  # noqa: S608
            "%s::bytea[], %s::text[], %s::timestamptz[], %s::timestamptz[]) "
            "ON CONFLICT (key_id) DO NOTHING RETURNING key_id",
            tuple([row[c.strip()] for row in rows] for c in columns.split(","))).fetchall()
    return len(found)


def take_snapshots(target: Wardship, chains: dict[UUID, Chain]) -> int:
    """Snapshot each case at its last multiple of the snapshot interval, as saving it would
    have (the source's snapshots name the old hashes, and may hold plaintext); how many.
    A case of an erased child is loaded from its events alone."""
    interval = target.snapshotting_intervals[ProtectionCase]
    taken = 0
    for case_id, chain in chains.items():
        at = chain.version // interval * interval
        if at == 0 or target.store.latest_snapshot_version(case_id) >= at:
            continue
        if target.store.take_snapshot(target.get_case_aggregate(case_id, at)):
            taken += 1
    return taken

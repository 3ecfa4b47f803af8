"""The Wardship Application: the commands and queries of cases, child files, monitoring
records (in `domain.monitoring_commands`) and the notification contact directory.

It is the only way to change them. Loading and saving go through `domain.store`, which holds
the cache, the per-case turns, group commit and retries.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.utils import get_topic

from domain import access
from domain.actions import RULES
from domain.actors import Context
from domain.case import ProtectionCase
from domain.child import ChildFile, child_file_id, child_identity
from domain.clock import store_clock
from domain.codec import OrjsonTranscoder
from domain.codes import ChildCategory, Stage, jurisdiction_is_valid
from domain.contact import Contact
from domain.contact_directory import LiveDirectory
from domain.contacts import contact_view, parse_contact
from domain.digests import LEDGER_ID, DayDigest, DigestLedger, day_digest_id
from domain.errors import (
    CaseNotFound,
    ContactNotFound,
    InvalidCommand,
    OutsideJurisdiction,
    PolicyError,
    StaleVersion,
    VersionConflict,
)
from domain.events import CaseHandedOver, CaseOpened, CaseReopened
from domain.hashchain import ChainLink, check_chain
from domain.holders import HOLDER_TYPES, NOTICE_TYPES
from domain.hotline import HotlineTicket, order_command_id, ticket_id
from domain.import_job import ImportJob, import_job_id
from domain.importing import BatchRecorder, child_file_ids
from domain.imports import LAYOUTS
from domain.keyring import (
    CACHE_TTL,
    KeyProviders,
    Keyring,
    MemoryKeyTable,
    PostgresKeyTable,
    provider_from_env,
)
from domain.log_pages import notifications_of
from domain.monitoring_commands import MonitoringCommands
from domain.monitoring_events import MonitoringStarted
from domain.partitions import partition_of
from domain.patterns import REPORT, RISK_RAISED, Signal, child_signals, matches
from domain.policy import load_policy, shipped_policies
from domain.privacy_commands import PrivacyCommands
from domain.sealed_mapper import SealingEventStore, SealingMapper
from domain.store import (
    SAVE_ATTEMPTS,
    SAVE_TIMEOUT,
    AggregateStore,
    register_state_transcodings,
)
from domain.time_index import TimeIndexedRecorder, version_by_decoding
from domain.views import case_view

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from eventsourcing.persistence import EventStore, JSONTranscoder, Mapper, Transcoder

    from domain.actors import Actor
    from domain.clock import Clock
    from domain.contacts import Directory
    from domain.digests import HeldNotice
    from domain.events import CaseEvent
    from domain.holders import DeadlineHolder, NoticeHolder
    from domain.keyring import KeyProvider
    from domain.monitoring import MonitoringRecord
    from domain.policy import Policy

T = TypeVar("T")

# The child's newest cases the pattern rules look at when a signal arrives.
PATTERN_CASES = 20
# Long cases are loaded from a snapshot plus the few events after it.
SNAPSHOT_INTERVAL = 100
# A case opened by a command with an id gets its id from it, so a retry finds the case.
_OPENED_BY_COMMAND = UUID("3d0c7a2e-6b1f-4f7e-9a55-2c8e1f0b7d41")
# A contact registered by a command with an id gets its id from it, so a retry finds it.
_CONTACT_BY_COMMAND = UUID("9b4e2f61-0c7d-4a3b-8e15-6d2f7a9c0b38")
CASE_ID_PAGE = 5000  # case-opening notifications read per query by `case_ids`
_YES = frozenset({"y", "yes", "t", "true", "on", "1"})


class Wardship(Application[UUID], MonitoringCommands, PrivacyCommands):
    """Cases and child files in one event store, personal data encrypted by the cipher."""

    name = "wardship"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        ProtectionCase: SNAPSHOT_INTERVAL,
    }

    def __init__(
        self, env: dict[str, str] | None = None, policy: Policy | None = None,
        clock: Clock | None = None, key_provider: KeyProvider | None = None,
    ) -> None:
        # Read by construct_mapper, which the base class calls.
        self._key_provider = key_provider
        # Cached aggregates are replaced, never brought up to date in place (domain.store).
        super().__init__({**(env or {}), self.AGGREGATE_CACHE_FASTFORWARD: "n"})
        # The mapper is made before the recorder: its keys move to the store's database now.
        datastore: Any = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            create = (self.env.get("CREATE_TABLE") or "y").lower() in _YES
            self.keyring.table = PostgresKeyTable(datastore, create)
        self.policy = policy or load_policy()
        self.policies = {p.version: p for p in shipped_policies()}
        self.policies[self.policy.version] = self.policy
        key = self.env.get("CIPHER_KEY") or ""
        self._identity_key = hashlib.sha256(b"wardship-child-identity:" + key.encode()).digest()
        # SAVE_TIMEOUT: seconds a command waits for its save's answer (domain.store).
        save_timeout = float(self.env.get("SAVE_TIMEOUT") or SAVE_TIMEOUT)
        self.store = AggregateStore(self, self.snapshotting_intervals, save_timeout)
        # The one clock that judges deadlines: the event store's database. Only test wiring
        # passes another (the time-skipping Temporal server's, which skips with workflows).
        self.clock: Clock = clock or store_clock(self.recorder)
        self._contacts = LiveDirectory(self.recorder, self.mapper)
        # The province this store holds (`domain.partitions`); None: one store for all.
        self.partition: str | None = self.env.get("PARTITION") or None
        # Machinery the wiring attaches to this application (api.bootstrap), stopped first.
        self.on_close: list[Callable[[], None]] = []
        # Told the ids of the records whose keys an erasure destroyed (api.bootstrap drops
        # the stored answers that name them).
        self.on_shred: list[Callable[[list[str]], None]] = []

    def close(self) -> None:
        for stop in self.on_close:
            stop()
        self.store.close()
        super().close()

    def construct_mapper(self) -> Mapper[UUID]:
        """The mapper that seals each child's personal fields under their own data key (and
        hands each event's timestamp to the recorder, for the time index).

        A given key provider wraps; the local master keys (MASTER_KEYS, or the one derived
        from CIPHER_KEY) still unwrap the keys wrapped before it came, until rotated."""
        ttl = float(self.env.get("KEY_CACHE_TTL") or CACHE_TTL)
        # A store that outlives the process needs a master key the other processes share;
        # only a store in memory may make up its own (NoMasterKey, before anything opens).
        # With an HSM the local keys only unwrap keys not yet rotated into it.
        in_memory = type(self.factory).__module__ == "eventsourcing.popo"
        local = provider_from_env(
            self.env, persistent=not in_memory and self._key_provider is None)
        provider = local if self._key_provider is None else KeyProviders(
            self._key_provider, local)
        self.keyring = Keyring(MemoryKeyTable(), provider, ttl=ttl)
        return SealingMapper(self.construct_transcoder(), self.keyring,
                             get_topic(ProtectionCase), self.factory.compressor(),
                             self.factory.cipher())

    def construct_event_store(self) -> EventStore[UUID]:
        return SealingEventStore(self.mapper, self.recorder)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, read with orjson (domain.codec)."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_state_transcodings(transcoder)

    # --- commands ------------------------------------------------------------------------

    def open_case(
        self, actor: Actor, *, entry: str, jurisdiction: str, child: dict[str, Any],
        concern: dict[str, Any], source: dict[str, Any], occurred_at: datetime | None = None,
        now: datetime | None = None, case_id: UUID | None = None,
        command_id: str | None = None, hotline_ticket: str | None = None,
        file_id: UUID | None = None,
    ) -> dict[str, Any]:
        """Open a case and create or link the child's file, in one transaction (with the
        12345 work order's ticket, when a work order opens it).

        A retry with the command id of a case already opened answers that case as opened.
        `file_id` links the case to that file whatever the child's details match (a concern
        raised from a monitored child's record).
        """
        category = str(child.get("category") or ChildCategory.OTHER)
        if category not in set(ChildCategory):
            raise InvalidCommand(f"unknown child category {category!r}")
        self.check_partition(jurisdiction, "opened")
        ctx = Context(actor=actor, policy=self.policy, now=now or datetime.now(UTC),
                      occurred_at=occurred_at, command_id=command_id)
        if case_id is None:
            case_id = uuid5(_OPENED_BY_COMMAND, command_id) if command_id else uuid4()
        if file_id is None:
            file_id = child_file_id(child_identity(child, jurisdiction, case_id),
                                    self._identity_key)
            if self._erased(file_id):
                # Nothing is recorded under an erased child's key again: a file of its own.
                file_id = child_file_id(f"case:{case_id}", self._identity_key)
        for _attempt in range(SAVE_ATTEMPTS):
            # A failed save has taken the new case's pending events: build it afresh each time.
            case = ProtectionCase.open(
                ctx, case_id=case_id, child_id=str(file_id), entry=entry,
                jurisdiction=jurisdiction, child=child, concern=concern, source=source,
            )
            ticket: list[HotlineTicket] = []
            if hotline_ticket is not None:
                case.link_hotline_order(ctx, ticket=hotline_ticket, opened=True,
                                        urgent=bool(concern.get("danger_now")))
                ticket.append(HotlineTicket.receive(hotline_ticket, case_id, opened=True,
                                                    filed_by=actor.subject))
            try:
                position = self.store.save(
                    case, self._child_file_for(file_id, case, category, actor.subject), *ticket)
            except VersionConflict:
                # The case itself is there when this command was recorded before (its answer
                # was lost); else another report about the same child changed its file first.
                replayed = self._replayed(case_id, command_id, actor)
                if replayed is not None:
                    return replayed
                continue
            return {**case_view(case, actor), "position": position}
        raise VersionConflict("the child's file is being changed by other reports; retry")

    def perform(
        self, case_id: UUID, actor: Actor, action: str, params: dict[str, Any], *,
        occurred_at: datetime | None = None, expected_version: int | None = None,
        now: datetime | None = None, command_id: str | None = None,
    ) -> dict[str, Any]:
        """Run one action on a case; refuses stale versions and records nothing on refusal.

        A retry of a command already recorded (same command id) records nothing and answers
        the case as that command left it, whatever the version is now.
        """
        if action not in RULES:
            raise InvalidCommand(f"unknown action {action!r}")
        if action == "transfer_jurisdiction" and isinstance(params.get("jurisdiction"), str):
            self.check_partition(params["jurisdiction"], "transferred (hand it over instead)")

        def act(case: ProtectionCase) -> int | None:
            if command_id is not None and command_id in case.command_ids:
                return case.command_ids[command_id]
            if expected_version is not None and expected_version != case.version:
                raise StaleVersion(
                    f"the case is at version {case.version}, not {expected_version}; reload it"
                )
            ctx = Context(actor=actor, policy=self._policy_of(case),
                          now=now or datetime.now(UTC), occurred_at=occurred_at,
                          command_id=command_id)
            command: Callable[..., None] = getattr(case, action)
            try:
                command(ctx, **params)
            except TypeError as error:
                raise InvalidCommand(f"bad fields for '{action}': {error}") from None
            return None

        # With an expected version the caller judged the case as they read it: no retry.
        # Without one, losing a race means judging the action again on the new state.
        # (A save that lost to this same command's earlier commit is judged again too, and
        # then finds the command recorded.)
        attempts = 1 if expected_version is not None else SAVE_ATTEMPTS
        try:
            recorded_at, case, position = self._change(
                case_id, act, attempts, self._reopening_alarms if action == "reopen" else None)
        except VersionConflict:
            # The last attempt lost: to another writer, or to this command's own commit.
            replayed = self._replayed(case_id, command_id, actor)
            if replayed is None:
                raise
            return replayed
        if recorded_at is not None:
            return self._answer_as_recorded(case, recorded_at, actor)
        return {**case_view(case, actor), "position": position}

    def change(self, holder_id: UUID, command: Callable[[DeadlineHolder], T]) -> T:
        """Apply a service command (misses, escalations, deliveries) to a case, or another
        record with deadlines (`domain.holders`), and save it.

        These commands are judged on the record as it is, so a lost race is retried on the
        new state; they are idempotent, so a retry never records twice.
        """
        return self._change_one_of(HOLDER_TYPES, holder_id, command)

    def get_deadline_holder(self, holder_id: UUID) -> DeadlineHolder:
        """A case, or another record with deadlines, as it is now (for the workflows)."""
        return cast("DeadlineHolder", self._load_one_of(HOLDER_TYPES, holder_id))

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
        self, holder_id: UUID, notification_id: str, actor: Actor, now: datetime | None = None
    ) -> bool:
        """A supervisor acknowledges a notice of a case, a monitoring record or a child file
        (a pattern alarm); acknowledging twice records nothing."""
        ctx = Context(actor=actor, now=now or datetime.now(UTC))

        def acknowledge(holder: Any) -> bool:
            if isinstance(holder, ChildFile):
                return holder.acknowledge_alarm(actor, notification_id, ctx.now)
            return bool(holder.acknowledge_notification(ctx, notification_id))

        return self.change_notices(holder_id, acknowledge)

    def notice_holder(self, holder_id: UUID) -> NoticeHolder:
        """A case, monitoring record or child file, for the notices it holds."""
        return cast("NoticeHolder", self._load_one_of(NOTICE_TYPES, holder_id))

    def _load_one_of(self, types: tuple[type[Any], ...], holder_id: UUID) -> Any:
        try:
            holder = self.store.load(holder_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no case {holder_id}") from None
        if not isinstance(holder, types):
            raise CaseNotFound(f"no case {holder_id}")
        return holder

    def change_notices(self, holder_id: UUID, command: Callable[[NoticeHolder], T]) -> T:
        """`change`, for the notices of any record that holds them (`domain.holders`)."""
        return self._change_one_of(NOTICE_TYPES, holder_id, command)

    def _change_one_of(
        self, types: tuple[type[Any], ...], holder_id: UUID, command: Callable[[Any], T]
    ) -> T:
        def on_holder(aggregate: Any) -> T:
            if not isinstance(aggregate, types):
                raise CaseNotFound(f"no case {aggregate.id}")
            return command(aggregate)

        try:
            result, _, _ = self.store.change(holder_id, on_holder, SAVE_ATTEMPTS)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no case {holder_id}") from None
        return result

    def hand_over(
        self, case_id: UUID, actor: Actor, *, jurisdiction: str, to_partition: str,
        now: datetime | None = None,
    ) -> list[CaseEvent]:
        """Record that the case leaves this partition for `to_partition` (once: again, it
        records nothing); its history up to and including the hand-over, to copy there."""
        if self.partition is None:
            raise InvalidCommand("this store is no partition: transfer the case instead")
        ctx = Context(actor=actor, now=now or datetime.now(UTC))

        def leave(case: ProtectionCase) -> None:
            if case.handed_over_to != to_partition:
                case.hand_over(ctx, jurisdiction=jurisdiction, from_partition=str(self.partition),
                               to_partition=to_partition)

        self._change(case_id, leave, SAVE_ATTEMPTS)
        events = self.case_events(case_id)
        last = max(i for i, event in enumerate(events) if isinstance(event, CaseHandedOver))
        return events[:last + 1]

    def receive_case(
        self, history: Sequence[CaseEvent], actor: Actor, now: datetime | None = None
    ) -> dict[str, Any]:
        """Record a case handed over to this partition: `history` (the source's events up to
        its hand-over) stored as it is, hashes and all, then its arrival, with the child's
        file here. Receiving it again records nothing and answers the case."""
        handover = history[-1]
        if not isinstance(handover, CaseHandedOver) or handover.to_partition != self.partition:
            raise InvalidCommand(f"the history ends in no hand-over to partition "
                                 f"{self.partition}")
        case_id = handover.originator_id
        with contextlib.suppress(CaseNotFound):
            return case_view(self._case(case_id), actor)
        case: Any = None
        for event in history:
            case = event.mutate(case)
        case.pending_events.extend(history)
        category = str(case.child.get("category") or ChildCategory.OTHER)
        file_id = child_file_id(child_identity(case.child, case.jurisdiction, case_id),
                                self._identity_key)
        file = self._child_file_for(file_id, case, category, actor.subject)
        case.receive(Context(actor=actor, now=now or datetime.now(UTC)), handover=handover,
                     child_id=str(file_id))
        try:
            position = self.store.save(case, file)
        except VersionConflict:
            return case_view(self._case(case_id), actor)  # received at the same moment
        return {**case_view(case, actor), "position": position}

    def check_partition(self, jurisdiction: str, done: str) -> None:
        """Refuse a case of another province in this partition's store (InvalidCommand)."""
        if self.partition is not None and jurisdiction_is_valid(jurisdiction) \
                and partition_of(jurisdiction) != self.partition:
            raise InvalidCommand(
                f"{jurisdiction} lies in partition {partition_of(jurisdiction)}, not in this "
                f"one ({self.partition}): its cases are {done} there")

    # --- the 12345 desk -------------------------------------------------------------------

    def receive_hotline_order(
        self, actor: Actor, *, ticket: str, received_at: datetime, jurisdiction: str,
        urgent: bool, content: str, caller: Mapping[str, Any], child: dict[str, Any],
        now: datetime | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Open a case for a 12345 work order, or link it to the child's open case; True when
        it opened one. The same ticket again records nothing and answers the same case."""
        if not access.may_file_hotline_order(actor, jurisdiction):
            raise OutsideJurisdiction(f"work orders for {jurisdiction} come from a desk whose "
                                      f"code covers it; yours is {actor.jurisdiction!r}")
        self.check_partition(jurisdiction, "opened")
        known = self._ticket(ticket, actor)
        if known is not None:
            return self._order_answer(known, actor), False
        open_case = self._open_case_of(child, jurisdiction, actor)
        if open_case is not None:
            caller_details = {"name": caller.get("name"), "phone": caller.get("phone")}
            linked = self._link_order(open_case, actor, ticket, received_at, urgent, now,
                                      content, caller_details)
            if linked is not None:
                return linked, False
        reporter = {"name": caller.get("name"), "organisation": "12345",
                    "phone": caller.get("phone"), "mandatory": False}
        view = self.open_case(
            actor, entry="report", jurisdiction=jurisdiction, child=child,
            concern={"categories": ["other"], "summary": content, "danger_now": urgent},
            source={"channel": "hotline_12345", "reporter": reporter},
            occurred_at=received_at, now=now, command_id=order_command_id(ticket),
            hotline_ticket=ticket)
        return {**view, "ticket": ticket}, True

    def hotline_ticket(self, actor: Actor, ticket: str) -> dict[str, Any]:
        """What the desk may read of its own ticket: the case's id and stage and the reply's
        status (no personal data); CaseNotFound for a ticket not its own."""
        known = self._ticket(ticket, actor)
        if known is None:
            raise CaseNotFound(f"no 12345 ticket {ticket!r} of yours")
        case = self._case(UUID(known.case_id))
        return {"ticket": ticket, "case_id": known.case_id, "opened": known.opened,
                "stage": case.stage, "reply": case.hotline_orders.get(ticket)}

    def record_hotline_reply(
        self, case_id: UUID, ticket: str, delivered: bool, detail: str, now: datetime
    ) -> bool:
        """Record the reply's delivery to the platform, or its failure; idempotent."""
        recorded, _, _ = self._change(case_id, lambda case: case.record_hotline_reply(
            ticket, delivered, detail, now), SAVE_ATTEMPTS)
        return recorded

    def _ticket(self, ticket: str, actor: Actor) -> HotlineTicket | None:
        """The ticket's record when this desk filed it (another's is not found)."""
        try:
            known = self.store.load(ticket_id(ticket))
        except AggregateNotFoundError:
            return None
        if not isinstance(known, HotlineTicket) or known.filed_by != actor.subject:
            return None
        return known

    def _order_answer(self, known: HotlineTicket, actor: Actor) -> dict[str, Any]:
        return {**case_view(self._case(UUID(known.case_id)), actor), "ticket": known.ticket,
                "position": self.recorder.max_notification_id()}

    def _open_case_of(
        self, child: Mapping[str, Any], jurisdiction: str, actor: Actor
    ) -> UUID | None:
        """The child's newest open case in the desk's area, by the child file's identity."""
        identity = child_identity(child, jurisdiction, uuid4())
        if identity.startswith("case:"):
            return None  # no ID number, or no name and birth date: a file of their own
        try:
            file = self._child_file(child_file_id(identity, self._identity_key))
        except CaseNotFound:
            return None
        for case_id in reversed(file.case_ids):
            case = self._case(UUID(case_id))
            if case.stage != Stage.CLOSED and access.may_file_hotline_order(
                    actor, case.jurisdiction):
                return case.id
        return None

    def _link_order(
        self, case_id: UUID, actor: Actor, ticket: str, received_at: datetime, urgent: bool,
        now: datetime | None, content: str, caller: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Link the order, with its report and caller, to the open case with its ticket
        record, in one transaction; None when the case closed meanwhile (the order then
        opens a case of its own)."""
        for _attempt in range(SAVE_ATTEMPTS):
            case = self._case(case_id)
            if case.stage == Stage.CLOSED:
                return None
            ctx = Context(actor=actor, policy=self._policy_of(case),
                          now=now or datetime.now(UTC), occurred_at=received_at,
                          command_id=order_command_id(ticket))
            case.link_hotline_order(ctx, ticket=ticket, opened=False, urgent=urgent,
                                    content=content, caller=caller)
            record = HotlineTicket.receive(ticket, case_id, opened=False, filed_by=actor.subject)
            file = self._child_file(UUID(case.child_id))
            self.record_alarms(file, Signal(REPORT, received_at, f"{case_id}:{ticket}"),
                               jurisdiction=case.jurisdiction, case_id=str(case_id),
                               pending=[case])
            try:
                position = self.store.save(case, record,
                                           *([file] if file.pending_events else []))
            except VersionConflict:
                known = self._ticket(ticket, actor)
                if known is not None:  # this same order, recorded by a retry or a twin
                    return self._order_answer(known, actor)
                continue
            return {**case_view(case, actor), "ticket": ticket, "position": position}
        raise VersionConflict("the case was being changed by others; retry the work order")

    # --- the morning digest --------------------------------------------------------------

    def prepare_digest(
        self, day: str, gather: Callable[[int, int], dict[str, list[HeldNotice]]]
    ) -> DayDigest:
        """The day's digest as first prepared: `gather(after, upto)` groups the notices held
        in the log since the last digest, and the ledger moves on to `upto` in the same save."""
        for _attempt in range(SAVE_ATTEMPTS):
            try:
                return cast("DayDigest", self.store.load(day_digest_id(day)))
            except AggregateNotFoundError:
                pass
            try:
                ledger: DigestLedger = self.store.load(LEDGER_ID)
            except AggregateNotFoundError:
                ledger = DigestLedger.open()
            upto = self.recorder.max_notification_id() or 0
            digest = DayDigest.prepare(day, gather(ledger.scanned_to, upto))
            ledger.prepared(day, upto)
            try:
                self.store.save(ledger, digest)
            except VersionConflict:
                continue  # another worker prepared a digest at the same moment
            return digest
        raise VersionConflict("the digest ledger kept changing; retry")

    def record_digest_delivery(self, day: str, key: str, delivered: bool, detail: str) -> None:
        """Record one target's outcome in the day's digest (once it is reached, never again)."""
        self.store.change(day_digest_id(day), lambda digest: digest.record(key, delivered,
                                                                            detail))

    # --- the contact directory -------------------------------------------------------------

    def register_contact(
        self, actor: Actor, body: Mapping[str, Any], command_id: str | None = None
    ) -> dict[str, Any]:
        """Put a contact (SPEC's request shape) on duty for an area the admin covers.

        A retry with the command id of a contact already registered records nothing and
        answers that contact (`recorded` false; `removed` says if it was taken off since).
        """
        contact_id = uuid5(_CONTACT_BY_COMMAND, command_id) if command_id else uuid4()
        entry = parse_contact(body, str(contact_id))
        if not access.may_manage_contacts(actor, entry.jurisdiction):
            raise OutsideJurisdiction(
                f"contacts for {entry.jurisdiction} are kept by an admin whose code covers "
                f"it; you may keep those under {actor.jurisdiction!r} only")
        contact = Contact.register(entry, recorded_by=actor.subject, command_id=command_id)
        try:
            position = self.store.save(contact)
        except VersionConflict:
            # Only this same command makes this id: it was recorded before.
            contact = self._contact(contact_id)
            return {**contact_view(contact.entry()), "recorded": False,
                    "removed": contact.removed,
                    "position": self.recorder.max_notification_id()}
        return {**contact_view(contact.entry()), "recorded": True, "removed": False,
                "position": position}

    def remove_contact(self, actor: Actor, contact_id: UUID) -> None:
        """Take a contact of the admin's area off duty; removing it again records nothing.
        ContactNotFound for an unknown contact and for one outside the admin's area alike."""

        def remove(aggregate: Any) -> None:
            if not isinstance(aggregate, Contact) or not access.may_manage_contacts(
                    actor, aggregate.jurisdiction):
                raise ContactNotFound(f"no contact {contact_id} in your area")
            aggregate.remove(actor.subject)

        try:
            self.store.change(contact_id, remove)
        except AggregateNotFoundError:
            raise ContactNotFound(f"no contact {contact_id} in your area") from None

    def contact_directory(self, max_age: float = 0.0) -> Directory:
        """Every contact on duty, as of the log now (or as of a catch-up less than `max_age`
        seconds ago). The directory returned is never changed afterwards."""
        return self._contacts.current(max_age)

    def contacts(self, actor: Actor, under: str | None = None) -> list[dict[str, Any]]:
        """The contacts on duty in the admin's area, or in a part of it (`under`: a code)."""
        prefix = actor.jurisdiction if under is None else under
        if not access.may_manage_contacts(actor, prefix):
            raise OutsideJurisdiction(
                f"you may list the contacts under {actor.jurisdiction!r} only")
        return [contact_view(e) for e in self.contact_directory().under(prefix)]

    def contact(self, actor: Actor, contact_id: UUID) -> dict[str, Any]:
        """One contact on duty in the admin's area; ContactNotFound otherwise."""
        entry = self.contact_directory().get(str(contact_id))
        if entry is None or not access.may_manage_contacts(actor, entry.jurisdiction):
            raise ContactNotFound(f"no contact {contact_id} in your area")
        return contact_view(entry)

    # --- imports (摸底排查、数据比对) --------------------------------------------------------

    def start_import(
        self, actor: Actor, *, source: str, jurisdiction: str, digest: str, total_rows: int,
    ) -> dict[str, Any]:
        """The job importing the file with this digest as `source` for the area: started
        now, or as far as an earlier run got (posting a file again resumes it)."""
        if source not in LAYOUTS:
            raise InvalidCommand(f"unknown source {source!r}; one of {', '.join(LAYOUTS)}")
        if len(jurisdiction) > 9:
            raise InvalidCommand("an import is for a township (9 digits) or a wider area: its "
                                 "risk rows open cases at their township")
        self.check_partition(jurisdiction, "imported")
        if not access.may_import(actor, jurisdiction):
            raise OutsideJurisdiction(
                f"imports for {jurisdiction} are run by an admin or supervisor whose code "
                f"covers it; you may import under {actor.jurisdiction!r} only")
        job_id = import_job_id(source, jurisdiction, digest)
        try:
            return self._import_job(job_id).view()
        except CaseNotFound:
            pass
        job = ImportJob.start(source=source, jurisdiction=jurisdiction, digest=digest,
                              total_rows=total_rows, started_by=actor.subject)
        try:
            self.store.save(job)
        except VersionConflict:
            job = self._import_job(job_id)  # started at the same moment by another run
        return job.view()

    def import_rows(
        self, actor: Actor, job_id: UUID, first_row: int,
        rows: Sequence[tuple[int, Mapping[str, str]]], known: set[UUID],
    ) -> dict[str, Any]:
        """Record the job's rows after `first_row` (each as (line, cells)); the job after
        them. `known`: the child files known to exist (`child_file_ids`), kept up to date."""
        self._importer_of(actor, job_id)
        recorder = BatchRecorder(self.store, self.policy, self._identity_key,
                                 _OPENED_BY_COMMAND, self.record_alarms)
        return recorder.record(actor, job_id, first_row, rows, known).view()

    def finish_import(self, actor: Actor, job_id: UUID) -> dict[str, Any]:
        """Mark the job finished (every row handled); finishing again records nothing."""
        self._importer_of(actor, job_id)
        _, job, _ = self.store.change(job_id, lambda job: job.finish(actor.subject))
        view: dict[str, Any] = job.view()
        return view

    def import_job(self, actor: Actor, job_id: UUID) -> dict[str, Any]:
        """The job's progress and rejected rows, for an importer of its area."""
        return self._importer_of(actor, job_id).view()

    def child_file_ids(self) -> set[UUID]:
        """Every child file's id, from the log (for `import_rows`)."""
        return child_file_ids(self.recorder)

    def _importer_of(self, actor: Actor, job_id: UUID) -> ImportJob:
        job = self._import_job(job_id)
        if not access.may_import(actor, job.jurisdiction):
            raise OutsideJurisdiction(
                "this import belongs to an area your code does not cover; imports are read "
                "by admins and supervisors of their area")
        return job

    def _import_job(self, job_id: UUID) -> ImportJob:
        try:
            job = self.store.load(job_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no import {job_id}") from None
        if not isinstance(job, ImportJob):
            raise CaseNotFound(f"no import {job_id}")
        return job

    # --- queries -------------------------------------------------------------------------

    def get_case(self, case_id: UUID, actor: Actor | None = None) -> dict[str, Any]:
        return case_view(self._case(case_id), actor)

    def case_ids(self) -> Iterator[UUID]:
        """Every case in the store, oldest first, from the log itself (read models may lag)."""
        return self._created([CaseOpened])

    def deadline_holder_ids(self) -> Iterator[UUID]:
        """Every case and monitoring record, oldest first, from the log itself."""
        return self._created([CaseOpened, MonitoringStarted])

    def _created(self, classes: list[type[Any]]) -> Iterator[UUID]:
        topics = [get_topic(cls) for cls in classes]
        for notification in notifications_of(self.recorder, topics, page=CASE_ID_PAGE):
            yield cast("UUID", notification.originator_id)

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

    def merge_child_files(
        self, actor: Actor, source_id: UUID, target_id: UUID, reason: str,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        """Merge one child's second file into their first, on record in both files; a retry
        of a merge already recorded (same command id) answers it without recording."""
        source, target = self._child_file(source_id), self._child_file(target_id)
        if not access.may_merge_child_files(actor, source.jurisdiction, target.jurisdiction):
            raise OutsideJurisdiction(
                "merging needs a caseworker or supervisor whose area covers both files")
        if command_id is not None and source.merge_command == command_id:
            return {**self.child_file(target_id),
                    "position": self.recorder.max_notification_id()}
        source.merge_into(target, reason=reason, merged_by=actor.subject,
                          command_id=command_id)
        position = self.store.save(source, target)
        return {**self.child_file(target_id), "position": position}

    def child_file(self, file_id: UUID) -> dict[str, Any]:
        """The child's file with every recorded detail and its source (for the API to filter
        by what the reader may see)."""
        file = self._child_file(file_id)
        return {"id": str(file.id), "category": file.category, "jurisdiction": file.jurisdiction,
                "personal": file.personal, "case_ids": list(file.case_ids),
                "details": [d.as_plain() for d in reversed(file.details)],
                "merged_into": file.merged_into, "alarms": file.alarm_views()}

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
        check = check_chain(str(case_id), (self._link(record) for record in records))
        result = {"valid": check.valid, "events": len(records),
                  "first_bad_version": check.first_bad_version, "problem": check.problem}
        snapshot_version = self.store.latest_snapshot_version(case_id)
        if check.valid and snapshot_version > len(records):
            # The chain alone cannot show a removed tail; a later snapshot can.
            return {**result, "valid": False, "first_bad_version": len(records) + 1,
                    "problem": f"event {len(records) + 1} is missing (a snapshot exists at "
                               f"version {snapshot_version})"}
        if not check.valid:
            return result
        bad = self.store.bad_snapshot(case_id)
        if bad is not None:
            return {**result, "valid": False, "first_bad_version": bad[0],
                    "problem": f"snapshot at version {bad[0]}: {bad[1]}"}
        return {**result, "head_hash": check.head_hash}

    # --- helpers -------------------------------------------------------------------------

    def _answer_as_recorded(
        self, case: ProtectionCase, version: int, actor: Actor
    ) -> dict[str, Any]:
        """The answer to a command recorded at `version`: the case as it left it, and a log
        position at or after its event (read-your-writes holds)."""
        as_left = case if version == case.version else self._case(case.id, version)
        return {**case_view(as_left, actor), "position": self.recorder.max_notification_id()}

    def _replayed(
        self, case_id: UUID, command_id: str | None, actor: Actor
    ) -> dict[str, Any] | None:
        """The answer to this command if the case recorded it (a retry of a lost answer)."""
        if command_id is None:
            return None
        try:
            case = self._case(case_id)
        except CaseNotFound:
            return None
        version = case.command_ids.get(command_id)
        return None if version is None else self._answer_as_recorded(case, version, actor)

    def _link(self, record: Any) -> ChainLink:
        try:
            event = self.mapper.to_domain_event(record)
        except Exception:
            return ChainLink(record.originator_version, record.topic, None)
        return ChainLink(record.originator_version, get_topic(type(event)), dict(vars(event)))

    def _change(
        self, case_id: UUID, command: Callable[[ProtectionCase], T], attempts: int,
        companions: Callable[[ProtectionCase], Sequence[Any]] | None = None,
    ) -> tuple[T, ProtectionCase, int | None]:
        try:
            result, case, position = self.store.change(case_id, self._as_case(command), attempts,
                                                       companions)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no case {case_id}") from None
        return result, case, position

    @staticmethod
    def _as_case(command: Callable[[ProtectionCase], T]) -> Callable[[Any], T]:
        def on_case(aggregate: Any) -> T:
            if not isinstance(aggregate, ProtectionCase):
                raise CaseNotFound(f"no case {aggregate.id}")
            return command(aggregate)
        return on_case

    def _case(self, case_id: UUID, version: int | None = None) -> ProtectionCase:
        try:
            case = self.store.load(case_id, version)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no case {case_id}") from None
        if not isinstance(case, ProtectionCase):
            raise CaseNotFound(f"no case {case_id}")
        if version is None and self.keyring.is_destroyed(case.child_id):
            # Erased (by another process, perhaps) since this one cached the case.
            case = cast("ProtectionCase", self._reread(case_id))
        return case

    def _policy_of(self, case: ProtectionCase) -> Policy:
        try:
            return self.policies[case.policy_version]
        except KeyError:
            raise PolicyError(
                f"the case runs under policy {case.policy_version!r}, which is not installed"
            ) from None

    def _contact(self, contact_id: UUID) -> Contact:
        try:
            contact = self.store.load(contact_id)
        except AggregateNotFoundError:
            raise ContactNotFound(f"no contact {contact_id}") from None
        if not isinstance(contact, Contact):
            raise ContactNotFound(f"no contact {contact_id}")
        return contact

    def _child_file(self, file_id: UUID) -> ChildFile:
        try:
            file = self.store.load(file_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no child file {file_id}") from None
        if not isinstance(file, ChildFile):
            raise CaseNotFound(f"no child file {file_id}")
        if self.keyring.is_destroyed(str(file_id)):
            file = cast("ChildFile", self._reread(file_id))  # as for a case
        return file

    def _reread(self, aggregate_id: UUID) -> Any:
        """The aggregate from the store, not from this process's cache (which may hold
        personal data read before its key was destroyed)."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)
        return self.store.load(aggregate_id)

    def _erased(self, file_id: UUID) -> bool:
        try:
            return self._child_file(file_id).erased is not None
        except CaseNotFound:
            return False

    def _child_file_for(
        self, file_id: UUID, case: ProtectionCase, category: str, recorded_by: str
    ) -> ChildFile:
        personal = {k: v for k, v in case.child.items() if k != "category"}
        try:
            file: ChildFile = self.store.load(file_id)
        except AggregateNotFoundError:
            return ChildFile.register(file_id, jurisdiction=case.jurisdiction, category=category,
                                      personal=personal, case_id=str(case.id),
                                      recorded_by=recorded_by)
        file.link_case(str(case.id), category, personal, recorded_by)
        assert case.opened_at is not None
        self.record_alarms(file, Signal(REPORT, case.opened_at, str(case.id)),
                           jurisdiction=case.jurisdiction, case_id=str(case.id))
        return file

    def _reopening_alarms(self, case: ProtectionCase) -> list[ChildFile]:
        """A reopening is a new report about the child: the alarms it raises, on the file."""
        reopened = [e for e in case.pending_events if isinstance(e, CaseReopened)]
        if not reopened:
            return []  # a retry that found its command recorded
        file = self._child_file(UUID(case.child_id))
        key = f"reopen-{reopened[-1].originator_version}"
        self.record_alarms(file, Signal(REPORT, reopened[-1].occurred_at, f"{case.id}:{key}"),
                           jurisdiction=case.jurisdiction, case_id=str(case.id), pending=[case])
        return [file] if file.pending_events else []

    def record_alarms(self, file: ChildFile, new: Signal, *, jurisdiction: str,
                      case_id: str | None, pending: Sequence[ProtectionCase] = ()) -> None:
        """Record on the file the alarms the new signal raises under the policy's pattern
        rules (`domain.patterns`); the caller saves the file with what made the signal.
        `pending`: the child's cases changed by the same command, not saved yet (a case
        being opened is `case_id` and not among them: `new` is its report)."""
        rules = [rule for rule in self.policy.patterns if rule.signal == new.kind]
        unsaved = {str(case.id) for case in pending}
        # Cases are linked as they arrive, so the newest hold every signal a window of days
        # can reach; a bound keeps a file with a long past from loading all of it each time.
        stored = [c for c in file.case_ids[-PATTERN_CASES:] if c != case_id and c not in unsaved]
        if not rules or (not stored and not pending
                         and not any(RISK_RAISED in (r.signal, r.after) for r in rules)):
            return  # nothing this signal could match: spare the reads
        cases = [*(self._case(UUID(c)) for c in stored), *pending]
        try:
            record: MonitoringRecord | None = self.monitoring(file.id)
        except CaseNotFound:
            record = None
        found = matches(rules, child_signals(cases, record), new, file.last_alarms)
        file.raise_alarms(found, jurisdiction=jurisdiction, case_id=case_id)

    def _version_at(self, case_id: UUID, as_of: datetime) -> int:
        """The last version recorded at or before `as_of`: one lookup in the time index, or
        a replay of the events in a store without it (in memory)."""
        if isinstance(self.recorder, TimeIndexedRecorder):
            version = self.recorder.version_at(case_id, as_of)
        else:
            version = version_by_decoding(self.events, case_id, as_of)
        if version is None:
            raise CaseNotFound(f"case {case_id} did not exist at {as_of.isoformat()}")
        return version

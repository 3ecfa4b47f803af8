"""The Application's monitoring commands and queries (监测预防), mixed into `Wardship`:
the actions of `domain.monitoring_actions` on a child file's record, a concern that opens a
discovery case on the file, and the service commands of the deadline protocol."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError

from domain import access
from domain.actors import Context
from domain.codes import SourceChannel
from domain.errors import (
    ActionNotAllowed,
    CaseNotFound,
    InvalidCommand,
    PolicyError,
    StaleVersion,
    VersionConflict,
)
from domain.monitoring import MonitoringRecord, monitoring_id
from domain.monitoring_actions import MONITORING_RULES
from domain.patterns import RISK_RAISED, Signal
from domain.store import SAVE_ATTEMPTS
from domain.views import monitoring_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from domain.actors import Actor
    from domain.child import ChildFile
    from domain.keyring import Keyring
    from domain.policy import Policy
    from domain.store import AggregateStore

T = TypeVar("T")
# A concern raised by a command with an id opens its case under an id made from it.
_CONCERN_BY_COMMAND = UUID("5e2a9c17-3f4b-4d6e-8a01-7c9b2e4f6d83")


class MonitoringCommands:
    """Monitoring records, loaded and saved through the Application's store."""

    if TYPE_CHECKING:  # provided by Wardship
        store: AggregateStore
        policy: Policy
        policies: dict[str, Policy]
        recorder: Any
        keyring: Keyring

        def _reread(self, aggregate_id: UUID) -> Any: ...

        def open_case(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...

        def _child_file(self, file_id: UUID) -> ChildFile: ...

        def record_alarms(self, file: ChildFile, new: Signal, *, jurisdiction: str,
                          case_id: str | None) -> None: ...

    def monitoring(self, file_id: UUID) -> MonitoringRecord:
        """The child file's monitoring record; CaseNotFound when the child is not monitored."""
        try:
            return self.monitoring_record(monitoring_id(file_id))
        except CaseNotFound:
            raise CaseNotFound(f"child file {file_id} is not monitored") from None

    def monitoring_action(
        self, actor: Actor, file_id: UUID, action: str, params: dict[str, Any], *,
        occurred_at: datetime | None = None, now: datetime | None = None,
        command_id: str | None = None, expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Run one monitoring action (`domain.monitoring_actions`) on a child file's record;
        answers the record's view. A record outside the actor's area is not found; a retry
        with the command id of an action already recorded answers the record as it is."""
        if action not in MONITORING_RULES:
            raise InvalidCommand(f"unknown action {action!r}")
        now = now or datetime.now(UTC)
        if action == "start_monitoring":
            record = self._start_monitoring(actor, file_id, params, occurred_at, now,
                                            command_id)
        elif action == "raise_concern":
            record = self._raise_concern(actor, file_id, params, occurred_at, now, command_id,
                                         expected_version)
        else:
            record = self._monitoring_change(actor, file_id, expected_version, command_id,
                                             lambda r, ctx: _run(r, action, ctx, params),
                                             occurred_at, now)
        return {**monitoring_view(record, actor, now),
                "position": self.recorder.max_notification_id()}

    def _start_monitoring(
        self, actor: Actor, file_id: UUID, params: dict[str, Any],
        occurred_at: datetime | None, now: datetime, command_id: str | None,
    ) -> MonitoringRecord:
        file = self._child_file(file_id)
        if file.merged_into is not None:
            raise InvalidCommand(f"this file was merged into {file.merged_into}; monitor "
                                 "the child on that file")
        try:
            existing = self.monitoring(file_id)
        except CaseNotFound:
            existing = None
        if existing is not None:
            if command_id is not None and command_id in existing.command_ids:
                return existing
            if not access.may_read_ledger(actor, existing.jurisdiction):
                raise CaseNotFound(f"no child file {file_id}")
            raise ActionNotAllowed("start_monitoring", existing.stage,
                                   existing.allowed_actions(actor),
                                   "the child is already in the ledger" if existing.is_monitored
                                   else "monitoring of this child ended; it is not restarted")
        ctx = Context(actor=actor, policy=self.policy, now=now, occurred_at=occurred_at,
                      command_id=command_id)
        try:
            record = MonitoringRecord.start(ctx, file_id=file_id, **params)
        except TypeError as error:
            raise InvalidCommand(f"bad fields for 'start_monitoring': {error}") from None
        try:
            self.store.save(record)
        except VersionConflict:
            # Started at the same moment: by this very command (a retry), or by another.
            existing = self.monitoring(file_id)
            if command_id is None or command_id not in existing.command_ids:
                raise ActionNotAllowed("start_monitoring", existing.stage,
                                       existing.allowed_actions(actor),
                                       "the child was taken into the ledger just now") from None
            return existing
        return record

    def _raise_concern(
        self, actor: Actor, file_id: UUID, params: dict[str, Any],
        occurred_at: datetime | None, now: datetime, command_id: str | None,
        expected_version: int | None,
    ) -> MonitoringRecord:
        """Open a discovery case on this child's file (source: a home visit), then record its
        id on the monitoring record. A retry with the same command id opens no second case."""
        record = self._readable_record(actor, file_id)
        if command_id is not None and command_id in record.command_ids:
            return record
        ctx = Context(actor=actor, policy=self._monitoring_policy(record), now=now,
                      occurred_at=occurred_at, command_id=command_id)
        try:
            concern = record.check_concern(ctx, **params)
        except TypeError as error:
            raise InvalidCommand(f"bad fields for 'raise_concern': {error}") from None
        child = {**self._child_file(file_id).personal, "category": record.category}
        case_id = uuid5(_CONCERN_BY_COMMAND, command_id) if command_id else uuid4()
        self.open_case(
            actor, entry="discovery", jurisdiction=record.jurisdiction, child=child,
            concern=concern, occurred_at=occurred_at, now=now, case_id=case_id,
            command_id=command_id, file_id=file_id,
            source={"channel": SourceChannel.HOME_VISIT.value,
                    "reporter": {"name": None, "organisation": None, "phone": None,
                                 "mandatory": True}},
        )
        return self._monitoring_change(
            actor, file_id, expected_version, command_id,
            lambda r, c: r.raise_concern(c, case_id=str(case_id), **concern),
            occurred_at, now)

    def _monitoring_change(
        self, actor: Actor, file_id: UUID, expected_version: int | None,
        command_id: str | None, command: Callable[[MonitoringRecord, Context], None],
        occurred_at: datetime | None, now: datetime,
    ) -> MonitoringRecord:
        rises_before = 0

        def act(aggregate: Any) -> None:
            nonlocal rises_before
            if not isinstance(aggregate, MonitoringRecord) or not access.may_read_ledger(
                    actor, aggregate.jurisdiction):
                raise CaseNotFound(f"no child file {file_id}")
            if command_id is not None and command_id in aggregate.command_ids:
                return
            rises_before = len(aggregate.risk_rises)
            if expected_version is not None and expected_version != aggregate.version:
                raise StaleVersion(f"the record is at version {aggregate.version}, not "
                                   f"{expected_version}; reload it")
            command(aggregate, Context(actor=actor, policy=self._monitoring_policy(aggregate),
                                       now=now, occurred_at=occurred_at,
                                       command_id=command_id))

        def alarms(record: MonitoringRecord) -> list[ChildFile]:
            # A rise of the risk level is a signal of the pattern rules: alarms go on the
            # child's file in the same transaction.
            if len(record.risk_rises) <= rises_before:
                return []
            file = self._child_file(file_id)
            rise = Signal(RISK_RAISED, record.risk_rises[-1],
                          f"{record.id}:rise-{len(record.risk_rises)}")
            self.record_alarms(file, rise, jurisdiction=record.jurisdiction, case_id=None)
            return [file] if file.pending_events else []

        attempts = 1 if expected_version is not None else SAVE_ATTEMPTS
        try:
            _, record, _ = self.store.change(monitoring_id(file_id), act, attempts, alarms)
        except AggregateNotFoundError:
            raise CaseNotFound(f"child file {file_id} is not monitored") from None
        except VersionConflict:
            record = self.monitoring(file_id)
            if command_id is None or command_id not in record.command_ids:
                raise
        return record  # type: ignore[no-any-return]

    def _readable_record(self, actor: Actor, file_id: UUID) -> MonitoringRecord:
        record = self.monitoring(file_id)
        if not access.may_read_ledger(actor, record.jurisdiction):
            raise CaseNotFound(f"no child file {file_id}")
        return record

    def _monitoring_policy(self, record: MonitoringRecord) -> Policy:
        try:
            return self.policies[record.policy_version]
        except KeyError:
            raise PolicyError(f"the record runs under policy {record.policy_version!r}, "
                              "which is not installed") from None

    def change_monitoring(self, file_id: UUID, command: Callable[[MonitoringRecord], T]) -> T:
        """Apply a service command (misses, escalations, deliveries) to a child file's
        monitoring record and save it; like `change` for cases, judged again on a lost race."""
        return self.change_monitoring_record(monitoring_id(file_id), command)

    def change_monitoring_record(
        self, record_id: UUID, command: Callable[[MonitoringRecord], T]
    ) -> T:
        """`change_monitoring` by the record's own id (the events' originator id, which the
        relay and the workflows know)."""
        def on_record(aggregate: Any) -> T:
            if not isinstance(aggregate, MonitoringRecord):
                raise CaseNotFound(f"no monitoring record {record_id}")
            return command(aggregate)

        try:
            result, _, _ = self.store.change(record_id, on_record)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no monitoring record {record_id}") from None
        return result

    def monitoring_record(self, record_id: UUID) -> MonitoringRecord:
        """A monitoring record by its own id (for the workflows, as `get_case_aggregate`)."""
        try:
            record = self.store.load(record_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no monitoring record {record_id}") from None
        if not isinstance(record, MonitoringRecord):
            raise CaseNotFound(f"no monitoring record {record_id}")
        if self.keyring.is_destroyed(str(record_id)):
            record = cast("MonitoringRecord", self._reread(record_id))  # erased since cached
        return record


def _run(record: MonitoringRecord, action: str, ctx: Context, params: dict[str, Any]) -> None:
    """Call the record's command for the action with the request's fields."""
    command: Callable[..., None] = getattr(record, action)
    try:
        command(ctx, **params)
    except TypeError as error:
        raise InvalidCommand(f"bad fields for '{action}': {error}") from None

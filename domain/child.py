"""The child file (一人一档): one record per child, linking every case about them.

Reports link to a file by a valid resident ID number, or by name and birth date in one
county; a child without both gets a file of their own until someone merges it, on record.
No report overwrites another's details: each keeps its source case, time and recorder.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain import access
from domain.case_state import Notification, notified_jurisdiction, records_news
from domain.erasure import FilePrivacy, Hold
from domain.errors import ActionNotAllowed, InvalidCommand
from domain.patterns import Signal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from domain.actors import Actor
    from domain.patterns import Match

_NAMESPACE = uuid.UUID("6f1c2a52-9a43-4d0e-8f2e-3b1a7c1e5d10")
# GB 11643: weights of the first 17 digits, and the check character for sum mod 11.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Names that say the name is not known (不详: "unknown"): no basis for linking.
UNKNOWN_NAMES = frozenset({"不详", "未知", "无名", "unknown"})


def resident_id_is_valid(number: str) -> bool:
    """An 18-character resident ID number whose check character is right (GB 11643)."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _WEIGHTS, strict=False))
    return number[17].upper() == _CHECK[total % 11]


def child_identity(child: Mapping[str, Any], jurisdiction: str, case_id: uuid.UUID) -> str:
    """Who the report is about: an ID number, else name and birth date in the county, else
    only this report's child (a file of their own)."""
    id_number = str(child.get("id_number") or "").strip().upper()
    if id_number:
        if not resident_id_is_valid(id_number):
            raise InvalidCommand(
                "child.id_number is not a valid 18-character resident ID number (its check "
                "character does not match); correct it, or leave it empty if unknown")
        return f"id:{id_number}"
    name = " ".join(str(child.get("name") or "").split())
    birth_date = child.get("birth_date")
    if name and name.lower() not in UNKNOWN_NAMES and birth_date:
        return f"nbj:{name}|{birth_date}|{jurisdiction[:6]}"
    return f"case:{case_id}"


def child_file_id(identity: str, key: bytes) -> uuid.UUID:
    """A stable id that does not reveal the identity: ID numbers are guessable, so keyed."""
    digest = hmac.new(key, identity.encode("utf-8"), hashlib.sha256).hexdigest()
    return uuid.uuid5(_NAMESPACE, digest)


def newest_values(details: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The newest non-empty value of each field, from details given oldest first."""
    newest: dict[str, Any] = {}
    for values in details:
        newest.update({k: v for k, v in values.items() if v})
    return newest


@dataclass(frozen=True)
class Detail:
    """The personal details one case recorded about the child, and who recorded them when."""

    case_id: str
    recorded_at: datetime
    recorded_by: str
    values: Mapping[str, Any]
    # Where details that no case recorded came from: an import's source list ("" for a case).
    source: str = ""

    def as_plain(self) -> dict[str, Any]:
        plain = {"case_id": self.case_id, "recorded_at": self.recorded_at,
                 "recorded_by": self.recorded_by, "values": dict(self.values)}
        if self.source:
            plain["source"] = self.source
        return plain


@dataclass(frozen=True)
class Alarm:
    """What one pattern alarm is about: the rule, the signals that made it, and the code of
    the case or record whose signal raised it."""

    rule: str
    signals: tuple[Signal, ...]
    jurisdiction: str


class ChildFile(Aggregate, FilePrivacy):
    """Everything the service knows about one child, across cases."""

    class Registered(Aggregate.Created):
        """A child's file was opened with the details of its first case."""

        class_version = 2
        jurisdiction: str
        category: str
        personal: dict[str, Any]
        case_id: str
        recorded_by: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["recorded_by"] = ""  # not recorded before; the case's history has it

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.jurisdiction = self.jurisdiction
            file.category = self.category
            file.case_ids = [self.case_id]
            file.details = [Detail(self.case_id, self.timestamp, self.recorded_by,
                                   dict(self.personal))]

    class CaseLinked(Aggregate.Event):
        """Another case about this child was opened; its details stand beside the others."""

        class_version = 2
        case_id: str
        category: str
        personal: dict[str, Any]
        recorded_by: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["recorded_by"] = ""

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.case_ids = [*file.case_ids, self.case_id]
            file.category = self.category or file.category
            file.details = [*file.details, Detail(self.case_id, self.timestamp,
                                                  self.recorded_by, dict(self.personal))]

    class MergedInto(Aggregate.Event):
        """This file was found to be another child's file and merged into it."""

        # 2: the id of the merge command, so that a retry finds it.
        class_version = 2
        into: str
        reason: str
        merged_by: str
        command_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["command_id"] = None  # recorded before commands had ids

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.merged_into = self.into
            file.merge_command = self.command_id

    class FileMerged(Aggregate.Event):
        """Another file about the same child was merged in: its cases and details came here."""

        # 2: the id of the merge command (as on the source file's MergedInto).
        class_version = 2
        source: str
        case_ids: list[str]
        details: list[dict[str, Any]]
        reason: str
        merged_by: str
        command_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["command_id"] = None

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.case_ids = [*file.case_ids, *self.case_ids]
            file.details = [*file.details, *(Detail(**d) for d in self.details)]
            file.merged_from = [*file.merged_from, self.source]

    class Imported(Aggregate.Created):
        """A child's file was opened from a row of another department's list (摸底排查、
        数据比对), with that row's details and no case."""

        jurisdiction: str
        category: str
        personal: dict[str, Any]
        source: str
        row_key: str
        job_id: str
        recorded_by: str
        command_id: str

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.jurisdiction = self.jurisdiction
            file.category = self.category
            file.case_ids = []
            file.details = [Detail("", self.timestamp, self.recorded_by, dict(self.personal),
                                   self.source)]
            file.import_commands = {self.command_id}

    class DetailsImported(Aggregate.Event):
        """A row of another department's list matched this file; its details stand beside
        the others (an empty category keeps the file's)."""

        category: str
        personal: dict[str, Any]
        source: str
        row_key: str
        job_id: str
        recorded_by: str
        command_id: str

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.category = self.category or file.category
            file.details = [*file.details, Detail("", self.timestamp, self.recorded_by,
                                                  dict(self.personal), self.source)]
            file.import_commands = {*file.import_commands, self.command_id}

    class PatternMatched(Aggregate.Event):
        """A pattern rule matched this child's signals (监测预警): an alarm to the township's
        supervisors, sent at once. Shaped like a deadline's escalation for the inbox."""

        notification_id: str
        rule: str
        signals: list[dict[str, Any]]
        case_id: str | None  # the case whose report made the match, if a report did
        kind: str
        level: int
        recipient_jurisdiction: str
        case_jurisdiction: str
        deadline_id: None = None
        due_at: None = None
        assignee: None = None
        urgent: bool = True

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.notifications = {**file.notifications, self.notification_id: Notification(
                None, self.level, self.recipient_jurisdiction, urgent=True)}
            file.alarms = {**file.alarms, self.notification_id: Alarm(
                self.rule, tuple(Signal(s["kind"], datetime.fromisoformat(s["at"]), s["ref"])
                                 for s in self.signals), self.case_jurisdiction)}

    class AlarmDelivered(Aggregate.Event):
        """A channel took the alarm."""

        notification_id: str
        channel: str
        detail: str

        def apply(self, aggregate: Any) -> None:
            aggregate.set_delivery(self.notification_id, self.channel, "delivered")

    class AlarmDeliveryFailed(Aggregate.Event):
        """A channel could not take the alarm after its retries."""

        notification_id: str
        channel: str
        detail: str

        def apply(self, aggregate: Any) -> None:
            aggregate.set_delivery(self.notification_id, self.channel, "failed")

    class AlarmAcknowledged(Aggregate.Event):
        """A supervisor of the township acknowledged the alarm."""

        notification_id: str
        actor_id: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            notice = file.notifications[self.notification_id]
            file.notifications = {**file.notifications, self.notification_id: replace(
                notice, acknowledged_by=self.actor_id)}

    def __init__(self) -> None:
        self.case_ids: list[str] = []
        self.category = ""
        self.jurisdiction = ""
        self.details: list[Detail] = []
        self.merged_into: str | None = None
        self.merge_command: str | None = None  # the id of the command that merged it
        # Ids of the import rows recorded here, so that a rerun records none twice.
        self.import_commands: set[str] = set()
        # Alarms of pattern rules (`domain.patterns`), and each rule's last alarm time.
        self.notifications: dict[str, Notification] = {}
        self.alarms: dict[str, Alarm] = {}  # notification id -> what the alarm is about
        # Erasure and legal holds (domain.erasure); the files merged in share its erasure.
        self.merged_from: list[str] = []
        self.erasure_request: dict[str, Any] | None = None
        self.erased: dict[str, Any] | None = None
        self.holds: dict[str, Hold] = {}

    @property
    def personal(self) -> dict[str, Any]:
        """The newest value of each detail, whichever case recorded it."""
        return newest_values(d.values for d in self.details)

    @classmethod
    def register(
        cls, file_id: uuid.UUID, *, jurisdiction: str, category: str,
        personal: dict[str, Any], case_id: str, recorded_by: str,
    ) -> ChildFile:
        return cls._create(cls.Registered, id=file_id, jurisdiction=jurisdiction,
                           category=category, personal=personal, case_id=case_id,
                           recorded_by=recorded_by)

    @classmethod
    def imported(
        cls, file_id: uuid.UUID, *, jurisdiction: str, category: str,
        personal: dict[str, Any], source: str, row_key: str, job_id: str, recorded_by: str,
        command_id: str,
    ) -> ChildFile:
        """A new file from an import row: its source list, its key there (record number or
        ID number), the job and the importer; `command_id` identifies the row's content."""
        return cls._create(cls.Imported, id=file_id, jurisdiction=jurisdiction,
                           category=category, personal=personal, source=source,
                           row_key=row_key, job_id=job_id, recorded_by=recorded_by,
                           command_id=command_id)

    def import_details(
        self, *, category: str, personal: dict[str, Any], source: str, row_key: str,
        job_id: str, recorded_by: str, command_id: str,
    ) -> bool:
        """Record an import row's details, unless this row was recorded before; whether it
        recorded them."""
        if command_id in self.import_commands:
            return False
        self.trigger_event(self.DetailsImported, category=category, personal=personal,
                           source=source, row_key=row_key, job_id=job_id,
                           recorded_by=recorded_by, command_id=command_id)
        return True

    def link_case(self, case_id: str, category: str, personal: dict[str, Any],
                  recorded_by: str) -> None:
        if case_id not in self.case_ids:
            self.trigger_event(self.CaseLinked, case_id=case_id, category=category,
                               personal=personal, recorded_by=recorded_by)

    def merge_into(self, target: ChildFile, *, reason: str, merged_by: str,
                   command_id: str | None = None) -> None:
        """Move this file's cases and details into `target`, recorded on both files."""
        if target.id == self.id:
            raise InvalidCommand("a file cannot be merged into itself")
        if self.erased is not None or target.erased is not None:
            raise InvalidCommand("a file whose personal data was erased is not merged")
        if self.merged_into is not None or target.merged_into is not None:
            raise InvalidCommand("one of the files was already merged; merge into the file "
                                 "it was merged into")
        if not reason.strip():
            raise InvalidCommand("'reason' must say why the two files are one child")
        target.trigger_event(target.FileMerged, source=str(self.id),
                             case_ids=list(self.case_ids),
                             details=[d.as_plain() for d in self.details],
                             reason=reason, merged_by=merged_by, command_id=command_id)
        self.trigger_event(self.MergedInto, into=str(target.id), reason=reason,
                           merged_by=merged_by, command_id=command_id)

    # --- pattern alarms (监测预警) -----------------------------------------------------------

    def raise_alarms(self, found: list[Match], *, jurisdiction: str, case_id: str | None
                     ) -> list[str]:
        """Record each match as an alarm to the township of `jurisdiction` (the code of the
        case or record whose signal made it); the new notification ids."""
        ids = []
        for match in found:
            notification_id = f"{self.id}:pattern-{match.rule.code}-{len(self.notifications) + 1}"
            self.trigger_event(
                self.PatternMatched, notification_id=notification_id, rule=match.rule.code,
                signals=[signal.as_plain() for signal in match.signals], case_id=case_id,
                kind=match.rule.code, level=1,
                recipient_jurisdiction=notified_jurisdiction(jurisdiction, 1),
                case_jurisdiction=jurisdiction)
            ids.append(notification_id)
        return ids

    def set_delivery(self, notification_id: str, channel: str, outcome: str) -> None:
        notice = self.notifications[notification_id]
        self.notifications = {**self.notifications, notification_id: replace(
            notice, deliveries={**notice.deliveries, channel: outcome})}

    def record_delivery(
        self, notification_id: str, channel: str, delivered: bool, detail: str, now: datetime
    ) -> bool:
        """Record one channel's outcome for an alarm; idempotent per outcome."""
        if not records_news(self._alarm(notification_id), channel, delivered):
            return False
        cls = self.AlarmDelivered if delivered else self.AlarmDeliveryFailed
        self.trigger_event(cls, notification_id=notification_id, channel=channel,
                           detail=detail[:500])
        return True

    def acknowledge_alarm(self, actor: Actor, notification_id: str, now: datetime) -> bool:
        """A supervisor holding the alarm's code acknowledges it; idempotent."""
        notice = self._alarm(notification_id)
        if not access.may_acknowledge(actor, notice.recipient_jurisdiction):
            raise ActionNotAllowed("acknowledge", "-", [],
                                   "only supervisors holding the notification's own "
                                   "jurisdiction code acknowledge it")
        if notice.acknowledged_by:
            return False
        self.trigger_event(self.AlarmAcknowledged, notification_id=notification_id,
                           actor_id=actor.subject, occurred_at=now)
        return True

    @property
    def last_alarms(self) -> dict[str, datetime]:
        """Each rule's last alarm: when the newest signal of its newest match happened."""
        return {alarm.rule: max(signal.at for signal in alarm.signals)
                for alarm in self.alarms.values()}

    def alarm_views(self) -> list[dict[str, Any]]:
        """The file's pattern alarms, oldest first: rule, signals, whom it went to, its
        deliveries and acknowledgement (codes and times only)."""
        return [{"notification_id": nid, "rule": alarm.rule,
                 "signals": [s.as_plain() for s in alarm.signals],
                 "recipient_jurisdiction": self.notifications[nid].recipient_jurisdiction,
                 "deliveries": dict(self.notifications[nid].deliveries),
                 "acknowledged_by": self.notifications[nid].acknowledged_by}
                for nid, alarm in self.alarms.items()]

    def _alarm(self, notification_id: str) -> Notification:
        notice = self.notifications.get(notification_id)
        if notice is None:
            raise InvalidCommand(f"no notification {notification_id!r} on this file")
        return notice

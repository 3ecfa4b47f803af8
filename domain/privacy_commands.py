"""The Application's erasure and legal-hold commands, mixed into `Wardship`: they judge the
child file (`domain.erasure`) with its cases, save, and destroy the keys once the approval
is on record (docs/privacy.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.utils import get_topic

from domain import access
from domain.actors import SYSTEM
from domain.canonical import plain
from domain.child import ChildFile, newest_values
from domain.codes import Stage
from domain.erasure import ERASE, ErasureRejected, ErasureRequested, PersonalDataErased
from domain.errors import ActionNotAllowed, CaseNotFound, DomainError, OutsideJurisdiction
from domain.importing import child_file_ids
from domain.log_pages import notifications_of
from domain.monitoring import monitoring_id
from domain.personal import recorded_in_clear
from domain.retention import erasure_due

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from domain.actors import Actor
    from domain.case import ProtectionCase
    from domain.keyring import Keyring
    from domain.monitoring import MonitoringRecord
    from domain.policy import Policy
    from domain.store import AggregateStore


class PrivacyCommands:
    """Erasure (crypto-shredding) and legal holds of a child's file."""

    if TYPE_CHECKING:  # provided by Wardship
        store: AggregateStore
        keyring: Keyring
        on_shred: list[Callable[[list[str]], None]]
        recorder: Any
        repository: Any
        mapper: Any
        events: Any
        policy: Policy

        def _child_file(self, file_id: UUID) -> ChildFile: ...

        def _case(self, case_id: UUID, version: int | None = None) -> ProtectionCase: ...

        def monitoring(self, file_id: UUID) -> MonitoringRecord: ...

    def request_erasure(self, actor: Actor, file_id: UUID, reason: str,
                        command_id: str | None = None) -> dict[str, Any]:
        """Ask for the child's personal data to be erased; refused while a case of the child
        is open or a legal hold stands."""
        now = datetime.now(UTC)

        def request(file: ChildFile) -> None:
            self._no_open_case(actor, file)
            file.request_erasure(actor, reason, now, command_id)

        self._all_sealed(self._file_in_area(actor, file_id))

        return self._on_file(file_id, request)

    def propose_retention_erasures(self, now: datetime | None = None) -> list[str]:
        """Ask, as the service, for the erasure of every child whose retention has run out
        (`domain.retention`): each waits for a supervisor's approval, like any request.
        Files erased, held, asked for already, merged or still in use are passed over. The
        ids of the files asked for."""
        now = now or datetime.now(UTC)
        rule = self.policy.retention
        proposed = []
        for file_id in sorted(child_file_ids(self.recorder)):
            file = self._child_file(file_id)
            if file.erased or file.erasure_request or file.holds or file.merged_into:
                continue
            closed = [self._case(UUID(c)).closed_at for c in file.case_ids]
            due = erasure_due(rule, closed, file.personal.get("birth_date"))
            if due is None or due > now:
                continue
            try:
                self.request_erasure(SYSTEM, file_id, f"retention ran out on {due.date()} "
                                     f"(policy {self.policy.version}: {rule})",
                                     f"retention:{file_id}")
            except DomainError:
                continue  # monitored, or a case reopened meanwhile: not due after all
            proposed.append(str(file_id))
        return proposed

    def approve_erasure(self, actor: Actor, file_id: UUID) -> dict[str, Any]:
        """A supervisor (not the requester) approves: the erasure is recorded, then the keys
        of the file, of the files merged into it and of their cases are destroyed. Approving
        an erasure already recorded destroys its keys again (a failed destroy is retried)."""
        file = self._file_in_area(actor, file_id)
        if file.erased is not None:
            self._shred(file.erased["key_ids"], file.erased["case_ids"])
            return self._privacy(file)
        now = datetime.now(UTC)

        def approve(file: ChildFile) -> None:
            self._no_open_case(actor, file)
            file.approve_erasure(actor, now, self._key_ids(file))

        answer = self._on_file(file_id, approve)
        erased = self._child_file(file_id).erased
        assert erased is not None
        self._shred(erased["key_ids"], erased["case_ids"])
        return answer

    def reject_erasure(self, actor: Actor, file_id: UUID, reason: str) -> dict[str, Any]:
        self._file_in_area(actor, file_id)
        now = datetime.now(UTC)
        return self._on_file(file_id, lambda file: file.reject_erasure(actor, reason, now))

    def put_legal_hold(self, actor: Actor, file_id: UUID, *, reason: str, reference: str,
                       case_id: str | None = None) -> dict[str, Any]:
        """Put the child's file, or one case of it, under legal hold (blocks erasure)."""
        self._file_in_area(actor, file_id)
        now = datetime.now(UTC)
        return self._on_file(file_id, lambda file: file.put_legal_hold(
            actor, reason=reason, reference=reference, case_id=case_id, now=now))

    def lift_legal_hold(self, actor: Actor, file_id: UUID, hold_id: str, reason: str
                        ) -> dict[str, Any]:
        self._file_in_area(actor, file_id)
        now = datetime.now(UTC)
        return self._on_file(file_id, lambda file: file.lift_legal_hold(
            actor, hold_id, reason, now))

    def subject_access(self, actor: Actor, file_id: UUID, reference: str) -> dict[str, Any]:
        """Everything held about the child (PIPL 查阅复制), for a guardian's lawful request:
        the file's details with their sources, every case's events and the monitoring
        record's events. The export itself is recorded on the file first."""
        self._file_in_area(actor, file_id)
        now = datetime.now(UTC)
        self._on_file(file_id, lambda file: file.record_subject_access(actor, reference, now))
        file = self._child_file(file_id)
        # Each area answers for its own records: cases outside the supervisor's area, and the
        # details they recorded, are counted, not shown (as on the child file). A supervisor
        # whose code covers them all exports them all.
        in_area = [case_id for case_id in file.case_ids
                   if access.covers(actor, self._case(UUID(case_id)).jurisdiction)]
        details = [d for d in file.details if d.case_id in {*in_area, ""}]  # "": imported
        cases = {case_id: [_event(e) for e in self.events.get(UUID(case_id))]
                 for case_id in in_area}
        try:
            record = self.monitoring(file_id)
            monitoring = [_event(e) for e in self.events.get(record.id)]
        except CaseNotFound:
            monitoring = []
        return {"format": "wardship-subject-access/1", "child_id": str(file_id),
                "reference": reference, "exported_at": now, "exported_by": actor.subject,
                "jurisdiction": file.jurisdiction, "category": file.category,
                "personal": newest_values(d.values for d in details),
                "details": [d.as_plain() for d in details], "cases": cases,
                "cases_elsewhere": len(file.case_ids) - len(in_area), "monitoring": monitoring}

    def privacy(self, actor: Actor, file_id: UUID) -> dict[str, Any]:
        """The file's erasure request, erasure and holds, for those who may see them."""
        if not access.may_read_erasures(actor):
            raise OutsideJurisdiction("the erasure record of a child file is read by "
                                      "inspectors and supervisors of its area")
        return self._privacy(self._file_in_area(actor, file_id))

    def erasures(self, actor: Actor) -> list[dict[str, Any]]:
        """The audit of every erasure in the actor's area, oldest first: what (files, cases,
        keys), when, requested and approved by whom, why."""
        if not access.may_read_erasures(actor):
            raise OutsideJurisdiction("the erasure audit is read by inspectors, admins and "
                                      "supervisors")
        found = []
        for notification in notifications_of(self.recorder, [get_topic(PersonalDataErased)]):
            event = self.mapper.to_domain_event(notification)
            file = self._child_file(event.originator_id)
            if access.covers(actor, file.jurisdiction):
                found.append({"child_id": str(event.originator_id),
                              "jurisdiction": file.jurisdiction,
                              "erased_at": event.occurred_at, "reason": event.reason,
                              "requested_by": event.requested_by,
                              "requested_at": event.requested_at,
                              "approved_by": event.approved_by,
                              "case_ids": list(event.case_ids),
                              "key_ids": list(event.key_ids),
                              "position": notification.id})
        return found

    def erasure_requests(self, actor: Actor) -> list[dict[str, Any]]:
        """The erasure requests waiting for a supervisor in the actor's area, oldest first:
        which file, asked when, by whom (`wardship`: retention ran out) and why."""
        if not access.may_read_erasures(actor):
            raise OutsideJurisdiction("erasure requests are read by inspectors, admins and "
                                      "supervisors")
        # A file's last request, rejection or erasure says whether a request waits: only the
        # files still asked for are loaded, not every file ever asked for.
        asked, decided = get_topic(ErasureRequested), [get_topic(ErasureRejected),
                                                       get_topic(PersonalDataErased)]
        last = {UUID(str(n.originator_id)): n
                for n in notifications_of(self.recorder, [asked, *decided])}
        waiting = []
        for file_id, position in ((f, n.id) for f, n in last.items() if n.topic == asked):
            file = self._child_file(file_id)
            request = file.erasure_request
            if request is not None and access.covers(actor, file.jurisdiction):
                waiting.append({"child_id": str(file_id), "jurisdiction": file.jurisdiction,
                                "reason": request["reason"],
                                "requested_by": request["requested_by"],
                                "requested_at": request["requested_at"],
                                "position": position})
        return sorted(waiting, key=lambda request: request["requested_at"])

    def reapply_erasures(self) -> int:
        """Destroy again every key an erasure in the log destroyed: after a restore from a
        backup taken before some erasures, or on a copy of the keys table. The number of
        erasures applied (destroying is idempotent)."""
        count = 0
        for event in self.erasures_in_log():
            self.finish_erasure(event)
            count += 1
        return count

    def finish_erasure(self, event: PersonalDataErased) -> None:
        """Destroy the keys a recorded erasure names, again or for the first time: the
        relay does it for every erasure in the log, so an approval whose process died
        between recording it and destroying the keys still ends with the keys destroyed."""
        self._shred(list(event.key_ids), list(event.case_ids))

    def erasures_in_log(self) -> Iterator[PersonalDataErased]:
        """Every erasure the log records, oldest first."""
        for notification in notifications_of(self.recorder, [get_topic(PersonalDataErased)]):
            yield cast("PersonalDataErased", self.mapper.to_domain_event(notification))

    def _file_in_area(self, actor: Actor, file_id: UUID) -> ChildFile:
        """The file, when the actor's area covers it: another area's file is refused before
        anything about it (its cases, holds, request) is judged or told."""
        file = self._child_file(file_id)
        if not access.covers(actor, file.jurisdiction):
            raise OutsideJurisdiction(f"no child file {file_id} in your area")
        return file

    def _on_file(self, file_id: UUID, command: Callable[[ChildFile], Any]) -> dict[str, Any]:
        def on_file(aggregate: Any) -> Any:
            if not isinstance(aggregate, ChildFile):
                raise OutsideJurisdiction(f"{file_id} is not a child file")
            return command(aggregate)

        self._child_file(file_id)  # CaseNotFound for no such file
        _, file, position = self.store.change(file_id, on_file)
        return {**self._privacy(file), "position": position}

    def _privacy(self, file: ChildFile) -> dict[str, Any]:
        return {"id": str(file.id), "jurisdiction": file.jurisdiction, **file.privacy_view()}

    def _no_open_case(self, actor: Actor, file: ChildFile) -> None:
        """Refuse while any case of the child is open (a case under hold refuses by its hold).
        The refusal names the open cases in the actor's area and counts the others."""
        cases = [self._case(UUID(c)) for c in file.case_ids]
        open_cases = [case for case in cases if case.stage != Stage.CLOSED]
        if open_cases:
            shown = [str(case.id) for case in open_cases
                     if access.covers(actor, case.jurisdiction)]
            hidden = len(open_cases) - len(shown)
            named = ", ".join(shown + ([f"{hidden} outside your area"] if hidden else []))
            raise ActionNotAllowed(ERASE, "-", [], f"the child has open cases ({named}); "
                                   "close them first")
        try:
            monitored = self.monitoring(file.id).is_monitored
        except CaseNotFound:
            monitored = False
        if monitored:
            raise ActionNotAllowed(ERASE, "-", [], "the child is in the monitoring ledger; "
                                   "stop monitoring first")

    def _all_sealed(self, file: ChildFile) -> None:
        """Refuse when some of the child's personal data was recorded before per-child keys:
        destroying the key would leave it readable, and the erasure would be a false record."""
        files = self._file_ids(file)
        ids = [*files, *(str(monitoring_id(f)) for f in files),
               *(c for f in files for c in self._child_file(UUID(f)).case_ids)]
        clear = sum(1 for aggregate_id in ids for event in self.events.get(UUID(aggregate_id))
                    if recorded_in_clear(event))
        if clear:
            raise ActionNotAllowed(ERASE, "-", [], f"{clear} records about this child were made "
                                   "before per-child keys and are under the shared key only: "
                                   "shredding cannot erase them until the store is resealed "
                                   "(`wardship reseal`, docs/privacy.md)")

    def _key_ids(self, file: ChildFile) -> list[str]:
        """The keys the file's personal data is under: its own and its monitoring record's,
        and those of every file merged into it (their cases' events are under them)."""
        files = self._file_ids(file)
        return [*files, *(str(monitoring_id(f)) for f in files)]

    def _file_ids(self, file: ChildFile) -> list[str]:
        """The file's id and those of every file merged into it, however deep."""
        files: list[str] = []
        todo = [str(file.id)]
        while todo:
            file_id = todo.pop()
            if file_id not in files:
                files.append(file_id)
                todo.extend(self._child_file(UUID(file_id)).merged_from)
        return files

    def _shred(self, key_ids: list[str], case_ids: list[str]) -> None:
        """Destroy the keys, forget every aggregate this process holds that read them (other
        processes forget them when they hear of the destroy: domain.key_listener), and tell
        `on_shred`."""
        self.keyring.destroy(key_ids)
        # The key ids are the files' and monitoring records' own ids.
        self.store.forget([*key_ids, *case_ids])
        for told in self.on_shred:
            told([*key_ids, *case_ids])


def _event(event: Any) -> dict[str, Any]:
    """One event as the export gives it: its kind, version and fields, the seal left out."""
    fields = {k: v for k, v in vars(event).items()
              if k not in ("seal", "originator_id", "prev_hash", "hash")}
    return {"kind": type(event).__name__, **plain(fields)}

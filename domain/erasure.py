"""Erasure of a child's personal data (crypto-shredding) and legal holds, on the child file.

An erasure is requested, then approved by a supervisor who did not request it; it is refused
while a hold stands or a case of the child is open (the application checks the cases). The
approval is recorded first (`PersonalDataErased`), then the keys are destroyed
(`domain.keyring`): every event stays, readable for its actions, dates and actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 (event field types are read at class creation)
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain import access
from domain.errors import ActionNotAllowed, ApprovalRefused, InvalidCommand

if TYPE_CHECKING:
    from domain.actors import Actor
    from domain.codes import Role

ERASE = "erase_personal_data"
# The file's privacy actions (`POST /v1/children/{id}/actions`) and the roles that may send
# them; each command also checks that the caller's area covers the file.
PRIVACY_ROLES: dict[str, frozenset[Role]] = {
    ERASE: access.WRITERS,
    "approve": access.ERASURE_APPROVERS,
    "reject": access.ERASURE_APPROVERS,
    "place_legal_hold": access.HOLD_KEEPERS,
    "lift_legal_hold": access.HOLD_KEEPERS,
}


@dataclass(frozen=True)
class Hold:
    """A legal hold: why, under which reference (court case, inquiry), by whom, on which case
    (None: the whole file)."""

    hold_id: str
    case_id: str | None
    reason: str
    reference: str
    put_by: str
    put_at: datetime


class ErasureRequested(Aggregate.Event):
    """Someone asked for the child's personal data to be erased (a lawful request, retention)."""

    reason: str
    requested_by: str
    occurred_at: datetime
    command_id: str | None

    def apply(self, aggregate: Any) -> None:
        aggregate.erasure_request = {"reason": self.reason, "requested_by": self.requested_by,
                                     "requested_at": self.occurred_at,
                                     "command_id": self.command_id}


class ErasureRejected(Aggregate.Event):
    """A supervisor rejected the erasure request, with a reason."""

    reason: str
    rejected_by: str
    occurred_at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.erasure_request = None


class PersonalDataErased(Aggregate.Event):
    """A supervisor approved the erasure: the keys named here are destroyed, and with them the
    child's personal fields in every event of these files and cases."""

    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str
    occurred_at: datetime
    key_ids: list[str]
    case_ids: list[str]

    def apply(self, aggregate: Any) -> None:
        aggregate.erasure_request = None
        aggregate.erased = {"reason": self.reason, "requested_by": self.requested_by,
                            "requested_at": self.requested_at, "approved_by": self.approved_by,
                            "erased_at": self.occurred_at, "key_ids": list(self.key_ids),
                            "case_ids": list(self.case_ids)}


class LegalHoldPut(Aggregate.Event):
    """An inspector or supervisor put the file, or one case of it, under legal hold."""

    hold_id: str
    case_id: str | None
    reason: str
    reference: str
    put_by: str
    occurred_at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.holds = {**aggregate.holds, self.hold_id: Hold(
            self.hold_id, self.case_id, self.reason, self.reference, self.put_by,
            self.occurred_at)}


class LegalHoldLifted(Aggregate.Event):
    """An inspector or supervisor lifted a legal hold, with a reason."""

    hold_id: str
    reason: str
    lifted_by: str
    occurred_at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.holds = {k: v for k, v in aggregate.holds.items() if k != self.hold_id}


class SubjectAccessExported(Aggregate.Event):
    """A supervisor exported everything held about the child for a lawful request
    (查阅复制): who, when, under which reference."""

    reference: str
    exported_by: str
    occurred_at: datetime

    def apply(self, aggregate: Any) -> None:
        """Changes nothing: the export is on record."""


class FilePrivacy:
    """The child file's erasure and legal-hold commands (mixed into ChildFile)."""

    if TYPE_CHECKING:  # the child file's own state and method
        id: Any
        jurisdiction: str
        case_ids: list[str]
        merged_into: str | None
        erasure_request: dict[str, Any] | None
        erased: dict[str, Any] | None
        holds: dict[str, Hold]

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def request_erasure(self, actor: Actor, reason: str, now: datetime,
                        command_id: str | None = None) -> bool:
        """Ask for erasure; False when this command was recorded before."""
        if not access.may_request_erasure(actor, self.jurisdiction):
            raise ActionNotAllowed(ERASE, "-", [], "erasure is requested by a caseworker or "
                                   "supervisor whose area covers the child's file")
        if self.erasure_request is not None and command_id is not None \
                and self.erasure_request.get("command_id") == command_id:
            return False
        self._erasable(actor)
        if self.erasure_request is not None:
            raise InvalidCommand("an erasure request is already waiting for approval")
        if not reason.strip():
            raise InvalidCommand("'reason' must say why (the lawful request, or retention)")
        self.trigger_event(ErasureRequested, reason=reason, requested_by=actor.subject,
                           occurred_at=now, command_id=command_id)
        return True

    def approve_erasure(self, actor: Actor, now: datetime, key_ids: list[str]) -> None:
        """Approve the waiting request (not your own); the caller destroys `key_ids` once the
        approval is saved."""
        request = self._waiting(actor)
        if request["requested_by"] == actor.subject:
            raise ApprovalRefused("you requested this erasure; another supervisor approves it")
        self._erasable(actor)
        self.trigger_event(PersonalDataErased, reason=request["reason"],
                           requested_by=request["requested_by"],
                           requested_at=request["requested_at"], approved_by=actor.subject,
                           occurred_at=now, key_ids=key_ids, case_ids=list(self.case_ids))

    def reject_erasure(self, actor: Actor, reason: str, now: datetime) -> None:
        self._waiting(actor)
        if not reason.strip():
            raise InvalidCommand("'reason' must say why the erasure is rejected")
        self.trigger_event(ErasureRejected, reason=reason, rejected_by=actor.subject,
                           occurred_at=now)

    def put_legal_hold(self, actor: Actor, *, reason: str, reference: str,
                       case_id: str | None, now: datetime) -> str:
        """Put the file (or one of its cases) under legal hold; the hold's id."""
        if not access.may_hold(actor, self.jurisdiction):
            raise ActionNotAllowed("put_legal_hold", "-", [], "legal holds are put by an "
                                   "inspector or supervisor whose area covers the file")
        if not reason.strip() or not reference.strip():
            raise InvalidCommand("a legal hold needs a 'reason' and a 'reference' (the court "
                                 "case or inquiry)")
        if case_id is not None and case_id not in self.case_ids:
            raise InvalidCommand(f"case {case_id} is not one of this child's cases")
        hold_id = f"hold-{len(self.holds) + 1}-{int(now.timestamp())}"
        self.trigger_event(LegalHoldPut, hold_id=hold_id, case_id=case_id, reason=reason,
                           reference=reference, put_by=actor.subject, occurred_at=now)
        return hold_id

    def lift_legal_hold(self, actor: Actor, hold_id: str, reason: str, now: datetime) -> None:
        if not access.may_hold(actor, self.jurisdiction):
            raise ActionNotAllowed("lift_legal_hold", "-", [], "legal holds are lifted by an "
                                   "inspector or supervisor whose area covers the file")
        if hold_id not in self.holds:
            raise InvalidCommand(f"no legal hold {hold_id!r} stands on this file")
        if not reason.strip():
            raise InvalidCommand("'reason' must say why the hold is lifted")
        self.trigger_event(LegalHoldLifted, hold_id=hold_id, reason=reason,
                           lifted_by=actor.subject, occurred_at=now)

    def record_subject_access(self, actor: Actor, reference: str, now: datetime) -> None:
        """Record that a supervisor of the area exports the child's data for a request."""
        if not access.may_approve_erasure(actor, self.jurisdiction):
            raise ActionNotAllowed("subject_access", "-", [], "a subject access export is "
                                   "produced by a supervisor whose area covers the file")
        if not reference.strip():
            raise InvalidCommand("'reference' must name the guardian's request")
        if self.erased is not None:
            raise InvalidCommand("this child's personal data is erased: nothing to export")
        self.trigger_event(SubjectAccessExported, reference=reference,
                           exported_by=actor.subject, occurred_at=now)

    def privacy_view(self) -> dict[str, Any]:
        """The erasure request, the erasure and the standing holds (no personal data)."""
        return {"erasure_request": self.erasure_request, "erased": self.erased,
                "holds": [vars(hold) for hold in self.holds.values()]}

    def _waiting(self, actor: Actor) -> dict[str, Any]:
        if not access.may_approve_erasure(actor, self.jurisdiction):
            raise ApprovalRefused("erasure is approved or rejected by a supervisor whose area "
                                  "covers the child's file")
        if self.erasure_request is None:
            raise ApprovalRefused("no erasure request is waiting on this file")
        return self.erasure_request

    def _erasable(self, actor: Actor) -> None:
        if self.erased is not None:
            raise InvalidCommand("this child's personal data is already erased")
        if self.merged_into is not None:
            raise InvalidCommand(f"this file was merged into {self.merged_into}; erase that "
                                 "file (its erasure covers this one)")
        if self.holds:
            # The references (court cases, inquiries) only for those who read the holds.
            refs = (": " + ", ".join(f"{h.reference} ({h.hold_id})" for h in self.holds.values())
                    if access.may_read_erasures(actor) else "; ask a supervisor of the area")
            raise ActionNotAllowed(ERASE, "-", [], f"the file is under legal hold{refs}")

"""Domain errors: each names what was wrong and what the caller can do instead."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal by the domain; `code` is stable for API clients."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionNotAllowed(DomainError):
    """The action is not allowed in the case's current stage (or for this role)."""

    code = "action_not_allowed"

    def __init__(self, action: str, stage: str, allowed: list[str], reason: str = "") -> None:
        why = reason or f"'{action}' is not allowed in stage '{stage}'"
        super().__init__(f"{why}; allowed now: {', '.join(allowed) or 'none'}")
        self.action = action
        self.stage = stage
        self.allowed = allowed


class LegalGroundRequired(DomainError):
    """Guardianship and court petitions need a ground of the right article."""

    code = "legal_ground_required"


class ApprovalRequired(DomainError):
    """A gated decision was attempted before a supervisor approved it."""

    code = "approval_required"


class ApprovalRefused(DomainError):
    """Approving or rejecting was refused (self-approval, wrong role, nothing pending)."""

    code = "approval_refused"


class OutsideJurisdiction(DomainError):
    """The act reaches beyond the actor's area (a transfer, a merge of child files)."""

    code = "outside_jurisdiction"


class InvalidCommand(DomainError):
    """A command's values are wrong (unknown code, future time, missing field)."""

    code = "invalid_command"


class CaseNotFound(DomainError):
    """No case with that id exists."""

    code = "case_not_found"


class ContactNotFound(DomainError):
    """No contact with that id is on duty (or none the caller may manage)."""

    code = "contact_not_found"


class VersionConflict(DomainError):
    """The case changed since the caller read it."""

    code = "version_conflict"


class StaleVersion(VersionConflict):
    """The caller expected another version than the case's (an HTTP If-Match that failed)."""


class PolicyError(DomainError):
    """The deadline policy file is invalid; the message says where and why."""

    code = "policy_invalid"


class StoreUnavailable(Exception):
    """The event store did not answer in time (down, or the writer is stuck).

    Not a DomainError: it is no refusal, and retrying later may well succeed.
    """

    code = "database_unavailable"


class DeadlineNotDue(DomainError):
    """A miss or an escalation was asked for at a time before the deadline's due time."""

    code = "deadline_not_due"

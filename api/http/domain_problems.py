"""Domain refusals as problem details: one status per stable domain error code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.http.problems import Problem
from domain.errors import ActionNotAllowed

if TYPE_CHECKING:
    from domain.errors import DomainError

STATUS = {
    "action_not_allowed": 409,
    "approval_required": 409,
    "approval_refused": 409,
    "version_conflict": 409,
    "legal_ground_required": 422,
    "invalid_command": 422,
    "case_not_found": 404,
    "contact_not_found": 404,
    "outside_jurisdiction": 403,
    # The case runs under a policy this server lacks: a deployment matter, not the caller's.
    "policy_invalid": 503,
}
TITLES = {
    "action_not_allowed": "The action is not allowed now",
    "approval_required": "A supervisor's approval is needed first",
    "approval_refused": "The approval step was refused",
    "version_conflict": "The case changed at the same moment",
    "legal_ground_required": "A legal ground is required",
    "invalid_command": "The command's values are not valid",
    "case_not_found": "No such case",
    "contact_not_found": "No such contact",
    "outside_jurisdiction": "Outside your jurisdiction",
    "policy_invalid": "The case's deadline policy is not installed",
}


def case_not_found(case_id: object) -> Problem:
    """The same 404 for a missing case and for one the caller may not see."""
    return Problem(404, "case_not_found", TITLES["case_not_found"], f"no case {case_id}")


def child_not_found(child_id: object) -> Problem:
    """The same 404 for a missing child file and for one outside the caller's area."""
    return Problem(404, "child_not_found", "No such child file", f"no child file {child_id}")


def domain_problem(error: DomainError) -> Problem:
    """The problem details answering a domain refusal."""
    status = STATUS.get(error.code, 409)
    if isinstance(error, ActionNotAllowed):
        return Problem(status, error.code, TITLES[error.code], error.message,
                       stage=error.stage, allowed_actions=error.allowed)
    return Problem(status, error.code, TITLES.get(error.code, "Refused"), error.message)

"""Plain-value views of a case, the shape every command and query answers with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.case_state import as_plain

if TYPE_CHECKING:
    from domain.actors import Actor
    from domain.case import ProtectionCase
    from domain.deadlines import Deadline


def deadline_view(deadline: Deadline) -> dict[str, Any]:
    return {
        "id": deadline.id, "kind": deadline.kind, "due_at": deadline.due_at,
        "status": deadline.status.value, "stage": deadline.stage, "ref": deadline.ref,
        "closed_at": deadline.closed_at,
    }


def case_view(case: ProtectionCase, actor: Actor | None = None) -> dict[str, Any]:
    """The case as the API answers it: ids, stage, grade, version, deadlines, actions."""
    return {
        "id": str(case.id),
        "child_id": case.child_id,
        "jurisdiction": case.jurisdiction,
        "stage": case.stage,
        "grade": case.grade,
        "assignee": case.assignee,
        "version": case.version,
        "policy_version": case.policy_version,
        "opened_at": case.opened_at,
        "opened_by": case.opened_by,
        "deadlines": [
            deadline_view(d) for d in sorted(case.deadlines.values(), key=lambda d: d.due_at)
        ],
        "approvals": {k: as_plain(v) for k, v in case.approvals.items()},
        "referrals": {k: as_plain(v) for k, v in case.referrals.items()},
        "services": {k: as_plain(v) for k, v in case.services.items()},
        "temporary_guardianship": case.temporary_guardianship,
        "long_term_guardianship": case.long_term_guardianship,
        "closed_reason": case.closed_reason,
        "allowed_actions": case.allowed_actions(actor),
    }

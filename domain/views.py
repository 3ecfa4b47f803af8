"""Plain-value views of a case and of a monitoring record, the shapes commands and queries
answer with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.case_state import as_plain

if TYPE_CHECKING:
    from datetime import datetime

    from domain.actors import Actor
    from domain.case import ProtectionCase
    from domain.deadlines import Deadline
    from domain.monitoring import MonitoringRecord


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


def monitoring_view(
    record: MonitoringRecord, actor: Actor | None, now: datetime, *, personal: bool = True
) -> dict[str, Any]:
    """A monitored child's record as the API answers it: risk, visits, agreement, deadlines,
    and (for those who may read them) the guardian and caregiver."""
    visit = record.next_visit()
    return {
        "id": str(record.id),
        "child_id": record.file_id,
        "jurisdiction": record.jurisdiction,
        "status": record.stage,
        "category": record.category,
        "risk_level": record.risk_level,
        "risk_reason": record.risk_reason,
        "version": record.version,
        "policy_version": record.policy_version,
        "started_at": record.started_at,
        "started_by": record.started_by,
        "assignee": record.assignee,
        "visits": record.visits,
        "last_visit_at": record.last_visit_at,
        "next_visit_due": visit.due_at if visit and record.is_monitored else None,
        "visit_overdue": bool(visit and record.is_monitored and visit.due_at <= now),
        "last_review_at": record.last_review_at,
        "care_agreement": record.care_agreement,
        "case_ids": list(record.case_ids),
        "stopped_reason": record.stopped_reason,
        "guardian": record.guardian if personal else None,
        "caregiver": record.caregiver if personal else None,
        "deadlines": [
            deadline_view(d) for d in sorted(record.deadlines.values(), key=lambda d: d.due_at)
        ],
        "allowed_actions": record.allowed_actions(actor),
    }

"""Request and answer bodies of the monitoring routes (台账): one request schema per action of
`domain.monitoring_actions`, the monitoring record's view and the ledger page."""

from __future__ import annotations

from datetime import date, datetime  # noqa: TC003 (pydantic reads annotations at run time)
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.routes.answers import Position  # noqa: TC001 (pydantic reads it at run time)
from api.routes.case_models import DeadlineView, Name, Occurred, Required, Strict, Text
from domain.codes import (  # noqa: TC001 (pydantic reads annotations at run time)
    ChildCategory,
    ConcernCategory,
    GuardianshipCapacity,
    RiskLevel,
)

# The child's village (12 digits) or township (9 digits).
LocalCode = Annotated[str, StringConstraints(pattern=r"^\d{9}(\d{3})?$")]
Phone = Annotated[str, StringConstraints(max_length=40)]


class Person(Strict):
    """A guardian or entrusted caregiver (personal data, encrypted at rest)."""

    name: Name
    relation: Name = Field(description="to the child, e.g. grandmother, aunt, father")
    phone: Phone | None = None


class MonitoringAction(Strict):
    """Fields every monitoring action has: its name and when it happened (default: now)."""

    action: str
    occurred_at: Occurred = None

    def params(self) -> dict[str, Any]:
        """The command's keyword fields, as the domain takes them."""
        return self.model_dump(mode="json", exclude={"action", "occurred_at"})


class StartMonitoring(MonitoringAction):
    """`start_monitoring` (纳入台账): the child enters the ledger."""

    action: Literal["start_monitoring"]
    jurisdiction: LocalCode
    category: ChildCategory
    risk_level: RiskLevel
    risk_reason: Required
    guardian: Person
    caregiver: Person | None = None


class RecordVisit(MonitoringAction):
    """`record_visit` (定期走访): what the visit found; optionally a new risk level."""

    action: Literal["record_visit"]
    child_seen: bool
    living_situation: Required
    guardian_capacity: GuardianshipCapacity
    findings: Text = ""
    risk_level: RiskLevel | None = None
    risk_reason: Required | None = None


class SetRiskLevel(MonitoringAction):
    """`set_risk_level`: a new guardianship risk level and the reason for it."""

    action: Literal["set_risk_level"]
    risk_level: RiskLevel
    risk_reason: Required


class RecordCareAgreement(MonitoringAction):
    """`record_care_agreement` (书面照护协议): the entrusted caregiver and the period."""

    action: Literal["record_care_agreement"]
    caregiver: Person
    starts_on: date
    ends_on: date


class ReviewFile(MonitoringAction):
    """`review_file` (台账复核): the township child supervisor's quarterly review."""

    action: Literal["review_file"]
    findings: Text = ""


class RaiseConcern(MonitoringAction):
    """`raise_concern`: opens a discovery case on this child's file (source: home visit)."""

    action: Literal["raise_concern"]
    categories: Annotated[list[ConcernCategory], Field(min_length=1, max_length=13)]
    summary: Required
    danger_now: bool = False


class StopMonitoring(MonitoringAction):
    """`stop_monitoring` (退出台账): the child leaves the ledger."""

    action: Literal["stop_monitoring"]
    reason: Required


MONITORING_BODIES: tuple[type[MonitoringAction], ...] = (
    StartMonitoring, RecordVisit, SetRiskLevel, RecordCareAgreement, ReviewFile, RaiseConcern,
    StopMonitoring,
)


class PersonView(BaseModel):
    """A guardian or caregiver as recorded."""

    name: str
    relation: str
    phone: str | None


class MonitoringView(BaseModel):
    """A monitored child's record: risk, visits, agreement, deadlines and the people."""

    id: str
    child_id: str
    jurisdiction: str
    status: Literal["monitoring", "ended"]
    category: ChildCategory
    risk_level: RiskLevel
    risk_reason: str
    version: int
    policy_version: str
    started_at: datetime
    started_by: str
    assignee: str | None = Field(description="the child director who last visited")
    visits: int
    last_visit_at: datetime | None
    next_visit_due: datetime | None
    visit_overdue: bool
    last_review_at: datetime | None
    care_agreement: dict[str, date] | None
    case_ids: list[str] = Field(description="discovery cases opened by concerns")
    stopped_reason: str | None
    guardian: PersonView | None
    caregiver: PersonView | None
    deadlines: list[DeadlineView]
    allowed_actions: list[str]
    position: Position


class LedgerItem(BaseModel):
    """One monitored child in the ledger (no personal data: read the file for names)."""

    child_id: str
    jurisdiction: str
    category: ChildCategory
    risk_level: RiskLevel
    status: Literal["monitoring", "ended"]
    started_at: datetime
    last_visit_at: datetime | None
    visits: int
    next_visit_due: datetime | None
    visit_overdue: bool


class LedgerPage(BaseModel):
    """A page of the ledger, the children most recently taken in first."""

    items: list[LedgerItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    position: Position

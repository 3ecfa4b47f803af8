"""Request and answer bodies of the case routes, checked strictly.

Unknown fields, wrong codes, times without an offset and future `occurred_at` are refused
with 422 before anything reaches the domain.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from api.routes.params import NO_NUL_PATTERN, SOME_TEXT_PATTERN
from domain.actors import CLOCK_SKEW
from domain.child import resident_id_is_valid
from domain.codes import (
    PROVINCES,
    ApprovalSubject,
    AssessmentOutcome,
    AssistanceOutcome,
    ChildCategory,
    ConcernCategory,
    Entry,
    Grade,
    GuardianshipCapacity,
    InterventionOutcome,
    LegalGround,
    Partner,
    Placement,
    Sex,
    SourceChannel,
)


def _storable(value: str) -> str:
    # NUL and lone surrogates cannot be stored or encoded as UTF-8: refuse them as input.
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _not_blank(value: str) -> str:
    # The domain refuses a name or reason of spaces alone; the schema says so by its pattern.
    if not value.strip():
        raise ValueError("write some text: spaces alone are blank")
    return value


# The schemas state what `_storable`, `_not_blank` and `_in_range` refuse, so that clients
# keep within them.
NO_NUL = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
SOME_TEXT = Field(json_schema_extra={"pattern": SOME_TEXT_PATTERN})
Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_storable), NO_NUL]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable),
    AfterValidator(_not_blank), SOME_TEXT,
]
Required = Annotated[
    str, StringConstraints(min_length=1, max_length=10_000, strip_whitespace=False),
    AfterValidator(_storable), AfterValidator(_not_blank), SOME_TEXT,
]
# 2, 4, 6, 9 or 12 digits under one of the 34 provinces.
def _resident_id(value: str) -> str:
    if value and not resident_id_is_valid(value.upper()):
        raise ValueError("not a valid 18-character resident ID number (GB 11643 check "
                         "character); leave it empty if unknown")
    return value


# The child's resident ID number (GB 11643): 17 digits and a check character, which is
# verified (a wrong one is a 422); the schema names the format, as no pattern can check it.
ResidentId = Annotated[
    str, StringConstraints(pattern=r"^([0-9]{17}[0-9Xx])?$"),
    Field(json_schema_extra={"format": "cn-resident-id"}), AfterValidator(_resident_id)]
DivisionCode = Annotated[str, StringConstraints(
    pattern=rf"^({'|'.join(sorted(PROVINCES))})(\d{{2}}|\d{{4}}|\d{{7}}|\d{{10}})?$")]


def _in_range(value: datetime) -> datetime:
    # Deadline arithmetic near datetime.min/max overflows: keep times to plausible years.
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"times must fall in the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    return value


def _not_future(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("occurred_at is in the future; record what has happened")
    return value


def _years(first: int, last: int) -> dict[str, Any]:
    """A `pattern` for times whose (four-digit) year is `first` to `last`."""
    years, year = [], first
    while year <= last:
        step = next(s for s in (100, 10, 1) if year % s == 0 and year + s - 1 <= last)
        digits = {100: "[0-9]{2}", 10: "[0-9]", 1: ""}[step]
        years.append(f"{year // step}{digits}")
        year += step
    return {"pattern": f"^({'|'.join(years)})-"}


def _written(value: object) -> object:
    # Pydantic also reads a number as a unix time; the schema says a time is RFC 3339 text.
    if isinstance(value, int | float):
        raise ValueError("write the time as RFC 3339 text, e.g. 2026-11-20T09:00:00+08:00")
    return value


EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
Moment = Annotated[AwareDatetime, BeforeValidator(_written), AfterValidator(_in_range), Field(
    description=f"with a UTC offset, in the years {EARLIEST_YEAR}-{LATEST_YEAR}",
    json_schema_extra=_years(EARLIEST_YEAR, LATEST_YEAR))]
# "Not in the future" moves with the clock; the schema promises the years surely past.
Occurred = Annotated[Annotated[
    AwareDatetime, BeforeValidator(_written), AfterValidator(_in_range), Field(
        description="with a UTC offset, not in the future; default now",
        json_schema_extra=_years(EARLIEST_YEAR, datetime.now(UTC).year - 1))] | None,
    AfterValidator(_not_future)]


class Strict(BaseModel):
    """Refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


# --- opening a case ----------------------------------------------------------------------


class Child(Strict):
    """The child's personal data (encrypted at rest) and welfare category."""

    name: Name
    sex: Sex = Sex.UNKNOWN
    birth_date: date | None = None
    id_number: ResidentId | None = None
    category: ChildCategory = ChildCategory.OTHER
    address: Text | None = None
    phone: Annotated[
        str, StringConstraints(max_length=40), AfterValidator(_storable), NO_NUL] | None = None


class Concern(Strict):
    """What the concern is about, and whether the child is in danger now."""

    categories: Annotated[list[ConcernCategory], Field(min_length=1, max_length=13)]
    summary: Text = ""
    danger_now: bool = False


class Reporter(Strict):
    """Who reported (personal data, encrypted at rest)."""

    name: Text | None = None
    organisation: Text | None = None
    phone: Annotated[
        str, StringConstraints(max_length=40), AfterValidator(_storable), NO_NUL] | None = None
    mandatory: bool = False


class Source(Strict):
    """How the concern reached the service."""

    channel: SourceChannel
    reporter: Reporter | None = None


class OpenCase(Strict):
    """`POST /v1/cases`: a concern entering at discovery or report."""

    entry: Entry
    jurisdiction: DivisionCode
    child: Child
    concern: Concern
    source: Source
    occurred_at: Occurred = None


# --- actions -----------------------------------------------------------------------------


class Action(Strict):
    """Fields every action has: its name and when it happened (default: now)."""

    action: str
    occurred_at: Occurred = None

    def params(self) -> dict[str, Any]:
        """The command's keyword fields, as the domain takes them."""
        return self.model_dump(exclude={"action", "occurred_at"})


class FileReport(Action):
    action: Literal["file_report"]
    danger_now: bool = False
    summary: Text = ""


class Dismiss(Action):
    action: Literal["dismiss"]
    reason: Required


class AcceptReport(Action):
    action: Literal["accept_report"]
    grade: Grade
    assignee: Name


class ScreenOut(Action):
    action: Literal["screen_out"]
    reason: Required
    referral: Text | None = None


class DispatchResponse(Action):
    action: Literal["dispatch_response"]
    responders: Annotated[list[Name], Field(min_length=1, max_length=20)]


class PlaceChild(Action):
    action: Literal["place_child"]
    placement: Placement
    ground: LegalGround | None = None


class CompleteEmergency(Action):
    action: Literal["complete_emergency"]
    summary: Text = ""


class RecordAssessment(Action):
    action: Literal["record_assessment"]
    guardianship_capacity: GuardianshipCapacity
    grade: Grade | None = None
    needs: Annotated[list[Name], Field(max_length=50)] = []
    summary: Text = ""


class CompleteAssessment(Action):
    action: Literal["complete_assessment"]
    outcome: AssessmentOutcome


class PlannedService(Strict):
    """One service of an assistance plan, delivered by its due time."""

    type: Name
    provider: Text = ""
    due_at: Moment


class CreatePlan(Action):
    action: Literal["create_plan"]
    services: Annotated[list[PlannedService], Field(min_length=1, max_length=50)]


class DeliverService(Action):
    action: Literal["deliver_service"]
    service_id: Name
    note: Text = ""


class RecordVisit(Action):
    action: Literal["record_visit"]
    child_seen: bool
    findings: Text = ""


class SignCareAgreement(Action):
    action: Literal["sign_care_agreement"]
    caregiver: Name
    period_start: date
    period_end: date

    def params(self) -> dict[str, Any]:
        return {"caregiver": self.caregiver, "period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat()}


class RecordGuardianContact(Action):
    action: Literal["record_guardian_contact"]
    channel: Text = ""
    note: Text = ""


class CompleteAssistance(Action):
    action: Literal["complete_assistance"]
    outcome: AssistanceOutcome


class AdmonishGuardian(Action):
    action: Literal["admonish_guardian"]
    note: Text = ""


class OrderFamilyEducation(Action):
    action: Literal["order_family_education"]
    note: Text = ""


class StartTemporaryGuardianship(Action):
    action: Literal["start_temporary_guardianship"]
    ground: LegalGround
    placement: Placement


class PetitionCourt(Action):
    action: Literal["petition_court"]
    ground: LegalGround
    summary: Text = ""


class RecordCourtDecision(Action):
    action: Literal["record_court_decision"]
    decision: Required
    summary: Text = ""


class StartLongTermGuardianship(Action):
    action: Literal["start_long_term_guardianship"]
    ground: LegalGround


class ReviewGuardianship(Action):
    action: Literal["review_guardianship"]
    findings: Text = ""


class EndIntervention(Action):
    action: Literal["end_intervention"]
    outcome: InterventionOutcome


class Assign(Action):
    action: Literal["assign"]
    assignee: Name


class AddNote(Action):
    action: Literal["add_note"]
    text: Required


class Refer(Action):
    action: Literal["refer"]
    partner: Partner
    reason: Text = ""
    due_at: Moment | None = None


class RecordReferralResponse(Action):
    action: Literal["record_referral_response"]
    referral_id: Name
    response: Required


class Escalate(Action):
    action: Literal["escalate"]
    grade: Literal[Grade.RED, Grade.ORANGE] = Grade.RED
    reason: Required


class TransferJurisdiction(Action):
    action: Literal["transfer_jurisdiction"]
    jurisdiction: DivisionCode


class Close(Action):
    action: Literal["close"]
    reason: Required
    outcome: Text = ""


class ReviewCase(Action):
    action: Literal["review_case"]
    findings: Text = ""


class Reopen(Action):
    action: Literal["reopen"]
    reason: Required
    danger_now: bool = False


class RequestApproval(Action):
    action: Literal["request_approval"]
    subject: ApprovalSubject
    reason: Text = ""


class Approve(Action):
    action: Literal["approve"]
    subject: ApprovalSubject
    reason: Text = ""


class Reject(Action):
    action: Literal["reject"]
    subject: ApprovalSubject
    reason: Required


def _action_union() -> Any:
    """Every `Action` subclass above, one per action, discriminated by its `action` field."""
    models = tuple(Action.__subclasses__())
    return Annotated[Union[models], Field(discriminator="action")]  # noqa: UP007


# The request body of `POST /v1/cases/{id}/actions`: adding a class above adds it here.
ActionBody = _action_union()


# --- answers -----------------------------------------------------------------------------


class DeadlineView(BaseModel):
    """One deadline of a case; `kind` is its key in the policy file."""

    id: str
    kind: str
    due_at: datetime
    status: Literal["open", "met", "missed", "cancelled"]
    stage: str | None
    ref: str | None
    closed_at: datetime | None


class CaseView(BaseModel):
    """The case as every case route answers it; `allowed_actions` are the caller's."""

    id: str
    child_id: str
    jurisdiction: str
    stage: str
    grade: Grade | None
    assignee: str | None
    version: int
    policy_version: str
    opened_at: datetime | None
    opened_by: str
    deadlines: list[DeadlineView]
    approvals: dict[str, dict[str, Any]]
    referrals: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    temporary_guardianship: str | None
    long_term_guardianship: str | None
    closed_reason: str | None
    allowed_actions: list[str]
    position: int | None = Field(
        default=None, description="log position of this write (commands only), for X-Min-Position")

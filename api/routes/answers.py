"""Answer bodies of the read and inspection routes, as `/openapi.json` declares them.

Most of these routes send plain dicts through orjson, so for them the models only document
the shape; routes that return a dict to FastAPI are also checked against theirs.
"""

from __future__ import annotations

from datetime import date, datetime  # noqa: TC003 (pydantic reads annotations at run time)
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.routes.case_models import CaseView, DeadlineView
from domain.codes import (  # noqa: TC001 (pydantic reads annotations at run time)
    ChildCategory,
    Grade,
    Sex,
    SourceChannel,
    Stage,
)
from domain.erasure import Hold  # noqa: TC001 (pydantic reads annotations at run time)

Position = Annotated[int, Field(
    description="log position the answer includes (for X-Min-Position)")]


# --- GET /v1/cases -----------------------------------------------------------------------


class CaseSummary(BaseModel):
    """One case in the case list."""

    id: str
    child_id: str
    jurisdiction: str
    stage: Stage
    grade: Grade | None
    assignee: str | None
    child_category: ChildCategory
    source_channel: SourceChannel
    opened_at: datetime
    updated_at: datetime
    version: int
    next_due_at: datetime | None = Field(description="the earliest open deadline")
    overdue: bool | None = Field(description="an open deadline is past due or escalating; "
                                             "null when the case has no open deadline")


class CasePage(BaseModel):
    """A page of the case list, newest first."""

    items: list[CaseSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    position: Position


# --- GET /v1/deadlines -------------------------------------------------------------------


class BoardDeadline(BaseModel):
    """One deadline on the board, with its case's jurisdiction, grade and lead."""

    case_id: str
    id: str
    kind: str
    stage: Stage | None
    ref: str | None
    due_at: datetime
    opened_at: datetime
    status: Literal["open", "met", "missed", "cancelled"]
    closed_at: datetime | None
    resolved_at: datetime | None = Field(description="when a missed deadline was put right")
    jurisdiction: str
    grade: Grade | None
    assignee: str | None
    overdue: bool


class Unattended(BaseModel):
    """A jurisdiction notices were addressed to with nobody of its own on duty (无人值守)."""

    jurisdiction: str
    covered_by: str | None = Field(
        description="the nearest covering code whose contacts receive its notices instead "
                    "(null: nobody on duty all the way up)")
    label: str = Field(examples=["无人值守: 511102001"])


class DeadlineBoard(BaseModel):
    """A page of deadlines, earliest due first, and the gaps in the contact directory."""

    items: list[BoardDeadline]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    position: Position
    unattended: list[Unattended] = Field(
        description="jurisdictions under the caller's code that were sent notices but have "
                    "nobody on duty in the contact directory")


# --- /v1/notifications -------------------------------------------------------------------


class Notification(BaseModel):
    """An escalation (or a handover of a case to another area: `kind` "handover", no
    deadline; or a pattern alarm about a child: `kind` the rule's name, no deadline)
    addressed to a supervisor's code; `position` is its SSE event id."""

    id: str
    position: int
    case_id: str | None = Field(description="the case; for a pattern alarm, the case whose "
                                "report raised it (null when a risk level's rise did)")
    deadline_id: str | None
    kind: str
    due_at: datetime | None
    level: int
    recipient_jurisdiction: str
    assignee: str | None
    case_jurisdiction: str
    recorded_at: datetime
    deliveries: dict[str, Literal["delivered", "failed", "held"]] = Field(
        description="outcome by delivery target (`<channel type>:<contact id>:<index>`); "
                    '`{"digest": "held"}` while it waits for the morning digest')
    delivery: Literal["pending", "delivered", "failed", "held"]
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class Inbox(BaseModel):
    """A page of the caller's notifications, newest first."""

    items: list[Notification]
    position: Position
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


class Acknowledged(BaseModel):
    """A notification acknowledged; `recorded` is false when it already was."""

    id: str
    acknowledged: Literal[True]
    recorded: bool
    position: Position


# --- GET /v1/stats -----------------------------------------------------------------------


class DeadlinesMet(BaseModel):
    """How many deadlines of one stage and kind were met and missed in the period."""

    stage: str = Field(description="a stage, or `case` for deadlines of the whole case")
    kind: str
    met: int
    missed: int
    share_met: float


class StageSpells(BaseModel):
    """Completed spells in a stage and their median length."""

    spells: int
    median_days: float


class VisitCoverage(BaseModel):
    """Monitored children of one township now, and the share not overdue for their visit."""

    township: str
    monitored: int
    on_time: int = Field(description="visited on time, or their visit not yet due")
    share: float


class Stats(BaseModel):
    """Cases opened in the period under a code, and how their deadlines and stages went."""

    jurisdiction: str
    start: date | None = Field(alias="from")
    end: date | None = Field(alias="to")
    position: Position
    by_stage: dict[str, int]
    by_grade: dict[str, int] = Field(description="`ungraded` counts cases not yet graded")
    by_source_channel: dict[str, int]
    by_reporter_type: dict[str, int] = Field(description="`mandatory` or `other` reporters")
    cases: int
    deadlines_met: list[DeadlinesMet]
    median_days_in_stage: dict[str, StageSpells]
    visit_coverage: list[VisitCoverage] = Field(
        description="per township, now (not for the period): monitored children whose "
        "visit is not overdue")


# --- GET /v1/children/{child_id} ---------------------------------------------------------


class ChildPersonal(BaseModel):
    """Personal details of the child; a detail nobody the caller may see recorded is left out."""

    name: str | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    id_number: str | None = None
    address: str | None = None
    phone: str | None = None


class ChildDetail(BaseModel):
    """The details one case (or one imported list's row) recorded about the child, with who
    recorded them and when."""

    case_id: str = Field(description="the case that recorded them; empty for an import")
    source: str | None = Field(default=None, description="the imported list (school_roll, "
                               "household_register, disability_register); absent for a case")
    recorded_at: datetime
    recorded_by: str
    values: ChildPersonal


class ChildCase(BaseModel):
    """One of the child's cases within the caller's area."""

    id: str
    jurisdiction: str
    stage: Stage
    grade: Grade | None
    opened_at: datetime
    updated_at: datetime
    last_contact_at: datetime | None
    next_visit_due: datetime | None


class PatternSignal(BaseModel):
    """One signal of a pattern alarm: a report (`ref`: its case), a case closing, or a rise
    of the monitored risk level."""

    kind: Literal["report", "case_closed", "risk_raised"]
    at: datetime
    ref: str


class ChildAlarm(BaseModel):
    """A pattern alarm recorded on the file (监测预警), as its township's inbox shows it."""

    notification_id: str
    rule: str = Field(description="the policy's rule, e.g. repeat_report")
    signals: list[PatternSignal]
    recipient_jurisdiction: str
    deliveries: dict[str, Literal["delivered", "failed"]]
    acknowledged_by: str | None


class ChildFile(BaseModel):
    """The child file: personal details, category and every case the caller may see."""

    id: str
    category: ChildCategory
    jurisdiction: str
    personal: ChildPersonal = Field(
        description="the newest value of each detail among those the caller may see")
    details: list[ChildDetail] = Field(
        description="details recorded by the cases the caller may see, newest first")
    merged_into: str | None = Field(description="the file this one was merged into, if any")
    cases: list[ChildCase]
    hidden_cases: int = Field(description="cases outside the caller's area")
    last_contact_at: datetime | None
    next_visit_due: datetime | None
    monitoring: dict[str, Any] | None = Field(
        None, description="the monitoring record (台账), as `POST /v1/children/{id}/actions` "
        "answers it, for those who may read the ledger; null when not monitored")
    alarms: list[ChildAlarm] = Field(
        description="pattern alarms addressed to areas the caller's code covers, oldest first")
    position: Position


class MergedFile(BaseModel):
    """The file that took in another file's cases (`merge_child_files`)."""

    id: str
    merged_from: str
    case_ids: list[str]
    position: Position


class ErasureAsked(BaseModel):
    """An erasure request waiting for a supervisor's approval."""

    reason: str
    requested_by: str
    requested_at: datetime
    command_id: str | None


class Erasure(BaseModel):
    """The approved erasure: whose keys went, when, asked and approved by whom."""

    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str
    erased_at: datetime
    key_ids: list[str]
    case_ids: list[str]


class PrivacyRecord(BaseModel):
    """The child file's erasure request, erasure and standing holds (no personal data)."""

    id: str
    jurisdiction: str
    erasure_request: ErasureAsked | None
    erased: Erasure | None
    holds: list[Hold]  # the domain's own record of a hold


# --- GET /v1/access ----------------------------------------------------------------------


class AccessEntry(BaseModel):
    """One read of a case or child file."""

    id: int
    read_at: datetime
    subject: str
    role: str
    jurisdiction: str
    resource_type: Literal["case", "child"]
    resource_id: str
    child_id: str | None
    case_jurisdiction: str | None
    purpose: str
    request_id: str | None


class AccessPage(BaseModel):
    """A page of the access log, newest first."""

    items: list[AccessEntry]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


# --- /v1/contacts ------------------------------------------------------------------------


class ContactChannelShown(BaseModel):
    """One way to reach a contact, as answers show it: never a secret."""

    type: Literal["email", "sms", "wecom", "dingtalk", "webhook"]
    address: str | None = Field(default=None, description="email: the mail address")
    number: str | None = Field(default=None, description="sms: the mobile number")
    url: str | None = Field(default=None, description="wecom, dingtalk, webhook: the URL, "
                                                      "each query value masked as ***")
    secret_set: bool | None = Field(default=None, description="dingtalk: a signing secret "
                                                              "is kept (never shown)")


class ContactShown(BaseModel):
    """A contact on duty for a jurisdiction's notifications, and who put them there."""

    id: str
    jurisdiction: str
    name: str
    role: Literal["supervisor", "child_supervisor", "caseworker_lead"]
    channels: list[ContactChannelShown]
    recorded_by: str
    recorded_at: datetime


class ContactList(BaseModel):
    """Every contact on duty under the code, by jurisdiction."""

    items: list[ContactShown]


# --- inspection --------------------------------------------------------------------------


class HistoryEvent(BaseModel):
    """One stored event of a case, with its hash-chain links."""

    version: int
    type: str
    actor_id: str
    actor_role: str
    occurred_at: datetime
    recorded_at: datetime
    policy_version: str
    stage: str
    deadline_changes: list[dict[str, Any]]
    payload: dict[str, Any] = Field(description="the event's own fields; personal ones masked "
                                                "as *** for roles that may not see them")
    prev_hash: str
    hash: str


class History(BaseModel):
    """A page of a case's events in order."""

    case_id: str
    personal_data: Literal["shown", "masked"]
    events: list[HistoryEvent]
    next_after_version: int | None = Field(description="pass as `after_version` for more")


class DeadlineThen(DeadlineView):
    """A deadline as it stood then; `overdue` is what the board showed at that moment."""

    overdue: bool


class CaseThen(CaseView):
    """The case as it stood at a version or moment."""

    deadlines: list[DeadlineThen]  # type: ignore[assignment]  # each with its `overdue`


class CaseState(BaseModel):
    """The case rebuilt from its events up to a version or moment."""

    case_id: str
    as_of: datetime
    version: int
    recorded_at: datetime = Field(description="when that version was stored")
    state: CaseThen


class ChainCheck(BaseModel):
    """The hash chain recomputed from the stored events."""

    case_id: str
    checked_at: datetime
    valid: bool
    events: int
    first_bad_version: int | None
    problem: str | None
    head_hash: str | None = Field(default=None, description="present when the chain is valid")


class SigningKey(BaseModel):
    """The public key that signs exported case files."""

    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="base64 of the raw 32-byte key")
    key_id: str


# --- health ------------------------------------------------------------------------------


class Alive(BaseModel):
    """The process serves requests."""

    status: Literal["alive"]


class Ready(BaseModel):
    """The database and the Temporal server both answer; "degraded" while events are parked."""

    status: Literal["ready", "degraded"]
    checks: dict[str, Literal["up"]]
    parked_events: int = Field(description="events the relay and read models set aside "
                                           "(`wardship parked list`); above 0: degraded")

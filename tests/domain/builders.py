"""Shared builders for domain tests: invented actors, cases walked to a stage by commands."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.codes import Role, Stage

if TYPE_CHECKING:
    from domain.application import Wardship
    from domain.case import ProtectionCase

# An invented key: personal data is encrypted at rest in tests as in production.
CIPHER_KEY = base64.b64encode(b"wardship-domain-test-key-32bytes").decode()

# 09:00 China time on a Tuesday; every test clock starts here, well in the past.
T0 = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
TOWNSHIP = "511102001"  # an invented township under county 511102, city 5111

CASEWORKER = Actor("cw-1", frozenset({Role.CASEWORKER}), TOWNSHIP, "Invented Worker")
CASEWORKER_2 = Actor("cw-2", frozenset({Role.CASEWORKER}), "511102", "Second Worker")
SUPERVISOR = Actor("sv-1", frozenset({Role.SUPERVISOR}), "511102", "County Supervisor")
SUPERVISOR_2 = Actor("sv-2", frozenset({Role.SUPERVISOR}), TOWNSHIP, "Township Supervisor")
INSPECTOR = Actor("in-1", frozenset({Role.INSPECTOR}), "51", "Invented Inspector")
REPORTER = Actor("rp-1", frozenset({Role.REPORTER}), TOWNSHIP, "Invented Teacher")
OUTSIDER = Actor("cw-9", frozenset({Role.CASEWORKER}), "511103", "Neighbouring Worker")
OUTSIDE_SUPERVISOR = Actor("sv-9", frozenset({Role.SUPERVISOR}), "511103", "Other Supervisor")

CHILD = {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
         "id_number": "511102201403020023", "category": "left_behind"}
SOURCE = {"channel": "school", "reporter": {"name": "Teacher B", "mandatory": True}}
STEP = timedelta(minutes=1)


@dataclass
class CaseDriver:
    """One case driven through the application on a test clock; keeps the view after each act."""

    app: Wardship
    case_id: UUID
    clock: datetime
    views: dict[int, dict[str, Any]] = field(default_factory=dict)

    def do(
        self, action: str, actor: Actor = CASEWORKER, at: datetime | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Perform an action at `at` (default: one minute after the last act)."""
        when = at or self.clock + STEP
        view = self.app.perform(self.case_id, actor, action, params, occurred_at=when, now=when)
        self.clock = max(self.clock, when)
        self.keep()
        return view

    def keep(self) -> dict[str, Any]:
        view = self.app.get_case(self.case_id)
        self.views[view["version"]] = view
        return view

    @property
    def view(self) -> dict[str, Any]:
        return self.app.get_case(self.case_id)

    @property
    def case(self) -> ProtectionCase:
        return self.app.get_case_aggregate(self.case_id)

    def deadline(self, kind: str, status: str = "open") -> dict[str, Any]:
        """The deadline of kind with status (the one due last, if several)."""
        found: list[dict[str, Any]] = [
            d for d in self.view["deadlines"] if d["kind"] == kind and d["status"] == status
        ]
        assert found, f"no {status} {kind} deadline in {self.view['deadlines']}"
        return found[-1]

    def kinds(self, status: str = "open") -> set[str]:
        return {d["kind"] for d in self.view["deadlines"] if d["status"] == status}

    def approve(self, subject: str) -> None:
        """Request (as the caseworker) and approve (as a supervisor) a gated decision."""
        self.do("request_approval", subject=subject, reason="needed")
        self.do("approve", SUPERVISOR, subject=subject)


def open_case(
    app: Wardship, *, entry: str = "report", at: datetime = T0, danger_now: bool = False,
    child: dict[str, Any] | None = None, jurisdiction: str = TOWNSHIP,
    actor: Actor = CASEWORKER,
) -> CaseDriver:
    view = app.open_case(
        actor, entry=entry, jurisdiction=jurisdiction, child=dict(child or CHILD),
        concern={"categories": ["neglect"], "summary": "left alone", "danger_now": danger_now},
        source=dict(SOURCE), occurred_at=at, now=at,
    )
    driver = CaseDriver(app, UUID(view["id"]), at)
    driver.keep()
    return driver


def case_at(
    app: Wardship, stage: Stage, *, grade: str = "yellow", at: datetime = T0,
    jurisdiction: str = TOWNSHIP,
) -> CaseDriver:
    """A case brought to `stage` through the commands a caseworker would use."""
    if stage is Stage.DISCOVERY:
        return open_case(app, entry="discovery", at=at, jurisdiction=jurisdiction)
    driver = open_case(app, at=at, jurisdiction=jurisdiction)
    if stage is Stage.REPORT:
        return driver
    if stage is Stage.CLOSED:
        driver.do("screen_out", reason="not a protection matter")
        return driver
    if stage is Stage.EMERGENCY_RESPONSE:
        driver.do("accept_report", grade=grade if grade in ("red", "orange") else "red",
                  assignee="cw-1")
        return driver
    driver.do("accept_report", grade=grade, assignee="cw-1")
    if grade in ("red", "orange"):
        driver.do("complete_emergency", summary="child safe")
    if stage is Stage.ASSESSMENT:
        return driver
    driver.do("record_assessment", guardianship_capacity="impaired", needs=["schooling"])
    outcome = "assistance" if stage is Stage.ASSISTANCE else "intervention"
    driver.do("complete_assessment", outcome=outcome)
    assert driver.view["stage"] == stage
    return driver


def refused(
    driver: CaseDriver, error: type[Exception], action: str, actor: Actor = CASEWORKER,
    **params: Any,
) -> Any:
    """Attempt an action that must be refused; check nothing was recorded; return the error."""
    before = driver.view
    stored = len(driver.app.case_events(driver.case_id))
    when = driver.clock + STEP
    try:
        driver.app.perform(driver.case_id, actor, action, params, occurred_at=when, now=when)
    except error as caught:
        after = driver.view
        assert after == before, "a refused action changed the case"
        assert len(driver.app.case_events(driver.case_id)) == stored
        return caught
    raise AssertionError(f"{action} was not refused with {error.__name__}")


def long_case(app: Wardship, events: int = 0) -> CaseDriver:
    """A case through most of its life (misses, escalations, approvals), then notes up to
    `events` events; `views` holds the case after every version."""
    driver = open_case(app)
    intake = driver.deadline("intake")
    app.record_deadline_missed(driver.case_id, intake["id"], intake["due_at"])
    driver.keep()
    app.record_escalation(driver.case_id, intake["id"], 1, intake["due_at"])
    driver.keep()
    driver.clock = intake["due_at"]
    driver.do("accept_report", grade="red", assignee="cw-1")
    driver.do("dispatch_response", responders=["police", "civil_affairs"])
    driver.do("place_child", placement="institution", ground="art92_serious_harm")
    driver.do("complete_emergency", summary="child safe")
    driver.do("record_assessment", guardianship_capacity="harmful", grade="orange")
    driver.do("complete_assessment", outcome="assistance")
    driver.do("create_plan", services=[
        {"type": "counselling", "provider": "centre", "due_at": driver.clock + timedelta(days=9)},
    ])
    service = next(iter(driver.view["services"]))
    driver.do("deliver_service", service_id=service, note="first session")
    driver.do("refer", partner="police", reason="possible assault")
    referral = next(iter(driver.view["referrals"]))
    driver.do("record_referral_response", referral_id=referral, response="investigating")
    driver.do("record_visit", child_seen=True, findings="settling in")
    driver.do("review_guardianship", findings="placement suits")
    driver.do("complete_assistance", outcome="intervention")
    driver.do("admonish_guardian", note="formal admonition")
    driver.approve("court_petition")
    driver.do("petition_court", ground="art108_revoke_guardianship")
    driver.do("record_court_decision", decision="guardianship revoked")
    driver.do("request_approval", subject="long_term_guardianship")
    driver.do("reject", SUPERVISOR, subject="long_term_guardianship", reason="await appeal")
    driver.approve("long_term_guardianship")
    driver.do("start_long_term_guardianship", ground="art94_revoked_by_court")
    driver.do("end_intervention", outcome="assistance")
    n = 0
    while driver.view["version"] < events:
        n += 1
        driver.do("add_note", text=f"monitoring note {n}")
    return driver


# SPEC's request shape, with invented addresses.
SPEC_CONTACT: dict[str, Any] = {
    "jurisdiction": TOWNSHIP, "name": "王督导", "role": "supervisor",
    "channels": [
        {"type": "wecom", "url": "https://qyapi.example/cgi-bin/webhook/send?key=wecom-key-1"},
        {"type": "dingtalk", "url": "https://oapi.example/robot/send?access_token=ding-tok-1",
         "secret": "SECding-secret-1"},
        {"type": "email", "address": "wang@example.org"},
        {"type": "sms", "number": "13800000000"},
        {"type": "webhook", "url": "https://ops.example/hook"},
    ]}

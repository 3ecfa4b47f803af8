"""An invented demo data set for Leshan city (5111), recorded through the domain's commands.

Everything is made up: names, townships, schools. Cases start in the past and walk through
the stages; some deadlines are left to pass so that the overdue board and inbox have work.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actions import RULES
from domain.actors import Actor
from domain.codes import Grade, Role

if TYPE_CHECKING:
    from domain.application import Wardship

# Invented county codes under Leshan city and invented township codes under them.
COUNTIES = ("511102", "511111", "511112", "511123", "511124", "511126")
TOWNSHIPS = tuple(f"{county}{n:03d}" for county in COUNTIES for n in (1, 2, 3, 4))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林"
GIVEN = ("子涵", "欣怡", "梓萱", "浩然", "宇轩", "雨桐", "一诺", "俊杰", "思远", "佳怡",
         "明轩", "诗琪", "嘉豪", "若曦", "文博", "晓雯", "天佑", "可馨", "泽宇", "静怡")
CATEGORIES = ("orphan", "de_facto_unsupported", "left_behind", "left_behind", "in_difficulty",
              "street_child", "other")
CHANNELS = ("home_visit", "data_match", "school", "hospital", "police", "village_committee",
            "hotline_12345", "public", "self", "other")
MANDATORY = {"school", "hospital", "police", "village_committee", "home_visit", "data_match"}
CONCERNS = ("neglect", "unattended", "physical_abuse", "emotional_abuse", "guardian_missing",
            "guardian_incapable", "bullying", "abandonment")
# How far along each case goes: the stage it should stop in.
TARGETS = ("discovery", "report", "emergency_response", "assessment", "assistance",
           "guardianship_intervention", "closed")


def caseworker(township: str, number: int = 1) -> Actor:
    return Actor(f"cw-{township}-{number}", frozenset({Role.CASEWORKER}), township[:6],
                 f"caseworker {number}")


def supervisor(code: str, number: int = 1) -> Actor:
    return Actor(f"sv-{code}-{number}", frozenset({Role.SUPERVISOR}), code, f"supervisor {number}")


def child_details(rng: random.Random, birth_year: int) -> dict[str, Any]:
    return {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "sex": rng.choice(("female", "male")),
        "birth_date": f"{birth_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "id_number": None, "category": rng.choice(CATEGORIES),
        "address": f"{rng.choice('青龙白鹤石桥柏杨')}村{rng.randint(1, 12)}组",
        "phone": None,
    }


class Scenario:
    """Walks one case from opening towards a target stage, at invented past times."""

    def __init__(self, app: Wardship, rng: random.Random, now: datetime) -> None:
        self.app, self.rng, self.now = app, rng, now

    def run(self, target: str, township: str, opened: datetime) -> UUID:
        rng, app = self.rng, self.app
        worker, boss = caseworker(township), supervisor(township[:6])
        channel = rng.choice(CHANNELS)
        entry = "discovery" if channel in ("home_visit", "data_match") or target == "discovery" \
            else "report"
        view = app.open_case(
            worker, entry=entry, jurisdiction=township,
            child=child_details(rng, rng.randint(2008, 2022)),
            concern={"categories": [rng.choice(CONCERNS)], "summary": "演示用虚构情况",
                     "danger_now": rng.random() < 0.1},
            source={"channel": channel, "reporter": {
                "name": "演示报告人", "organisation": f"{township[-3:]}号虚构单位",
                "phone": None, "mandatory": channel in MANDATORY}},
            occurred_at=opened, now=self.now,
        )
        case_id = UUID(view["id"])
        clock = [opened]
        # Once a step would fall after now, the case stops there: a later step with a shorter
        # gap must not run without the one before it (an approval without its request).
        stopped = [False]

        def act(action: str, who: Actor = worker, gap_hours: float = 6.0, **params: Any) -> bool:
            at = clock[0] + timedelta(hours=gap_hours * (0.5 + rng.random()))
            if stopped[0] or at >= self.now:
                stopped[0] = True
                return False
            clock[0] = at
            app.perform(case_id, who, action, params, occurred_at=at, now=self.now)
            return True

        steps = TARGETS.index(target)
        if entry == "discovery" and (steps < 1 or not act("file_report")):
            return case_id
        grade = rng.choice(("red", "orange", "yellow", "blue"))
        if steps < 2 or not act("accept_report", grade=grade, assignee=worker.subject):
            return case_id
        if grade in ("red", "orange"):
            act("dispatch_response", gap_hours=0.5, responders=["police", "civil_affairs"])
            if steps < 3 or not act("complete_emergency", gap_hours=12, summary="孩子已安全"):
                return case_id
        if steps < 3:
            return case_id
        act("record_assessment", gap_hours=24, guardianship_capacity=rng.choice(
            ("adequate", "impaired", "absent")), needs=["psychological"], summary="评估完成")
        if steps < 4:
            return case_id
        outcome = "intervention" if target == "guardianship_intervention" else "assistance"
        if not act("complete_assessment", gap_hours=24, outcome=outcome):
            return case_id
        if outcome == "intervention":
            act("admonish_guardian", gap_hours=48, note="训诫监护人")
            return case_id
        due = clock[0] + timedelta(days=20)
        act("create_plan", gap_hours=48, services=[
            {"type": "psychological_counselling", "provider": "虚构社工站", "due_at": due}])
        act("record_visit", gap_hours=72, child_seen=True, findings="状况稳定")
        if target != "closed":
            return case_id
        # Closing may need a supervisor's approval first: the action table says when.
        closing = RULES["complete_assistance"]
        subject = closing.required_approval(closing.target("close"), Grade(grade).is_urgent)
        if subject is not None:
            act("request_approval", gap_hours=24, subject=subject, reason="帮扶完成")
            act("approve", who=boss, gap_hours=4, subject=subject)
        act("complete_assistance", gap_hours=24, outcome="close")
        return case_id

    def escalate_overdue(self, case_id: UUID) -> None:
        """Record misses (and first-level notifications) for deadlines already past due."""
        view = self.app.get_case(case_id)
        for deadline in view["deadlines"]:
            if deadline["status"] == "open" and deadline["due_at"] < self.now:
                self.app.record_deadline_missed(case_id, deadline["id"], self.now)
                nid = self.app.record_escalation(case_id, deadline["id"], 1, self.now)
                if nid and self.rng.random() < 0.8:
                    self.app.record_delivery(case_id, nid, "webhook",
                                             self.rng.random() < 0.9, "demo", self.now)


def load_demo(app: Wardship, children: int = 300, seed: int = 5111,
              now: datetime | None = None, escalate: bool = True) -> int:
    """Record `children` invented cases in Leshan; returns how many cases were opened."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    scenario = Scenario(app, rng, now)
    for _ in range(children):
        opened = now - timedelta(days=rng.uniform(0.2, 150))
        case_id = scenario.run(rng.choice(TARGETS), rng.choice(TOWNSHIPS), opened)
        if escalate and rng.random() < 0.35:
            scenario.escalate_overdue(case_id)
    return children

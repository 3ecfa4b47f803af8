"""An invented monitored ledger (台账) for the Leshan demo: children found by census screening,
taken into the ledger by their township's child supervisor and visited by their village's
child director, some of them now overdue for a visit.

Each child gets a file the way census screening finds one: a discovery case (source: home
visit) dismissed as needing no protection, the child then monitored.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from api.cli.demo_data import TOWNSHIPS, caseworker, child_details
from domain.actors import Actor
from domain.codes import Role

if TYPE_CHECKING:
    from domain.application import Wardship

RISKS = ("high", "medium", "medium", "low", "low", "low")
CADENCE_DAYS = {"high": 30, "medium": 90, "low": 180}
GUARDIANS = (("祖母", "grandmother"), ("祖父", "grandfather"), ("母亲", "mother"),
             ("父亲", "father"), ("姑姑", "aunt"))
CATEGORIES = ("left_behind", "left_behind", "left_behind", "de_facto_unsupported", "orphan",
              "in_difficulty")


def child_director(village: str) -> Actor:
    return Actor(f"cd-{village}", frozenset({Role.CHILD_DIRECTOR}), village, "儿童主任")


def child_supervisor(township: str) -> Actor:
    return Actor(f"cs-{township}", frozenset({Role.CHILD_SUPERVISOR}), township, "儿童督导员")


def load_ledger(app: Wardship, children: int = 300, seed: int = 51110,
                now: datetime | None = None) -> int:
    """Record `children` invented monitored children in Leshan; returns how many."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    for _ in range(children):
        township = rng.choice(TOWNSHIPS)
        village = f"{township}{rng.randint(1, 6):03d}"
        started = now - timedelta(days=rng.uniform(5, 240))
        file_id = _screened_child(app, rng, village, started, now)
        risk = rng.choice(RISKS)
        name, relation = rng.choice(GUARDIANS)
        params: dict[str, Any] = {
            "jurisdiction": village, "category": rng.choice(CATEGORIES), "risk_level": risk,
            "risk_reason": "父母外出务工，祖辈照料" if relation.startswith("grand")
            else "监护人照料能力有限",
            "guardian": {"name": f"演示{name}", "relation": relation, "phone": None}}
        at = started + timedelta(hours=2)
        app.monitoring_action(child_supervisor(township), file_id, "start_monitoring", params,
                              occurred_at=at, now=now)
        director = child_director(village)
        # Visits at the level's rate, a little early or late; a quarter are left overdue.
        overdue = rng.random() < 0.25
        while True:
            at += timedelta(days=CADENCE_DAYS[risk] * rng.uniform(0.6, 1.05))
            if at >= now or (overdue and at + timedelta(days=CADENCE_DAYS[risk]) >= now):
                break
            app.monitoring_action(director, file_id, "record_visit", {
                "child_seen": rng.random() < 0.9, "living_situation": "与祖辈同住，生活稳定",
                "guardian_capacity": rng.choice(("adequate", "adequate", "impaired")),
                "findings": "演示用虚构走访记录"}, occurred_at=at, now=now)
    return children


def _screened_child(app: Wardship, rng: random.Random, village: str, found: datetime,
                    now: datetime) -> UUID:
    """The child's file, opened by a census-screening visit that found no need for a case."""
    worker = caseworker(village[:9])
    view = app.open_case(
        worker, entry="discovery", jurisdiction=village,
        child=child_details(rng, rng.randint(2010, 2022)),
        concern={"categories": ["unattended"], "summary": "摸底排查：留守儿童",
                 "danger_now": False},
        source={"channel": "home_visit", "reporter": {"name": None, "organisation": None,
                                                      "phone": None, "mandatory": True}},
        occurred_at=found, now=now)
    app.perform(UUID(view["id"]), worker, "dismiss", {"reason": "暂无保护需要，纳入台账监测"},
                occurred_at=found + timedelta(hours=1), now=now)
    return UUID(view["child_id"])

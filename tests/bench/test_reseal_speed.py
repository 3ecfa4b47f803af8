"""How fast `wardship reseal` copies a store recorded before per-child keys (issue 16): the
copy's events per second, in CPU time and wall time, beside reading and decoding the same
log once in the same run (the least any copy costs).

Run with `./run bench -k reseal_speed` (RESEAL_CASES, RESEAL_PER_CASE to size it); figures
are printed, not asserted. There is no target: the copy is a one-off, offline step.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from api.cli.demo_data import caseworker
from domain.actors import Context
from domain.case import ProtectionCase
from domain.reseal import reseal
from tests.conftest import new_database
from tests.inspection.support import before_per_child_keys, wardship_on

if TYPE_CHECKING:
    from domain.application import Wardship

pytestmark = pytest.mark.bench

CASES = int(os.environ.get("RESEAL_CASES", "400"))  # each a different child: 400 keys made
PER_CASE = int(os.environ.get("RESEAL_PER_CASE", "25"))
WORKER = caseworker("511102001")


def build_legacy_log(app: Wardship) -> None:
    """CASES cases of PER_CASE events, as stored before per-child keys."""
    batch = []
    for n in range(CASES):
        ctx = Context(actor=WORKER, policy=app.policy, now=datetime.now(UTC))
        case = ProtectionCase.open(
            ctx, case_id=uuid4(), child_id=str(uuid4()), entry="report",
            jurisdiction="511102001",
            child={"name": f"基准儿童{n}", "birth_date": "2014-03-02", "category": "left_behind",
                   "address": "Invented Road 1"},
            concern={"categories": ["neglect"], "summary": "left alone", "danger_now": False},
            source={"channel": "school", "reporter": {"name": "Teacher B", "mandatory": True}})
        case.accept_report(ctx, grade="yellow", assignee=WORKER.subject)
        while case.version < PER_CASE:
            case.add_note(ctx, text="aunt says the father calls weekly")
        batch.append(case)
        if len(batch) == 50:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def test_reseal_speed(database_url: str) -> None:
    with new_database(database_url, "bench") as source_url, \
            new_database(database_url, "bench") as target_url:
        with before_per_child_keys(source_url) as legacy:
            build_legacy_log(legacy)
        with wardship_on(source_url) as source, wardship_on(target_url) as target:
            events = source.recorder.max_notification_id() or 0
            cpu, wall = time.process_time(), time.perf_counter()
            position = 0
            while found := source.recorder.select_notifications(position, 500,
                                                                inclusive_of_start=False):
                for notification in found:
                    source.mapper.to_domain_event(notification)
                position = found[-1].id
            decode = (time.process_time() - cpu, time.perf_counter() - wall)
            cpu, wall = time.process_time(), time.perf_counter()
            result = reseal(source, target)
            copy = (time.process_time() - cpu, time.perf_counter() - wall)
            assert result.events == events
            assert target.verify_chain(next(iter(result.chains)))["valid"]
    print(f"\n{events} events ({CASES} cases), {result.resealed} resealed")
    print(f"read + decode once: {events / decode[0]:,.0f} events/s CPU, "
          f"{events / decode[1]:,.0f}/s wall")
    print(f"reseal: {events / copy[0]:,.0f} events/s CPU ({copy[0] / decode[0]:.1f}x the "
          f"decode's CPU), {events / copy[1]:,.0f}/s wall")

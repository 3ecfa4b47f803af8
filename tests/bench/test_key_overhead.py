"""What per-child keys cost (issue 16): actions, decoding and a read-model rebuild with each
child's personal fields sealed under their own key, beside the same work with only today's
single whole-event key, measured in the same run on two fresh databases.

Run with `./run bench -k key_overhead`; figures are printed, not asserted. Targets (issue 16):
the existing ones hold (API rate ≥ 0.4x the minimal endpoint; rebuild ≥ 20k events/s).
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import Application

from api.cli.demo_data import caseworker
from deploy.collector import collector_tuned
from domain.actors import Context
from domain.application import Wardship
from domain.case import ProtectionCase
from domain.keyring import Keyring, MemoryKeyTable, provider_from_env
from domain.storage import event_store_env
from projections.registry import MODELS
from projections.runner import ensure, rebuild
from tests.conftest import new_database
from tests.projections.conftest import CIPHER_KEY

if TYPE_CHECKING:
    from eventsourcing.persistence import EventStore, Mapper

pytestmark = pytest.mark.bench

CASES = 400  # each a different child, so a rebuild meets 400 keys
PER_CASE = 50
ACTIONS = 2_000
WORKER = caseworker("511102001")


class SingleKey(Wardship):
    """Today's storage: the whole event under CIPHER_KEY, no per-child seal."""

    name = "wardship"  # the same tables as deployed

    def construct_mapper(self) -> Mapper[UUID]:
        self.keyring = Keyring(MemoryKeyTable(), provider_from_env(self.env))
        return Application.construct_mapper(self)

    def construct_event_store(self) -> EventStore[UUID]:
        return Application.construct_event_store(self)


def build_log(app: Wardship) -> list[UUID]:
    """CASES cases of PER_CASE events: a named child, notes and visits with free text."""
    ids, batch = [], []
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
        case.record_assessment(ctx, guardianship_capacity="impaired", summary="seen at home")
        case.complete_assessment(ctx, outcome="assistance")
        while case.version < PER_CASE:
            if case.version % 2:
                case.record_visit(ctx, child_seen=True, findings="ate, slept, school ok")
            else:
                case.add_note(ctx, text="aunt says the father calls weekly")
        ids.append(case.id)
        batch.append(case)
        if len(batch) == 50:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)
    return ids


ROUNDS = 3  # each figure is the best of this many, the two setups taking turns
# CPU of this process per event (µs): lowest is best, unlike the rates.
CPU_DECODE = "decode, µs CPU an event"
CPU_REBUILD = "rebuild, µs CPU an event"


def build(app_class: type[Wardship], url: str) -> tuple[list[UUID], float]:
    app = app_class(env=event_store_env(url, CIPHER_KEY, pool_size=4))
    started = time.perf_counter()
    ids = build_log(app)
    seconds = time.perf_counter() - started
    app.close()
    return ids, CASES * PER_CASE / seconds


def one_round(app_class: type[Wardship], url: str, ids: list[UUID]) -> dict[str, float]:
    """Actions on the cases, then a fresh process (no key unwrapped yet) decoding the whole
    log and rebuilding the cases read model."""
    env = event_store_env(url, CIPHER_KEY, pool_size=4)
    figures: dict[str, float] = {}
    app = app_class(env=env)
    actions = ACTIONS // ROUNDS
    started = time.perf_counter()
    for n in range(actions):
        app.perform(ids[n % len(ids)], WORKER, "add_note", {"text": f"note {n} about the aunt"})
    figures["actions/s"] = actions / (time.perf_counter() - started)
    app.close()
    cold = app_class(env=env)
    total = cold.recorder.max_notification_id() or 0
    started, cpu = time.perf_counter(), time.process_time()
    position = 0
    while found := cold.recorder.select_notifications(position, 1000, inclusive_of_start=False):
        for notification in found:
            cold.mapper.to_domain_event(notification)
        position = found[-1].id
    figures["decode events/s (cold keys)"] = total / (time.perf_counter() - started)
    figures[CPU_DECODE] = (time.process_time() - cpu) / total * 1e6
    with psycopg.connect(url, autocommit=True) as conn:
        model = MODELS["cases"]()
        ensure(conn, model)
        started, cpu = time.perf_counter(), time.process_time()
        rebuild(model, cold, conn)
        figures["rebuild cases model events/s"] = total / (time.perf_counter() - started)
        figures[CPU_REBUILD] = (time.process_time() - cpu) / total * 1e6
        # Again as `wardship projections rebuild` runs it, with the collector tuned.
        with collector_tuned():
            started = time.perf_counter()
            rebuild(model, cold, conn)
            figures["the same, collector tuned events/s"] = (
                total / (time.perf_counter() - started))
    cold.close()
    return figures


def test_per_child_keys_against_a_single_key(database_url: str) -> None:
    setups = (("single key", SingleKey), ("per-child keys", Wardship))
    best: dict[str, dict[str, float]] = {name: {} for name, _ in setups}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(new_database(database_url, "bench"))
                for name, _ in setups}
        ids = {}
        for name, app_class in setups:
            ids[name], best[name]["build events/s"] = build(app_class, urls[name])
        for _ in range(ROUNDS):
            for name, app_class in setups:
                for figure, value in one_round(app_class, urls[name], ids[name]).items():
                    pick = min if figure in (CPU_DECODE, CPU_REBUILD) else max
                    best[name][figure] = pick(best[name].get(figure, value), value)
    print(f"\n{'best of ' + str(ROUNDS):32s} {'single key':>12s} {'per-child':>12s} "
          f"{'ratio':>7s}")
    for figure, before in best["single key"].items():
        after = best["per-child keys"][figure]
        print(f"{figure:32s} {before:12.0f} {after:12.0f} {after / before:6.2f}x")

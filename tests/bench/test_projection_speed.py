"""Read-model speed: a full rebuild of 100,000 events, and projection lag under write load.

Targets: rebuild at least 20k events/s per read model, and all models in one pass at least
40k events/s, beside the raw rate of reading and decoding the log (no model) and the models
rebuilt one at a time, in the same run; lag p99 under 50 ms.
Run with `./run bench -k projection_speed`; figures are printed, not asserted.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import psycopg
import pytest

from api.cli.demo_data import caseworker
from deploy.collector import collector_tuned
from domain.actors import Context
from domain.application import Wardship
from domain.case import ProtectionCase
from domain.storage import event_store_env
from projections.parked import Decoder
from projections.registry import MODELS
from projections.runner import BATCH_SIZE, Fleet, decoder, ensure, rebuild, rebuild_models
from projections.store import CHANNEL
from tests.projections.conftest import CIPHER_KEY, project_all

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.bench

EVENTS = 100_000
PER_CASE = 50
WRITERS = 4
LOAD_SECONDS = 10.0
WORKER = caseworker("511102001")


def build_log(app: Wardship) -> None:
    """EVENTS events over EVENTS/PER_CASE cases: open, grade, assess, plan, visits, notes."""
    cases = []
    for _ in range(EVENTS // PER_CASE):
        ctx = Context(actor=WORKER, policy=app.policy, now=datetime.now(UTC))
        case = ProtectionCase.open(
            ctx, case_id=uuid4(), child_id=str(uuid4()), entry="report",
            jurisdiction="511102001",
            child={"name": "基准儿童", "category": "left_behind"},
            concern={"categories": ["neglect"], "danger_now": False},
            source={"channel": "school", "reporter": {"mandatory": True}},
        )
        case.accept_report(ctx, grade="yellow", assignee=WORKER.subject)
        case.record_assessment(ctx, guardianship_capacity="impaired")
        case.complete_assessment(ctx, outcome="assistance")
        case.create_plan(ctx, services=[{"type": "counselling", "provider": "x",
                                         "due_at": ctx.now}])
        while case.version < PER_CASE:
            if case.version % 2:
                case.record_visit(ctx, child_seen=True)
            else:
                case.add_note(ctx, text="note")
        cases.append(case)
        if len(cases) == 100:
            app.save(*cases)
            cases = []
    if cases:
        app.save(*cases)


def test_rebuild_and_lag(db_url: str) -> None:
    url = db_url
    app = Wardship(env=event_store_env(url, CIPHER_KEY, pool_size=WRITERS + 2))
    started = time.perf_counter()
    build_log(app)
    print(f"\nbuilt {app.recorder.max_notification_id()} events in "
          f"{time.perf_counter() - started:.1f}s")
    with contextlib.ExitStack() as stack, psycopg.connect(url, autocommit=True) as conn:
        project_all(app, conn)
        seconds, cpu = timed(lambda: read_and_decode(app, decoder))
        print(f"raw read+decode, no model {EVENTS / seconds:9.0f} events/s ({seconds:.2f}s,"
              f" {cpu:.2f}s CPU in this process)")
        seconds, cpu = timed(lambda: read_and_decode(app, lambda app: Decoder(app.mapper)))
        print(f"the same, personal fields opened {EVENTS / seconds:9.0f} events/s"
              f" ({seconds:.2f}s, {cpu:.2f}s CPU)")
        seconds, cpu = timed(lambda: rebuild_models(every_model(), app, conn))
        print(f"rebuild all {len(MODELS)} in one pass, Python's default collector"
              f" {EVENTS / seconds:9.0f} events/s ({seconds:.2f}s, {cpu:.2f}s CPU in this"
              " process)")
        # The rest as the services run: the collector tuned (deploy/collector.py).
        stack.enter_context(collector_tuned())
        seconds, cpu = timed(lambda: rebuild_models(every_model(), app, conn))
        print(f"rebuild all {len(MODELS)} in one pass, collector tuned"
              f" {EVENTS / seconds:9.0f} events/s ({seconds:.2f}s, {cpu:.2f}s CPU)")
        one_by_one, one_by_one_cpu = 0.0, 0.0
        for name, model_class in MODELS.items():
            model = model_class()
            seconds, cpu = timed(partial(rebuild, model, app, conn))
            one_by_one, one_by_one_cpu = one_by_one + seconds, one_by_one_cpu + cpu
            print(f"rebuild {name:10s} {EVENTS / seconds:9.0f} events/s ({seconds:.2f}s,"
                  f" {cpu:.2f}s CPU)")
        print(f"rebuild all {len(MODELS)} one at a time {EVENTS / one_by_one:9.0f} events/s"
              f" ({one_by_one:.2f}s, {one_by_one_cpu:.2f}s CPU in this process)")
        # All models from scratch in one runner loop, committing every batch (what the live
        # runner does after `wardship migrate` on a full log).
        conn.execute("DELETE FROM wardship_projections")
        models = every_model()
        for model in models:
            ensure(conn, model)
        fleet = Fleet(models, app, conn)
        seconds, cpu = timed(lambda: run_out(fleet))
        print(f"all {len(MODELS)} in one runner loop {EVENTS / seconds:9.0f} events/s"
              f" ({seconds:.2f}s, {cpu:.2f}s CPU in this process)")
    lag = measure_lag(app, url)
    for name, samples in sorted(lag.items()):
        ordered = sorted(samples)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(f"lag {name:10s} median {statistics.median(ordered):6.1f} ms  p99 {p99:6.1f} ms"
              f"  ({len(ordered)} writes)")
    app.close()


def every_model() -> list[Any]:
    return [model_class() for model_class in MODELS.values()]


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of `work`."""
    started, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - started, time.process_time() - cpu


def read_and_decode(app: Wardship, decoding: Callable[[Wardship], Decoder]) -> None:
    """Every event of the log read in the rebuild's pages and decoded (by a rebuild's
    decoder, or another), and given to no model."""
    after = 0
    while found := app.recorder.select_notifications(
            start=after, limit=BATCH_SIZE, inclusive_of_start=False):
        decode = decoding(app)
        for notification in found:
            decode(notification)
        after = found[-1].id


def run_out(fleet: Fleet) -> None:
    while fleet.step():
        pass


def measure_lag(app: Wardship, url: str) -> dict[str, list[float]]:
    """Writers save actions; the time from each commit until each model reports applying it."""
    done = threading.Event()
    written: list[tuple[int, float]] = []
    applied: dict[str, list[tuple[int, float]]] = {name: [] for name in MODELS}
    # The runner in its own process, as deployed (`wardship projections run`).
    env = {**os.environ, "DATABASE_URL": url, "WARDSHIP_CIPHER_KEY": CIPHER_KEY}
    runner = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "projections", "run"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listen() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            while not done.is_set():
                for note in conn.notifies(timeout=0.2):
                    name, _, position = note.payload.partition(":")
                    if name in applied:
                        applied[name].append((int(position), time.perf_counter()))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(1.0)
    ids = [uuid4() for _ in range(WRITERS)]

    def write(case_id: Any) -> None:
        ctx = Context(actor=WORKER, policy=app.policy, now=datetime.now(UTC))
        case = ProtectionCase.open(
            ctx, case_id=case_id, child_id=str(uuid4()), entry="report",
            jurisdiction="511102001", child={"category": "other"},
            concern={"categories": ["neglect"]}, source={"channel": "school"})
        app.save(case)
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            case = app.get_case_aggregate(case_id)
            case.add_note(Context(actor=WORKER, now=datetime.now(UTC)), text="load")
            recordings = app.save(case)
            written.append((recordings[-1].notification.id, time.perf_counter()))

    writers = [threading.Thread(target=write, args=(i,)) for i in ids]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    time.sleep(1.0)
    done.set()
    listener.join()
    runner.terminate()
    runner.wait(timeout=30)
    lags: dict[str, list[float]] = {}
    for name, marks in applied.items():
        marks.sort()
        samples = []
        for position, at in written:
            seen = next((t for p, t in marks if p >= position), None)
            if seen is not None:
                samples.append((seen - at) * 1000)
        lags[name] = samples
    return lags

"""What one deadline's judgement costs the worker, without Temporal: the step activity's own
work (load the case cold, record the miss and the level-1 escalation, hash, seal, commit),
beside a cold load of the same cases alone, and the judgement of cases the step loaded while
it waited for their time, in one run.

Run with `./run bench -k judgement_cost`; figures are printed, not asserted. It tells a burst's
judgements apart from the Temporal work around them (`test_deadline_burst.py`).
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env
from tests.conftest import new_database
from tests.workflows.support import INTAKE, open_red_report, seconds_policy_toml
from workflows.activities import CaseActivities
from workflows.messages import StepInput

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.bench

CASES = 600
THREADS = 16
CIPHER_KEY = base64.b64encode(b"wardship-benchmark-key-32-bytes!").decode()


def cpu_ms_each(work: list[StepInput], one: Callable[[StepInput], object],
                threads: int) -> tuple[float, float]:
    """CPU and wall milliseconds per item of `work`, run by `threads` threads."""
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, work))
    return ((time.process_time() - cpu) / len(work) * 1e3,
            (time.perf_counter() - wall) / len(work) * 1e3)


def test_judgement_cost(database_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="15s", levels=("0s", "1d")))
    with new_database(database_url, "judge") as url:

        def fresh() -> Wardship:
            return Wardship(env=event_store_env(url, CIPHER_KEY, pool_size=10),
                            policy=load_policy(policy))

        opener = fresh()
        opened = datetime.now(UTC)
        with ThreadPoolExecutor(8) as pool:
            cases = list(pool.map(lambda n: open_red_report(opener, opened, f"Bench Child {n}"),
                                  range(CASES)))
        steps = []
        for case_id in cases:
            deadline = next(d for d in opener.get_case_aggregate(case_id).deadlines.values()
                            if d.kind == INTAKE)
            steps.append(StepInput(str(case_id), deadline.id, 1, deadline.due_at))
        opener.close()
        time.sleep(max(0.0, (max(s.at for s in steps) - datetime.now(UTC)).total_seconds()))

        # Each round has a fresh application, so every case is loaded from the database, as
        # in a worker that did not open them.
        reader = fresh()
        load = cpu_ms_each(steps, lambda s: reader.get_case_aggregate(UUID(s.case_id)), THREADS)
        reader.close()
        judge = fresh()
        activities = CaseActivities(judge, {})
        now = judge.clock()
        judged = cpu_ms_each(steps, lambda s: activities._judge(s, now), THREADS)
        judge.close()
        # As a step does now: the case loaded while the step waited for its time.
        warm = fresh()
        activities = CaseActivities(warm, {})
        for step in steps:
            activities._warm(step.case_id)
        now = warm.clock()
        warmed = cpu_ms_each(steps, lambda s: activities._judge(s, now), THREADS)
        warm.close()
    print(f"\n{CASES} deadlines due, {THREADS} threads, cold cases:\n"
          f"  baseline, load the case:      {load[0]:.2f} ms CPU, {load[1]:.2f} ms wall each\n"
          f"  judge (miss + escalation):    {judged[0]:.2f} ms CPU, {judged[1]:.2f} ms wall each"
          f" ({judged[0] / load[0]:.1f}x the load)\n"
          f"  judge, the case loaded before its time: {warmed[0]:.2f} ms CPU, "
          f"{warmed[1]:.2f} ms wall each ({warmed[0] / judged[0]:.2f}x the cold judgement)")

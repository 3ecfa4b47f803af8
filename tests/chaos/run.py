"""The chaos run: start the stack, put it under load, kill -9 each part in turn, then judge.

`./run chaos` runs the full plan (about 10 minutes); `tests/chaos/test_chaos.py` the short one.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from api.bootstrap import bootstrap
from api.http.auth import dev_token
from domain.policy import parse_policy
from tests.chaos.checks import (
    SETTLE,
    Check,
    Phase,
    compare_read_models,
    judge,
    read_log,
    table,
)
from tests.chaos.load import TOWNSHIP, Ledger, Load
from tests.chaos.stack import PARTS, Stack
from tests.workflows.support import seconds_policy_toml

if TYPE_CHECKING:
    from pathlib import Path

# Spare read-model generations for the comparisons, far above any a run's rebuilds reach.
SPARE_GENERATION = 9000


@dataclass(frozen=True)
class Plan:
    """How long each stretch of the run lasts and how heavy the load is."""

    warm_up: float  # seconds of load before the first kill
    down: float  # seconds each killed part stays dead
    between: float  # seconds of load after a restart, before the next kill
    writers: int
    write_every: float
    open_every: float
    intake: str = "5s"  # reports of children in danger fall due this soon
    ladder: tuple[str, ...] = ("0s", "10s")  # escalation levels after a miss


FULL = Plan(warm_up=30, down=5, between=75, writers=4, write_every=0.25, open_every=1.0)
SHORT = Plan(warm_up=10, down=3, between=10, writers=2, write_every=0.5, open_every=1.0,
             ladder=("0s", "5s"))


@dataclass
class Result:
    """Each phase with its checks, and the report in markdown."""

    phases: list[tuple[Phase, list[Check]]]
    report: str

    @property
    def ok(self) -> bool:
        return all(check.ok is not False for _, checks in self.phases for check in checks)


def chaos(root: Path, plan: Plan, command: str) -> Result:
    """Run `plan` with everything under `root` (PostgreSQL, Temporal, logs); judge it."""
    policy = root / "policy.toml"
    root.mkdir(parents=True, exist_ok=True)
    policy.write_text(seconds_policy_toml(intake=plan.intake, levels=plan.ladder))
    ladder = parse_policy(policy.read_text(), policy.name).escalation_levels
    stack = Stack(root, policy)
    load: Load | None = None
    try:
        stack.start()
        ledger = Ledger()
        token = dev_token(stack.settings, subject="chaos-caseworker", roles=["caseworker"],
                          jurisdiction=TOWNSHIP)
        load = Load(stack.api_url, token, ledger, writers=plan.writers,
                    write_every=plan.write_every, open_every=plan.open_every)
        phases = [Phase("", time.time())]
        load.start()
        _watch(stack, phases[-1], plan.warm_up)
        for index, part in enumerate(PARTS):
            _compare(stack, phases[-1], index)
            phase = Phase(part, time.time())
            phases.append(phase)
            _fault(stack, ledger, phase, plan)
            phases[-2].end = phase.start
            _watch(stack, phase, plan.between)
        load.stop()
        # Every deadline the load started, and every level of its ladder, is due by now.
        settle = float(plan.intake.rstrip("s")) + ladder[-1].total_seconds() + SETTLE + 1
        _watch(stack, phases[-1], settle)
        _compare(stack, phases[-1], len(PARTS))
        settled_at = time.time()
        reader = bootstrap(stack.settings, pool_size=1)
        try:
            facts = read_log(reader)
        finally:
            reader.close()
    finally:
        if load is not None:
            load.stop()  # a second call after the normal stop returns at once
        stack.stop()
    judged = [(phase, judge(phase, phases, ledger, facts, ladder, settled_at)) for phase in phases]
    return Result(judged, _report(judged, plan, command))


def _fault(stack: Stack, ledger: Ledger, phase: Phase, plan: Plan) -> None:
    """Kill the phase's part while a request is under way, keep it down, restart it and time
    its return."""
    give_up = time.monotonic() + 5.0
    while ledger.in_flight == 0 and time.monotonic() < give_up:
        time.sleep(0.001)
    phase.start = time.time()
    stack.kill(phase.part)
    _watch(stack, phase, plan.down)
    phase.down_for = time.time() - phase.start
    restarted = time.monotonic()
    try:
        stack.restart(phase.part)
    except (RuntimeError, TimeoutError) as error:
        phase.died.append(f"{phase.part} would not restart ({error})"[:200])
        return
    waited = stack.wait_ready(phase.part, 60.0)
    phase.back_after = None if waited is None else time.monotonic() - restarted
    waited = stack.wait_ready("api", 60.0)
    phase.ready_after = None if waited is None else time.monotonic() - restarted


def _watch(stack: Stack, phase: Phase, seconds: float) -> None:
    """Let the run go on for `seconds`; a child that dies on its own is noted and restarted,
    as `wardship dev` should (so later faults are still measured)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for name, status in list(stack.exits()):
            phase.died.append(f"{name} (status {status})")
            stack.start_again(name)
        time.sleep(0.5)


def _compare(stack: Stack, phase: Phase, index: int) -> None:
    try:
        reader = bootstrap(stack.settings, pool_size=1)
        try:
            phase.read_models = compare_read_models(
                reader, str(stack.settings.database_url), SPARE_GENERATION + index)
        finally:
            reader.close()
    except Exception as error:
        phase.read_models_error = f"not compared: {type(error).__name__}"


def _report(judged: list[tuple[Phase, list[Check]]], plan: Plan, command: str) -> str:
    failed = [f"{phase.title}: {check.name}" for phase, checks in judged
              for check in checks if check.ok is False]
    lines = [
        f"Command: `{command}`; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        f"Plan: {plan.warm_up:.0f}s warm-up, then each part killed (kill -9) for "
        f"{plan.down:.0f}s and given {plan.between:.0f}s after its restart; "
        f"{plan.writers} writers (a note every {plan.write_every}s each, Idempotency-Key, "
        f"retried with the same key), a report of a child in danger every "
        f"{plan.open_every}s (intake due in {plan.intake}, escalation levels "
        f"{', '.join(plan.ladder)}).",
        "",
    ]
    for phase, checks in judged:
        lines += [table(phase, checks), ""]
    lines.append("All checks passed." if not failed else
                 f"{len(failed)} checks failed: " + "; ".join(failed) + ".")
    return "\n".join(lines)

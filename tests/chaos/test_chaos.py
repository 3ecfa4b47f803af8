"""The short chaos run: the whole stack as processes, kill -9 of each part once under a small
load; every judged check of every fault is one test (`./run chaos` is the long run)."""

from __future__ import annotations

import pytest

from tests.chaos.run import SHORT, Result, chaos
from tests.chaos.stack import PARTS

JUDGED = (
    "killed part serving again after restart",
    "processes that died on their own",
    "acknowledged actions lost",
    "actions applied twice",
    "deadlines never recorded",
    "misses recorded before due or twice",
    "notifications per level per miss",
    "read models vs a full rebuild",
)
# Checks that fail on today's code, each waiting for another part of issue 13.
PENDING: dict[tuple[str, str], str] = {
    ("api", "actions applied twice"): (
        "a note committed by a request the kill cut off is recorded again when its retry takes "
        "over the stale Idempotency-Key reservation (60 s); needs item 5 (command ids)"),
    ("postgres", "actions applied twice"): (
        "a note whose commit succeeded while PostgreSQL died answers 500, and its retry records "
        "it again; needs item 5 (command ids, so that a retry finds the first commit)"),
    ("postgres", "processes that died on their own"): (
        "the projection runner exits with status 1 when PostgreSQL is killed; needs item 3 "
        "(clean outages: runners recover by themselves when the database returns)"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return chaos(tmp_path_factory.mktemp("chaos"), SHORT, "pytest tests/chaos")


def _cases() -> list[object]:
    cases: list[object] = []
    for part in PARTS:
        for check in JUDGED:
            reason = PENDING.get((part, check))
            marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
            cases.append(pytest.param(part, check, marks=marks, id=f"{part}: {check}"))
    return cases


@pytest.mark.e2e
@pytest.mark.parametrize(("part", "check"), _cases())
def test_after_kill_9_the_service_keeps_every_promise(run: Result, part: str, check: str) -> None:
    checks = next(checks for phase, checks in run.phases if phase.part == part)
    found = next(c for c in checks if c.name == check)
    assert found.ok, f"kill -9 {part}: {check}: {found.measured}\n\n{run.report}"

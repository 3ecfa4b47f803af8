"""The short chaos run: the whole stack as processes, kill -9 of each part once under a small
load; every judged check of every fault is one test (`./run chaos` is the long run)."""

from __future__ import annotations

import pytest

from tests.chaos.run import SHORT, Result, chaos
from tests.chaos.stack import PARTS

JUDGED = (
    "killed part serving again after restart",
    "processes that died on their own",
    "actions sent (acknowledged, retried)",
    "acknowledged actions lost",
    "actions applied twice",
    "deadlines due",
    "deadlines never recorded",
    "misses recorded before due or twice",
    "notifications per level per miss",
    "read models vs a full rebuild",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return chaos(tmp_path_factory.mktemp("chaos"), SHORT, "pytest tests/chaos")


def _cases() -> list[object]:
    cases: list[object] = []
    for part in PARTS:
        for check in JUDGED:
            cases.append(pytest.param(part, check, id=f"{part}: {check}"))
    return cases


@pytest.mark.e2e
@pytest.mark.parametrize(("part", "check"), _cases())
def test_after_kill_9_the_service_keeps_every_promise(run: Result, part: str, check: str) -> None:
    checks = next(checks for phase, checks in run.phases if phase.part == part)
    found = next(c for c in checks if c.name == check)
    assert found.ok, f"kill -9 {part}: {check}: {found.measured}\n\n{run.report}"

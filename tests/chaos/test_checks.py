"""The chaos run's judge catches what it must: a lost acknowledged action, an action applied
twice, a deadline never recorded or recorded early, a level notified twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from tests.chaos.checks import Deadline, LogFacts, Phase, judge, owner
from tests.chaos.load import Action, Ledger

LADDER = (timedelta(0), timedelta(seconds=10))
START = 1_000.0


def verdicts(ledger: Ledger, facts: LogFacts) -> dict[str, tuple[str, bool | None]]:
    phase = Phase("api", START, START + 100, back_after=1.0, read_models={"cases": 0})
    checks = judge(phase, [phase], ledger, facts, LADDER, START + 500)
    return {c.name: (c.measured, c.ok) for c in checks}


def test_a_clean_phase_passes_every_check() -> None:
    ledger = Ledger(actions=[Action("note", "n1", START + 1, "c1", START + 2, "acknowledged")])
    facts = LogFacts(cases={"c1"}, notes=Counter({"n1": 1}), deadlines=[
        Deadline("c1", "d1", START + 5, [START + 5.1], Counter({1: 1, 2: 1}))])
    found = verdicts(ledger, facts)
    assert all(ok is not False for _, ok in found.values()), found


def test_lost_and_doubled_actions_are_counted() -> None:
    ledger = Ledger(actions=[
        Action("note", "lost", START + 1, "c1", START + 2, "acknowledged"),
        Action("note", "twice", START + 1, "c1", None, "gave up"),
        Action("open", "Child A", START + 1, "c9", START + 2, "acknowledged"),
    ])
    facts = LogFacts(cases={"c1"}, notes=Counter({"twice": 2}), opened=Counter({"Child B": 1}))
    found = verdicts(ledger, facts)
    assert found["acknowledged actions lost"] == ("2", False)
    assert found["actions applied twice"] == ("1", False)


def test_an_action_under_way_at_a_kill_belongs_to_that_fault() -> None:
    warm_up, fault = Phase("", START - 100, START), Phase("api", START)
    spanning = Action("note", "n1", START - 1, "c1", outcome="acknowledged",
                      last_answer=START + 70)
    assert owner([warm_up, fault], spanning) is fault
    assert owner([warm_up, fault], Action("note", "n2", START - 2, last_answer=START - 1)) \
        is warm_up


def test_deadlines_never_recorded_early_or_notified_twice_are_counted() -> None:
    facts = LogFacts(deadlines=[
        Deadline("c1", "d1", START + 5, [], Counter()),
        Deadline("c2", "d1", START + 5, [START + 4], Counter({1: 1, 2: 1})),
        Deadline("c3", "d1", START + 5, [START + 9], Counter({1: 2})),
    ])
    found = verdicts(Ledger(), facts)
    assert found["deadlines never recorded"] == ("1", False)
    assert found["misses recorded before due or twice"] == ("1", False)
    assert found["notifications per level per miss"] == (
        "4 levels: 1 2 times, 1 never", False)
    assert found["recorded late (> 2s), max lateness"][0] == "1, max 4.0s"


def test_a_phase_whose_load_was_all_refused_proves_nothing_and_fails() -> None:
    ledger = Ledger(actions=[Action("open", "Child A", START + 1, None, None, "refused 422")])
    found = verdicts(ledger, LogFacts())
    assert found["actions sent (acknowledged, retried)"] == ("1 (0, 0)", False)
    assert found["deadlines due"] == ("0", False)

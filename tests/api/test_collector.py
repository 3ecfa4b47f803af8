"""The services' processes collect cyclic garbage less often, over what they made after
start-up only; the benchmarks can measure both ways in one process."""

from __future__ import annotations

import gc

from deploy.collector import THRESHOLDS, collector_tuned


def test_the_tuned_collector_leaves_start_up_out_and_is_put_back_afterwards() -> None:
    before = gc.get_threshold()
    made_at_start = [object() for _ in range(10)]  # held: still alive when tuning
    with collector_tuned():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() >= len(made_at_start)
        # A cycle made afterwards is still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0

"""The cyclic garbage collector's settings for Wardship's long-running processes.

Python collects its youngest objects after every 700 new containers, and every few rounds
walks everything alive. Decoding an event makes about thirty containers, and a request
several hundred, nearly all freed at once by reference counting, so the collector ran every
few dozen events over a heap that is mostly the modules and caches made at start. With what
start-up made frozen out of its sight and rounds 70 times rarer, a read model's rebuild took
about a quarter less CPU an event (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# Youngest generation every 50,000 new containers, the middle every 20 of those rounds, a
# full pass every 10 of these. A cycle dropped young (an exception's traceback, a finished
# task) is freed at the next young round, a fraction of a second of a busy process's work.
THRESHOLDS = (50_000, 20, 10)


def tune_collector() -> None:
    """Freeze what the process has made so far (modules, settings, the built application)
    and collect less often; call once a process has built what it serves with."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """The collector as `tune_collector` leaves it, then as it was (benchmarks, tests)."""
    thresholds = gc.get_threshold()
    tune_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)

"""The worker's caps on threads and Temporal slots, per worker process (docs/reliability.md).

Plain values, so that the settings can take their defaults from here without importing
temporalio into the API process.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerCaps:
    """How much one worker process takes on at once."""

    # Threads for the blocking activities (deliveries) and the steps' judgements.
    activity_threads: int = 256
    # Threads for workflow activations: brief CPU work under the GIL, so a few dozen keep
    # 2 cores busy (Temporal would otherwise make one thread per workflow-task slot).
    workflow_threads: int = 64
    # Workflow tasks taken at once: taken faster than the event loop runs them around a
    # burst's due time, 500 had 282 of a 10,000 burst's tasks time out while running, 100 none.
    workflow_tasks: int = 100
    # Activity slots, counters rather than threads: a step holds one while it waits for its
    # due time, so 10,000 deadlines due within the wake-early window need 10,000.
    activities: int = 10_000
    # Local activities: routing an alarm, recording a failed delivery, and the steps of
    # workflows begun before steps became ordinary activities.
    local_activities: int = 10_000
    # Above the number of live case workflows: an evicted workflow replays its whole
    # history on its next task, just when its deadline falls due.
    cached_workflows: int = 10_000
    # Most polls at once per queue; the server tells the worker when more would find work.
    pollers: int = 100


DEFAULT_CAPS = WorkerCaps()

"""Every thread pool of the worker is capped, and the caps are settings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from api.settings import Settings
from workflows.worker import build_worker

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship


def max_workers(executor: object) -> int:
    assert isinstance(executor, ThreadPoolExecutor)
    return executor._max_workers  # the cap itself is what is checked


async def test_activity_and_workflow_threads_are_capped(
    dev_server: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    defaults = build_worker(dev_server.client, app, {}, task_queue).config()
    # Without its own executor, Temporal makes one thread per workflow-task slot (10,000).
    assert max_workers(defaults["workflow_task_executor"]) == 64
    assert max_workers(defaults["activity_executor"]) == 256
    # Activity slots are counters: a step waiting for its due time holds one, not a thread.
    assert defaults["max_concurrent_activities"] == 10_000

    settings = Settings(worker_activity_threads=8, worker_workflow_threads=4,
                        worker_workflow_tasks=100, worker_activities=200,
                        worker_local_activities=50,
                        worker_cached_workflows=500)
    capped = build_worker(
        dev_server.client, app, {}, f"{task_queue}-capped", caps=settings.worker_caps(),
    ).config()
    assert max_workers(capped["workflow_task_executor"]) == 4
    assert max_workers(capped["activity_executor"]) == 8
    assert capped["max_concurrent_activities"] == 200
    assert capped["max_concurrent_workflow_tasks"] == 100
    assert capped["max_concurrent_local_activities"] == 50
    assert capped["max_cached_workflows"] == 500

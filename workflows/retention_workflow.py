"""`RetentionWorkflow`: one per installation; once a day asks for the erasure of every child
whose retention ran out (`domain.retention`). Each proposal is an erasure request on the
child's file, waiting there for a supervisor's approval: nothing is erased silently.

Each day is its own run (continue-as-new), so the history stays a few events long.
Deterministic code only; the proposing is the activity's.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

# How often retention is looked at: a day late is no harm, the proposals wait for approval.
EVERY = timedelta(days=1)
PROPOSE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=30), backoff_coefficient=2.0,
                            maximum_interval=timedelta(minutes=10), maximum_attempts=5)


def retention_workflow_id(task_queue: str) -> str:
    """The one retention workflow of the installation serving `task_queue`."""
    return f"retention-{task_queue}"


@workflow.defn
class RetentionWorkflow:
    """Proposes the erasures due, sleeps a day, and starts over."""

    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                "propose_retention_erasures", result_type=int,
                start_to_close_timeout=timedelta(hours=1), retry_policy=PROPOSE_RETRY)
        except ActivityError:
            workflow.logger.warning("retention proposals failed today; tried again tomorrow")
        await workflow.sleep(EVERY)
        workflow.continue_as_new()

"""`DigestWorkflow`: one per installation (task queue); wakes at each morning digest and has
it sent.

The time of the next digest (working days, the policy's `digest_at` in China Standard Time)
is asked of an activity, since the calendar is not workflow code. Each digest is its own run
(continue-as-new), so the history stays a few events long. Deterministic code only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.messages import DigestSlot

SLOT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1),
                         maximum_interval=timedelta(seconds=30))
# A digest that failed for some contacts is tried again a few times, then the day is left:
# its misses escalate to level 2 on their own schedule anyway.
DIGEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30), backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10), maximum_attempts=5,
)


def digest_workflow_id(task_queue: str) -> str:
    """The one digest workflow of the installation serving `task_queue`."""
    return f"digest-{task_queue}"


@workflow.defn
class DigestWorkflow:
    """Sleeps until the next digest time, has the digest sent, and starts over."""

    @workflow.run
    async def run(self) -> None:
        slot: DigestSlot = await workflow.execute_local_activity(
            "next_digest_slot", workflow.now(), result_type=DigestSlot,
            start_to_close_timeout=timedelta(seconds=30), retry_policy=SLOT_RETRY,
        )
        wait = slot.at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        try:
            await workflow.execute_activity(
                "send_digest", slot.day, result_type=str,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2), retry_policy=DIGEST_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("digest of %s not fully delivered", slot.day)
        workflow.continue_as_new()

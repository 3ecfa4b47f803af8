"""Workflow code that pushes one notice through each of its delivery targets, shared by the
case workflows (escalations) and the alarm workflows (pattern alarms).

A target that fails after its retries is recorded as failed, so no failure is silent.
Deterministic code only: it runs inside workflows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.messages import DeliveryInput

STEP_TIMEOUT = timedelta(seconds=30)
# How long a woken step may run past its time before Temporal runs it again. Under a burst a
# live step queues behind thousands of judgements: at 30 s, 309 of 10,000 were cut off alive
# and judged twice. A dead worker is found by the heartbeat timeout, not by this.
STEP_RUN_LIMIT = timedelta(minutes=10)
# How long past its time a step may go without a beat before Temporal takes its worker for
# dead and runs it on another. A burst slows the server itself at the due time (its calls
# took up to 10 s with 10,000 due at once): with 10 s, 688 of 10,000 live steps had their
# first beat refused as too late ("not found") and were run again.
STEP_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30), maximum_attempts=5,
)


async def deliver_all(holder_id: str, notification_id: str, targets: list[str]) -> bool:
    """Deliver the notice to every target at once; whether any took it."""
    outcomes = await asyncio.gather(*(
        _deliver(holder_id, notification_id, target) for target in targets))
    return any(outcomes)


async def _deliver(holder_id: str, notification_id: str, target: str) -> bool:
    delivery = DeliveryInput(holder_id, notification_id, target, workflow.now())
    try:
        await workflow.execute_activity(
            "deliver", delivery, result_type=str,
            start_to_close_timeout=timedelta(seconds=30), retry_policy=DELIVERY_RETRY,
        )
    except ActivityError as error:
        cause = str(error.cause or error)
        failed = DeliveryInput(holder_id, notification_id, target, workflow.now(),
                               detail=f"failed after retries: {cause}"[:500])
        await workflow.execute_local_activity(
            "record_delivery_failed", failed, result_type=bool,
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
        )
        return False
    return True

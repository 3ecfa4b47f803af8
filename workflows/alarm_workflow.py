"""`AlarmWorkflow`: one per pattern alarm (监测预警); routes it to the contacts on duty for
the child's township and delivers it at once, with the retries and recorded outcomes of an
escalation. The relay starts it from the alarm's event, so an alarm recorded is an alarm sent.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.deliveries import STEP_RETRY, STEP_TIMEOUT, deliver_all

with workflow.unsafe.imports_passed_through():
    from workflows.messages import AlarmInput  # noqa: TC001 - the converter reads the hint


def alarm_workflow_id(notification_id: str) -> str:
    """The id of an alarm's workflow: one per alarm, whoever starts it."""
    return f"alarm-{notification_id}"


@workflow.defn
class AlarmWorkflow:
    """Routes one alarm and pushes it to every target; ends when each is delivered or failed."""

    @workflow.run
    async def run(self, alarm: AlarmInput) -> None:
        targets: list[str] = await workflow.execute_local_activity(
            "route_alarm", alarm, result_type=list[str],
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
        )
        await deliver_all(alarm.file_id, alarm.notification_id, targets)

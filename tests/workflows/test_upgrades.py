"""Case workflows begun by an earlier release go on under today's code: their recorded
histories replay without a nondeterminism error (no server needed)."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from workflows.case_workflow import CaseWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def test_a_case_workflow_whose_steps_were_local_activities_replays_on_todays_code() -> None:
    # Recorded before steps became ordinary activities: a red report's intake missed, then
    # levels 1 and 2 recorded, each step a local-activity marker in the history.
    text = (HISTORIES / "case_step_as_local_activity.json").read_text()
    history = WorkflowHistory.from_json("case-replayed", text)
    replayer = Replayer(workflows=[CaseWorkflow], workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure

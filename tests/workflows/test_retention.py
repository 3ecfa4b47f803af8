"""Retention (issue 16): a scheduled workflow asks for the erasure of each child whose
retention ran out; the request waits for a supervisor, and nothing is erased silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from temporalio.client import WorkflowExecutionStatus

from domain.personal import ERASED
from tests.inspection.support import CASEWORKER, CHILD, SOURCE, SUPERVISOR
from tests.workflows.support import eventually
from workflows.retention_workflow import RetentionWorkflow, retention_workflow_id
from workflows.worker import build_worker, keep_running

if TYPE_CHECKING:
    import asyncio

    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship

YEAR = timedelta(days=365)


def child_case(app: Wardship, name: str, born: str, closed_years_ago: float | None) -> UUID:
    """A case about an invented child, closed that many years ago (None: still open)."""
    now = datetime.now(UTC)
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001",
        child={**CHILD, "id_number": None, "name": name, "birth_date": born},
        concern={"categories": ["neglect"], "summary": "x", "danger_now": False},
        source=dict(SOURCE), occurred_at=now - 8 * YEAR)
    if closed_years_ago is not None:
        app.perform(UUID(view["id"]), CASEWORKER, "screen_out", {"reason": "no concern"},
                    occurred_at=now - closed_years_ago * YEAR)
    return UUID(view["child_id"])


async def test_due_erasures_are_proposed_daily_and_wait_for_approval(
    own_time_skipping_env: WorkflowEnvironment, app: Wardship, task_queue: str
) -> None:
    env = own_time_skipping_env
    due = child_case(app, "Invented Adult", "2000-01-01", 6)  # 5 years since, and 18
    young = child_case(app, "Invented Young", "2016-01-01", 6)  # not 18 yet
    recent = child_case(app, "Invented Recent", "2000-01-01", 1)  # closed a year ago
    still_open = child_case(app, "Invented Open", "2000-01-01", None)
    handle = env.client.get_workflow_handle(retention_workflow_id(task_queue))
    async with build_worker(env.client, app, {}, task_queue):
        try:
            import asyncio as aio
            stop: asyncio.Event = aio.Event()
            await keep_running(env.client, RetentionWorkflow.run,
                               retention_workflow_id(task_queue), task_queue, stop, "retention")
            request = await eventually(lambda: app.privacy(SUPERVISOR, due)["erasure_request"])
            assert request["requested_by"] == "wardship"
            assert "retention ran out" in request["reason"]
            for other in (young, recent, still_open):
                assert app.privacy(SUPERVISOR, other)["erasure_request"] is None
            # The supervisors of the area find it among the requests waiting for them.
            assert [(r["child_id"], r["requested_by"])
                    for r in app.erasure_requests(SUPERVISOR)] == [(str(due), "wardship")]
            # Nothing is erased until a supervisor approves.
            assert app._child_file(due).personal["name"] == "Invented Adult"
            first_run = (await handle.describe()).run_id
            await env.sleep(timedelta(days=1, minutes=1))
            for _ in range(300):  # the next day's run, started by continue-as-new
                if (await handle.describe()).run_id != first_run:
                    break
                await aio.sleep(0.1)
            assert (await handle.describe()).run_id != first_run
            app.approve_erasure(SUPERVISOR, due)
            assert app._child_file(due).personal["name"] == ERASED
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        finally:
            await handle.terminate("test over")


"""The worker process: runs `CaseWorkflow` and its activities, and the relay, until SIGTERM/SIGINT.

It receives a built `Wardship` and plain values (`WorkerConfig`); `wardship worker`
(`api/cli/worker.py`) builds the application from the settings and calls `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import (
    PollerBehaviorAutoscaling,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from deploy.heartbeat import Heartbeat
from workflows.activities import DEFAULT_PUBLIC_URL, CaseActivities
from workflows.alarm_workflow import AlarmWorkflow
from workflows.caps import DEFAULT_CAPS, WorkerCaps
from workflows.case_workflow import CaseWorkflow
from workflows.digest_activities import DigestActivities
from workflows.digest_workflow import DigestWorkflow, digest_workflow_id
from workflows.hotline_replies import from_settings as hotline_replies
from workflows.messages import DEFAULT_WAKE_EARLY
from workflows.relay import Relay
from workflows.retention_activities import RetentionActivities
from workflows.retention_workflow import RetentionWorkflow, retention_workflow_id
from workflows.transports import build_transports

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from domain.application import Wardship
    from workflows.transports import SmtpSecurity, Transport

log = structlog.get_logger("wardship.worker")


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker needs, as plain values."""

    temporal_address: str
    task_queue: str = "wardship-cases"
    namespace: str = "default"
    # The transports (workflows/transports.py); recipients come from the contact directory.
    webhook_secret: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_security: SmtpSecurity = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = None
    public_url: str = DEFAULT_PUBLIC_URL
    # Where the 12345 platform takes its replies (办结回复); None: no replies are sent.
    hotline_reply_url: str | None = None
    wake_early: float = DEFAULT_WAKE_EARLY
    caps: WorkerCaps = DEFAULT_CAPS
    heartbeat_file: Path | None = None
    # The supervising `wardship worker` of a child process: the child stops once it is gone.
    parent_pid: int | None = None


def build_worker(
    client: Client, app: Wardship, transports: Mapping[str, Transport], task_queue: str,
    *, caps: WorkerCaps = DEFAULT_CAPS, sandboxed: bool = False,
    public_url: str = DEFAULT_PUBLIC_URL,
) -> Worker:
    """A worker for the case workflows, tuned for many deadlines falling due together; every
    thread pool and slot count is capped by `caps`."""
    executor = ThreadPoolExecutor(max_workers=caps.activity_threads,
                                  thread_name_prefix="wardship_activity")
    # Read the contact directory now, so the first burst of due deadlines only catches up.
    app.contact_directory()
    steps = CaseActivities(app, transports, executor, public_url)
    digests = DigestActivities(app, transports, public_url)
    retention = RetentionActivities(app)
    # Without the sandbox each activation costs a fraction of the CPU (no module proxying,
    # no restricted builtins). It is safe here: `workflows.case_workflow` imports only
    # temporalio, the standard library (asyncio, contextlib, datetime) and the stdlib-only
    # dataclasses of `workflows.messages`, keeps no module-level state and uses
    # `workflow.now()` for time. The workflow tests run it unsandboxed too.
    runner: WorkflowRunner = (SandboxedWorkflowRunner() if sandboxed
                              else UnsandboxedWorkflowRunner())
    with warnings.catch_warnings():
        # Temporal warns when there are more activity slots than threads; here the slots are
        # meant for steps that wait on the event loop, and only deliveries take a thread.
        warnings.filterwarnings("ignore", "Worker max_concurrent_activities", UserWarning)
        return Worker(
            client, task_queue=task_queue,
            workflows=[CaseWorkflow, AlarmWorkflow, DigestWorkflow, RetentionWorkflow],
            activities=steps.all() + digests.all() + retention.all(),
            activity_executor=executor,
            workflow_task_executor=ThreadPoolExecutor(max_workers=caps.workflow_threads,
                                                      thread_name_prefix="wardship_workflow"),
            workflow_runner=runner,
            # Why each cap has its value: `workflows/caps.py`.
            max_concurrent_activities=caps.activities,
            max_concurrent_local_activities=caps.local_activities,
            max_concurrent_workflow_tasks=caps.workflow_tasks,
            max_cached_workflows=caps.cached_workflows,
            # Each poll brings one task. A fixed 5 polls (1 on the shared queue) fetched ~40
            # tasks a second, so 2,000 deadlines due together waited tens of seconds for
            # their tasks and timed out on the sticky queue; the server tells the worker
            # when more polls would find work.
            workflow_task_poller_behavior=PollerBehaviorAutoscaling(maximum=caps.pollers),
            activity_task_poller_behavior=PollerBehaviorAutoscaling(maximum=caps.pollers),
        )


async def connect(address: str, namespace: str, stop: asyncio.Event) -> Client | None:
    """Connect to Temporal, waiting and retrying while it is unreachable (None: stopped)."""
    delay = 0.5
    while not stop.is_set():
        try:
            return await Client.connect(address, namespace=namespace)
        except Exception as error:
            log.warning("temporal_unreachable", error=type(error).__name__, retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)
    return None


async def keep_digest_running(client: Client, task_queue: str, stop: asyncio.Event) -> None:
    """Start the installation's one digest workflow unless it runs already."""
    await keep_running(client, DigestWorkflow.run, digest_workflow_id(task_queue), task_queue,
                       stop, "digest")


async def keep_running(client: Client, run: Any, workflow_id: str, task_queue: str,
                       stop: asyncio.Event, what: str) -> None:
    """Start one of the installation's own workflows (digest, retention) unless it runs
    already (every worker asks; Temporal keeps one), retrying while Temporal does not
    answer."""
    delay = 0.5
    while not stop.is_set():
        try:
            await client.start_workflow(
                run, id=workflow_id, task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            return
        except Exception as error:
            log.warning(f"{what}_not_started", error=type(error).__name__, retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)


async def serve(config: WorkerConfig, app: Wardship, stop: asyncio.Event) -> None:
    """Run the worker and the relay on `app` until `stop` is set, then drain and stop both."""
    transports = build_transports(
        smtp_host=config.smtp_host, smtp_port=config.smtp_port, smtp_from=config.smtp_from,
        smtp_security=config.smtp_security, smtp_user=config.smtp_user,
        smtp_password=config.smtp_password, sms_gateway_url=config.sms_gateway_url,
        sms_gateway_token=config.sms_gateway_token, webhook_secret=config.webhook_secret,
    )
    client = await connect(config.temporal_address, config.namespace, stop)
    if client is None:
        return
    worker = build_worker(
        client, app, transports, config.task_queue, caps=config.caps,
        public_url=config.public_url,
    )
    relay = Relay(app, client, config.task_queue, wake_early=config.wake_early)
    replies = hotline_replies(app, config.hotline_reply_url, config.webhook_secret)
    log.info("worker_started", task_queue=config.task_queue, transports=sorted(transports))
    async with worker:
        relay_task = asyncio.create_task(relay.run(stop))
        digest_task = asyncio.create_task(keep_digest_running(client, config.task_queue, stop))
        retention_task = asyncio.create_task(keep_running(
            client, RetentionWorkflow.run, retention_workflow_id(config.task_queue),
            config.task_queue, stop, "retention"))
        replies_task = asyncio.create_task(replies.run(stop)) if replies else None
        await stop.wait()
        await relay_task
        await digest_task
        await retention_task
        if replies_task is not None:
            await replies_task
    log.info("worker_stopped")


async def stop_when_orphaned(parent_pid: int, stop: asyncio.Event, every: float = 1.0) -> None:
    """Set `stop` once this process's parent is no longer `parent_pid` (it died and the
    process was handed to another), so that no worker outlives its supervisor."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("worker_orphaned", parent=parent_pid)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def run(config: WorkerConfig, app: Wardship) -> int:
    """Entry point: serve `app` until SIGTERM or SIGINT; returns the exit status."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Alive means the event loop turns, whether or not Temporal and the database answer.
        beating = (asyncio.create_task(Heartbeat(config.heartbeat_file).beat_while(stop))
                   if config.heartbeat_file else None)
        watching = (asyncio.create_task(stop_when_orphaned(config.parent_pid, stop))
                    if config.parent_pid else None)
        try:
            await serve(config, app, stop)
        finally:
            for task in (beating, watching):
                if task is not None:
                    task.cancel()

    asyncio.run(main())
    return 0

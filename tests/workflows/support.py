"""Shared helpers for the workflow tests: a second-scale policy, a case opener, waiting, and
`wardship worker` processes."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.codes import Role
from domain.policy import Policy, parse_policy
from workflows.messages import DEFAULT_WAKE_EARLY

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from subprocess import Popen

    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

    from domain.application import Wardship
    from domain.case_state import Notification
    from domain.clock import Clock

# One cipher key for the test's applications, as deployed: a store in PostgreSQL refuses to
# start without one (each would wrap the children's data keys under a key of its own).
CIPHER_KEY = base64.b64encode(b"wardship-workflow-test-key-32byt").decode()
TOWNSHIP = "511102001"
CASEWORKER = Actor("cw-test-1", frozenset({Role.CASEWORKER}), TOWNSHIP, "Test Caseworker")
INTAKE = "intake_danger"


def seconds_policy_toml(
    intake: str = "10s", levels: tuple[str, ...] = ("0s", "30s", "60s")
) -> str:
    """A policy whose urgent intake falls due in seconds; every other deadline a day away."""
    ladder = ", ".join(f'"{level}"' for level in levels)
    return f"""
version = "test-seconds-1"
calendar = "CN"

[deadlines]
report_filing = "1d"
intake = "1d"
intake_danger = "{intake}"
response_dispatch = {{ red = "1d", orange = "1d" }}
emergency_completion = {{ red = "1d", orange = "1d" }}
assessment = {{ red = "1d", orange = "1d", yellow = "1d", blue = "1d" }}
plan_creation = "1d"
home_visit = {{ red = "1d", orange = "1d", yellow = "1d", blue = "1d" }}
referral_response = "1d"
guardianship_review = "1d"
case_review = "1d"
approval = "1d"

[escalation]
levels = [{ladder}]
"""


def seconds_policy(intake: str = "10s", levels: tuple[str, ...] = ("0s", "30s", "60s")) -> Policy:
    """The seconds policy, parsed."""
    return parse_policy(seconds_policy_toml(intake, levels), "test policy")


def open_red_report(app: Wardship, now: datetime | None = None, child: str = "Test Child") -> UUID:
    """A report of a child in danger now: intake must accept it within the policy's limit."""
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction=TOWNSHIP,
        child={"name": child, "birth_date": "2015-03-01", "category": "other"},
        concern={"categories": ["neglect"], "summary": "invented", "danger_now": True},
        source={"channel": "public", "reporter": {"name": "Invented Reporter"}},
        now=now,
    )
    return UUID(view["id"])


def intake_deadline(app: Wardship, case_id: UUID) -> tuple[str, datetime]:
    deadline = next(d for d in app.get_case_aggregate(case_id).deadlines.values()
                    if d.kind == INTAKE)
    return deadline.id, deadline.due_at


def accept(app: Wardship, case_id: UUID, at: datetime) -> None:
    app.perform(case_id, CASEWORKER, "accept_report",
                {"grade": "red", "assignee": CASEWORKER.subject}, occurred_at=at, now=at)


def notifications(app: Wardship, case_id: UUID) -> dict[str, Notification]:
    return dict(app.get_case_aggregate(case_id).notifications)


def events_named(app: Wardship, case_id: UUID, name: str) -> list[Any]:
    return [e for e in app.case_events(case_id) if type(e).__name__ == name]


async def eventually(check: Callable[[], Any], within: float = 30.0) -> Any:
    """Wait (real time) until `check()` is truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(check)
        if value or time.monotonic() > deadline:
            assert value, "condition not reached"
            return value
        await asyncio.sleep(0.05)


def skipped_clock(env: WorkflowEnvironment) -> Clock:
    """The time-skipping server's clock, for an application judging that server's deadlines.

    The server skips time only while every workflow waits, so when a step is judged this is
    the workflows' own time; the database's would lag every skip. Call it on the event loop
    `env` runs on; the clock itself is read from other threads (the activities' executor).
    """
    loop = asyncio.get_running_loop()

    def now() -> datetime:
        return asyncio.run_coroutine_threadsafe(env.get_current_time(), loop).result()

    return now


def after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def start_workers(
    count: int, client: Client, task_queue: str, *, database_url: str, cipher_key: str,
    policy: Path, workdir: Path, wake_early: float = DEFAULT_WAKE_EARLY, processes: int = 1,
) -> list[Popen[bytes]]:
    """`wardship worker` processes, as deployed, on this test's store, policy, Temporal server
    and task queue, each running `processes` worker processes; returns once every one has
    started (their logs are kept in `workdir`)."""
    settings = {
        "WARDSHIP_WORKER_PROCESSES": str(processes),
        "DATABASE_URL": database_url, "WARDSHIP_CIPHER_KEY": cipher_key,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "WARDSHIP_TASK_QUEUE": task_queue, "WARDSHIP_POLICY": str(policy),
        "WARDSHIP_STATE_DIR": str(workdir), "WARDSHIP_LOG_LEVEL": "INFO",
        "WARDSHIP_DEADLINE_WAKE_EARLY": str(wake_early),
    }
    started = []
    for index in range(count):
        with (workdir / f"worker-{index}.log").open("w") as stderr:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "api.cli", "worker"], env={**os.environ, **settings},
                stdout=subprocess.DEVNULL, stderr=stderr))
    try:
        for index in range(count):
            log = workdir / f"worker-{index}.log"
            give_up = time.monotonic() + 60
            while log.read_text().count("worker_started") < processes:
                assert time.monotonic() < give_up, log.read_text()[-2000:]
                time.sleep(0.1)
    except BaseException:
        for process in started:  # none may outlive a test that could not start them all
            process.kill()
            process.wait()
        raise
    return started

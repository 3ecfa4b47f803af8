"""A deadline step loads its case while it waits for its time, so that a burst's judgements
find their cases in the worker's cache. What another process records in between still counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from domain.application import Wardship
from domain.storage import event_store_env
from tests.workflows.support import (
    CIPHER_KEY,
    accept,
    events_named,
    intake_deadline,
    open_red_report,
    seconds_policy,
)
from workflows.activities import CaseActivities
from workflows.messages import StepInput

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def api_and_worker(db_url: str) -> Iterator[tuple[Wardship, Wardship]]:
    """Two processes on one database: the API, where caseworkers act, and a worker."""
    policy = seconds_policy(intake="30s")
    api = Wardship(env=event_store_env(db_url, CIPHER_KEY), policy=policy)
    worker = Wardship(env=event_store_env(db_url, CIPHER_KEY), policy=policy)
    yield api, worker
    api.close()
    worker.close()


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted in time", "not accepted"])
def test_a_step_judges_the_case_as_stored_at_its_time_not_as_it_was_loaded(
    api_and_worker: tuple[Wardship, Wardship], accepted: bool
) -> None:
    api, worker = api_and_worker
    opened = datetime.now(UTC)
    case_id = open_red_report(api, opened)
    deadline_id, due_at = intake_deadline(api, case_id)
    steps = CaseActivities(worker, {})
    steps._warm(str(case_id))  # as the step does while it waits for its time
    if accepted:
        accept(api, case_id, opened + timedelta(seconds=10))
    result = steps._judge(StepInput(str(case_id), deadline_id, 1, due_at),
                          due_at + timedelta(seconds=1))
    assert result.awaits_escalation is not accepted
    assert len(events_named(api, case_id, "DeadlineMissed")) == (0 if accepted else 1)

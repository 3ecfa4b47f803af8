"""Re-arm deadlines from the event store alone: after a restore, or on a new Temporal server.

Each case with something to watch (an open deadline, or a miss still climbing the escalation
ladder) gets its workflow signalled, and started if absent, with its latest state, as the
relay would after a new event. Case ids come from the log, not a read model that may lag.
Safe to run twice and beside a running relay: a workflow ignores versions it has seen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workflows.relay import current_state, signal_case

if TYPE_CHECKING:
    from uuid import UUID

    from temporalio.client import Client

    from domain.application import Wardship

# Signals in flight at once, as the relay allows.
CONCURRENCY = 64


@dataclass(frozen=True)
class Rearmed:
    """What a pass did: cases read, workflows signalled, deadlines they now watch."""

    cases: int
    workflows: int
    deadlines: int


async def rearm(
    app: Wardship, client: Client, task_queue: str, wake_early: float = 0.0
) -> Rearmed:
    """Signal (or start) the workflow of every case and monitoring record with a deadline to
    watch."""
    case_ids = await asyncio.to_thread(lambda: list(app.deadline_holder_ids()))
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(case_id: UUID) -> int:
        async with limit:
            state = await asyncio.to_thread(current_state, app, case_id, wake_early)
            if not state.deadlines:
                return 0  # nothing to time: the relay starts it on the case's next event
            await signal_case(client, task_queue, state)
            return len(state.deadlines)

    watched = await asyncio.gather(*(one(case_id) for case_id in case_ids))
    return Rearmed(len(case_ids), sum(1 for n in watched if n), sum(watched))

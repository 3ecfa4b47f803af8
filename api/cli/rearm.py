"""`wardship rearm`: start the workflow of every case with a pending deadline, from the store.

Run it after `wardship restore`, or whenever the Temporal server lost its history: each
deadline still open in the event store, and each miss still escalating, is timed again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse


def run(args: argparse.Namespace) -> int:
    """Exit 0 once every workflow is signalled; 1 if Temporal is unreachable, 2 if unset."""
    del args
    from temporalio.client import Client
    from temporalio.service import RPCError

    from api.bootstrap import bootstrap
    from api.settings import get_settings
    from workflows.rearm import rearm

    settings = get_settings()
    if settings.database_url is None or settings.temporal_address is None:
        print("wardship rearm needs DATABASE_URL and TEMPORAL_ADDRESS", file=sys.stderr)
        return 2
    address, namespace = settings.temporal_address, settings.temporal_namespace
    started = time.monotonic()
    app = bootstrap(settings)
    try:
        async def main() -> None:
            client = await Client.connect(address, namespace=namespace)
            done = await rearm(app, client, settings.task_queue, settings.deadline_wake_early)
            print(f"re-armed {done.deadlines} deadlines in {done.workflows} workflows "
                  f"({done.cases} cases read) in {time.monotonic() - started:.1f}s")

        asyncio.run(main())
    except RuntimeError as error:  # what temporalio raises when it cannot connect
        print(f"cannot reach Temporal at {address}: {error}; nothing was re-armed",
              file=sys.stderr)
        return 1
    except RPCError as error:
        print(f"Temporal refused a signal ({error.status.name}): run `wardship rearm` again "
              "(it is safe to repeat)", file=sys.stderr)
        return 1
    finally:
        app.close()
    return 0


COMMAND = Command("rearm", "start every case's deadline workflow from the event store", run)

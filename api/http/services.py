"""What the routes need, opened once per API process in the lifespan and closed after it.

The Wardship application (built by `api.bootstrap`), the command threads, the token
verifier, the idempotency store and the access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import anyio
import structlog
from fastapi.concurrency import run_in_threadpool

from api.bootstrap import bootstrap
from api.http.access_log import AccessLog
from api.http.auth import TokenVerifier
from api.http.idempotency import IdempotencyStore
from api.imports.threads import ImportThreads
from api.readmodels import OwnWrites
from domain.errors import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI
    from psycopg_pool import AsyncConnectionPool

    from api.settings import Settings
    from domain.application import Wardship

log = structlog.get_logger("wardship.services")

# Event-store connections per API process: one per concurrent command is plenty.
EVENT_STORE_POOL_SIZE = 8
RETRY_SECONDS = 5.0
COMMAND_THREADS = 8
# Each command checks a connection out twice (load, save): a pre-ping doubles the round
# trips, and the library already retries on a broken connection.
API_STORE_TUNING = {"POSTGRES_PRE_PING": "n"}
# Seconds a request waits for the event store before answering 503: the API promises an
# answer within 5 s while the database is unreachable. The library retries a failed call ten
# times, each waiting up to the pool's wait for a connection; a short wait keeps a thread
# caught in an outage from being held long after its caller had the 503.
STORE_ANSWER_SECONDS = 4.0
EVENT_STORE_POOL_WAIT = 0.3


T = TypeVar("T")


async def run_command(app: FastAPI, call: Callable[[], T]) -> T:
    """Run a domain command on the command threads; waits for it even if cancelled."""
    # A plain executor: measured ~10% less CPU per action than anyio's limiter and hop.
    pool: ThreadPoolExecutor = app.state.command_pool
    future = asyncio.get_running_loop().run_in_executor(
        pool, contextvars.copy_context().run, call)
    try:
        return await asyncio.wait_for(asyncio.shield(future), STORE_ANSWER_SECONDS)
    except TimeoutError:
        # The command goes on in its thread and may still commit once the store answers:
        # the caller is told so (a retry with its command id recognises such a commit).
        raise StoreUnavailable(
            "the event store did not answer in time; the change may or may not have been "
            "recorded, reload the case before retrying") from None
    except asyncio.CancelledError:
        # As anyio does: a started command finishes before its caller hears of the cancel.
        with contextlib.suppress(BaseException):
            await future
        raise


async def store_call(call: Callable[..., T], *args: object) -> T:
    """Run a read of the event store in a worker thread; StoreUnavailable if it takes longer
    than the API's promise (the thread is left to finish on its own)."""
    try:
        with anyio.fail_after(STORE_ANSWER_SECONDS):
            return await anyio.to_thread.run_sync(
                functools.partial(call, *args), abandon_on_cancel=True)
    except TimeoutError:
        raise StoreUnavailable("the event store did not answer in time; retry shortly (a "
                               "change asked for may still be recorded: reload first)") from None


class CaseServices:
    """Opens the application (retrying while the database is down) and the stores."""

    def __init__(self, app: FastAPI, settings: Settings, pool: AsyncConnectionPool | None):
        self.app = app
        self.settings = settings
        self.access_log = AccessLog(pool)
        self._task: asyncio.Task[None] | None = None
        app.state.wardship = None
        app.state.token_verifier = TokenVerifier(settings)
        app.state.idempotency = IdempotencyStore(pool)
        app.state.access_log = self.access_log
        app.state.own_writes = OwnWrites()

    async def start(self) -> None:
        # Commands run in worker threads; a few at once keep the store busy without the
        # threads and the event loop fighting over the GIL (the store serialises writes anyway).
        self.app.state.command_pool = ThreadPoolExecutor(COMMAND_THREADS, "command")
        self.app.state.imports = ImportThreads()
        if not await self._open():
            self._task = asyncio.create_task(self._keep_trying(), name="open-wardship")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await run_in_threadpool(self.app.state.command_pool.shutdown)
        await run_in_threadpool(self.app.state.imports.close)
        wardship: Wardship | None = self.app.state.wardship
        if wardship is not None:
            await run_in_threadpool(wardship.close)

    async def _open(self) -> bool:
        try:
            wardship = await run_in_threadpool(functools.partial(
                bootstrap, self.settings, pool_size=EVENT_STORE_POOL_SIZE,
                tuning=API_STORE_TUNING, pool_wait=EVENT_STORE_POOL_WAIT))
        except Exception as error:
            log.warning("event_store_unavailable", error_type=type(error).__name__)
            return False
        # Answers kept in memory go with an erased child's keys too (those in the database
        # bootstrap sees to; with one, none are kept in memory).
        wardship.on_shred.append(self.app.state.idempotency.forget_answers_about)
        self.app.state.wardship = wardship
        return True

    async def _keep_trying(self) -> None:
        opened = False
        while not opened:
            await asyncio.sleep(RETRY_SECONDS)
            opened = await self._open()

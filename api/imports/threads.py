"""The API process's import threads: each posted file's job runs in the background.

One job runs at a time per file; closing the process stops every job after its current
batch, and the job stays where that batch left it (posting the file again resumes it).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

log = structlog.get_logger("wardship.imports")

# Imports at once per API process: each keeps the store's writer busy on its own.
IMPORT_THREADS = 2


class ImportThreads:
    """Runs jobs in background threads, at most one per job id."""

    def __init__(self, threads: int = IMPORT_THREADS) -> None:
        self._pool = ThreadPoolExecutor(threads, "import")
        self._running: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def submit(self, job_id: str, run: Callable[[], Any]) -> bool:
        """Run the job unless it is running here already; whether it was started."""
        with self._lock:
            if self.stop.is_set() or self.running(job_id):
                return False
            future = self._pool.submit(self._guarded, job_id, run)
            self._running[job_id] = future
            future.add_done_callback(lambda _: self._forget(job_id, future))
            return True

    def running(self, job_id: str) -> bool:
        future = self._running.get(job_id)
        return future is not None and not future.done()

    def close(self) -> None:
        """Stop every job after its current batch and wait for them."""
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _guarded(job_id: str, run: Callable[[], Any]) -> None:
        try:
            run()
        except Exception as error:
            # The type alone: a message may quote a row. The job stays resumable.
            log.error("import_stopped", job_id=job_id, error_type=type(error).__name__)

    def _forget(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            if self._running.get(job_id) is future:
                del self._running[job_id]

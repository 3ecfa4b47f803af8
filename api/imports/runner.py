"""Runs an import job from where it stands: batches of rows to the application, then done.

The CLI runs it in the foreground with a progress bar, the API in a thread of its own. A run
stopped half way (a crash, a stop request) leaves the job at its last saved batch; running
the same file again continues from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from api.imports.reader import ImportFile
    from domain.actors import Actor
    from domain.application import Wardship

# Rows per transaction: ~1,000 events, well under a second each (docs/performance.md).
BATCH_ROWS = 1000


def start_job(app: Wardship, actor: Actor, file: ImportFile, jurisdiction: str
              ) -> dict[str, Any]:
    """The file's job, started now or as an earlier run left it."""
    return app.start_import(actor, source=file.source, jurisdiction=jurisdiction,
                            digest=file.digest, total_rows=file.total_rows)


def run_job(app: Wardship, actor: Actor, file: ImportFile, job: dict[str, Any], *,
            batch_rows: int = BATCH_ROWS, stop: threading.Event | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Import the rows the job has not done; the job as left (finished unless stopped)."""
    if job["finished"]:
        return job
    job_id, done = UUID(job["id"]), int(job["rows_done"])
    known = app.child_file_ids()
    batch: list[tuple[int, dict[str, str]]] = []

    def record() -> dict[str, Any]:
        answer = app.import_rows(actor, job_id, done, batch, known)
        batch.clear()
        if progress is not None:
            progress(answer)
        return answer

    for row in file.rows(skip=done):
        batch.append(row)
        if len(batch) >= batch_rows:
            if stop is not None and stop.is_set():
                return job
            job = record()
            done = int(job["rows_done"])
    if batch:
        if stop is not None and stop.is_set():
            return job
        job = record()
    return app.finish_import(actor, job_id)

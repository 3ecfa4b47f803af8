"""An import of one department's list as an aggregate: how far it got and what it rejected.

Its id comes from the source, the importer's area and the file's digest, so posting the same
file again finds the same job and continues after the last batch it recorded. Each batch's
progress is saved in the same transaction as the batch's files and cases.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate

_NAMESPACE = uuid.UUID("c3f0d9a4-5b7e-4e21-9d6a-0a8e4b1f2c57")
COUNTS = ("accepted", "rejected", "files_created", "files_matched", "unchanged",
          "cases_opened")


def import_job_id(source: str, jurisdiction: str, digest: str) -> uuid.UUID:
    """The job of this file (by content digest) imported as this source for this area."""
    return uuid.uuid5(_NAMESPACE, f"{source}|{jurisdiction}|{digest}")


class ImportJob(Aggregate):
    """One file's import: its rows done so far, the counts, and each rejected row's reason."""

    class Started(Aggregate.Created):
        """An import of a department's list began (摸底排查、数据比对)."""

        source: str
        jurisdiction: str
        digest: str
        total_rows: int
        started_by: str

        def apply(self, aggregate: Any) -> None:
            job: ImportJob = aggregate
            job.source, job.jurisdiction = self.source, self.jurisdiction
            job.digest, job.total_rows, job.started_by = self.digest, self.total_rows, \
                self.started_by
            job.started_at = self.timestamp
            job.updated_at = self.timestamp

    class RowsImported(Aggregate.Event):
        """One batch of rows was checked and recorded; `rows_done` counts every row so far."""

        rows_done: int
        counts: dict[str, int]
        rejections: list[dict[str, Any]]
        recorded_by: str

        def apply(self, aggregate: Any) -> None:
            job: ImportJob = aggregate
            job.rows_done = self.rows_done
            job.counts = {k: job.counts.get(k, 0) + self.counts.get(k, 0) for k in COUNTS}
            job.rejections = [*job.rejections, *self.rejections]
            job.updated_at = self.timestamp

    class Finished(Aggregate.Event):
        """Every row of the file was handled."""

        recorded_by: str

        def apply(self, aggregate: Any) -> None:
            job: ImportJob = aggregate
            job.finished_at = self.timestamp
            job.updated_at = self.timestamp

    def __init__(self) -> None:
        self.source = self.jurisdiction = self.digest = self.started_by = ""
        self.total_rows = 0
        self.rows_done = 0
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self.rejections: list[dict[str, Any]] = []
        self.started_at: Any = None
        self.updated_at: Any = None
        self.finished_at: Any = None

    @classmethod
    def start(cls, *, source: str, jurisdiction: str, digest: str, total_rows: int,
              started_by: str) -> ImportJob:
        return cls._create(cls.Started, id=import_job_id(source, jurisdiction, digest),
                           source=source, jurisdiction=jurisdiction, digest=digest,
                           total_rows=total_rows, started_by=started_by)

    def record_rows(self, rows_done: int, counts: dict[str, int],
                    rejections: list[dict[str, Any]], recorded_by: str) -> None:
        self.trigger_event(self.RowsImported, rows_done=rows_done, counts=counts,
                           rejections=rejections, recorded_by=recorded_by)

    def finish(self, recorded_by: str) -> None:
        if self.finished_at is None:
            self.trigger_event(self.Finished, recorded_by=recorded_by)

    def view(self) -> dict[str, Any]:
        """The job as answered: progress, counts and the rejected rows (no personal data)."""
        return {"id": str(self.id), "source": self.source, "jurisdiction": self.jurisdiction,
                "total_rows": self.total_rows, "rows_done": self.rows_done, **self.counts,
                "started_by": self.started_by, "started_at": self.started_at,
                "updated_at": self.updated_at, "finished_at": self.finished_at,
                "finished": self.finished_at is not None,
                "rejections": list(self.rejections)}

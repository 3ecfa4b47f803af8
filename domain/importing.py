"""Recording an import batch: each checked row onto its child's file, each risk row as a
discovery case, and the job's progress, all in one transaction.

Files are found by the identity rule that opening a case uses (`child_identity`), so a row
links to the file of a case opened before about the same ID number. Command ids come from
the source and the row key (keyed by the application's identity key: row keys are often
ID numbers), so rerunning a batch, or another file with the same rows, records nothing twice.
Why batches: one save per row would cap an import at the store's ~600-700 saves a second;
a batch of rows is one transaction (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from domain.actors import Context
from domain.case import ProtectionCase
from domain.child import ChildFile, child_file_id, child_identity
from domain.codes import ChildCategory, Entry, SourceChannel
from domain.errors import DomainError, VersionConflict
from domain.import_job import COUNTS, ImportJob
from domain.imports import CheckedRow, Rejection, check_row, concern_summary
from domain.log_pages import notifications_of
from domain.patterns import REPORT, Signal
from domain.store import SAVE_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from domain.actors import Actor
    from domain.policy import Policy
    from domain.store import AggregateStore

# The department each list comes from, as the discovery case's reporting organisation.
ORGANISATIONS = {
    "school_roll": "education department (school roll)",
    "household_register": "public security (household register)",
    "disability_register": "disabled persons' federation (disability register)",
}
_CASE_FIELDS = ("name", "sex", "birth_date", "id_number", "address")
PREFETCH_THREADS = 4  # files of a batch read at once
FILE_ID_PAGE = 5000  # file-registering notifications read per query by `child_file_ids`


def child_file_ids(recorder: Any) -> set[UUID]:
    """Every child file in the store, from the log (read models may lag): lets a batch
    create the files that are new without first asking the store for each."""
    topics = [get_topic(ChildFile.Registered), get_topic(ChildFile.Imported)]
    return {cast("UUID", n.originator_id)
            for n in notifications_of(recorder, topics, page=FILE_ID_PAGE)}


class RecordAlarms(Protocol):
    """`Wardship.record_alarms`: record on the file the alarms a new signal raises."""

    def __call__(self, file: ChildFile, new: Signal, *, jurisdiction: str,
                 case_id: str | None, pending: Sequence[ProtectionCase] = ()) -> None: ...


class BatchRecorder:
    """Records batches of one job's rows for one importer."""

    def __init__(self, store: AggregateStore, policy: Policy, identity_key: bytes,
                 case_namespace: UUID, alarms: RecordAlarms | None = None) -> None:
        self.store = store
        self.policy = policy
        self._key = identity_key
        self._case_namespace = case_namespace
        # The pattern rules' check (`Wardship.record_alarms`): a risk row's case is a report.
        self.alarms = alarms

    def record(self, actor: Actor, job_id: UUID, first_row: int,
               rows: Sequence[tuple[int, Mapping[str, str]]], known: set[UUID],
               now: datetime | None = None) -> ImportJob:
        """Record rows `first_row + 1 ...` of the job; the job as saved after them.

        Refuses (VersionConflict) when the job has moved past `first_row`: another process
        imports the same file. A lost race with a report about one of the children is retried
        on a fresh read of every file of the batch.
        """
        now = now or datetime.now(UTC)
        for attempt in range(SAVE_ATTEMPTS):
            fresh = attempt > 0
            job: ImportJob = self.store.load(job_id, read=fresh)
            if job.finished_at is not None or job.rows_done != first_row:
                raise VersionConflict(
                    f"the import is at row {job.rows_done}, not {first_row}: another process "
                    "is importing this file; follow its progress instead")
            batch = _Batch(self, actor, job, known, fresh, now)
            batch.add_all(rows)
            job.record_rows(first_row + len(rows), batch.counts, batch.rejections,
                            actor.subject)
            try:
                self.store.save(job, *batch.files.values(), *batch.cases)
            except VersionConflict:
                continue
            known.update(batch.files)
            return job
        raise VersionConflict("the children's files kept changing under this batch; retry")

    def command_id(self, *parts: str) -> str:
        """A command id from the row's source, key and content, keyed (no ID number in it)."""
        digest = hmac.new(self._key, "|".join(parts).encode(), hashlib.sha256).hexdigest()
        return f"import:{digest[:40]}"

    def file_id(self, id_number: str) -> UUID:
        # The identity rule of case opening (an ID number alone decides; no case is needed).
        return child_file_id(child_identity({"id_number": id_number}, "", UUID(int=0)),
                             self._key)

    def case_id(self, command_id: str) -> UUID:
        # As `Wardship.open_case` derives it, so that a retry through it finds the case.
        return uuid5(self._case_namespace, command_id)


class _Batch:
    """The files and cases one batch changes, and its counts."""

    def __init__(self, recorder: BatchRecorder, actor: Actor, job: ImportJob,
                 known: set[UUID], fresh: bool, now: datetime) -> None:
        self.recorder, self.actor, self.job = recorder, actor, job
        self.known, self.fresh, self.now = known, fresh, now
        self.files: dict[UUID, ChildFile] = {}
        self.cases: list[ProtectionCase] = []
        self.counts = dict.fromkeys(COUNTS, 0)
        self.rejections: list[dict[str, Any]] = []
        self.prefetched: dict[UUID, Any] = {}

    def add_all(self, rows: Sequence[tuple[int, Mapping[str, str]]]) -> None:
        """Check every row, read the files known to exist at once, then record each row."""
        checked = [check_row(self.job.source, line, cells, self.job.jurisdiction,
                             self.now.date()) for line, cells in rows]
        wanted = list({file_id for row in checked if isinstance(row, CheckedRow)
                       if (file_id := self.recorder.file_id(row.id_number)) in self.known
                       or self.fresh})
        if wanted:
            # Reading files one by one ran ~1,200 a second (a round trip each); a few
            # threads overlap the round trips.
            with ThreadPoolExecutor(PREFETCH_THREADS, "import-read") as pool:
                self.prefetched = dict(zip(wanted, pool.map(self._load_one, wanted),
                                           strict=True))
        for row in checked:
            self.add(row)

    def _load_one(self, file_id: UUID) -> Any:
        # Child files are never snapshotted: no need to ask for a snapshot first.
        return next(self._load(file_id, snapshotted=False), None)

    def add(self, checked: CheckedRow | list[Rejection]) -> None:
        if isinstance(checked, list):
            self.counts["rejected"] += 1
            self.rejections.extend(r.as_plain() for r in checked)
            return
        self.counts["accepted"] += 1
        source = self.job.source
        content = json.dumps([checked.category, checked.personal], sort_keys=True,
                             ensure_ascii=False)
        command = self.recorder.command_id("row", source, checked.row_key, content)
        file_id = self.recorder.file_id(checked.id_number)
        file = self._file(file_id)
        if file is not None and file.erased is not None:
            # Nothing personal is recorded under an erased child's key again (docs/privacy.md).
            self.counts["accepted"] -= 1
            self.counts["rejected"] += 1
            self.rejections.append(Rejection(checked.line, "", "this child's personal data "
                                             "was erased; the row is not recorded").as_plain())
            return
        if file is None:
            file = ChildFile.imported(
                file_id, jurisdiction=checked.division_code,
                category=checked.category or ChildCategory.OTHER, personal=checked.personal,
                source=source, row_key=checked.row_key, job_id=str(self.job.id),
                recorded_by=self.actor.subject, command_id=command)
            self.counts["files_created"] += 1
        elif file.import_details(category=checked.category, personal=checked.personal,
                                 source=source, row_key=checked.row_key,
                                 job_id=str(self.job.id),
                                 recorded_by=self.actor.subject, command_id=command):
            self.counts["files_matched"] += 1
        else:
            self.counts["unchanged"] += 1
        self.files[file.id] = file
        if not checked.risks:
            return
        try:
            self._open_case(file, checked)
        except DomainError as error:
            # The row's details stand; its case is opened by a rerun once the cause is
            # fixed. One row must not halt the job at this batch.
            self.rejections.append(Rejection(checked.line, "", "its discovery case was not "
                                             f"opened ({error.code})").as_plain())

    def _file(self, file_id: UUID) -> ChildFile | None:
        """The file as this batch has it; None for a new one. A merged file leads to the
        file it was merged into."""
        for _hop in range(8):
            file = self.files.get(file_id)
            if file is None and file_id in self.prefetched:
                file = self.prefetched.pop(file_id)
            elif file is None and (self.fresh or file_id in self.known):
                file = self._load_one(file_id)
            if file is None or file.merged_into is None:
                return file
            file_id = UUID(file.merged_into)
        return file

    def _load(self, aggregate_id: UUID, snapshotted: bool = True) -> Iterator[Any]:
        try:
            yield self.recorder.store.load(aggregate_id, read=self.fresh,
                                           snapshotted=snapshotted)
        except AggregateNotFoundError:
            return

    def _open_case(self, file: ChildFile, checked: CheckedRow) -> None:
        """A discovery case at the row's township, linked to the file, once per source, row
        key and set of risks."""
        command = self.recorder.command_id("case", self.job.source, checked.row_key,
                                           ",".join(sorted(checked.risks)))
        case_id = self.recorder.case_id(command)
        if str(case_id) in file.case_ids or any(c.id == case_id for c in self.cases):
            return
        if self.fresh and next(self._load(case_id), None) is not None:
            return
        ctx = Context(actor=self.actor, policy=self.recorder.policy, now=self.now,
                      command_id=command)
        child = {k: checked.personal.get(k) for k in _CASE_FIELDS}
        case = ProtectionCase.open(
            ctx, case_id=case_id, child_id=str(file.id), entry=Entry.DISCOVERY,
            jurisdiction=checked.township,
            child={**child, "category": checked.category or file.category, "phone": None},
            concern={"categories": checked.concerns,
                     "summary": concern_summary(self.job.source, checked.risks),
                     "danger_now": False},
            source={"channel": SourceChannel.DATA_MATCH.value,
                    "reporter": {"name": None, "phone": None, "mandatory": True,
                                 "organisation": ORGANISATIONS[self.job.source]}})
        file.link_case(str(case_id), checked.category, child, self.actor.subject)
        if self.recorder.alarms is not None:
            assert case.opened_at is not None
            self.recorder.alarms(
                file, Signal(REPORT, case.opened_at, str(case_id)), jurisdiction=checked.township,
                case_id=str(case_id), pending=[c for c in self.cases if c.child_id == str(file.id)])
        self.cases.append(case)
        self.counts["cases_opened"] += 1

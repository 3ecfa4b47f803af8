"""Census screening and data matching (摸底排查、数据比对): `POST /v1/imports` takes a
department's list (CSV or XLSX) and runs it in the background; `GET /v1/imports/{id}`
answers its progress and the rejected rows (line, column, reason; never a cell's value).
"""

from __future__ import annotations

import csv
import functools
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import App, Importer
from api.http.domain_problems import domain_problem
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import run_command, store_call
from api.imports.reader import XLSX_MEDIA_TYPE, ImportFileError, open_import
from api.imports.runner import run_job, start_job
from domain import access
from domain.errors import CaseNotFound, DomainError
from domain.imports import LAYOUTS

router = APIRouter(prefix="/v1/imports", tags=["imports"])

_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
# A job whose last batch is this recent counts as running (perhaps in another process).
RECENT = timedelta(seconds=30)
_SOURCES = "|".join(LAYOUTS)


class Rejected(BaseModel):
    """One reason a row was rejected: its line in the file and the column at fault."""

    line: int
    column: str
    reason: str


class ImportShown(BaseModel):
    """An import job: its progress, counts and the rows it rejected."""

    id: str
    source: str
    jurisdiction: str
    status: str
    total_rows: int
    rows_done: int
    accepted: int
    rejected: int
    files_created: int
    files_matched: int
    unchanged: int
    cases_opened: int
    started_by: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    rejections: list[Rejected]


def _shown(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    """The job with its status: finished, running (here, or a batch lately), or stopped
    (resume by posting the same file again, or with `wardship import`)."""
    running = request.app.state.imports.running(job["id"]) or (
        datetime.now(UTC) - job["updated_at"] < RECENT and job["rows_done"] > 0)
    status = "finished" if job["finished"] else "running" if running else "stopped"
    return {**{k: v for k, v in job.items() if k != "finished"}, "status": status}


def _bad_upload(detail: str) -> Problem:
    return Problem(422, "invalid_import_file", "The uploaded list cannot be imported", detail)


async def _upload(request: Request, source: str | None) -> tuple[bytes, bool | None, str]:
    """The file's bytes, whether it is XLSX (None: tell by its bytes), and its source."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=4)
        except StarletteHTTPException as error:
            raise _bad_upload(f"the multipart body cannot be read ({error.detail})") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _bad_upload("send the list as the form field 'file'")
        field = form.get("source")
        data = await upload.read()
        xlsx = None
        if (upload.filename or "").lower().endswith(".xlsx"):
            xlsx = True
        return data, xlsx, source or (field if isinstance(field, str) else "")
    if media_type in _CSV_TYPES:
        return await request.body(), False, source or ""
    if media_type == XLSX_MEDIA_TYPE:
        return await request.body(), True, source or ""
    raise _bad_upload(f"Content-Type must be text/csv, {XLSX_MEDIA_TYPE} or "
                      "multipart/form-data with the list as the field 'file'")


@router.post("", status_code=202, response_class=OrjsonResponse,
             responses={202: {"model": ImportShown,
                              "description": "the import, started or resumed"},
                        **problem_answers(401, 403, 409, 413, 422, 503)},
             openapi_extra={"requestBody": {"content": {
                 "text/csv": {"schema": {"type": "string"}},
                 XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"},
                     "source": {"type": "string", "enum": list(LAYOUTS)}}}}}}})
async def post_import(
    request: Request, user: Importer, app: App,
    source: Annotated[str | None, Query(pattern=f"^({_SOURCES})$", description=(
        "which department's list: its column layout (README, Imports)"))] = None,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$", description=(
        "the area the import is for (default: the caller's code); rows outside it are "
        "rejected"))] = None,
) -> Response:
    """Import a department's list in the background; 202 with the job and its `Location`.
    Posting the same file again resumes it where it stopped (a finished one is answered)."""
    area = jurisdiction or user.jurisdiction
    if not access.may_import(user, area):
        raise Problem(403, "outside_jurisdiction", "Outside your jurisdiction",
                      f"imports for {area} are run by an admin or supervisor whose code "
                      f"covers it; yours is {user.jurisdiction}")
    data, xlsx, source = await _upload(request, source)
    if source not in LAYOUTS:
        raise _bad_upload(f"say which list it is: source={'|'.join(LAYOUTS)}")
    try:
        file = await run_in_threadpool(functools.partial(open_import, data, source, xlsx=xlsx))
    except ImportFileError as error:
        raise _bad_upload(str(error)) from None
    try:
        job = await run_command(request.app, functools.partial(start_job, app, user, file,
                                                               area))
    except DomainError as error:
        raise domain_problem(error) from None
    imports = request.app.state.imports
    imports.submit(job["id"], functools.partial(run_job, app, user, file, job,
                                                stop=imports.stop))
    return OrjsonResponse(_shown(request, job), status_code=202,
                          headers={"Location": f"/v1/imports/{job['id']}"})


@router.get("/{import_id}", response_class=OrjsonResponse,
            responses={200: {"model": ImportShown, "description": "the import's progress",
                             "content": {"text/csv": {"schema": {"type": "string"}}}},
                       **problem_answers(401, 403, 404, 422, 503)})
async def get_import(import_id: UUID, request: Request, user: Importer, app: App) -> Response:
    """The import's progress and its rejected rows (as CSV with `Accept: text/csv`)."""
    try:
        job = await store_call(app.import_job, user, import_id)
    except CaseNotFound:
        raise Problem(404, "import_not_found", "No such import",
                      f"no import {import_id}") from None
    except DomainError as error:
        raise domain_problem(error) from None
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("line", "column", "reason"))
        writer.writerows((r["line"], r["column"], r["reason"]) for r in job["rejections"])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return OrjsonResponse(_shown(request, job))

"""The child file (一人一档): `GET /v1/children/{id}` with every case, for permitted readers,
and `POST /v1/children/{id}/actions` (merging two files of one child).

Category, cases, last contact and next visit come from the projection; the personal details
are read from the encrypted event store (the domain's ChildFile): only those recorded by
cases the reader may see, and the read is logged.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from api.deps import AccessLogDep, App, MinPosition, Pool, Reader, Writer, idempotency_store
from api.http.access_log import Shown
from api.http.domain_problems import domain_problem
from api.http.idempotency import answer_once, command_id, request_hash
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from api.http.services import run_command, store_call
from api.readmodels import wait_for
from api.routes.answers import ChildFile, MergedFile
from api.routes.cases import KEY_PARAMETER, idempotency_key
from domain import access
from domain.child import newest_values
from domain.errors import CaseNotFound, DomainError
from projections.children import child_cases, find_child

router = APIRouter(prefix="/v1/children", tags=["children"])


def _not_found(child_id: UUID) -> Problem:
    return Problem(404, "child_not_found", "No such child file", f"no child file {child_id}")


@router.get("/{child_id}", response_class=OrjsonResponse, response_model=ChildFile,
            responses=problem_answers(401, 403, 404, 422, 503))
async def child_file(
    child_id: UUID, user: Reader, app: App, pool: Pool, access_log: AccessLogDep,
    min_position: MinPosition,
) -> OrjsonResponse:
    """The child's file: personal details, category, every case in the caller's area."""
    position = await wait_for(pool, "children", min_position)
    async with pool.connection() as conn:
        child = await find_child(conn, str(child_id))
        cases = await child_cases(conn, str(child_id))
    codes = [case["jurisdiction"] for case in cases]
    if child is None or not access.may_read_child_file(user, child["jurisdiction"], codes):
        raise _not_found(child_id)  # same answer whether missing or outside the caller's area
    try:
        file = await store_call(app.child_file, child_id)
    except CaseNotFound:
        raise _not_found(child_id) from None
    visible = [c for c, seen in zip(cases, access.visible_jurisdictions(user, codes),
                                    strict=True) if seen]
    # Only details recorded by cases the reader may see, newest first; the read is logged
    # under each area whose details were shown.
    area = {case["id"]: case["jurisdiction"] for case in visible}
    details = [d for d in file["details"] if d["case_id"] in area]
    codes_shown = sorted({area[d["case_id"]] for d in details} or {child["jurisdiction"]})
    await access_log.record_shown(
        user, [Shown(str(child_id), str(child_id), code) for code in codes_shown],
        resource_type="child")
    personal = newest_values(d["values"] for d in reversed(details))
    contacts = [c["last_contact_at"] for c in visible if c["last_contact_at"]]
    visits = [c["next_visit_due"] for c in visible if c["next_visit_due"]]
    return OrjsonResponse({
        "id": str(child_id), "category": child["category"],
        "jurisdiction": child["jurisdiction"], "personal": personal, "details": details,
        "merged_into": file["merged_into"],
        "cases": visible, "hidden_cases": len(cases) - len(visible),
        "last_contact_at": max(contacts) if contacts else None,
        "next_visit_due": min(visits) if visits else None, "position": position,
    })


class MergeChildFiles(BaseModel):
    """`merge_child_files`: this file and `into` were found to be one child."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["merge_child_files"]
    into: UUID
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


@router.post("/{child_id}/actions", response_class=OrjsonResponse, response_model=MergedFile,
             responses=problem_answers(400, 401, 403, 404, 409, 413, 422, 503),
             openapi_extra=KEY_PARAMETER)
async def child_action(
    child_id: UUID, body: MergeChildFiles, user: Writer, app: App, request: Request,
) -> Response:
    """A child-file action: `merge_child_files` moves this file's cases and details into
    another file of the same child, on record in both; a retry with the same
    Idempotency-Key answers the merge it recorded."""
    key = idempotency_key(request)

    async def answer() -> Response:
        try:
            merged = await run_command(request.app, functools.partial(
                app.merge_child_files, user, child_id, body.into, body.reason,
                command_id(user.subject, key)))
        except CaseNotFound:
            raise _not_found(child_id) from None
        except DomainError as error:
            raise domain_problem(error) from None
        return OrjsonResponse({"id": merged["id"], "merged_from": str(child_id),
                               "case_ids": merged["case_ids"],
                               "position": merged["position"]})

    digest = request_hash("child_action", str(child_id), body.model_dump_json())
    return await answer_once(idempotency_store(request), user.subject, key, digest, answer)

"""`GET /v1/children/{id}`: the child file (一人一档) with every case, for permitted readers.

Category, cases, last contact and next visit come from the projection; the personal details
are read from the encrypted event store (the domain's ChildFile) and the read is logged.
"""

from __future__ import annotations

from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from psycopg.rows import dict_row

from api.deps import AccessLogDep, App, Reader
from api.problems import Problem, problem_answers
from api.readmodels import MinPosition, Pool, wait_for
from api.responses import OrjsonResponse
from api.routes.answers import ChildFile
from domain.errors import CaseNotFound

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
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM rm_children WHERE child_id = %s", (str(child_id),))
        child = await cur.fetchone()
        await cur.execute(
            "SELECT case_id AS id, jurisdiction, stage, grade, opened_at, updated_at,"
            " last_contact_at, next_visit_due FROM rm_child_cases WHERE child_id = %s"
            " ORDER BY opened_at", (str(child_id),))
        cases = await cur.fetchall()
    visible = [c for c in cases if user.covers(c["jurisdiction"])]
    if child is None or not (visible or user.covers(child["jurisdiction"])):
        raise _not_found(child_id)  # same answer whether missing or outside the caller's area
    try:
        file = await run_in_threadpool(app.child_file, child_id)
    except CaseNotFound:
        raise _not_found(child_id) from None
    access_log.record(user, resource_type="child", resource_id=str(child_id),
                      child_id=str(child_id), case_jurisdiction=child["jurisdiction"])
    contacts = [c["last_contact_at"] for c in visible if c["last_contact_at"]]
    visits = [c["next_visit_due"] for c in visible if c["next_visit_due"]]
    for case in visible:
        case["id"] = str(case["id"])
    return OrjsonResponse({
        "id": str(child_id), "category": child["category"],
        "jurisdiction": child["jurisdiction"], "personal": file["personal"],
        "cases": visible, "hidden_cases": len(cases) - len(visible),
        "last_contact_at": max(contacts) if contacts else None,
        "next_visit_due": min(visits) if visits else None, "position": position,
    })

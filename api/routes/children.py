"""The child file (一人一档): `GET /v1/children/{id}` with every case and the monitoring record,
for permitted readers, and `POST /v1/children/{id}/actions` (merging two files of one child,
and the monitoring actions of `domain.monitoring_actions`).

Category, cases, last contact and next visit come from the projections; the personal details
are read from the encrypted event store (the domain's ChildFile and MonitoringRecord): only
those recorded by cases the reader may see, the guardian and caregiver for those who may read
the ledger, and the read is logged.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types at run time)

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    AccessLogDep,
    App,
    CurrentUser,
    LedgerReader,
    MinPosition,
    Pool,
    idempotency_store,
    own_writes,
)
from api.http.access_log import Shown
from api.http.domain_problems import child_not_found, domain_problem
from api.http.idempotency import answer_once, command_id, request_hash
from api.http.problems import Problem, problem_answers, role_forbidden
from api.http.responses import OrjsonResponse, etag
from api.http.services import run_command, store_call
from api.readmodels import decode_cursor, encode_cursor, jurisdiction_prefix, wait_for
from api.routes.answers import ChildFile, MergedFile, PrivacyRecord
from api.routes.case_models import Required  # noqa: TC001 (pydantic reads field types at run time)
from api.routes.cases import HEADER_PARAMETERS, idempotency_key
from api.routes.monitoring_models import (
    LedgerPage,
    MonitoringAction,
    MonitoringView,
    RaiseConcern,
    RecordCareAgreement,
    RecordVisit,
    ReviewFile,
    SetRiskLevel,
    StartMonitoring,
    StopMonitoring,
)
from api.routes.privacy import PRIVACY_ACTIONS, PrivacyAction, answer_privacy_action
from domain import access
from domain.child import newest_values
from domain.codes import ChildCategory, RiskLevel  # noqa: TC001 (FastAPI reads query types)
from domain.errors import CaseNotFound, DomainError, StaleVersion
from domain.monitoring_actions import MONITORING_RULES
from domain.views import monitoring_view
from projections.children import child_cases, find_child
from projections.ledger import ledger, ledger_entry

router = APIRouter(prefix="/v1/children", tags=["children"])


@router.get("", response_class=OrjsonResponse, response_model=LedgerPage,
            responses=problem_answers(401, 403, 422, 503))
async def monitoring_ledger(
    user: LedgerReader, pool: Pool, min_position: MinPosition, access_log: AccessLogDep,
    category: ChildCategory | None = None, risk_level: RiskLevel | None = None,
    status: Literal["monitoring", "ended"] | None = None,
    overdue: Annotated[bool | None, Query(description="visit overdue")] = None,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> OrjsonResponse:
    """The monitoring ledger (台账): children monitored under the caller's code (or a finer
    `jurisdiction`), newest taken in first, by cursor; no names (read each child's file)."""
    prefix = jurisdiction_prefix(jurisdiction, user.jurisdiction)
    position = await wait_for(pool, "ledger", min_position)
    before = None
    if cursor is not None:
        started = decode_cursor(cursor, 1)[0]
        before = int(started) if started.isdigit() else -1
    async with pool.connection() as conn:
        rows = await ledger(conn, prefix=prefix, category=category, risk_level=risk_level,
                            status=status, overdue=overdue, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    await access_log.record_shown(
        user, [Shown(row["child_id"], row["child_id"], row["jurisdiction"]) for row in rows],
        resource_type="child", purpose="list")
    next_cursor = encode_cursor(rows[-1]["started_position"]) if more else None
    for row in rows:
        row.pop("started_position")
    return OrjsonResponse({"items": rows, "next_cursor": next_cursor, "position": position},
                          headers={"X-Position": str(position)})


@router.get("/{child_id}", response_class=OrjsonResponse, response_model=ChildFile,
            responses=problem_answers(401, 403, 404, 422, 503))
async def child_file(
    child_id: UUID, user: LedgerReader, app: App, pool: Pool, access_log: AccessLogDep,
    min_position: MinPosition,
) -> OrjsonResponse:
    """The child's file: personal details, category, every case in the caller's area, and
    the monitoring record for those who may read the ledger there."""
    position = await wait_for(pool, "children", min_position)
    await wait_for(pool, "ledger", min_position)
    async with pool.connection() as conn:
        child = await find_child(conn, str(child_id))
        cases = await child_cases(conn, str(child_id))
        entry = await ledger_entry(conn, str(child_id))
    codes = [case["jurisdiction"] for case in cases]
    monitored_in = entry["jurisdiction"] if entry else None
    if child is None or not access.may_read_child_file(user, child["jurisdiction"], codes,
                                                       monitored_in):
        raise child_not_found(child_id)  # same answer whether missing or outside the caller's area
    try:
        file = await store_call(app.child_file, child_id)
    except CaseNotFound:
        raise child_not_found(child_id) from None
    visible = [c for c, seen in zip(cases, access.visible_jurisdictions(user, codes),
                                    strict=True) if seen]
    # Only details recorded by cases the reader may see, or by imported lists when the file
    # lies in the reader's area, newest first; the read is logged under each area whose
    # details were shown.
    area = {case["id"]: case["jurisdiction"] for case in visible}
    if access.covers(user, child["jurisdiction"]):
        area[""] = child["jurisdiction"]  # an imported row's details carry no case
    details = [d for d in file["details"] if d["case_id"] in area]
    codes_shown = {area[d["case_id"]] for d in details} or {child["jurisdiction"]}
    monitoring = None
    if monitored_in is not None and access.may_read_ledger(user, monitored_in):
        record = await store_call(app.monitoring, child_id)
        monitoring = monitoring_view(record, user, datetime.now(UTC))
        codes_shown.add(monitored_in)  # the guardian and caregiver were shown
    await access_log.record_shown(
        user, [Shown(str(child_id), str(child_id), code) for code in sorted(codes_shown)],
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
        "next_visit_due": min(visits) if visits else None, "monitoring": monitoring,
        "alarms": [a for a in file["alarms"] if access.covers(user, a["recipient_jurisdiction"])],
        "position": position,
    })


class MergeChildFiles(BaseModel):
    """`merge_child_files`: this file and `into` were found to be one child."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["merge_child_files"]
    into: UUID
    reason: Annotated[Required, Field(max_length=2000)]


ChildAction = Annotated[
    MergeChildFiles | StartMonitoring | RecordVisit | SetRiskLevel | RecordCareAgreement
    | ReviewFile | RaiseConcern | StopMonitoring | PrivacyAction, Field(discriminator="action")]


@router.post("/{child_id}/actions", response_class=OrjsonResponse,
             responses={200: {"model": MergedFile | MonitoringView | PrivacyRecord,
                              "description": "the merged file, the monitoring record, or "
                                             "the file's erasure request, erasure and holds"},
                        **problem_answers(400, 401, 403, 404, 409, 412, 413, 422, 503)},
             openapi_extra=HEADER_PARAMETERS)
async def child_action(
    child_id: UUID, body: ChildAction, user: CurrentUser, app: App, request: Request,
) -> Response:
    """A child-file action: `merge_child_files` moves this file's cases and details into
    another file of the same child; the monitoring actions (`start_monitoring`,
    `record_visit`, `set_risk_level`, `record_care_agreement`, `review_file`,
    `raise_concern`, `stop_monitoring`) keep the child's ledger record and answer it; the
    privacy actions (`erase_personal_data`, `approve` or `reject` with subject `erasure`,
    `place_legal_hold`, `lift_legal_hold`) answer the file's privacy record.
    A retry with the same Idempotency-Key answers what it first recorded."""
    if isinstance(body, PRIVACY_ACTIONS):  # as their own routes (`api.routes.privacy`)
        return await answer_privacy_action(app, request, user, child_id, body)
    key = idempotency_key(request)
    roles = (access.WRITERS if isinstance(body, MergeChildFiles)
             else MONITORING_RULES[body.action].roles)
    if not access.holds_any(user, roles):
        raise role_forbidden(body.action, user.roles, roles)
    if isinstance(body, MergeChildFiles):
        answer = functools.partial(_merge, app, request, user, child_id, body, key)
        if_match = ""
    else:
        if_match = request.headers.get("If-Match") or ""
        answer = functools.partial(_monitor, app, request, user, child_id, body, key,
                                   _expected_version(if_match))
    digest = request_hash("child_action", str(child_id), if_match, body.model_dump_json())
    return await answer_once(idempotency_store(request), user.subject, key, digest, answer)


async def _merge(app: Any, request: Request, user: Any, child_id: UUID, body: MergeChildFiles,
                 key: str | None) -> Response:
    try:
        merged = await run_command(request.app, functools.partial(
            app.merge_child_files, user, child_id, body.into, body.reason,
            command_id(user.subject, key)))
    except CaseNotFound:
        raise child_not_found(child_id) from None
    except DomainError as error:
        raise domain_problem(error) from None
    return OrjsonResponse({"id": merged["id"], "merged_from": str(child_id),
                           "case_ids": merged["case_ids"], "position": merged["position"]})


async def _monitor(app: Any, request: Request, user: Any, child_id: UUID,
                   body: MonitoringAction, key: str | None, expected: int | None) -> Response:
    """One monitoring action; the answer leaves out the guardian and caregiver (kept answers
    to retried requests are stored outside the encrypted event store)."""
    try:
        view = await run_command(request.app, functools.partial(
            app.monitoring_action, user, child_id, body.action, body.params(),
            occurred_at=body.occurred_at, expected_version=expected,
            command_id=command_id(user.subject, key)))
    except CaseNotFound:
        raise child_not_found(child_id) from None
    except StaleVersion as error:
        raise Problem(412, "precondition_failed", "The record changed since you read it",
                      error.message) from None
    except DomainError as error:
        raise domain_problem(error) from None
    own_writes(request).wrote(user.subject, view["position"])
    view.update(guardian=None, caregiver=None)
    return OrjsonResponse(view, headers={"ETag": etag(view["version"]),
                                         "X-Position": str(view["position"])})


def _expected_version(if_match: str) -> int | None:
    """The record version in an If-Match header (`"3"`, `W/"3"`, `3`); None for none or `*`."""
    tag = if_match.strip().removeprefix("W/").strip('"')
    if tag in ("", "*"):
        return None
    if not tag.isascii() or not tag.isdigit() or len(tag) > 12:
        raise Problem(400, "invalid_if_match", "If-Match is not a record version",
                      'send the ETag you read, e.g. If-Match: "3"')
    return int(tag)

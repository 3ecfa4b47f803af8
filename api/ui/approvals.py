"""审批: the open approval requests in the supervisor's area, and its waiting erasure requests
(`api.ui.erasure_requests`); approve or reject (with a reason) after a confirmation page. The
domain decides, as for the API: no self-approval."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types)

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import AccessLogDep, App, Pool, own_writes, scoped_case
from api.http.access_log import shown_cases
from api.http.services import run_command, store_call
from api.inspection.history import history_entry
from api.readmodels import wait_for
from api.routes.case_models import Approve, Reject
from api.ui.csrf import check_csrf
from api.ui.i18n import language
from api.ui.render import PageRoute, render
from api.ui.session import page_for, role_forbidden
from domain import access
from domain.actions import RULES
from domain.actors import Actor
from domain.codes import ApprovalSubject  # noqa: TC001 (a path parameter type)
from domain.errors import DomainError
from domain.events import ApprovalRequested
from domain.i18n import translate
from projections.deadlines import board

if TYPE_CHECKING:
    from domain.application import Wardship
    from domain.case import ProtectionCase

router = APIRouter(prefix="/ui", route_class=PageRoute)
Supervisor = Annotated[Actor, Depends(page_for(access.SUPERVISORS))]
# The API's request models of the two actions: the same checks of what is sent.
DECISIONS: dict[str, type[Approve | Reject]] = {"approve": Approve, "reject": Reject}
ROWS = 100


@router.get("/approvals")
async def approvals_page(
    request: Request, user: Supervisor, app: App, pool: Pool, access_log: AccessLogDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Open approval requests (their approval deadlines) under the user's code, oldest due
    first, each with who asked."""
    # The user's own decision is in the list's answer (read-your-writes, as the API).
    await wait_for(pool, "deadlines", own_writes(request).position(user.subject))
    async with pool.connection() as conn:
        rows = await board(conn, prefix=user.jurisdiction, status="open", kind="approval",
                           limit=ROWS)
    for row in rows:
        case = await store_call(app.get_case_aggregate, row["case_id"])
        request_of = case.approvals.get(row["ref"] or "")
        row["requested_by"] = request_of.requested_by if request_of else "-"
    await access_log.record_shown(user, shown_cases(rows), purpose="approvals")
    # Erasure requests name a child file, its area and who asked why: no personal data.
    erasures = await store_call(app.erasure_requests, user)
    return render(request, "approvals.html", items=rows, erasures=erasures, done=done)


@router.get("/approvals/{case_id}/{subject}")
async def confirm_page(
    request: Request, case_id: UUID, subject: ApprovalSubject, user: Supervisor, app: App,
    access_log: AccessLogDep, decision: Annotated[str, Query(pattern="^(approve|reject)$")],
) -> Response:
    """The confirmation: what is decided, on which case, asked by whom."""
    case = await scoped_case(app, user, case_id)
    await access_log.record(user, resource_type="case", resource_id=str(case_id),
                            purpose="approvals", child_id=case.child_id,
                            case_jurisdiction=case.jurisdiction)
    reason = await _asked_because(app, user, case, subject)
    return _confirmation(request, case, subject, decision, reason=reason)


async def _asked_because(
    app: Wardship, user: Actor, case: ProtectionCase, subject: str
) -> str | None:
    """The reason given with the pending request (free text: masked as the case history
    masks it for roles that see no personal data)."""
    events = await store_call(app.case_events, case.id)
    asked = [e for e in events if isinstance(e, ApprovalRequested) and e.subject == subject]
    if not asked:
        return None
    entry = history_entry(asked[-1], reveal_personal=access.sees_personal_data(user))
    return str(entry["payload"].get("reason") or "") or None


def _confirmation(request: Request, case: ProtectionCase, subject: str, decision: str,
                  refusal: str | None = None, status: int = 200,
                  reason: str | None = None) -> Response:
    pending = case.approvals.get(subject)
    return render(request, "approval_confirm.html", status=status, case=case, subject=subject,
                  decision=decision, requested_by=pending.requested_by if pending else None,
                  refusal=refusal, reason=reason)


@router.post("/approvals/{case_id}/{subject}")
async def decide(
    request: Request, case_id: UUID, subject: ApprovalSubject, user: Supervisor, app: App,
) -> Response:
    """Record the decision as the API's action would (same roles, same domain rules)."""
    form = await check_csrf(request)
    decision = form.get("decision", "")
    if decision not in DECISIONS:
        return RedirectResponse("/ui/approvals", status_code=303)
    if not access.holds_any(user, RULES[decision].roles):
        raise role_forbidden()
    case = await scoped_case(app, user, case_id)
    sent = {"action": decision, "subject": subject.value, "reason": form.get("reason", "")}
    lang = language(request)
    try:
        body = DECISIONS[decision].model_validate(sent)
    except ValidationError:
        said = translate("Give a reason.", lang)
        return _confirmation(request, case, subject.value, decision, refusal=said, status=422,
                             reason=await _asked_because(app, user, case, subject.value))
    version = form.get("version", "")
    try:
        view = await run_command(request.app, functools.partial(
            app.perform, case_id, user, decision, body.params(),
            expected_version=int(version) if version.isdigit() else None))
    except DomainError as error:
        # The domain's own words, in the page's language when the catalogue has them.
        said = translate(str(error), lang, "refusal")
        return _confirmation(request, case, subject.value, decision, refusal=said, status=409,
                             reason=await _asked_because(app, user, case, subject.value))
    own_writes(request).wrote(user.subject, view["position"])
    return RedirectResponse(f"/ui/approvals?done={decision}", status_code=303)

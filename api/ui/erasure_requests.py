"""删除申请: a waiting erasure request of the supervisor's area, approved or rejected (with a
reason) after a confirmation page; the list is on the approvals page. The domain decides, as
for the API: no self-approval, no erasure while a case is open or a hold stands."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID  # noqa: TC003 (FastAPI reads path parameter types)

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import App
from api.http.domain_problems import child_not_found
from api.http.services import run_command, store_call
from api.routes.privacy import RejectErasure
from api.ui.csrf import check_csrf
from api.ui.i18n import language
from api.ui.render import PageRoute, render
from api.ui.session import page_for, role_forbidden
from domain import access
from domain.actors import Actor
from domain.erasure import PRIVACY_ROLES
from domain.errors import CaseNotFound, DomainError, OutsideJurisdiction
from domain.i18n import translate

if TYPE_CHECKING:
    from domain.application import Wardship

router = APIRouter(prefix="/ui", route_class=PageRoute)
Supervisor = Annotated[Actor, Depends(page_for(access.SUPERVISORS))]
DECISION = "^(approve|reject)$"


async def _record(app: Wardship, user: Actor, child_id: UUID) -> dict[str, Any]:
    """The file's privacy record if the user's area covers it, else 404 without saying why."""
    try:
        return await store_call(app.privacy, user, child_id)
    except (CaseNotFound, OutsideJurisdiction):
        raise child_not_found(child_id) from None


@router.get("/erasures/{child_id}")
async def confirm_page(
    request: Request, child_id: UUID, user: Supervisor, app: App,
    decision: Annotated[str, Query(pattern=DECISION)],
) -> Response:
    """The confirmation: which file, asked by whom and why, and what approving destroys."""
    return _confirmation(request, await _record(app, user, child_id), decision)


def _confirmation(request: Request, record: dict[str, Any], decision: str,
                  refusal: str | None = None, status: int = 200) -> Response:
    return render(request, "erasure_confirm.html", status=status, record=record,
                  asked=record["erasure_request"], decision=decision, refusal=refusal)


@router.post("/erasures/{child_id}")
async def decide(request: Request, child_id: UUID, user: Supervisor, app: App) -> Response:
    """Record the decision as the API's `approve` or `reject` would (same roles and rules)."""
    form = await check_csrf(request)
    decision = form.get("decision", "")
    if decision not in ("approve", "reject"):
        return RedirectResponse("/ui/approvals", status_code=303)
    if not access.holds_any(user, PRIVACY_ROLES[decision]):
        raise role_forbidden()
    record = await _record(app, user, child_id)
    lang = language(request)
    call = functools.partial(app.approve_erasure, user, child_id)
    if decision == "reject":
        # The API's request model: the same checks of the reason as `reject` there.
        try:
            body = RejectErasure.model_validate({"action": "reject", "subject": "erasure",
                                                 "reason": form.get("reason", "")})
        except ValidationError:
            return _confirmation(request, record, decision, translate("Give a reason.", lang),
                                 422)
        call = functools.partial(app.reject_erasure, user, child_id, body.reason)
    try:
        await run_command(request.app, call)
    except DomainError as error:
        # The domain's own words, in the page's language when the catalogue has them.
        return _confirmation(request, record, decision,
                             translate(str(error), lang, "refusal"), 409)
    return RedirectResponse(f"/ui/approvals?done={decision}", status_code=303)

"""Over HTTP: a screening-out reason and a linked 12345 caller's phone read until the child's
erasure, and `[已删除]` after it in the history, state, export, child file, timeline page
and the stored first answer of the action that recorded the reason."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.api.support import LESHAN_TOWNSHIP, Api, api, project, recently
from tests.ui.support import sign_in

if TYPE_CHECKING:
    from httpx import Response

__all__ = ["api"]

REASON = "Invented-Wang the uncle takes the boy in"
PHONE = "13900000077"
CHILD = {"name": "Test Child R", "sex": "male", "birth_date": "2015-06-01", "id_number": None,
         "category": "left_behind", "address": "Invented Village 9", "phone": None}


def order(api: Api, ticket: str, caller: dict[str, Any]) -> Response:
    answer: Response = api.client.post("/v1/intake/hotline", headers=api.auth(
        "hotline-12345", ["hotline"], "51"), json={
        "ticket": ticket, "received_at": recently(), "jurisdiction": LESHAN_TOWNSHIP,
        "urgency": "normal", "content": "a child alone", "caller": caller, "child": CHILD})
    return answer


def reads(api: Api, case_id: str, child_id: str) -> str:
    """What a supervisor reads of the case and the file, over the API and the pages."""
    supervisor = api.auth("sv-1", ["supervisor"])
    answers = [api.client.get(path, headers=supervisor) for path in (
        f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/history", f"/v1/cases/{case_id}/state",
        f"/v1/cases/{case_id}/export", f"/v1/children/{child_id}")]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    page = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP).get(f"/ui/cases/{case_id}")
    assert page.status_code == 200, page.text
    api.client.cookies.clear()
    return "\n".join([*(a.text for a in answers), page.text])


def test_a_reason_and_a_linked_callers_phone_read_erased_after_erasure(api: Api) -> None:
    opened = order(api, "12345-2026-200001", {"name": "Opening Caller"})
    assert opened.status_code == 201, opened.text
    case_id, child_id = opened.json()["id"], opened.json()["child_id"]
    linked = order(api, "12345-2026-200002", {"name": "Invented Neighbour", "phone": PHONE})
    assert linked.status_code == 200, linked.text
    assert linked.json()["id"] == case_id
    screened = api.act(case_id, {"action": "screen_out", "reason": REASON}, key="screen-1")
    assert screened.status_code == 200, screened.text
    project(api)
    before = reads(api, case_id, child_id)
    assert REASON in before
    assert PHONE in before

    asked = api.client.post(f"/v1/children/{child_id}/erasure", headers=api.auth(),
                            json={"reason": "guardian's lawful request (invented)"})
    assert asked.status_code == 200, asked.text
    approved = api.client.post(f"/v1/children/{child_id}/erasure/approval",
                               headers=api.auth("sv-1", ["supervisor"]))
    assert approved.status_code == 200, approved.text
    project(api)

    after = reads(api, case_id, child_id)
    assert REASON not in after
    assert PHONE not in after
    assert "[已删除]" in after
    verified = api.client.get(f"/v1/cases/{case_id}/verify",
                              headers=api.auth("in-1", ["inspector"]))
    assert verified.json()["valid"] is True
    # The retried action answers afresh, not from a stored answer holding the reason.
    retried = api.act(case_id, {"action": "screen_out", "reason": REASON}, key="screen-1")
    assert retried.status_code == 200, retried.text
    assert REASON not in retried.text
    with psycopg.connect(str(api.settings.database_url)) as conn:
        bodies = [bytes(body) for (body,) in conn.execute(
            "SELECT body FROM wardship_idempotency WHERE body IS NOT NULL").fetchall()]
    assert not [body for body in bodies if REASON.encode() in body]


def test_a_restore_drops_the_stored_answers_naming_erased_records(api: Api) -> None:
    from api.cli.restore import reapply_erasures

    view = api.open_case(child={**CHILD, "name": "Test Child S"})
    assert api.act(view["id"], {"action": "screen_out", "reason": REASON}).status_code == 200
    assert api.client.post(f"/v1/children/{view['child_id']}/erasure", headers=api.auth(),
                           json={"reason": "retention"}).status_code == 200
    assert api.client.post(f"/v1/children/{view['child_id']}/erasure/approval",
                           headers=api.auth("sv-1", ["supervisor"])).status_code == 200
    with psycopg.connect(str(api.settings.database_url), autocommit=True) as conn:
        # As a backup taken before the erasure holds them: one answer about the case.
        for key, body in (("k-1", f'{{"id":"{view["id"]}","closed_reason":"{REASON}"}}'),
                          ("k-2", '{"id":"another case"}')):
            conn.execute("INSERT INTO wardship_idempotency (subject, key, request_hash,"
                         " status, headers, body) VALUES ('cw-1', %s, 'h', 200, '{}', %s)",
                         (key, body.encode()))
        assert reapply_erasures(api.settings) == 1
        kept = conn.execute("SELECT key FROM wardship_idempotency").fetchall()
    assert kept == [("k-2",)]


def test_an_answer_made_before_the_erasure_and_kept_after_it_is_not_kept(api: Api) -> None:
    """The race: a request about the child reads it before the erasure, and its answer comes
    to be kept after the erasure dropped the kept answers."""
    from api.http.idempotency import IdempotencyStore, StoredAnswer

    view = api.open_case(child={**CHILD, "name": "Test Child T"})
    assert api.act(view["id"], {"action": "screen_out", "reason": REASON}).status_code == 200
    made = StoredAnswer(200, {}, f'{{"child_id":"{view["child_id"]}","closed_reason":'
                                 f'"{REASON}"}}'.encode())

    async def keep(step: str) -> StoredAnswer | None:
        async with AsyncConnectionPool(str(api.settings.database_url), open=False) as pool:
            store = IdempotencyStore(pool)
            if step == "reserve":
                return await store.reserve("cw-1", "k-late", "h")
            await store.complete("cw-1", "k-late", made)
            return await store.reserve("cw-1", "k-late", "h")

    assert asyncio.run(keep("reserve")) is None
    assert api.client.post(f"/v1/children/{view['child_id']}/erasure", headers=api.auth(),
                           json={"reason": "retention"}).status_code == 200
    assert api.client.post(f"/v1/children/{view['child_id']}/erasure/approval",
                           headers=api.auth("sv-1", ["supervisor"])).status_code == 200
    # A retry runs again (and reads erased) instead of getting the answer with the reason.
    assert asyncio.run(keep("complete")) is None
    with psycopg.connect(str(api.settings.database_url)) as conn:
        bodies = [bytes(body) for (body,) in conn.execute(
            "SELECT body FROM wardship_idempotency WHERE body IS NOT NULL").fetchall()]
    assert not [body for body in bodies if REASON.encode() in body]

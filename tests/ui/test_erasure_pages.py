"""The approvals page lists the erasure requests waiting in the supervisor's area; approving
one on its confirmation page erases the child as the API's approval does, and nobody approves
their own request (issue 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.api.support import LESHAN_TOWNSHIP, case_body
from tests.ui.support import csrf_of, sign_in

if TYPE_CHECKING:
    from tests.api.support import Api


def erasure_asked(api: Api, name: str, by: dict[str, str]) -> str:
    """A closed case about an invented child whose erasure `by` asked for; the file's id."""
    view = api.open_case(child={**case_body()["child"], "name": name})
    api.act(view["id"], {"action": "screen_out", "reason": "handled by the school"}
            ).raise_for_status()
    api.client.post(f"/v1/children/{view['child_id']}/erasure", headers=by,
                    json={"reason": "guardian's lawful request (invented)"}).raise_for_status()
    return str(view["child_id"])


def test_a_supervisor_approves_a_waiting_erasure_from_the_approvals_page(api: Api) -> None:
    child_id = erasure_asked(api, "Test Child A", api.auth())
    client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
    listed = client.get("/ui/approvals")
    assert listed.status_code == 200
    assert f'href="/ui/erasures/{child_id}?decision=approve"' in listed.text
    assert "Test Child A" not in listed.text
    page = client.get(f"/ui/erasures/{child_id}?decision=approve")
    assert page.status_code == 200
    assert "guardian&#39;s lawful request (invented)" in page.text  # the request's reason
    answer = client.post(f"/ui/erasures/{child_id}", follow_redirects=False,
                         data={"csrf": csrf_of(page.text), "decision": "approve"})
    assert answer.status_code == 303, answer.text
    record = api.client.get(f"/v1/children/{child_id}/privacy",
                            headers=api.auth("in-1", ["inspector"])).json()
    assert record["erased"]["approved_by"] == "sv-1"
    assert f"/ui/erasures/{child_id}" not in client.get("/ui/approvals").text


def test_nobody_approves_their_own_erasure_request_on_the_page(api: Api) -> None:
    boss = api.auth("sv-1", ["supervisor"])
    child_id = erasure_asked(api, "Test Child B", boss)
    client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
    page = client.get(f"/ui/erasures/{child_id}?decision=approve")
    answer = client.post(f"/ui/erasures/{child_id}",
                         data={"csrf": csrf_of(page.text), "decision": "approve"})
    assert answer.status_code == 409
    assert "不能审批本人提请的删除申请" in answer.text
    record = api.client.get(f"/v1/children/{child_id}/privacy", headers=boss).json()
    assert record["erased"] is None
    assert record["erasure_request"]["requested_by"] == "sv-1"


def test_another_areas_file_is_404_and_a_caseworker_gets_the_403_page(api: Api) -> None:
    child_id = erasure_asked(api, "Test Child C", api.auth())
    elsewhere = sign_in(api, "sv-9", ["supervisor"], "511111")
    assert elsewhere.get(f"/ui/erasures/{child_id}?decision=approve").status_code == 404
    assert f"/ui/erasures/{child_id}" not in elsewhere.get("/ui/approvals").text
    caseworker = sign_in(api, "cw-1", ["caseworker"], LESHAN_TOWNSHIP)
    assert caseworker.get(f"/ui/erasures/{child_id}?decision=approve").status_code == 403


def test_a_rejection_reason_the_api_would_refuse_is_refused_on_the_page_too(api: Api) -> None:
    child_id = erasure_asked(api, "Test Child D", api.auth())
    client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
    page = client.get(f"/ui/erasures/{child_id}?decision=reject")
    for reason in ("", "  ", "no\x00"):
        answer = client.post(f"/ui/erasures/{child_id}", data={
            "csrf": csrf_of(page.text), "decision": "reject", "reason": reason})
        assert answer.status_code == 422, (reason, answer.text)
    record = api.client.get(f"/v1/children/{child_id}/privacy",
                            headers=api.auth("in-1", ["inspector"])).json()
    assert record["erasure_request"]["requested_by"] == "cw-1"  # still waiting

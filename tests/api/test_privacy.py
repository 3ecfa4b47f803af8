"""The erasure and legal-hold routes (issue 16): problem details for refusals, the audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.api.support import api, case_body, project  # noqa: F401 (api: the fixture)

if TYPE_CHECKING:
    from tests.api.support import Api


def closed_case(running: Api, name: str = "Test Child A") -> tuple[str, str]:
    view = running.open_case(child={**case_body()["child"], "name": name})
    answer = running.act(view["id"], {"action": "screen_out", "reason": "handled by the school"})
    assert answer.status_code == 200, answer.text
    return view["id"], view["child_id"]


def test_a_supervisor_approves_an_erasure_and_the_file_reads_erased(api: Api) -> None:  # noqa: F811
    _, child_id = closed_case(api)
    supervisor = api.auth("sv-1", ["supervisor"])
    asked = api.client.post(f"/v1/children/{child_id}/erasure",
                            json={"reason": "guardian's lawful request (invented)"},
                            headers=api.auth())
    assert asked.status_code == 200, asked.text
    assert asked.json()["erasure_request"]["requested_by"] == "cw-1"
    caseworker = api.client.post(f"/v1/children/{child_id}/erasure/approval",
                                 headers=api.auth())
    assert caseworker.status_code == 403
    assert caseworker.json()["code"] == "role_forbidden"
    approved = api.client.post(f"/v1/children/{child_id}/erasure/approval", headers=supervisor)
    assert approved.status_code == 200, approved.text
    assert approved.json()["erased"]["approved_by"] == "sv-1"
    project(api)  # the file's cases and category come from the read models
    file = api.client.get(f"/v1/children/{child_id}", headers=supervisor)
    assert file.status_code == 200, file.text
    assert "Test Child A" not in file.text
    assert "[已删除]" in file.text
    audit = api.client.get("/v1/erasures", headers=api.auth("in-1", ["inspector"]))
    assert audit.status_code == 200, audit.text
    assert [e["child_id"] for e in audit.json()["items"]] == [child_id]


def test_erasure_is_refused_while_a_case_is_open_or_held(api: Api) -> None:  # noqa: F811
    open_view = api.open_case()  # about Test Child A, open
    refused = api.client.post(f"/v1/children/{open_view['child_id']}/erasure",
                              json={"reason": "retention"}, headers=api.auth())
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "open cases" in refused.json()["detail"]

    case_id, child_id = closed_case(api, "Test Child B")
    inspector = api.auth("in-1", ["inspector"])
    held = api.client.post(f"/v1/children/{child_id}/holds", headers=inspector,
                           json={"reason": "inquiry", "reference": "INQ-2026-7",
                                 "case_id": case_id})
    assert held.status_code == 200, held.text
    [hold] = held.json()["holds"]
    assert hold["reference"] == "INQ-2026-7"
    by_caseworker = api.client.post(f"/v1/children/{child_id}/erasure",
                                    json={"reason": "retention"}, headers=api.auth())
    assert by_caseworker.status_code == 409
    # The inquiry's reference is for those who read the holds, not for every requester.
    assert "INQ-2026-7" not in by_caseworker.text
    by_supervisor = api.client.post(f"/v1/children/{child_id}/erasure", json={"reason": "x"},
                                    headers=api.auth("sv-1", ["supervisor"]))
    assert by_supervisor.status_code == 409
    assert "INQ-2026-7" in by_supervisor.json()["detail"]
    lifted = api.client.post(f"/v1/children/{child_id}/holds/{hold['hold_id']}/lift",
                             json={"reason": "inquiry closed"}, headers=inspector)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["holds"] == []
    assert api.client.post(f"/v1/children/{child_id}/erasure", json={"reason": "retention"},
                           headers=api.auth()).status_code == 200


def test_a_subject_access_export_is_recorded_and_logged(api: Api) -> None:  # noqa: F811
    _, child_id = closed_case(api)
    export = api.client.post(f"/v1/children/{child_id}/subject-access",
                             json={"reference": "guardian request 7 (invented)"},
                             headers=api.auth("sv-1", ["supervisor"]))
    assert export.status_code == 200, export.text
    assert "Test Child A" in export.text
    refused = api.client.post(f"/v1/children/{child_id}/subject-access",
                              json={"reference": "x"}, headers=api.auth())
    assert refused.status_code == 409
    log = api.client.get("/v1/access", headers=api.auth("in-1", ["inspector"]))
    assert log.status_code == 200, log.text
    assert [(e["subject"], e["purpose"]) for e in log.json()["items"]
            if e["purpose"] == "subject_access"] == [("sv-1", "subject_access")]


def test_a_hold_reference_that_cannot_be_stored_is_refused_and_nothing_held(
    api: Api,  # noqa: F811
) -> None:
    _, child_id = closed_case(api)
    inspector = api.auth("in-1", ["inspector"])
    for reference in ("INQ\x00-7", ""):
        held = api.client.post(f"/v1/children/{child_id}/holds", headers=inspector,
                               json={"reason": "inquiry", "reference": reference})
        assert held.status_code == 422, held.text
        assert held.headers["content-type"].startswith("application/problem+json")
    file = api.client.get(f"/v1/children/{child_id}/privacy", headers=inspector)
    assert file.status_code == 200, file.text
    assert file.json()["holds"] == []


def test_the_child_file_actions_of_the_spec_hold_erase_and_approve(api: Api) -> None:  # noqa: F811
    open_view = api.open_case()  # about Test Child A, open
    child = f"/v1/children/{open_view['child_id']}/actions"
    refused = api.client.post(child, json={"action": "erase_personal_data",
                                           "reason": "guardian's lawful request (invented)"},
                              headers=api.auth())
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "open cases" in refused.json()["detail"]

    case_id, child_id = closed_case(api, "Test Child B")
    child = f"/v1/children/{child_id}/actions"
    inspector, supervisor = api.auth("in-1", ["inspector"]), api.auth("sv-1", ["supervisor"])
    held = api.client.post(child, headers=inspector, json={
        "action": "place_legal_hold", "reason": "inquiry", "reference": "INQ-2026-8",
        "case_id": case_id})
    assert held.status_code == 200, held.text
    [hold] = held.json()["holds"]
    erase = {"action": "erase_personal_data", "reason": "guardian's lawful request (invented)"}
    assert api.client.post(child, json=erase, headers=api.auth()).status_code == 409
    lifted = api.client.post(child, headers=inspector, json={
        "action": "lift_legal_hold", "hold_id": hold["hold_id"], "reason": "inquiry closed"})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["holds"] == []

    asked = api.client.post(child, json=erase, headers=api.auth())
    assert asked.status_code == 200, asked.text
    assert asked.json()["erasure_request"]["requested_by"] == "cw-1"
    approve = {"action": "approve", "subject": "erasure"}
    assert api.client.post(child, json=approve, headers=inspector).status_code == 403
    approved = api.client.post(child, json=approve, headers=supervisor)
    assert approved.status_code == 200, approved.text
    assert approved.json()["erased"]["approved_by"] == "sv-1"
    project(api)
    file = api.client.get(f"/v1/children/{child_id}", headers=supervisor)
    assert "Test Child B" not in file.text
    assert "[已删除]" in file.text


def test_a_role_that_may_not_erase_or_hold_gets_403_and_nobody_approves_their_own(
    api: Api,  # noqa: F811
) -> None:
    _, child_id = closed_case(api)
    child = f"/v1/children/{child_id}/actions"
    for body, roles in (
            ({"action": "erase_personal_data", "reason": "x"}, ["reporter"]),
            ({"action": "erase_personal_data", "reason": "x"}, ["inspector"]),
            ({"action": "place_legal_hold", "reason": "x", "reference": "R-1"}, ["caseworker"]),
            ({"action": "reject", "subject": "erasure", "reason": "x"}, ["caseworker"])):
        answer = api.client.post(child, json=body, headers=api.auth("u-9", roles))
        assert answer.status_code == 403, (body, roles, answer.text)
        assert answer.json()["code"] == "role_forbidden"
        # What to do: which roles may send it, in the codes tokens carry.
        assert answer.json()["detail"].endswith(f"your roles: {roles[0]}")
        assert "supervisor" in answer.json()["detail"]
    privacy = api.client.get(f"/v1/children/{child_id}/privacy",
                             headers=api.auth("in-1", ["inspector"]))
    assert privacy.json() == {**privacy.json(), "erasure_request": None, "holds": []}
    supervisor = api.auth("sv-1", ["supervisor"])
    asked = api.client.post(child, json={"action": "erase_personal_data", "reason": "retention"},
                            headers=supervisor)
    assert asked.status_code == 200, asked.text
    own = api.client.post(child, json={"action": "approve", "subject": "erasure"},
                          headers=supervisor)
    assert (own.status_code, own.json()["code"]) == (409, "approval_refused")


def test_a_retried_hold_with_the_same_idempotency_key_puts_one_hold(api: Api) -> None:  # noqa: F811
    _, child_id = closed_case(api)
    inspector = {**api.auth("in-1", ["inspector"]), "Idempotency-Key": "hold-retry-1"}
    body = {"reason": "inquiry", "reference": "INQ-2026-9"}
    first = api.client.post(f"/v1/children/{child_id}/holds", json=body, headers=inspector)
    again = api.client.post(f"/v1/children/{child_id}/holds", json=body, headers=inspector)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    privacy = api.client.get(f"/v1/children/{child_id}/privacy", headers=inspector)
    assert len(privacy.json()["holds"]) == 1


def test_lifting_a_hold_the_file_does_not_have_is_a_422_whatever_its_id(api: Api) -> None:  # noqa: F811
    _, child_id = closed_case(api)
    inspector = api.auth("in-1", ["inspector"])
    for hold_id in ("hold-9-1", "%20", "x" * 300):
        lifted = api.client.post(f"/v1/children/{child_id}/holds/{hold_id}/lift",
                                 json={"reason": "inquiry closed"}, headers=inspector)
        assert lifted.status_code == 422, (hold_id, lifted.text)
        assert lifted.headers["content-type"].startswith("application/problem+json")


def test_supervisors_find_the_erasure_requests_waiting_for_them(api: Api) -> None:  # noqa: F811
    supervisor = api.auth("sv-1", ["supervisor"])
    waiting, rejected, erased = (closed_case(api, name)[1]
                                 for name in ("Test Child A", "Test Child B", "Test Child C"))
    for child_id in (waiting, rejected, erased):
        asked = api.client.post(f"/v1/children/{child_id}/erasure", headers=api.auth(),
                                json={"reason": "guardian's lawful request (invented)"})
        assert asked.status_code == 200, asked.text
    api.client.post(f"/v1/children/{rejected}/erasure/rejection", headers=supervisor,
                    json={"reason": "the case file is still needed"}).raise_for_status()
    api.client.post(f"/v1/children/{erased}/erasure/approval",
                    headers=supervisor).raise_for_status()

    listed = api.client.get("/v1/erasure-requests", headers=supervisor)
    assert listed.status_code == 200, listed.text
    assert [(r["child_id"], r["requested_by"]) for r in listed.json()["items"]] == [
        (waiting, "cw-1")]
    elsewhere = api.auth("sv-2", ["supervisor"], jurisdiction="5113")
    assert api.client.get("/v1/erasure-requests", headers=elsewhere).json()["items"] == []
    refused = api.client.get("/v1/erasure-requests", headers=api.auth())
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_another_areas_file_is_as_one_that_is_not_there(api: Api) -> None:  # noqa: F811
    open_view = api.open_case()  # open: a refusal here would name its cases
    missing = "00000000-0000-4000-8000-000000000000"
    elsewhere = api.auth("sv-2", ["supervisor"], jurisdiction="5113")
    for body in ({"action": "erase_personal_data", "reason": "x"},
                 {"action": "approve", "subject": "erasure"},
                 {"action": "reject", "subject": "erasure", "reason": "x"},
                 {"action": "place_legal_hold", "reason": "x", "reference": "R-1"},
                 {"action": "lift_legal_hold", "hold_id": "hold-1-1", "reason": "x"}):
        answers = [api.client.post(f"/v1/children/{child}/actions", json=body, headers=elsewhere)
                   for child in (open_view["child_id"], missing)]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [
            (404, "child_not_found")] * 2, (body, answers[0].text)
    export = api.client.post(f"/v1/children/{open_view['child_id']}/subject-access",
                             json={"reference": "x"}, headers=elsewhere)
    assert (export.status_code, export.json()["code"]) == (404, "child_not_found")
    for child in (open_view["child_id"], missing):
        record = api.client.get(f"/v1/children/{child}/privacy", headers=elsewhere)
        assert (record.status_code, record.json()["code"]) == (404, "child_not_found")
    # A role that reads no privacy record is told so, wherever the file is.
    mine = api.client.get(f"/v1/children/{open_view['child_id']}/privacy", headers=api.auth())
    assert (mine.status_code, mine.json()["code"]) == (403, "role_forbidden")


def test_a_refused_erasure_names_only_the_open_cases_in_the_callers_area(
    api: Api,  # noqa: F811
) -> None:
    child = {**case_body()["child"], "id_number": "511102201403020023"}
    mine = api.open_case(child=child)  # in the caller's township
    theirs = api.open_case("511123001001", child=child)  # the same child, another county
    assert mine["child_id"] == theirs["child_id"]
    refused = api.client.post(f"/v1/children/{mine['child_id']}/actions", headers=api.auth(),
                              json={"action": "erase_personal_data", "reason": "x"})
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert mine["id"] in detail
    assert theirs["id"] not in detail
    assert "1 outside your area" in detail


def test_a_subject_access_export_holds_the_cases_of_the_supervisors_area_and_counts_others(
    api: Api,  # noqa: F811
) -> None:
    child = {**case_body()["child"], "id_number": "511102201403020023"}
    mine = api.open_case(child=child)
    theirs = api.open_case("511123001001", child={**child, "address": "Invented Lane 9"})
    for case in (mine, theirs):
        api.act(case["id"], {"action": "screen_out", "reason": "handled by the school"},
                api.auth(jurisdiction="5111")).raise_for_status()
    body = {"reference": "guardian request 8 (invented)"}
    township = api.client.post(f"/v1/children/{mine['child_id']}/subject-access", json=body,
                               headers=api.auth("sv-1", ["supervisor"]))
    assert township.status_code == 200, township.text
    export = township.json()
    assert list(export["cases"]) == [mine["id"]]
    assert export["cases_elsewhere"] == 1
    assert "Invented Lane 9" not in township.text  # recorded by the other county's case
    city = api.client.post(f"/v1/children/{mine['child_id']}/subject-access", json=body,
                           headers=api.auth("sv-5", ["supervisor"], jurisdiction="5111"))
    assert sorted(city.json()["cases"]) == sorted([mine["id"], theirs["id"]])
    assert city.json()["cases_elsewhere"] == 0
    assert "Invented Lane 9" in city.text

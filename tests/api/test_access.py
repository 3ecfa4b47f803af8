"""Who may see and change which case: the jurisdiction matrix and the role matrix."""

from __future__ import annotations

from tests.api.support import Api, api, case_body

__all__ = ["api"]

VILLAGE, TOWNSHIP, COUNTY, CITY = "511102001001", "511102001", "511102", "5111"
LEVELS = {"village": VILLAGE, "township": TOWNSHIP, "county": COUNTY, "city": CITY}
# A case in another county of the same city: only the city user covers it.
ELSEWHERE = "511103002"


class TestJurisdictionMatrix:
    def test_users_read_and_act_on_cases_under_their_code_only(self, api: Api) -> None:
        cases = {level: api.open_case(code)["id"] for level, code in LEVELS.items()}
        cases["elsewhere"] = api.open_case(ELSEWHERE)["id"]
        codes = {**LEVELS, "elsewhere": ELSEWHERE}
        for user_level, user_code in LEVELS.items():
            headers = api.auth(f"cw-{user_level}", ["caseworker"], user_code)
            for case_level, case_id in cases.items():
                covered = codes[case_level].startswith(user_code)
                read = api.client.get(f"/v1/cases/{case_id}", headers=headers)
                act = api.act(case_id, {"action": "add_note", "text": "checked"}, headers)
                expected = 200 if covered else 404
                where = (user_level, case_level)
                assert (read.status_code, act.status_code) == (expected, expected), where
                if not covered:
                    # Indistinguishable from a case that does not exist.
                    assert read.json()["code"] == act.json()["code"] == "case_not_found"

    def test_a_refusal_on_a_hidden_case_does_not_reveal_it(self, api: Api) -> None:
        case_id = api.open_case(ELSEWHERE)["id"]
        village_user = api.auth("cw-v", ["caseworker"], VILLAGE)
        stale = api.act(case_id, {"action": "add_note", "text": "x"}, village_user,
                        if_match='"7"')
        refused = api.act(case_id, {"action": "complete_emergency"}, village_user)
        assert stale.status_code == refused.status_code == 404


class TestRoleMatrix:
    def test_who_may_open_a_case(self, api: Api) -> None:
        expected = {"reporter": 201, "caseworker": 201, "supervisor": 201, "inspector": 403,
                    "admin": 201}
        for role, status in expected.items():
            response = api.client.post("/v1/cases", json=case_body(),
                                       headers=api.auth(f"u-{role}", [role], TOWNSHIP))
            assert response.status_code == status, role

    def test_who_may_act_and_read(self, api: Api) -> None:
        case_id = api.open_case(VILLAGE)["id"]
        expected_act = {"reporter": 403, "caseworker": 200, "supervisor": 200,
                        "inspector": 403, "admin": 200}
        expected_read = {"reporter": 404, "caseworker": 200, "supervisor": 200,
                         "inspector": 200, "admin": 200}
        for role in expected_act:
            headers = api.auth(f"u-{role}", [role], TOWNSHIP)
            act = api.act(case_id, {"action": "add_note", "text": role}, headers)
            read = api.client.get(f"/v1/cases/{case_id}", headers=headers)
            assert (act.status_code, read.status_code) == (
                expected_act[role], expected_read[role]), role
            if act.status_code == 403:
                assert act.json()["code"] == "role_forbidden"

    def test_inspectors_see_no_allowed_actions(self, api: Api) -> None:
        case_id = api.open_case(VILLAGE)["id"]
        view = api.client.get(f"/v1/cases/{case_id}",
                              headers=api.auth("insp", ["inspector"], CITY)).json()
        assert view["allowed_actions"] == []

    def test_reporters_read_only_their_own_reports(self, api: Api) -> None:
        school = api.auth("school-1", ["reporter"], TOWNSHIP)
        other_school = api.auth("school-2", ["reporter"], TOWNSHIP)
        own = api.open_case(VILLAGE, as_=school)
        assert own["allowed_actions"] == []
        assert api.client.get(f"/v1/cases/{own['id']}", headers=school).status_code == 200
        assert api.client.get(f"/v1/cases/{own['id']}",
                              headers=other_school).status_code == 404

    def test_only_supervisors_approve_and_never_their_own_request(self, api: Api) -> None:
        case_id = api.open_case(VILLAGE)["id"]
        boss = api.auth("sup-1", ["supervisor"], TOWNSHIP)
        other_boss = api.auth("sup-2", ["supervisor"], COUNTY)
        asked = api.act(case_id, {"action": "request_approval", "subject": "closure"}, boss)
        assert asked.status_code == 200
        by_caseworker = api.act(case_id, {"action": "approve", "subject": "closure"})
        own = api.act(case_id, {"action": "approve", "subject": "closure"}, boss)
        other = api.act(case_id, {"action": "approve", "subject": "closure"}, other_boss)
        assert by_caseworker.status_code == 403
        assert (own.status_code, own.json()["code"]) == (409, "approval_refused")
        assert other.status_code == 200

    def test_an_approval_keeps_the_reason_given_in_the_case_history(self, api: Api) -> None:
        case_id = api.open_case(VILLAGE)["id"]
        boss = api.auth("sup-1", ["supervisor"], TOWNSHIP)
        other_boss = api.auth("sup-2", ["supervisor"], COUNTY)
        api.act(case_id, {"action": "request_approval", "subject": "closure"}, boss)
        granted = api.act(case_id, {"action": "approve", "subject": "closure",
                                    "reason": "the family is supported by the school"},
                          other_boss)
        assert granted.status_code == 200
        history = api.client.get(f"/v1/cases/{case_id}/history", headers=other_boss).json()
        [event] = [e for e in history["events"] if e["type"] == "ApprovalGranted"]
        assert event["payload"]["reason"] == "the family is supported by the school"
        assert api.client.get(f"/v1/cases/{case_id}/verify", headers=other_boss).json()["valid"]

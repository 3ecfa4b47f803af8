"""The monitoring ledger (台账) over HTTP: who may take which monitoring action where, the
ledger's filters and pages, and what it never shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.support import Api, project, running_api

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

VILLAGE, OTHER_VILLAGE = "511102001001", "511102001002"
TOWNSHIP, OTHER_TOWNSHIP, COUNTY = "511102001", "511102002", "511102"
GUARDIAN = {"name": "Invented Grandmother", "relation": "grandmother", "phone": "13800000001"}
VISIT = {"action": "record_visit", "child_seen": True, "living_situation": "with grandmother",
         "guardian_capacity": "adequate", "findings": "well"}


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    with running_api(tmp_path, db_url) as running:
        yield running


def child_file(api: Api, name: str, village: str = VILLAGE) -> str:
    """A child's file, made by a report about an invented child."""
    child = {"name": name, "sex": "male", "birth_date": "2015-05-05", "id_number": None,
             "category": "left_behind", "address": "Invented Road 2", "phone": None}
    child_id: str = api.open_case(village, child=child)["child_id"]
    return child_id


def as_(api: Api, role: str, code: str, sub: str | None = None) -> dict[str, str]:
    return api.auth(sub or f"{role}-{code}", [role], code)


def act(api: Api, child_id: str, body: dict[str, Any], headers: dict[str, str],
        **extra: str) -> httpx.Response:
    response: httpx.Response = api.client.post(f"/v1/children/{child_id}/actions", json=body,
                                                headers={**headers, **extra})
    return response


def start(api: Api, child_id: str, risk: str = "medium", village: str = VILLAGE,
          category: str = "left_behind", occurred_at: str | None = None) -> dict[str, Any]:
    body = {"action": "start_monitoring", "jurisdiction": village, "category": category,
            "risk_level": risk, "risk_reason": "parents work away", "guardian": GUARDIAN}
    if occurred_at:
        body["occurred_at"] = occurred_at
    response = act(api, child_id, body, as_(api, "child_supervisor", village[:9]))
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


class TestWhoMayDoWhat:
    @pytest.mark.parametrize(("role", "code", "expected"), [
        # role, code, {action: status}
        ("child_director", VILLAGE, {"record_visit": 200, "set_risk_level": 200,
                                     "record_care_agreement": 200, "review_file": 403,
                                     "stop_monitoring": 403}),
        ("child_director", OTHER_VILLAGE, {"record_visit": 404, "set_risk_level": 404}),
        ("child_supervisor", TOWNSHIP, {"review_file": 200, "set_risk_level": 200,
                                        "record_visit": 403, "raise_concern": 403,
                                        "record_care_agreement": 403}),
        ("child_supervisor", OTHER_TOWNSHIP, {"review_file": 404}),
        ("caseworker", TOWNSHIP, {"record_visit": 200, "review_file": 200}),
        ("supervisor", COUNTY, {"record_visit": 200, "review_file": 200}),
        ("caseworker", OTHER_TOWNSHIP, {"record_visit": 404}),
        ("inspector", COUNTY, {"record_visit": 403, "review_file": 403}),
        ("reporter", TOWNSHIP, {"record_visit": 403, "review_file": 403}),
        ("hotline", TOWNSHIP, {"record_visit": 403, "raise_concern": 403}),
    ])
    def test_roles_act_on_records_under_their_code_only(
        self, api: Api, role: str, code: str, expected: dict[str, int]
    ) -> None:
        child_id = child_file(api, "Test Child M")
        start(api, child_id)
        bodies: dict[str, dict[str, Any]] = {
            "record_visit": VISIT,
            "set_risk_level": {"action": "set_risk_level", "risk_level": "high",
                               "risk_reason": "guardian ill"},
            "record_care_agreement": {"action": "record_care_agreement", "starts_on":
                                      "2026-01-01", "ends_on": "2027-01-01",
                                      "caregiver": {"name": "Aunt", "relation": "aunt"}},
            "review_file": {"action": "review_file", "findings": "up to date"},
            "stop_monitoring": {"action": "stop_monitoring", "reason": "moved away"},
            "raise_concern": {"action": "raise_concern", "categories": ["neglect"],
                              "summary": "alone"},
        }
        headers = as_(api, role, code)
        got = {action: act(api, child_id, bodies[action], headers) for action in expected}
        assert {a: r.status_code for a, r in got.items()} == expected
        for response in got.values():
            if response.status_code == 200:
                assert response.json()["guardian"] is None  # kept answers hold no personal data
            elif response.status_code == 404:
                assert response.json()["code"] == "child_not_found"
            else:
                assert response.json()["code"] == "role_forbidden"

    def test_only_the_townships_staff_take_a_child_into_the_ledger(self, api: Api) -> None:
        child_id = child_file(api, "Test Child N")
        body = {"action": "start_monitoring", "jurisdiction": VILLAGE, "category": "orphan",
                "risk_level": "high", "risk_reason": "r", "guardian": GUARDIAN}
        director = act(api, child_id, body, as_(api, "child_director", VILLAGE))
        elsewhere = act(api, child_id, body, as_(api, "child_supervisor", OTHER_TOWNSHIP))
        assert (director.status_code, director.json()["code"]) == (403, "role_forbidden")
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403,
                                                                     "outside_jurisdiction")
        assert start(api, child_id)["status"] == "monitoring"
        again = act(api, child_id, body, as_(api, "child_supervisor", TOWNSHIP))
        assert (again.status_code, again.json()["code"]) == (409, "action_not_allowed")

    def test_the_new_roles_gain_no_case_powers(self, api: Api) -> None:
        case = api.open_case(VILLAGE)
        for role, code in (("child_director", VILLAGE), ("child_supervisor", TOWNSHIP)):
            headers = as_(api, role, code)
            note = api.act(case["id"], {"action": "add_note", "text": "x"}, headers)
            assert note.status_code == 403, role
            assert api.client.get(f"/v1/cases/{case['id']}", headers=headers).status_code == 404
            assert api.client.get("/v1/cases", headers=headers).status_code == 403
            assert api.client.get("/v1/deadlines", headers=headers).status_code == 403


class TestActions:
    def test_a_concern_opens_a_discovery_case_the_director_may_read(self, api: Api) -> None:
        child_id = child_file(api, "Test Child C")
        start(api, child_id)
        director = as_(api, "child_director", VILLAGE)
        answer = act(api, child_id, {"action": "raise_concern", "categories": ["unattended"],
                                     "summary": "alone for days", "danger_now": True},
                     director)
        assert answer.status_code == 200, answer.text
        (case_id,) = answer.json()["case_ids"]
        case = api.client.get(f"/v1/cases/{case_id}", headers=director)
        assert case.status_code == 200
        assert (case.json()["stage"], case.json()["child_id"]) == ("discovery", child_id)

    def test_a_retry_with_the_same_key_records_one_visit(self, api: Api) -> None:
        child_id = child_file(api, "Test Child K")
        start(api, child_id)
        director = as_(api, "child_director", VILLAGE)
        first = act(api, child_id, VISIT, director, **{"Idempotency-Key": "visit-1"})
        again = act(api, child_id, VISIT, director, **{"Idempotency-Key": "visit-1"})
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        assert first.json()["visits"] == 1

    def test_a_stale_if_match_is_refused_and_bad_bodies_name_the_field(self, api: Api) -> None:
        child_id = child_file(api, "Test Child S")
        version = start(api, child_id)["version"]
        director = as_(api, "child_director", VILLAGE)
        assert act(api, child_id, VISIT, director, **{"If-Match": f'"{version}"'}
                   ).status_code == 200
        stale = act(api, child_id, VISIT, director, **{"If-Match": f'"{version}"'})
        assert stale.status_code == 412
        bad = act(api, child_id, {**VISIT, "guardian_capacity": "great"}, director)
        assert bad.status_code == 422
        assert "guardian_capacity" in bad.text
        unmonitored = act(api, child_file(api, "Test Child U"), VISIT, director)
        assert unmonitored.status_code == 404


class TestLedger:
    def test_filters_scope_and_pages_without_personal_data(self, api: Api) -> None:
        long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        overdue = child_file(api, "Test Child O")
        start(api, overdue, "high", occurred_at=long_ago)  # visit due 30 days after: missed
        orphan = child_file(api, "Test Child P")
        start(api, orphan, "low", category="orphan")
        elsewhere = child_file(api, "Test Child Q", OTHER_VILLAGE)
        start(api, elsewhere, "medium", village=OTHER_VILLAGE)
        project(api)

        def ledger(headers: dict[str, str], **query: str) -> httpx.Response:
            response: httpx.Response = api.client.get("/v1/children", params=query,
                                                      headers=headers)
            return response

        township = as_(api, "child_supervisor", TOWNSHIP)
        everything = ledger(township)
        assert everything.status_code == 200
        assert [i["child_id"] for i in everything.json()["items"]] == [elsewhere, orphan,
                                                                       overdue]
        assert [i["child_id"] for i in ledger(township, overdue="true").json()["items"]] == [
            overdue]
        assert [i["child_id"] for i in ledger(township, risk_level="low").json()["items"]] == [
            orphan]
        assert [i["child_id"] for i in ledger(township, category="orphan").json()["items"]
                ] == [orphan]
        assert len(ledger(township, jurisdiction=OTHER_VILLAGE).json()["items"]) == 1
        item = next(i for i in everything.json()["items"] if i["child_id"] == overdue)
        assert (item["visit_overdue"], item["risk_level"], item["status"]) == (True, "high",
                                                                               "monitoring")
        for secret in ("Test Child", "Grandmother", "13800000001", "Invented Road"):
            assert secret not in everything.text
        # Pages by cursor.
        first = ledger(township, limit="2").json()
        rest = ledger(township, limit="2", cursor=first["next_cursor"]).json()
        assert [i["child_id"] for i in first["items"] + rest["items"]] == [
            elsewhere, orphan, overdue]
        assert rest["next_cursor"] is None
        # Each within their own code; reporters and the hotline read nothing.
        director = ledger(as_(api, "child_director", VILLAGE)).json()["items"]
        assert {i["child_id"] for i in director} == {orphan, overdue}
        assert ledger(as_(api, "inspector", COUNTY)).status_code == 200
        assert ledger(township, jurisdiction=COUNTY).status_code == 403
        for role in ("reporter", "hotline"):
            assert ledger(as_(api, role, TOWNSHIP)).status_code == 403

    def test_the_file_shows_the_record_to_the_villages_director_and_logs_it(
        self, api: Api
    ) -> None:
        child_id = child_file(api, "Test Child F")
        start(api, child_id, "high")
        project(api)
        director = as_(api, "child_director", VILLAGE, sub="cd-7")
        file = api.client.get(f"/v1/children/{child_id}", headers=director)
        assert file.status_code == 200, file.text
        monitoring = file.json()["monitoring"]
        assert monitoring["guardian"] == GUARDIAN
        assert monitoring["risk_level"] == "high"
        assert "record_visit" in monitoring["allowed_actions"]
        other = api.client.get(f"/v1/children/{child_id}",
                               headers=as_(api, "child_director", OTHER_VILLAGE))
        assert other.status_code == 404
        reads = api.client.get(f"/v1/access?child_id={child_id}",
                               headers=as_(api, "inspector", "5111")).json()["items"]
        assert ("cd-7", "child") in [(r["subject"], r["resource_type"]) for r in reads]

    def test_stats_show_visit_coverage_per_township(self, api: Api) -> None:
        long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        start(api, child_file(api, "Test Child V1"), "high", occurred_at=long_ago)
        start(api, child_file(api, "Test Child V2"), "low")
        project(api)
        stats = api.client.get("/v1/stats", headers=api.auth("sv", ["supervisor"], COUNTY))
        assert stats.json()["visit_coverage"] == [
            {"township": TOWNSHIP, "monitored": 2, "on_time": 1, "share": 0.5}]


def test_the_demo_ledger_has_visits_falling_due(api: Api) -> None:
    from api.cli.demo_ledger import load_ledger

    app: Any = api.client.app
    load_ledger(app.state.wardship, children=40)
    project(api)
    items = api.client.get("/v1/children", params={"limit": "200"},
                           headers=api.auth("sv", ["supervisor"], "5111")).json()["items"]
    assert len(items) == 40
    overdue = sum(item["visit_overdue"] for item in items)
    assert 0 < overdue < 40
    assert all(item["next_visit_due"] for item in items)


def test_child_directors_report_concerns_in_their_village_only(api: Api) -> None:
    from tests.api.support import case_body

    director = as_(api, "child_director", VILLAGE)
    own = api.client.post("/v1/cases", json=case_body(VILLAGE, entry="discovery"),
                          headers=director)
    assert own.status_code == 201
    assert api.client.get(f"/v1/cases/{own.json()['id']}", headers=director).status_code == 200
    elsewhere = api.client.post("/v1/cases", json=case_body(OTHER_VILLAGE), headers=director)
    assert elsewhere.status_code == 403


def test_a_missed_visit_stays_overdue_in_the_ledger_until_someone_visits(api: Api) -> None:
    from uuid import UUID

    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    child_id = child_file(api, "Test Child L")
    view = start(api, child_id, "high", occurred_at=long_ago)
    (visit,) = [d for d in view["deadlines"] if d["kind"] == "visit"]
    app: Any = api.client.app
    wardship = app.state.wardship
    now = datetime.now(UTC)
    assert wardship.change_monitoring(
        UUID(child_id), lambda r: r.record_deadline_missed(visit["id"], now))
    township = as_(api, "child_supervisor", TOWNSHIP)

    def overdue() -> list[str]:
        project(api)
        items = api.client.get("/v1/children", params={"overdue": "true"},
                               headers=township).json()["items"]
        return [i["child_id"] for i in items]

    assert overdue() == [child_id]
    act(api, child_id, VISIT, as_(api, "child_director", VILLAGE))
    assert overdue() == []

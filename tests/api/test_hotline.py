"""The 12345 desk's routes: work orders once per ticket, linked to open cases, and a client
token that reads nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from api.inspection.history import history_entry
from api.inspection.timeline import timeline_lines
from tests.api.support import LESHAN_TOWNSHIP, Api, api, case_body, recently, running_api

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["api"]


def work_order(ticket: str = "12345-2026-000123", **changes: Any) -> dict[str, Any]:
    """SPEC's work order, about an invented child."""
    body: dict[str, Any] = {
        "ticket": ticket, "received_at": recently(), "jurisdiction": LESHAN_TOWNSHIP,
        "urgency": "urgent", "content": "neighbours say the child is often home alone",
        "caller": {"name": "Invented Caller", "phone": "13800000000"},
        "child": {"name": "Test Child L", "sex": "male", "birth_date": None,
                  "id_number": None, "category": "left_behind",
                  "address": "Invented Village 5", "phone": None},
    }
    body.update(changes)
    return body


def desk(api: Api) -> dict[str, str]:
    return api.auth("hotline-12345", ["hotline"], "51")


def events(api: Api) -> int:
    """How many events the store holds (an inspector's count over the log)."""
    with api.client.app.state.wardship.recorder.datastore.transaction() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT count(*) FROM wardship_events")
        row = curs.fetchone()
    return int(row["count"] if isinstance(row, dict) else row[0])


class TestWorkOrders:
    def test_an_order_opens_a_report_and_the_same_ticket_answers_it_again(
            self, api: Api) -> None:
        first = api.client.post("/v1/intake/hotline", json=work_order(), headers=desk(api))
        assert first.status_code == 201, first.text
        case = first.json()
        assert case["ticket"] == "12345-2026-000123"
        assert case["stage"] == "report"
        assert {"hotline_reply", "intake_danger"} <= {d["kind"] for d in case["deadlines"]}
        stored = events(api)
        again = api.client.post("/v1/intake/hotline", json=work_order(), headers=desk(api))
        assert again.status_code == 200
        assert again.json()["id"] == case["id"]
        assert events(api) == stored  # nothing recorded the second time

    def test_an_order_about_a_child_with_an_open_case_links_to_it(self, api: Api) -> None:
        child = {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
                 "id_number": None, "category": "left_behind", "address": None,
                 "phone": None}
        existing = api.open_case(LESHAN_TOWNSHIP, child=child)
        linked = api.client.post("/v1/intake/hotline", headers=desk(api),
                                 json=work_order("12345-2026-000200", child=child))
        assert linked.status_code == 200, linked.text
        assert linked.json()["id"] == existing["id"]
        case = api.client.get(f"/v1/cases/{existing['id']}", headers=api.auth()).json()
        assert [d["ref"] for d in case["deadlines"] if d["kind"] == "hotline_reply"] == [
            "12345-2026-000200"]
        history = api.client.get(f"/v1/cases/{existing['id']}/history",
                                 headers=api.auth("sv-1", ["supervisor"], "5111")).json()
        assert "HotlineOrderLinked" in [e["type"] for e in history["events"]]

    def test_a_bad_order_is_a_422_naming_the_field(self, api: Api) -> None:
        bad = api.client.post("/v1/intake/hotline", headers=desk(api),
                              json=work_order(urgency="soon"))
        assert bad.status_code == 422
        assert "urgency" in bad.text
        missing = work_order()
        del missing["ticket"]
        refused = api.client.post("/v1/intake/hotline", headers=desk(api), json=missing)
        assert refused.status_code == 422
        assert "ticket" in refused.text


class TestTheDeskToken:
    def test_the_desk_reads_its_own_ticket_without_personal_data(self, api: Api) -> None:
        case = api.client.post("/v1/intake/hotline", json=work_order(),
                               headers=desk(api)).json()
        seen = api.client.get("/v1/intake/hotline/12345-2026-000123", headers=desk(api))
        assert seen.status_code == 200
        assert seen.json() == {"ticket": "12345-2026-000123", "case_id": case["id"],
                               "opened": True, "stage": "report", "reply": "awaiting"}
        assert "Invented" not in seen.text
        other_desk = api.auth("hotline-other", ["hotline"], "51")
        assert api.client.get("/v1/intake/hotline/12345-2026-000123",
                              headers=other_desk).status_code == 404

    def test_the_desk_token_gets_403_everywhere_else(self, api: Api) -> None:
        case = api.client.post("/v1/intake/hotline", json=work_order(),
                               headers=desk(api)).json()
        headers = desk(api)
        reads = [f"/v1/cases/{case['id']}", f"/v1/cases/{case['id']}/history",
                 "/v1/cases", "/v1/deadlines?status=overdue", "/v1/notifications",
                 f"/v1/children/{case['child_id']}", "/v1/stats", "/v1/contacts"]
        for path in reads:
            assert api.client.get(path, headers=headers).status_code == 403, path
        assert api.client.post("/v1/cases", json=case_body(),
                               headers=headers).status_code == 403
        assert api.act(case["id"], {"action": "add_note", "text": "x"},
                       headers).status_code == 403

    def test_people_may_not_file_work_orders(self, api: Api) -> None:
        for role in ("caseworker", "supervisor", "admin", "reporter"):
            response = api.client.post("/v1/intake/hotline", json=work_order(),
                                       headers=api.auth(f"u-{role}", [role], "51"))
            assert response.status_code == 403, role


class TestClientCredentials:
    def test_the_platform_trades_its_client_secret_for_a_desk_token(
            self, tmp_path: Path, db_url: str) -> None:
        with running_api(tmp_path, db_url, hotline_client_id="platform-12345",
                         hotline_client_secret="invented-secret") as api:
            refused = api.client.post("/v1/oauth/token", data={
                "grant_type": "client_credentials", "client_id": "platform-12345",
                "client_secret": "wrong"})
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_client"
            issued = api.client.post("/v1/oauth/token", data={
                "grant_type": "client_credentials"},
                auth=("platform-12345", "invented-secret"))
            assert issued.status_code == 200, issued.text
            token = issued.json()
            assert token["token_type"] == "Bearer"
            assert token["expires_in"] <= 900
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            filed = api.client.post("/v1/intake/hotline", json=work_order(), headers=headers)
            assert filed.status_code == 201
            assert api.client.get("/v1/cases", headers=headers).status_code == 403

    def test_without_configured_credentials_there_is_no_token_endpoint(self, api: Api) -> None:
        answer = api.client.post("/v1/oauth/token", data={"grant_type": "client_credentials"})
        assert answer.status_code == 404


def test_replay_shows_the_work_order_and_its_reply_in_chinese(api: Api) -> None:
    case = api.client.post("/v1/intake/hotline", json=work_order(), headers=desk(api)).json()
    wardship = api.client.app.state.wardship  # type: ignore[attr-defined]
    entries = [history_entry(e, reveal_personal=False)
               for e in wardship.case_events(UUID(case["id"]))]
    text = "\n".join(timeline_lines(entries, {"valid": True}, "zh"))
    assert "12345工单受理" in text
    assert "12345工单回复时限" in text
    assert "(hotline)" in text

"""Inspection over HTTP: history, point-in-time state, verification and the signed export."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from api.cli import main
from tests.api.support import LESHAN_TOWNSHIP, Api, api

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["api"]

INSPECTOR: dict[str, Any] = {"sub": "in-1", "roles": ["inspector"], "jurisdiction": "5111"}


def opened_and_accepted(api: Api) -> str:
    case = api.open_case()
    response = api.act(case["id"], {"action": "accept_report", "grade": "yellow",
                                    "assignee": "cw-1"})
    assert response.status_code == 200, response.text
    return str(case["id"])


def get(api: Api, path: str, sub: str = "in-1", roles: list[str] | None = None,
        jurisdiction: str = "5111") -> Any:
    return api.client.get(path, headers=api.auth(sub, roles or ["inspector"], jurisdiction))


class TestHistory:
    def test_an_inspector_sees_every_event_with_personal_data(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        body = get(api, f"/v1/cases/{case_id}/history").json()
        assert [e["type"] for e in body["events"]] == ["CaseOpened", "ReportAccepted"]
        opened = body["events"][0]
        assert opened["payload"]["child"]["name"] == "Test Child A"
        assert opened["prev_hash"] == "0" * 64
        assert body["events"][1]["prev_hash"] == opened["hash"]
        assert {"actor_id", "actor_role", "occurred_at", "recorded_at", "policy_version"} <= set(
            opened)

    def test_the_case_s_own_caseworker_sees_it_masked_and_others_not_at_all(
        self, api: Api
    ) -> None:
        case_id = opened_and_accepted(api)
        own = get(api, f"/v1/cases/{case_id}/history", "cw-1", ["caseworker"], LESHAN_TOWNSHIP)
        assert own.status_code == 200
        payload = own.json()["events"][0]["payload"]
        assert payload["child"]["name"] == "***"
        assert payload["source"]["reporter"]["phone"] == "***"
        other = get(api, f"/v1/cases/{case_id}/history", "cw-9", ["caseworker"],
                    LESHAN_TOWNSHIP)
        assert other.status_code == 403
        assert get(api, f"/v1/cases/{case_id}/history", roles=["reporter"]).status_code == 403

    def test_free_text_is_masked_with_the_personal_fields(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        note = "Test Child A's aunt, phone 000-9999, takes her in"
        assert api.act(case_id, {"action": "add_note", "text": note}).status_code == 200
        own = get(api, f"/v1/cases/{case_id}/history", "cw-1", ["caseworker"],
                  LESHAN_TOWNSHIP).json()
        assert "000-9999" not in str(own)
        assert own["events"][0]["payload"]["concern"]["summary"] == "***"
        assert own["events"][-1]["payload"]["text"] == "***"
        shown = get(api, f"/v1/cases/{case_id}/history").json()
        assert shown["events"][-1]["payload"]["text"] == note

    def test_another_jurisdiction_gets_404(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        for path in ("history", "state", "verify", "export"):
            response = get(api, f"/v1/cases/{case_id}/{path}", jurisdiction="5101")
            assert response.status_code == 404, path

    def test_history_pages_through_a_long_case(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        for n in range(5):
            api.act(case_id, {"action": "add_note", "text": f"note {n}"})
        versions, after = [], 0
        while after is not None:
            page = get(api, f"/v1/cases/{case_id}/history?after_version={after}&limit=3").json()
            versions += [e["version"] for e in page["events"]]
            after = page["next_after_version"]
        assert versions == list(range(1, 8))

    def test_every_read_is_in_the_access_log(self, api: Api, db_url: str) -> None:
        case_id = opened_and_accepted(api)
        get(api, f"/v1/cases/{case_id}/history")
        get(api, f"/v1/cases/{case_id}/verify")
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT subject, purpose FROM wardship_access_log WHERE resource_id = %s"
                " AND subject = 'in-1' ORDER BY read_at", (case_id,)).fetchall()
        assert rows == [("in-1", "history"), ("in-1", "verify")]


class TestState:
    def test_state_at_a_version_and_at_a_moment(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        first = get(api, f"/v1/cases/{case_id}/state?version=1").json()
        assert (first["version"], first["state"]["stage"]) == (1, "report")
        assert {d["kind"]: d["status"] for d in first["state"]["deadlines"]}["intake"] == "open"
        at = first["recorded_at"]
        then = api.client.get(f"/v1/cases/{case_id}/state", params={"as_of": at},
                              headers=api.auth(**INSPECTOR)).json()
        assert then["version"] == 1
        now = get(api, f"/v1/cases/{case_id}/state").json()
        assert (now["version"], now["state"]["stage"]) == (2, "assessment")

    @pytest.mark.parametrize("query", ["version=0", "version=99", "as_of=2020-01-01T00:00:00",
                                       "version=1&as_of=2020-01-01T00:00:00Z", "as_of=yesterday"])
    def test_bad_points_in_time_are_refused(self, api: Api, query: str) -> None:
        case_id = opened_and_accepted(api)
        response = get(api, f"/v1/cases/{case_id}/state?{query}")
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"

    def test_a_moment_before_the_case_existed_is_404(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        response = api.client.get(f"/v1/cases/{case_id}/state",
                                  params={"as_of": "2020-01-01T00:00:00+08:00"},
                                  headers=api.auth(**INSPECTOR))
        assert response.status_code == 404


class TestVerifyAndExport:
    def test_verify_reports_an_intact_chain(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        body = get(api, f"/v1/cases/{case_id}/verify").json()
        assert (body["valid"], body["events"], body["first_bad_version"]) == (True, 2, None)

    def test_an_export_verifies_offline_and_fails_after_any_edit(
        self, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        case_id = opened_and_accepted(api)
        api.act(case_id, {"action": "add_note", "text": "seen at school"})
        response = get(api, f"/v1/cases/{case_id}/export")
        assert response.status_code == 200
        document = response.json()
        key = api.client.get("/v1/inspection/signing-key").json()
        assert document["signature"]["public_key"] == key["public_key"]
        path = tmp_path / "case.json"
        path.write_bytes(response.content)
        assert main(["verify", str(path), "--public-key", key["public_key"]]) == 0

        def edited(change: Any) -> str:
            copy = json.loads(json.dumps(document))
            change(copy)
            path.write_text(json.dumps(copy))
            assert main(["verify", str(path)]) == 1
            return capsys.readouterr().out

        out = edited(lambda d: d["events"][1]["fields"].update(grade="red"))
        assert "event 2" in out
        out = edited(lambda d: d["events"].pop(1))
        assert "event 2" in out
        out = edited(lambda d: d["events"].reverse())
        assert "event 1" in out
        assert "signature" in edited(lambda d: d.update(exported_at="2020-01-01T00:00:00Z"))
        assert "signature" in edited(lambda d: d["policy"].update(version="other"))

        # The last event removed, with count and head hash made to match: the signature fails.
        def truncate(d: Any) -> None:
            d["events"].pop()
            d["event_count"] -= 1
            d["head_hash"] = d["events"][-1]["fields"]["hash"]
        assert "signature" in edited(truncate)

    def test_only_roles_that_see_personal_data_export(self, api: Api) -> None:
        case_id = opened_and_accepted(api)
        assert get(api, f"/v1/cases/{case_id}/export", roles=["admin"]).status_code == 403
        assert get(api, f"/v1/cases/{case_id}/export", "sv-1",
                   ["supervisor"]).status_code == 200

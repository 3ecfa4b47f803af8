"""Opening, reading and acting on a case over HTTP, and every kind of bad input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import psycopg

from api.cli import main as wardship
from tests.api.support import (
    HSM_KEYS,
    LESHAN_VILLAGE,
    Api,
    api,
    case_body,
    recently,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

__all__ = ["api"]


class TestOpeningACase:
    def test_answers_201_with_location_etag_and_the_first_deadlines(self, api: Api) -> None:
        response = api.client.post("/v1/cases", json=case_body(), headers=api.auth())
        assert response.status_code == 201
        view = response.json()
        assert response.headers["Location"] == f"/v1/cases/{view['id']}"
        assert response.headers["ETag"] == '"1"'
        assert view["stage"] == "report"
        assert view["version"] == 1
        assert [d["kind"] for d in view["deadlines"] if d["status"] == "open"] == [
            "intake", "case_review"]
        assert "accept_report" in view["allowed_actions"]

    def test_a_case_outside_the_callers_jurisdiction_is_refused(self, api: Api) -> None:
        response = api.client.post("/v1/cases", json=case_body("511103001"), headers=api.auth())
        assert response.status_code == 403
        assert response.json()["code"] == "outside_jurisdiction"


class TestReadingACase:
    def test_shows_state_open_deadlines_allowed_actions_and_etag(self, api: Api) -> None:
        case = api.open_case()
        response = api.client.get(f"/v1/cases/{case['id']}", headers=api.auth())
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'
        assert response.json()["allowed_actions"] == case["allowed_actions"]

    def test_each_read_is_recorded_in_the_access_log(self, api: Api, db_url: str) -> None:
        case = api.open_case()
        api.client.get(f"/v1/cases/{case['id']}", headers=api.auth(sub="cw-9"))
        with psycopg.connect(db_url) as conn:
            rows = conn.execute("SELECT subject, role, resource_type, resource_id, child_id"
                                " FROM wardship_access_log").fetchall()
        assert rows == [("cw-9", "caseworker", "case", case["id"], case["child_id"])]

    def test_the_access_log_cannot_be_changed(self, api: Api, db_url: str) -> None:
        api.client.get(f"/v1/cases/{api.open_case()['id']}", headers=api.auth())
        with psycopg.connect(db_url) as conn:
            try:
                conn.execute("DELETE FROM wardship_access_log")
            except psycopg.Error:
                conn.rollback()
            count = conn.execute("SELECT count(*) FROM wardship_access_log").fetchone()
        assert count == (1,)

    def test_an_unknown_case_is_404(self, api: Api) -> None:
        response = api.client.get(f"/v1/cases/{'0' * 8}-0000-4000-8000-{'0' * 12}",
                                  headers=api.auth())
        assert response.status_code == 404
        assert response.json()["code"] == "case_not_found"


class TestActions:
    def test_accepting_a_red_report_moves_it_to_emergency_response(self, api: Api) -> None:
        case = api.open_case()
        response = api.act(case["id"], {"action": "accept_report", "grade": "red",
                                        "assignee": "cw-1", "occurred_at": recently(1)})
        assert response.status_code == 200
        view = response.json()
        assert (view["stage"], view["grade"], view["version"]) == ("emergency_response", "red", 2)
        assert response.headers["ETag"] == '"2"'
        kinds = {d["kind"] for d in view["deadlines"] if d["status"] == "open"}
        assert {"response_dispatch", "emergency_completion"} <= kinds

    def test_a_whole_path_to_assistance(self, api: Api) -> None:
        case_id = api.open_case()["id"]
        due = (datetime.now(UTC) + timedelta(days=5)).isoformat()
        for body in (
            {"action": "accept_report", "grade": "yellow", "assignee": "cw-1"},
            {"action": "record_assessment", "guardianship_capacity": "impaired",
             "needs": ["psychological"]},
            {"action": "complete_assessment", "outcome": "assistance"},
            {"action": "create_plan", "services": [
                {"type": "psychological_counselling", "provider": "centre", "due_at": due}]},
            {"action": "record_visit", "child_seen": True, "findings": "fed and at school"},
            {"action": "sign_care_agreement", "caregiver": "aunt",
             "period_start": "2026-01-01", "period_end": "2026-12-31"},
        ):
            response = api.act(case_id, body)
            assert response.status_code == 200, (body["action"], response.text)
        assert response.json()["stage"] == "assistance"

    def test_a_refused_transition_is_409_listing_the_allowed_actions(self, api: Api) -> None:
        case = api.open_case()
        response = api.act(case["id"], {"action": "complete_emergency"})
        assert response.status_code == 409
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "action_not_allowed"
        assert "accept_report" in problem["allowed_actions"]

    def test_guardianship_without_its_legal_ground_is_refused(self, api: Api) -> None:
        case = api.open_case()
        api.act(case["id"], {"action": "accept_report", "grade": "red", "assignee": "cw-1"})
        response = api.act(case["id"], {"action": "place_child", "placement": "institution",
                                        "ground": "art94_guardian_dead"})
        assert response.status_code == 422
        assert response.json()["code"] == "legal_ground_required"


def _bad_bodies() -> list[tuple[str, Any]]:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return [
        ("unknown field", {"action": "add_note", "text": "x", "colour": "red"}),
        ("wrong enum", {"action": "accept_report", "grade": "purple", "assignee": "a"}),
        ("unknown action", {"action": "fly_away"}),
        ("no action", {"text": "x"}),
        ("future occurred_at", {"action": "add_note", "text": "x", "occurred_at": future}),
        ("naive occurred_at", {"action": "add_note", "text": "x",
                               "occurred_at": "2026-01-01T09:00:00"}),
        ("missing field", {"action": "accept_report", "grade": "red"}),
        ("empty text", {"action": "add_note", "text": ""}),
        ("not an object", [1, 2, 3]),
        ("NUL in text", {"action": "add_note", "text": "a\x00b"}),
        ("time before datetime.min in UTC", {"action": "add_note", "text": "x",
                                             "occurred_at": "0001-01-01T00:00:00+14:00"}),
        ("due in year 9999", {"action": "refer", "partner": "police",
                              "due_at": "9999-12-31T23:59:59-12:00"}),
        ("occurred_at as a number", {"action": "add_note", "text": "x",
                                     "occurred_at": 1764547200}),
    ]


class TestBadInput:
    def test_every_bad_action_body_is_4xx_problem_and_changes_nothing(self, api: Api) -> None:
        case = api.open_case()
        for label, body in _bad_bodies():
            response = api.act(case["id"], body)
            assert response.status_code == 422, (label, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "invalid_request", label
        view = api.client.get(f"/v1/cases/{case['id']}", headers=api.auth()).json()
        assert view["version"] == 1

    def test_malformed_json_is_422(self, api: Api) -> None:
        case = api.open_case()
        response = api.client.post(
            f"/v1/cases/{case['id']}/actions", content=b'{"action": "add_no',
            headers={**api.auth(), "Content-Type": "application/json"})
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_request"

    def test_an_oversize_body_is_413(self, api: Api) -> None:
        case = api.open_case()
        response = api.act(case["id"], {"action": "add_note", "text": "x" * 70_000})
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"

    def test_an_oversize_streamed_body_is_413(self, api: Api) -> None:
        case = api.open_case()

        def chunks() -> Any:
            for _ in range(20):
                yield b" " * 8192

        response = api.client.post(f"/v1/cases/{case['id']}/actions", content=chunks(),
                                   headers={**api.auth(), "Content-Type": "application/json"})
        assert response.status_code == 413

    def test_bad_opening_bodies_are_422(self, api: Api) -> None:
        for changes in ({"jurisdiction": "51110"}, {"entry": "assessment"},
                        {"occurred_at": "2026-11-20T09:00:00"},
                        {"source": {"channel": "pigeon"}}, {"surprise": 1}):
            response = api.client.post("/v1/cases", json=case_body(**changes),
                                       headers=api.auth(jurisdiction="5111"))
            assert response.status_code == 422, (changes, response.text)

    def test_a_bad_if_match_is_400(self, api: Api) -> None:
        case = api.open_case()
        response = api.act(case["id"], {"action": "add_note", "text": "x"},
                           if_match="yesterday")
        assert response.status_code == 400

    def test_malformed_headers_are_422_and_change_nothing(self, api: Api) -> None:
        case = api.open_case()
        headers: dict[str, str]
        for headers in ({"key": "not a key!"}, {"key": "k" * 201}, {"if_match": "9" * 41}):
            response = api.act(case["id"], {"action": "add_note", "text": "x"},
                               key=headers.get("key"), if_match=headers.get("if_match"))
            assert response.status_code == 422, (headers, response.text)
            assert response.json()["errors"][0]["loc"][0] == "header"
        assert api.client.get(f"/v1/cases/{case['id']}",
                              headers=api.auth()).json()["version"] == case["version"]

    def test_the_schema_and_the_api_agree_on_blank_names(self, api: Api) -> None:
        pattern = api.client.get("/openapi.json").json()["components"]["schemas"][
            "AcceptReport"]["properties"]["assignee"]["pattern"]
        case = api.open_case()
        for name in ("cw-2", " cw-2 ", "\u000b", "\u3000", " \t"):
            allowed = jsonschema_rs.Draft202012Validator({"pattern": pattern}).is_valid(name)
            response = api.act(case["id"], {"action": "assign", "assignee": name})
            assert (response.status_code == 200) is allowed, (name, response.text)
            assert allowed or response.json()["code"] == "invalid_request", name

    def test_nul_in_a_search_filter_is_422_not_a_fault(self, api: Api) -> None:
        inspector = api.auth("in-1", ["inspector"])
        for path, name in (("/v1/access", "subject"), ("/v1/access", "resource_id"),
                           ("/v1/cases", "assignee"), ("/v1/deadlines", "kind")):
            response = api.client.get(path, params={name: "a\x00b"}, headers=inspector)
            assert response.status_code == 422, (path, name, response.text)
            assert response.json()["code"] == "invalid_request"

    def test_every_pattern_in_the_schema_is_one_other_validators_read(self, api: Api) -> None:
        """A pattern a Rust or ECMA-262 `u` validator cannot compile checks nothing there."""
        document = api.client.get("/openapi.json").json()
        for pattern in set(_patterns(document)):
            jsonschema_rs.Draft202012Validator({"pattern": pattern})


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


class TestTokens:
    def test_no_token_is_401(self, api: Api) -> None:
        response = api.client.get(f"/v1/cases/{api.open_case()['id']}")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"

    def test_a_forged_or_expired_token_is_401(self, api: Api) -> None:
        case = api.open_case()
        token = api.token("cw-1", ["caseworker"], "5111")
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for bad in (forged, "not-a-jwt"):
            response = api.client.get(f"/v1/cases/{case['id']}",
                                      headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401

    def test_a_token_claiming_the_system_role_is_401(self, api: Api) -> None:
        import jwt

        token = jwt.encode({"sub": "x", "roles": ["system"], "jurisdiction": "51",
                            "exp": datetime.now(UTC) + timedelta(hours=1)},
                           api.settings.effective_jwt_secret(), algorithm="HS256")
        response = api.client.post("/v1/cases", json=case_body(),
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401

    def test_the_cli_prints_a_token_the_api_accepts(
        self, api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from api.settings import get_settings

        monkeypatch.setenv("WARDSHIP_STATE_DIR", str(api.settings.state_dir))
        get_settings.cache_clear()
        try:
            status = wardship(["token", "--sub", "cw-7", "--role", "caseworker",
                               "--jurisdiction", LESHAN_VILLAGE[:9]])
        finally:
            get_settings.cache_clear()
        assert status == 0
        token = capsys.readouterr().out.strip()
        response = api.client.post("/v1/cases", json=case_body(),
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201
        assert response.json()["opened_by"] == "cw-7"

    def test_the_cli_refuses_in_production(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from api.settings import get_settings

        for name, value in (("WARDSHIP_ENVIRONMENT", "production"),
                            ("WARDSHIP_CIPHER_KEY", "a" * 44), ("DATABASE_URL", "postgresql://x/y"),
                            ("TEMPORAL_ADDRESS", "x:7233"), ("WARDSHIP_JWT_PUBLIC_KEY", "k"),
                            ("WARDSHIP_JWT_ISSUER", "i"), ("WARDSHIP_JWT_AUDIENCE", "a"),
                            *((f"WARDSHIP_{key.upper()}", value)
                              for key, value in HSM_KEYS.items())):
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            status = wardship(["token", "--sub", "x", "--role", "admin", "--jurisdiction", "51"])
        finally:
            get_settings.cache_clear()
        assert status != 0
        assert capsys.readouterr().out == ""


class TestOperations:
    def test_metrics_count_requests_by_route_commands_and_error_codes(self, api: Api) -> None:
        case = api.open_case()
        api.act(case["id"], {"action": "add_note", "text": "seen"})
        api.act(case["id"], {"action": "complete_emergency"})
        text = api.client.get("/metrics", headers=api.auth("adm-1", ["admin"])).text
        assert 'route="/v1/cases/{case_id}/actions"' in text
        assert 'wardship_commands_total{action="add_note",outcome="done"} 1.0' in text
        assert 'wardship_errors_total{code="action_not_allowed",status="409"} 1.0' in text

    def test_every_answer_carries_a_request_id(self, api: Api) -> None:
        response = api.client.get(f"/v1/cases/{api.open_case()['id']}", headers=api.auth())
        assert response.headers["X-Request-ID"]

    def test_each_action_schema_is_in_openapi(self, api: Api) -> None:
        schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
        assert {"AcceptReport", "PlaceChild", "Approve", "CreatePlan", "OpenCase"} <= set(schemas)

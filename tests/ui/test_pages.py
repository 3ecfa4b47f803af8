"""The pages under /ui/ over HTTP: sign-in, cookies, CSRF, headers, the same access rules as
the API (403 page, 404 for another area's case), the access log, the one catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from api.ui import board as board_page_module
from api.ui.render import TEMPLATES_DIR
from api.ui.security import CONTENT_SECURITY_POLICY
from domain.i18n import translate
from tests.api.support import LESHAN_TOWNSHIP, Api, project
from tests.inspection.test_tamper_evidence import tamper
from tests.outage import Outage
from tests.projections.test_api_reads import overdue_case
from tests.ui.support import csrf_of, sign_in

if TYPE_CHECKING:
    import pytest
    from fastapi.testclient import TestClient

MESSAGE = re.compile(r"""_\((["'])(.+?)\1\)""")
TRANSLATED = re.compile(r"""translate\("([^"]+)", lang\)""")


def _reads(api: Api, purpose: str) -> list[tuple[str, str]]:
    with psycopg.connect(str(api.settings.database_url)) as conn:
        rows = conn.execute("SELECT subject, resource_id FROM wardship_access_log"
                            " WHERE purpose = %s", (purpose,)).fetchall()
    return [(str(a), str(b)) for a, b in rows]


class TestOneCatalogue:
    def test_every_text_of_every_template_has_its_chinese(self) -> None:
        found = {m.group(2) for path in Path(TEMPLATES_DIR).glob("*.html")
                 for m in MESSAGE.finditer(path.read_text(encoding="utf-8"))}
        assert len(found) > 50
        assert sorted(m for m in found if translate(m, "zh") == m) == []

    def test_every_text_the_pages_build_has_its_chinese(self) -> None:
        found = {m.group(1) for path in Path(TEMPLATES_DIR).parent.glob("*.py")
                 for m in TRANSLATED.finditer(path.read_text(encoding="utf-8"))}
        assert "whole case" in found
        assert sorted(m for m in found if translate(m, "zh") == m) == []


class TestSignIn:
    def test_a_page_without_a_session_sends_the_browser_to_sign_in(self, api: Api) -> None:
        answer = api.client.get("/ui/board", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=/ui/board"

    def test_the_session_cookie_is_httponly_and_strict(self, api: Api) -> None:
        page = api.client.get("/ui/login")
        token = api.token("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        answer = api.client.post("/ui/login", data={"csrf": csrf_of(page.text), "token": token,
                                                    "next": "/ui/inbox"},
                                 follow_redirects=False)
        assert answer.headers["location"] == "/ui/inbox"
        cookie = next(c for c in answer.headers.get_list("set-cookie")
                      if c.startswith("wardship_session="))
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Secure" not in cookie  # development serves plain http

    def test_a_form_without_its_token_is_refused(self, api: Api) -> None:
        api.client.get("/ui/login")
        token = api.token("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        answer = api.client.post("/ui/login", data={"csrf": "forged", "token": token},
                                 follow_redirects=False)
        assert answer.status_code == 403
        assert "wardship_session" not in answer.headers.get("set-cookie", "")

    def test_a_bad_token_is_refused_on_the_page(self, api: Api) -> None:
        page = api.client.get("/ui/login")
        answer = api.client.post("/ui/login", data={"csrf": csrf_of(page.text),
                                                    "token": "not-a-token"})
        assert answer.status_code == 401
        assert "令牌无效" in answer.text

    def test_no_redirect_leaves_the_pages(self, api: Api) -> None:
        page = api.client.get("/ui/login")
        token = api.token("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        answer = api.client.post("/ui/login", data={
            "csrf": csrf_of(page.text), "token": token, "next": "//elsewhere.example/ui/"},
            follow_redirects=False)
        assert answer.headers["location"] == "/ui/board"


class TestHeaders:
    def test_pages_allow_no_inline_script_and_no_outside_origin(self, api: Api) -> None:
        answer = api.client.get("/ui/login")
        policy = answer.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in policy
        assert "http" not in policy
        assert "<script>" not in answer.text
        assert api.client.get("/ui/static/wardship.css").status_code == 200


class TestSameRules:
    def test_a_caseworker_gets_the_403_page_for_supervisor_pages(self, api: Api) -> None:
        client = sign_in(api, "cw-1", ["caseworker"], LESHAN_TOWNSHIP)
        for page in ("/ui/inbox", "/ui/approvals", "/ui/access"):
            answer = client.get(page)
            assert answer.status_code == 403, page
            assert "您无权打开此页面" in answer.text
        board = client.get("/ui/board")  # the API's board is every reader's
        assert board.status_code == 200
        assert "/ui/inbox" not in board.text  # nor offered in the navigation

    def test_another_areas_case_is_404(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        client = sign_in(api, "sv-9", ["supervisor"], "511111")
        answer = client.get(f"/ui/cases/{case_id}")
        assert answer.status_code == 404
        assert str(case_id) not in answer.text.split("<main", 1)[1]  # nothing told of it
        assert client.get(f"/ui/cases/{case_id}/export").status_code == 404
        assert client.get(f"/ui/approvals/{case_id}/closure?decision=approve"
                          ).status_code == 404

    def test_nobody_approves_their_own_request(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        asked = api.act(str(case_id), {"action": "request_approval", "subject": "closure",
                                       "reason": "resolved"}, boss)
        assert asked.status_code == 200, asked.text
        client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        page = client.get(f"/ui/approvals/{case_id}/closure?decision=approve")
        assert '<dd id="asked-because">resolved</dd>' in page.text  # the request's reason
        answer = client.post(f"/ui/approvals/{case_id}/closure",
                             data={"csrf": csrf_of(page.text), "decision": "approve"})
        assert answer.status_code == 409
        assert "不能审批本人提请的事项" in answer.text
        case = api.client.get(f"/v1/cases/{case_id}", headers=boss).json()
        assert case["approvals"]["closure"]["status"] == "requested"


class TestOutage:
    def test_a_page_answers_a_503_page_while_the_database_is_down(
        self, api: Api, database_url: str, db_url: str
    ) -> None:
        client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        with Outage(database_url, db_url).during():
            answer = client.get("/ui/board")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("text/html")
        assert "服务暂时无法响应" in answer.text


class TestPages:
    def test_the_board_shows_the_overdue_case_and_logs_the_read(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        project(api)
        client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        board = client.get("/ui/board")
        assert f"/ui/cases/{case_id}" in board.text
        assert "受理时限" in board.text
        filtered = client.get("/ui/board?kind=assessment")
        assert f"/ui/cases/{case_id}" not in filtered.text
        assert ("sv-1", str(case_id)) in _reads(api, "board")

    def test_the_timeline_rebuilds_an_earlier_state(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        client = sign_in(api, "in-1", ["inspector"], LESHAN_TOWNSHIP)
        now = client.get(f"/ui/cases/{case_id}")
        assert now.status_code == 200
        assert "哈希链校验通过" in now.text
        assert "超时未办" in now.text  # the miss, in plain Chinese
        first = client.get(f"/ui/cases/{case_id}?version=1")
        assert "1 / 3" in first.text
        before = client.get(f"/ui/cases/{case_id}?day=2001-01-01")
        assert "该时刻案件尚未立案" in before.text
        assert ("in-1", str(case_id)) in _reads(api, "timeline")

    def test_the_badge_names_the_first_bad_event_and_the_page_still_opens(
        self, api: Api
    ) -> None:
        case_id, _ = overdue_case(api)
        tamper(str(api.settings.database_url), case_id,
               "UPDATE wardship_events SET state = set_byte(state, length(state) / 2,"
               " get_byte(state, length(state) / 2) # 1)"
               " WHERE originator_id = %CASE% AND originator_version = 2")
        client = sign_in(api, "in-1", ["inspector"], LESHAN_TOWNSHIP)
        page = client.get(f"/ui/cases/{case_id}")
        assert page.status_code == 200
        assert re.search(r"哈希链断裂，首个异常记录\s*2\b", page.text)
        assert "自首个异常记录起的记录无法读取" in page.text
        assert 'id="event-1"' in page.text
        assert 'id="event-2"' not in page.text

    def test_english_is_one_switch_away(self, api: Api) -> None:
        client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        assert "逾期看板" in client.get("/ui/board").text
        english = client.get("/ui/lang/en?next=/ui/board")
        assert "Overdue board" in english.text
        assert '<html lang="en">' in english.text

    def test_every_page_answers_for_its_roles(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        project(api)
        pages = ("/ui/board", "/ui/inbox", "/ui/approvals", "/ui/stats", "/ui/cases",
                 f"/ui/cases/{case_id}")
        client: TestClient = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        for page in pages:
            assert client.get(page).status_code == 200, page
        client = sign_in(api, "in-1", ["inspector"], LESHAN_TOWNSHIP)
        assert client.get("/ui/access").status_code == 200
        download = client.get(f"/ui/cases/{case_id}/export")
        assert download.headers["content-disposition"].startswith("attachment")
        assert str(case_id) in download.text


class TestFaults:
    def test_a_fault_of_ours_answers_a_page_in_chinese_not_the_apis_json(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client = sign_in(api, "sv-1", ["supervisor"], LESHAN_TOWNSHIP)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a fault in the board's query")

        monkeypatch.setattr(board_page_module, "board", broken)
        answer = client.get("/ui/board")
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("text/html")
        assert "系统内部出错" in answer.text
        assert "internal_error" in answer.text
        assert "a fault in the board's query" not in answer.text

"""The API's reads from projections: search, overdue board, inbox, read-your-writes, SSE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.codes import Role
from tests.api.support import (
    LESHAN_TOWNSHIP,
    Api,
    case_body,
    notification_stream,
    project,
    projections_running,
    running_api,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

    from domain.application import Wardship


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    with running_api(tmp_path, db_url) as running:
        yield running


def wardship(api: Api) -> Wardship:
    app: Any = api.client.app
    result: Wardship = app.state.wardship
    return result


def overdue_case(api: Api, township: str = LESHAN_TOWNSHIP) -> tuple[UUID, str]:
    """A report left unaccepted for ten days: intake missed, escalated to the township."""
    when = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    case_id = UUID(api.open_case(township + "001", occurred_at=when)["id"])
    app, now = wardship(api), datetime.now(UTC)
    intake = next(d for d in app.get_case(case_id)["deadlines"] if d["kind"] == "intake")
    app.record_deadline_missed(case_id, intake["id"], now)
    nid = app.record_escalation(case_id, intake["id"], 1, now)
    assert nid is not None
    return case_id, nid


class TestCaseSearch:
    def test_filters_scope_and_cursor_pagination(self, api: Api) -> None:
        ids = [api.open_case()["id"] for _ in range(3)]
        api.open_case("511111002001", as_=api.auth(jurisdiction="5111"))
        project(api)
        city = api.auth(jurisdiction="5111")
        first = api.client.get("/v1/cases?limit=2&jurisdiction=511102", headers=city).json()
        second = api.client.get(f"/v1/cases?limit=2&jurisdiction=511102"
                                f"&cursor={first['next_cursor']}", headers=city).json()
        assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
        assert second["next_cursor"] is None
        reported = api.client.get("/v1/cases?stage=report&grade=red", headers=city).json()
        assert reported["items"] == []
        county = api.client.get("/v1/cases", headers=api.auth(jurisdiction="511111")).json()
        assert len(county["items"]) == 1

    def test_a_code_outside_the_callers_is_refused(self, api: Api) -> None:
        project(api)
        answer = api.client.get("/v1/cases?jurisdiction=511111", headers=api.auth())
        assert answer.status_code == 403
        assert answer.json()["code"] == "jurisdiction_forbidden"

    def test_min_position_waits_for_the_callers_write(self, api: Api) -> None:
        project(api)
        with projections_running(api.settings):
            case_id = api.open_case()["id"]
            position = wardship(api).recorder.max_notification_id()
            answer = api.client.get("/v1/cases", headers={
                **api.auth(), "X-Min-Position": str(position)}).json()
        assert [c["id"] for c in answer["items"]] == [case_id]
        assert answer["position"] >= position

    def test_a_command_answers_with_its_position_and_the_writer_reads_it_back(
        self, api: Api
    ) -> None:
        project(api)
        with projections_running(api.settings):
            opened = api.open_case()
            answer = api.client.get("/v1/cases", headers=api.auth()).json()
        # No header sent: the API remembers the caller's own latest write.
        assert [c["id"] for c in answer["items"]] == [opened["id"]]
        assert answer["position"] >= opened["position"] > 0


class TestOverdueBoardAndInbox:
    def test_overdue_board_shows_the_missed_intake(self, api: Api) -> None:
        case_id, _ = overdue_case(api)
        project(api)
        board = api.client.get("/v1/deadlines?status=overdue",
                               headers=api.auth(jurisdiction="5111")).json()
        assert [(d["case_id"], d["kind"], d["status"]) for d in board["items"]] == [
            (str(case_id), "intake", "missed")]
        elsewhere = api.client.get("/v1/deadlines", headers=api.auth(jurisdiction="511111"))
        assert elsewhere.json()["items"] == []

    def test_inbox_of_the_exact_code_and_acknowledgement(self, api: Api) -> None:
        _, nid = overdue_case(api)
        project(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        inbox = api.client.get("/v1/notifications", headers=boss).json()
        assert [(n["id"], n["acknowledged_by"]) for n in inbox["items"]] == [(nid, None)]
        county = api.auth("sv-2", ["supervisor"], "511102")
        assert api.client.get("/v1/notifications", headers=county).json()["items"] == []
        assert api.client.post(f"/v1/notifications/{nid}/ack", headers=county).status_code \
            == 409
        acked = api.client.post(f"/v1/notifications/{nid}/ack", headers=boss)
        assert acked.status_code == 200
        project(api)
        read = api.client.get("/v1/notifications?acknowledged=true", headers=boss)
        assert [n["acknowledged_by"] for n in read.json()["items"]] == ["sv-1"]

    def test_a_township_with_nobody_on_duty_shows_on_the_covering_board_and_in_metrics(
        self, api: Api
    ) -> None:
        overdue_case(api)
        project(api)
        county = api.auth("sv-2", ["supervisor"], "511102")
        admin = api.auth("adm-1", ["admin"], "5111")
        board = api.client.get("/v1/deadlines", headers=county).json()
        assert board["unattended"] == [{"jurisdiction": LESHAN_TOWNSHIP, "covered_by": None,
                                        "label": f"无人值守: {LESHAN_TOWNSHIP}"}]
        # The county puts someone on duty: the township's notices would reach them.
        contact = {"jurisdiction": "511102", "name": "县督导", "role": "supervisor",
                   "channels": [{"type": "email", "address": "county@test.invalid"}]}
        assert api.client.post("/v1/contacts", json=contact, headers=admin).status_code == 201
        board = api.client.get("/v1/deadlines", headers=county).json()
        assert [u["covered_by"] for u in board["unattended"]] == ["511102"]
        metrics = api.client.get("/metrics", headers=admin).text
        assert ('wardship_unattended_jurisdictions{covered_by="511102",'
                f'jurisdiction="{LESHAN_TOWNSHIP}"}} 1.0') in metrics
        # Once the township has its own contact, the gap is gone.
        contact["jurisdiction"] = LESHAN_TOWNSHIP
        assert api.client.post("/v1/contacts", json=contact, headers=admin).status_code == 201
        assert api.client.get("/v1/deadlines", headers=county).json()["unattended"] == []
        assert "wardship_unattended_jurisdictions{" not in api.client.get(
            "/metrics", headers=admin).text
        # Another area's board never lists it.
        other = api.auth("sv-9", ["supervisor"], "511111")
        assert api.client.get("/v1/deadlines", headers=other).json()["unattended"] == []

    def test_a_blue_miss_waits_in_the_inbox_as_held_for_the_digest(self, api: Api) -> None:
        when = datetime.now(UTC) - timedelta(days=10)
        case_id = UUID(api.open_case(LESHAN_TOWNSHIP + "001", occurred_at=when.isoformat())["id"])
        app = wardship(api)
        actor = Actor("cw-1", frozenset({Role.CASEWORKER}), LESHAN_TOWNSHIP, "Invented Worker")
        app.perform(case_id, actor, "accept_report", {"grade": "blue", "assignee": "cw-1"},
                    occurred_at=when, now=when)
        review = next(d for d in app.get_case(case_id)["deadlines"] if d["kind"] == "assessment")
        app.record_deadline_missed(case_id, review["id"], review["due_at"])
        nid = app.record_escalation(case_id, review["id"], 1, review["due_at"])
        project(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        [notice] = api.client.get("/v1/notifications", headers=boss).json()["items"]
        assert (notice["id"], notice["delivery"], notice["deliveries"]) == (
            nid, "held", {"digest": "held"})

    def test_unknown_notification_is_404(self, api: Api) -> None:
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        answer = api.client.post("/v1/notifications/nonsense/ack", headers=boss)
        assert answer.status_code == 404


class TestPatternAlarms:
    def test_a_second_report_about_a_child_alarms_the_townships_inbox_and_file(
        self, api: Api
    ) -> None:
        api.open_case()
        second = api.open_case()  # the same invented child, minutes later
        project(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        [alarm] = api.client.get("/v1/notifications", headers=boss).json()["items"]
        assert (alarm["kind"], alarm["level"], alarm["deadline_id"], alarm["case_id"]) == (
            "repeat_report", 1, None, second["id"])
        assert alarm["id"].startswith(second["child_id"])
        county = api.auth("sv-2", ["supervisor"], "511102")
        assert api.client.get("/v1/notifications", headers=county).json()["items"] == []
        assert api.client.post(f"/v1/notifications/{alarm['id']}/ack",
                               headers=county).status_code == 409
        assert api.client.post(f"/v1/notifications/{alarm['id']}/ack",
                               headers=boss).status_code == 200
        project(api)
        [read] = api.client.get("/v1/notifications?acknowledged=true", headers=boss).json()[
            "items"]
        assert read["acknowledged_by"] == "sv-1"
        child = api.client.get(f"/v1/children/{second['child_id']}", headers=boss).json()
        [recorded] = child["alarms"]
        assert (recorded["rule"], recorded["acknowledged_by"]) == ("repeat_report", "sv-1")
        assert [s["kind"] for s in recorded["signals"]] == ["report", "report"]


class TestStream:
    def test_sse_delivers_a_notification_recorded_after_connecting(
        self, api: Api, tmp_path: Path
    ) -> None:
        project(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        with notification_stream(api, boss) as stream:
            _, nid = overdue_case(api)
            received = _first_event(stream)
        assert received["event"] == "notification"
        assert nid in received["data"]
        assert received["id"].isdigit()


def _first_event(stream: httpx.Response) -> dict[str, str]:
    event: dict[str, str] = {}
    for line in stream.iter_lines():
        if not line:
            if "data" in event:
                return event
            continue
        field, _, value = line.partition(":")
        event[field] = value.strip()
    raise AssertionError("the stream ended without an event")




class TestChildStatsAccessAndMetrics:
    def test_child_file_shows_personal_details_and_logs_the_read(self, api: Api) -> None:
        view = api.open_case()
        project(api)
        child = api.client.get(f"/v1/children/{view['child_id']}", headers=api.auth())
        assert child.status_code == 200
        body = child.json()
        assert body["personal"]["name"] == "Test Child A"
        assert [c["id"] for c in body["cases"]] == [view["id"]]
        assert body["category"] == "left_behind"
        elsewhere = api.client.get(f"/v1/children/{view['child_id']}",
                                   headers=api.auth(jurisdiction="511111"))
        assert elsewhere.status_code == 404
        inspector = api.auth("in-1", ["inspector"], "5111")
        reads = api.client.get(f"/v1/access?child_id={view['child_id']}",
                               headers=inspector).json()["items"]
        assert [(r["subject"], r["resource_type"]) for r in reads] == [("cw-1", "child")]

    def test_a_report_elsewhere_about_the_same_child_neither_reads_nor_overwrites(
        self, api: Api
    ) -> None:
        child = {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
                 "id_number": "511102201403020023", "category": "left_behind",
                 "address": "Invented Road 1, Leshan", "phone": "000-1"}
        leshan = api.open_case(child=child)
        beijing_worker = api.auth("cw-bj", ["caseworker"], "110105")
        beijing = api.open_case("110105001001", as_=beijing_worker,
                                child={**child, "address": "Invented Lane 9, Beijing"})
        assert beijing["child_id"] == leshan["child_id"]
        project(api)
        path = f"/v1/children/{leshan['child_id']}"
        seen_in_beijing = api.client.get(path, headers=beijing_worker).json()
        assert seen_in_beijing["personal"]["address"] == "Invented Lane 9, Beijing"
        assert [d["case_id"] for d in seen_in_beijing["details"]] == [beijing["id"]]
        assert seen_in_beijing["hidden_cases"] == 1
        seen_in_leshan = api.client.get(path, headers=api.auth()).json()
        assert seen_in_leshan["personal"]["address"] == "Invented Road 1, Leshan"
        national = api.auth("in-0", ["inspector"], "11")
        reads = api.client.get(f"/v1/access?child_id={leshan['child_id']}",
                               headers=national).json()["items"]
        assert [(r["subject"], r["case_jurisdiction"]) for r in reads] == [
            ("cw-bj", "110105001001")]

    def test_an_invalid_id_number_is_a_422_naming_the_field(self, api: Api) -> None:
        body = case_body(child={"name": "Test Child A", "id_number": "511102201403020020"})
        answer = api.client.post("/v1/cases", json=body, headers=api.auth(jurisdiction="5111"))
        assert answer.status_code == 422
        assert "id_number" in answer.text

    def test_two_files_of_one_child_are_merged_by_a_recorded_action(self, api: Api) -> None:
        unknown = {"name": "不详", "sex": "male", "birth_date": None, "category": "other"}
        first, second = api.open_case(child=unknown), api.open_case(child=unknown)
        assert first["child_id"] != second["child_id"]
        answer = api.client.post(f"/v1/children/{first['child_id']}/actions", json={
            "action": "merge_child_files", "into": second["child_id"],
            "reason": "the same boy, identified by his school"}, headers=api.auth())
        assert answer.status_code == 200, answer.text
        assert sorted(answer.json()["case_ids"]) == sorted([first["id"], second["id"]])
        project(api)
        merged = api.client.get(f"/v1/children/{second['child_id']}", headers=api.auth()).json()
        assert sorted(c["id"] for c in merged["cases"]) == sorted([first["id"], second["id"]])

    def test_stats_count_cases_by_stage_channel_and_reporter(self, api: Api) -> None:
        api.open_case()
        api.open_case(source={"channel": "hotline_12345",
                              "reporter": {"name": "x", "mandatory": False}})
        project(api)
        stats = api.client.get("/v1/stats?jurisdiction=511102",
                               headers=api.auth(jurisdiction="5111")).json()
        assert stats["cases"] == 2
        assert stats["by_stage"] == {"report": 2}
        assert stats["by_source_channel"] == {"hotline_12345": 1, "school": 1}
        assert stats["by_reporter_type"] == {"mandatory": 1, "other": 1}

    def test_metrics_export_projection_lag(self, api: Api) -> None:
        # Read the lag on every scrape here (it is reused for 5 s otherwise: test_stream_limits).
        api.client.app.state.projection_lag.every = 0.0  # type: ignore[attr-defined]
        project(api)
        api.open_case()  # two events not yet projected: the case and the child's file
        text = api.client.get("/metrics", headers=api.auth("adm-1", ["admin"])).text
        assert 'wardship_projection_lag_events{projection="cases"} 2.0' in text
        project(api)
        text = api.client.get("/metrics", headers=api.auth("adm-1", ["admin"])).text
        assert 'wardship_projection_lag_events{projection="cases"} 0.0' in text
        assert 'wardship_projection_lag_seconds{projection="cases"} 0.0' in text

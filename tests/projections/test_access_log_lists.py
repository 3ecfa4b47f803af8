"""Lists, boards, the inbox and the live stream log which cases they showed; the child file
is refused when its read cannot be logged."""

from __future__ import annotations

import psycopg

from tests.api.support import LESHAN_TOWNSHIP, Api, notification_stream, project
from tests.api.test_access_log import CHILD, NAME, PHONE, access_log_unwritable
from tests.projections.test_api_reads import api, overdue_case

__all__ = ["api"]


def shown(db_url: str, purpose: str) -> list[tuple[str, str, str | None]]:
    """Who was shown which case, for `purpose`, in the order logged."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT subject, resource_id, case_jurisdiction FROM wardship_access_log"
            " WHERE resource_type = 'case' AND purpose = %s ORDER BY id", (purpose,)).fetchall()
    return [(subject, resource_id, code) for subject, resource_id, code in rows]


class TestListsAndBoards:
    def test_the_case_list_logs_each_case_it_showed(self, api: Api, db_url: str) -> None:
        ids = [api.open_case()["id"] for _ in range(3)]
        project(api)
        page = api.client.get("/v1/cases?limit=2", headers=api.auth("cw-7")).json()
        listed = [c["id"] for c in page["items"]]
        assert listed == ids[:0:-1]
        assert sorted(shown(db_url, "list")) == sorted(
            ("cw-7", case_id, "511102001001") for case_id in listed)
        # An auditor finds the list among the reads of one of its cases.
        inspector = api.auth("in-1", ["inspector"], "5111")
        reads = api.client.get(f"/v1/access?resource_id={listed[0]}", headers=inspector)
        assert [(r["subject"], r["purpose"]) for r in reads.json()["items"]] == [
            ("cw-7", "list")]

    def test_the_overdue_board_and_the_inbox_log_the_cases_they_showed(
        self, api: Api, db_url: str
    ) -> None:
        case_id, _ = overdue_case(api)
        api.open_case()  # not overdue: not on the board
        project(api)
        board = api.client.get("/v1/deadlines", headers=api.auth("cw-7", jurisdiction="5111"))
        assert [d["case_id"] for d in board.json()["items"]] == [str(case_id)]
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        assert len(api.client.get("/v1/notifications", headers=boss).json()["items"]) == 1
        code = "511102001001"
        assert shown(db_url, "board") == [("cw-7", str(case_id), code)]
        assert shown(db_url, "inbox") == [("sv-1", str(case_id), code)]

    def test_an_empty_list_logs_nothing(self, api: Api, db_url: str) -> None:
        project(api)
        assert api.client.get("/v1/cases", headers=api.auth()).json()["items"] == []
        assert shown(db_url, "list") == []


class TestTheChildFile:
    def test_is_refused_when_its_read_cannot_be_logged(self, api: Api, db_url: str) -> None:
        view = api.open_case(child=CHILD)
        project(api)
        with access_log_unwritable(db_url):
            answer = api.client.get(f"/v1/children/{view['child_id']}", headers=api.auth())
        assert answer.status_code == 503
        assert answer.headers["Retry-After"].isdigit()
        assert NAME not in answer.text
        assert PHONE not in answer.text


class TestTheStream:
    def test_logs_each_case_whose_notification_it_delivered(
        self, api: Api, db_url: str
    ) -> None:
        project(api)
        boss = api.auth("sv-1", ["supervisor"], LESHAN_TOWNSHIP)
        with notification_stream(api, boss) as stream:
            case_id, nid = overdue_case(api)
            data = next(line for line in stream.iter_lines() if line.startswith("data:"))
            assert nid in data
            # Logged before it was sent: on record by the time it arrives.
            assert shown(db_url, "stream") == [("sv-1", str(case_id), "511102001001")]

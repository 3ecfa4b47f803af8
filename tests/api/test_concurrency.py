"""Stale versions, concurrent writers and retried requests: never a lost or doubled write."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg

from tests.api.support import Api, api, case_body

if TYPE_CHECKING:
    import httpx

__all__ = ["api"]

NOTE = {"action": "add_note", "text": "called the school"}


def _version(api: Api, case_id: str) -> int:
    version: int = api.client.get(f"/v1/cases/{case_id}", headers=api.auth()).json()["version"]
    return version


class TestIfMatch:
    def test_the_current_version_is_accepted(self, api: Api) -> None:
        case = api.open_case()
        response = api.act(case["id"], NOTE, if_match='"1"')
        assert response.status_code == 200

    def test_a_stale_version_is_412_and_changes_nothing(self, api: Api) -> None:
        case = api.open_case()
        api.act(case["id"], NOTE)
        response = api.act(case["id"], NOTE, if_match='"1"')
        assert response.status_code == 412
        assert response.json()["code"] == "precondition_failed"
        assert response.headers["ETag"] == '"2"'
        assert _version(api, case["id"]) == 2


class TestConcurrentWriters:
    def _race(
        self, api: Api, case_id: str, count: int, if_match: str | None = None
    ) -> list[httpx.Response]:
        barrier = threading.Barrier(count)
        answers: list[httpx.Response] = []

        def write(n: int) -> None:
            barrier.wait()
            answers.append(api.act(case_id, {"action": "add_note", "text": f"note {n}"},
                                   if_match=if_match))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    def test_two_writers_on_the_same_version_one_wins_one_is_told(self, api: Api) -> None:
        case = api.open_case()
        answers = self._race(api, case["id"], 2, '"1"')
        statuses = sorted(a.status_code for a in answers)
        # The loser is told whether it lost the race in the store (409) or arrived after (412).
        assert statuses[0] == 200
        assert statuses[1] in (409, 412)
        assert _version(api, case["id"]) == 2

    def test_no_write_is_ever_lost(self, api: Api, db_url: str) -> None:
        case = api.open_case()
        answers = self._race(api, case["id"], 6)
        done = [a for a in answers if a.status_code == 200]
        assert {a.status_code for a in answers} <= {200, 409}
        # Every 200 is an event in the store, and nothing else is.
        assert _version(api, case["id"]) == 1 + len(done)
        with psycopg.connect(db_url) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM wardship_events WHERE originator_id = %s",
                (case["id"],)).fetchone()
        assert stored == (1 + len(done),)


class TestIdempotencyKeys:
    def test_a_retry_gets_the_first_answer_and_records_nothing_more(self, api: Api) -> None:
        case = api.open_case()
        first = api.act(case["id"], NOTE, key="note-1")
        retry = api.act(case["id"], NOTE, key="note-1")
        assert first.status_code == retry.status_code == 200
        assert retry.content == first.content
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert _version(api, case["id"]) == 2

    def test_the_same_key_for_another_request_is_refused(self, api: Api) -> None:
        case = api.open_case()
        api.act(case["id"], NOTE, key="k")
        other = api.act(case["id"], {"action": "add_note", "text": "other"},
                        key="k")
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert _version(api, case["id"]) == 2

    def test_keys_are_per_user(self, api: Api) -> None:
        case = api.open_case()
        mine = api.act(case["id"], NOTE, api.auth("cw-1"), key="k")
        theirs = api.act(case["id"], NOTE, api.auth("cw-2"), key="k")
        assert mine.status_code == theirs.status_code == 200
        assert theirs.json()["version"] == 3

    def test_a_refused_request_can_be_retried_with_its_key(self, api: Api) -> None:
        case = api.open_case()
        api.act(case["id"], NOTE)
        stale = api.act(case["id"], NOTE, if_match='"1"', key="r")
        fresh = api.act(case["id"], NOTE, if_match='"2"', key="r2")
        assert (stale.status_code, fresh.status_code) == (412, 200)

    def test_answers_survive_a_restart(self, api: Api, db_url: str, tmp_path: object) -> None:
        from tests.api.support import running_api

        case = api.open_case()
        first = api.act(case["id"], NOTE, key="durable")
        with running_api(api.settings.state_dir, db_url) as restarted:
            retry = restarted.act(case["id"], NOTE, key="durable")
        assert retry.content == first.content


class TestConcurrentReportsAboutOneChild:
    def test_every_report_is_kept_and_linked_to_the_one_child_file(self, api: Api) -> None:
        barrier = threading.Barrier(4)
        answers: list[httpx.Response] = []

        def report() -> None:
            barrier.wait()
            answers.append(api.client.post("/v1/cases", json=case_body(),
                                           headers=api.auth(jurisdiction="5111")))

        threads = [threading.Thread(target=report) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [201] * 4
        views = [a.json() for a in answers]
        assert len({v["child_id"] for v in views}) == 1
        for view in views:
            read = api.client.get(f"/v1/cases/{view['id']}", headers=api.auth())
            assert read.status_code == 200
        app: Any = api.client.app
        wardship = app.state.wardship
        file = wardship.child_file(UUID(views[0]["child_id"]))
        assert sorted(file["case_ids"]) == sorted(v["id"] for v in views)

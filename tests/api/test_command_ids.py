"""Case openings and child-file actions carry the Idempotency-Key as their command id: a
retry with the same key answers the first command and records nothing more."""

from __future__ import annotations

import psycopg

from tests.api.support import Api, api, case_body

__all__ = ["api"]

UNKNOWN_CHILD = {"name": "不详", "sex": "male", "birth_date": None, "category": "other"}


def _cases(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM wardship_events"
                           " WHERE topic = 'domain.events:CaseOpened'").fetchone()
    assert row is not None
    return int(row[0])


class TestOpeningWithAKey:
    def test_a_retried_opening_answers_the_case_it_opened(self, api: Api, db_url: str) -> None:
        headers = {**api.auth(jurisdiction="5111"), "Idempotency-Key": "report-1"}
        body = case_body()
        first = api.client.post("/v1/cases", json=body, headers=headers)
        retry = api.client.post("/v1/cases", json=body, headers=headers)
        assert first.status_code == retry.status_code == 201
        assert retry.json()["id"] == first.json()["id"]
        assert retry.headers["Location"] == first.headers["Location"]
        assert _cases(db_url) == 1

    def test_the_same_key_for_another_opening_is_refused(self, api: Api, db_url: str) -> None:
        headers = {**api.auth(jurisdiction="5111"), "Idempotency-Key": "report-2"}
        api.client.post("/v1/cases", json=case_body(), headers=headers)
        other = api.client.post("/v1/cases", json=case_body(entry="discovery"), headers=headers)
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert _cases(db_url) == 1

    def test_keys_are_per_user_and_no_key_is_a_new_command(self, api: Api, db_url: str) -> None:
        mine = api.client.post("/v1/cases", json=case_body(), headers={
            **api.auth("cw-1", jurisdiction="5111"), "Idempotency-Key": "k"})
        theirs = api.client.post("/v1/cases", json=case_body(), headers={
            **api.auth("cw-2", jurisdiction="5111"), "Idempotency-Key": "k"})
        api.open_case()
        api.open_case()
        assert mine.json()["id"] != theirs.json()["id"]
        assert _cases(db_url) == 4


class TestChildActionsWithAKey:
    def test_a_retried_merge_answers_the_merge_it_recorded(self, api: Api) -> None:
        first, second = api.open_case(child=UNKNOWN_CHILD), api.open_case(child=UNKNOWN_CHILD)
        body = {"action": "merge_child_files", "into": second["child_id"],
                "reason": "the same boy, identified by his school"}
        headers = {**api.auth(), "Idempotency-Key": "merge-1"}
        url = f"/v1/children/{first['child_id']}/actions"
        merged, retry = (api.client.post(url, json=body, headers=headers) for _ in range(2))
        assert merged.status_code == retry.status_code == 200, retry.text
        assert retry.json()["case_ids"] == merged.json()["case_ids"]
        # Without the key the same request is a new command, refused as already merged.
        assert api.client.post(url, json=body, headers=api.auth()).status_code == 422

"""While the database is unreachable every request answers 503 within 5 s; then all works again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.api.support import LESHAN_VILLAGE, Api, api, case_body
from tests.outage import Outage

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

__all__ = ["api"]
ANSWER_WITHIN = 5.0


@pytest.fixture
def outage(database_url: str, db_url: str) -> Outage:
    return Outage(database_url, db_url)


def timed(request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, took: float) -> None:
    assert took < ANSWER_WITHIN, f"answered after {took:.1f}s"
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0


class TestDatabaseOutage:
    def test_writes_and_reads_answer_503_in_time_then_succeed_again(
        self, api: Api, outage: Outage
    ) -> None:
        case_id = api.open_case()["id"]
        note = {"action": "add_note", "text": "seen at school"}
        assert api.act(case_id, note).status_code == 200
        headers, opener = api.auth(), api.auth(jurisdiction=LESHAN_VILLAGE[:4])
        took: dict[str, float] = {}
        with outage.during():
            for name, request in zip(("action", "case", "list", "open"), (
                lambda: api.act(case_id, note),  # the cached case, saved by group commit
                lambda: api.client.get(f"/v1/cases/{case_id}", headers=headers),
                lambda: api.client.get("/v1/cases", headers=headers),  # a read model
                # A new case and its child's file, neither of them cached.
                lambda: api.client.post("/v1/cases", json=case_body(), headers=opener),
            ), strict=True):
                response, took[name] = timed(request)
                assert_unavailable(response, took[name])
        # The same process, with no restart: actions and reads succeed again.
        back = time.monotonic()
        while (response := api.act(case_id, note)).status_code != 200:
            assert time.monotonic() < back + 10, response.text
            time.sleep(0.2)
        print("\n503 after " + ", ".join(f"{k} {v:.2f}s" for k, v in took.items())
              + f"; first action saved {time.monotonic() - back:.2f}s after the outage")
        assert api.client.get(f"/v1/cases/{case_id}", headers=headers).status_code == 200
        assert api.client.get("/v1/cases", headers=headers).status_code == 200


class TestUnmigratedDatabase:
    def test_a_write_to_a_database_without_tables_answers_503_with_what_to_do(
        self, api: Api, db_url: str
    ) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TABLE wardship_events CASCADE")
        response = api.client.post("/v1/cases", json=case_body(),
                                   headers=api.auth(jurisdiction=LESHAN_VILLAGE[:4]))
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "database_unavailable"
        assert "wardship migrate" in response.json()["detail"]

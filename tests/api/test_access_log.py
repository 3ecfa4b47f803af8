"""The access log holds every read of personal data before its answer leaves, or no answer."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import psycopg

from tests.api.support import Api, api

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["api"]

NAME, PHONE = "Planted Name Qx7", "000-7391-2846"
CHILD = {"name": NAME, "sex": "female", "birth_date": "2014-03-02", "id_number": None,
         "category": "left_behind", "address": "Planted Road 77", "phone": PHONE}


@contextlib.contextmanager
def access_log_unwritable(db_url: str) -> Iterator[None]:
    """The access log table out of the app's reach (renamed: the app's role is a superuser
    here, so revoking INSERT would not stop it), and back afterwards."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE wardship_access_log RENAME TO wardship_access_log_away")
        try:
            yield
        finally:
            conn.execute("ALTER TABLE wardship_access_log_away RENAME TO wardship_access_log")


def reads(db_url: str, case_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT subject, purpose FROM wardship_access_log"
                            " WHERE resource_id = %s ORDER BY id", (case_id,)).fetchall()
    return [(subject, purpose) for subject, purpose in rows]


class TestAReadThatCannotBeLogged:
    def test_is_refused_with_a_503_that_shows_nothing_of_the_case(
        self, api: Api, db_url: str
    ) -> None:
        case = api.open_case(child=CHILD)
        paths = [f"/v1/cases/{case['id']}", f"/v1/cases/{case['id']}/history",
                 f"/v1/cases/{case['id']}/state", f"/v1/cases/{case['id']}/export"]
        inspector = api.auth("in-1", ["inspector"], "5111")
        with access_log_unwritable(db_url):
            answers = [api.client.get(path, headers=inspector) for path in paths]
        for path, answer in zip(paths, answers, strict=True):
            assert answer.status_code == 503, path
            assert answer.headers["Retry-After"].isdigit()
            assert answer.json()["code"] == "access_log_unavailable"
            for secret in (NAME, PHONE, "Planted Road", case["child_id"], "Teacher B"):
                assert secret not in answer.text, (path, secret)
        # Once the log can be written again, the same read is answered and on record.
        assert api.client.get(paths[0], headers=inspector).status_code == 200
        assert reads(db_url, case["id"]) == [("in-1", "read")]


class TestAReadIsOnRecord:
    def test_as_soon_as_it_is_answered_with_nothing_left_to_flush(
        self, api: Api, db_url: str
    ) -> None:
        # Checked straight after each answer, before any background writer could run: what a
        # process killed (kill -9) right after answering leaves behind.
        case = api.open_case()
        for n in range(5):
            answer = api.client.get(f"/v1/cases/{case['id']}", headers=api.auth(f"cw-{n}"))
            assert answer.status_code == 200
            assert reads(db_url, case["id"])[-1] == (f"cw-{n}", "read")

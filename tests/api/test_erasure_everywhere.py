"""A child erased through one API process reads erased in another OS process within about
a second (issue 16: a shredded key leaves every cache), even when the other process's
listening connection was killed just before the erasure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import psycopg

from tests.api.support import project, running_api
from tests.api.test_crash_retry import api_process
from tests.api.test_privacy import closed_case
from tests.waiting import within

if TYPE_CHECKING:
    from pathlib import Path

    from tests.api.support import Api

ERASED = "[已删除]"


# How long another process may take to show an erasure: far below the key cache's minute (the
# backstop the announcement beats), and far above the pauses of a loaded machine.
HEARD = 10.0

def erase(api: Api, child_id: str) -> None:
    asked = api.client.post(f"/v1/children/{child_id}/erasure",
                            json={"reason": "guardian's lawful request (invented)"},
                            headers=api.auth())
    assert asked.status_code == 200, asked.text
    approved = api.client.post(f"/v1/children/{child_id}/erasure/approval",
                               headers=api.auth("sv-1", ["supervisor"]))
    assert approved.status_code == 200, approved.text


def test_another_api_process_shows_an_erased_child_erased_long_before_its_key_cache_expires(
        tmp_path: Path, db_url: str) -> None:
    with running_api(tmp_path, db_url) as api, api_process(tmp_path, db_url) as (process, url), \
            httpx.Client(base_url=url, headers=api.auth("sv-1", ["supervisor"]),
                         timeout=10) as other, \
            psycopg.connect(db_url, autocommit=True) as admin:

        def name_there(child_id: str) -> str:
            answer = other.get(f"/v1/children/{child_id}")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["personal"]["name"])

        def listener_pids() -> list[int]:
            found = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = "
                "current_database()", (f"wardship-keys-{process.pid}",))
            return [row[0] for row in found]

        first, second, third = (closed_case(api, name)[1] for name in (
            "Test Child A", "Test Child B", "Test Child C"))
        project(api)  # the child files are found through the read models
        # The other process reads each file: its key and file are cached there.
        for child_id, name in ((first, "Test Child A"), (second, "Test Child B")):
            assert name_there(child_id) == name

        # Erased through this process: the other shows it erased, not a minute later.
        erase(api, first)
        within(HEARD, lambda: name_there(first) == ERASED)
        assert name_there(second) == "Test Child B"  # the other child is untouched

        # The other process's listening connection is killed; the erasure made meanwhile
        # is not missed.
        [pid] = listener_pids()
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        erase(api, second)
        within(HEARD, lambda: name_there(second) == ERASED)

        # It listens again, and hears the next erasure.
        within(2 * HEARD, lambda: len(listener_pids()) == 1)
        assert name_there(third) == "Test Child C"
        erase(api, third)
        within(HEARD, lambda: name_there(third) == ERASED)

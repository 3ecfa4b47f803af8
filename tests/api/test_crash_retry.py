"""An API process killed after its commit and before its answer: the client's retry with the
same Idempotency-Key, once the reservation is stale, gets the first answer and nothing more
is recorded.

The API runs as deployed (`python -m api.cli api`) and is stopped at the exact moment without
a hook in its code: the test holds PostgreSQL locks so that the action's commit waits until
the reservation exists, and the answer's bookkeeping (the reservation's UPDATE) waits after
the commit; then it kills -9 the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from deploy.ports import free_port, is_listening
from tests.api.support import running_api

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

NOTE = {"action": "add_note", "text": "called the school"}
KEY = "note-after-crash"


@contextlib.contextmanager
def api_process(state_dir: Path, db_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`wardship api` in a process of its own, sharing the test's secrets; yields it and URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "WARDSHIP_STATE_DIR": str(state_dir),
           "WARDSHIP_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "api"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not is_listening(port):
            assert process.poll() is None, "the API exited"
            assert time.monotonic() < deadline, "the API did not start in time"
            time.sleep(0.1)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=15)


def _until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _one(conn: psycopg.Connection[Any], query: str, *args: Any) -> Any:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("if_match", ['"1"', None], ids=["if-match", "no-if-match"])
def test_a_retry_after_the_api_died_past_its_commit_gets_the_first_answer(
    tmp_path: Path, db_url: str, if_match: str | None
) -> None:
    with running_api(tmp_path, db_url) as api, \
            psycopg.connect(db_url, autocommit=True) as watch:
        case_id = api.open_case()["id"]
        headers = {**api.auth(), "Idempotency-Key": KEY,
                   **({"If-Match": if_match} if if_match else {})}
        events = "SELECT count(*) FROM wardship_events WHERE originator_id = %s"

        with api_process(tmp_path, db_url) as (process, url), \
                psycopg.connect(db_url) as hold_commit, psycopg.connect(db_url) as hold_answer:
            # Commits wait (the group commit locks the events table in EXCLUSIVE mode).
            hold_commit.execute("LOCK TABLE wardship_events IN ROW SHARE MODE")
            answers: list[Any] = []
            client = threading.Thread(target=lambda: answers.append(_post(url, case_id,
                                                                          headers)))
            client.start()
            _until(lambda: _one(watch, "SELECT count(*) FROM wardship_idempotency"
                                       " WHERE key = %s", KEY) == 1, "the reservation")
            # The reservation's completion will wait; the commit may go ahead.
            hold_answer.execute("SELECT 1 FROM wardship_idempotency WHERE key = %s"
                                " FOR UPDATE", (KEY,))
            hold_commit.rollback()
            _until(lambda: _one(watch, events, case_id) == 2, "the commit")
            _until(lambda: _one(watch, "SELECT count(*) FROM pg_stat_activity WHERE"
                                       " wait_event_type = 'Lock' AND query LIKE"
                                       " 'UPDATE wardship_idempotency%%'") == 1,
                   "the answer's bookkeeping to wait")
            # Committed, not answered: the API dies.
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=15)
            hold_answer.rollback()
            client.join(timeout=30)
        assert isinstance(answers[0], httpx.TransportError), answers

        # The reservation outlives its timeout (as if the client retried a minute later).
        watch.execute("UPDATE wardship_idempotency SET created_at = created_at"
                      " - interval '10 minutes' WHERE key = %s", (KEY,))
        retry = api.client.post(f"/v1/cases/{case_id}/actions", json=NOTE, headers=headers)
        now = api.client.get(f"/v1/cases/{case_id}", headers=api.auth())

        # The first answer: 200 and the case as the note left it, recorded once.
        assert retry.status_code == 200, retry.text
        assert _one(watch, events, case_id) == 2
        assert retry.json()["version"] == 2
        assert {k: v for k, v in retry.json().items() if k != "position"} == now.json()
        # And it is now the key's stored answer.
        again = api.client.post(f"/v1/cases/{case_id}/actions", json=NOTE, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == retry.content


def _post(url: str, case_id: str, headers: dict[str, str]) -> Any:
    try:
        return httpx.post(f"{url}/v1/cases/{case_id}/actions", json=NOTE, headers=headers,
                          timeout=60)
    except httpx.TransportError as error:
        return error

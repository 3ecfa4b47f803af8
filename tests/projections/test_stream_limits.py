"""Live streams end when their token expires and are capped per user and per process;
read-your-writes positions are bounded by the log's head; /metrics needs a token and never
blocks the loop."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from api import readmodels
from api.http.auth import dev_token
from api.http.streams import MAX_STREAMS_PER_USER
from api.main import create_app
from api.readmodels import LAG_REFRESH_EVERY
from deploy.ports import free_port
from tests.api.support import LESHAN_TOWNSHIP, Api, project, running_api, served

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    with running_api(tmp_path, db_url) as running:
        yield running


@pytest.fixture
def url(api: Api) -> Iterator[str]:
    project(api)
    with served(create_app(api.settings), free_port()) as base:
        yield base


def _boss(api: Api, lifetime: timedelta = timedelta(minutes=5)) -> dict[str, str]:
    token = dev_token(api.settings, subject="sv-1", roles=["supervisor"],
                      jurisdiction=LESHAN_TOWNSHIP, lifetime=lifetime)
    return {"Authorization": f"Bearer {token}"}


class TestStreams:
    def test_a_stream_ends_when_its_token_expires(self, api: Api, url: str) -> None:
        started = time.monotonic()
        # A stream that outlives its token sends nothing more: the read times out, and fails.
        with httpx.stream("GET", f"{url}/v1/notifications/stream",
                          timeout=httpx.Timeout(20, read=5),
                          headers=_boss(api, timedelta(seconds=2))) as stream:
            assert stream.status_code == 200
            lines = list(stream.iter_lines())  # until the server closes the stream
        assert "event: expired" in lines
        assert not any(line.startswith("event:") for line in lines[lines.index("event: expired")
                                                                   + 1:])
        assert time.monotonic() - started < 10

    def test_a_user_holds_at_most_a_few_streams(self, api: Api, url: str) -> None:
        boss = _boss(api)
        with httpx.Client(base_url=url, headers=boss, timeout=20) as client:
            opened = [client.stream("GET", "/v1/notifications/stream")
                      for _ in range(MAX_STREAMS_PER_USER + 1)]
            answers = [context.__enter__() for context in opened[:MAX_STREAMS_PER_USER]]
            try:
                assert [a.status_code for a in answers] == [200] * MAX_STREAMS_PER_USER
                with client.stream("GET", "/v1/notifications/stream") as refused:
                    assert refused.status_code == 429
                    refused.read()
                assert refused.headers["content-type"].startswith("application/problem+json")
                assert refused.json()["code"] == "too_many_streams"
                assert int(refused.headers["Retry-After"]) > 0
                # Another user is not held back by this one's streams.
                other = dev_token(api.settings, subject="sv-2", roles=["supervisor"],
                                  jurisdiction=LESHAN_TOWNSHIP)
                with client.stream("GET", "/v1/notifications/stream",
                                   headers={"Authorization": f"Bearer {other}"}) as theirs:
                    assert theirs.status_code == 200
            finally:
                for context in opened[:MAX_STREAMS_PER_USER]:
                    context.__exit__(None, None, None)
            # A closed stream gives its slot back (once the server sees the disconnect).
            deadline = time.monotonic() + 10
            while True:
                with client.stream("GET", "/v1/notifications/stream") as reopened:
                    if reopened.status_code == 200:
                        break
                assert time.monotonic() < deadline, "the closed streams kept their slots"
                time.sleep(0.2)


class TestStreamsPerProcess:
    def test_beyond_the_process_cap_a_stream_is_refused_with_503(
        self, tmp_path: Path, db_url: str
    ) -> None:
        """Two users hold the process's two slots: a third user is told to retry later."""
        with running_api(tmp_path, db_url, max_streams=2) as api:
            project(api)
            with served(create_app(api.settings), free_port()) as url, \
                    httpx.Client(base_url=url, timeout=20) as client:
                tokens = [dev_token(api.settings, subject=f"sv-{n}", roles=["supervisor"],
                                    jurisdiction=LESHAN_TOWNSHIP) for n in range(3)]
                users = [{"Authorization": f"Bearer {token}"} for token in tokens]
                opened = [client.stream("GET", "/v1/notifications/stream", headers=user)
                          for user in users[:2]]
                answers = [context.__enter__() for context in opened]
                try:
                    assert [a.status_code for a in answers] == [200, 200]
                    with client.stream("GET", "/v1/notifications/stream",
                                       headers=users[2]) as refused:
                        assert refused.status_code == 503
                        refused.read()
                    assert refused.headers["content-type"].startswith("application/problem+json")
                    assert refused.json()["code"] == "streams_full"
                    assert int(refused.headers["Retry-After"]) > 0
                finally:
                    for context in opened:
                        context.__exit__(None, None, None)
                # A closed stream frees its slot for anyone.
                deadline = time.monotonic() + 10
                while True:
                    with client.stream("GET", "/v1/notifications/stream",
                                       headers=users[2]) as later:
                        if later.status_code == 200:
                            break
                    assert time.monotonic() < deadline, "the closed streams kept their slots"
                    time.sleep(0.2)


class TestMinPosition:
    def test_a_position_beyond_the_log_is_refused_at_once(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A wait far beyond a slow machine's answer: refused at once is then unmistakable.
        monkeypatch.setattr(readmodels, "MAX_WAIT", 30.0)
        api.open_case()
        project(api)
        started = time.monotonic()
        beyond = api.client.get("/v1/cases", headers={**api.auth(), "X-Min-Position": "99999"})
        assert time.monotonic() - started < 10.0
        assert beyond.status_code == 422
        assert beyond.json()["code"] == "position_beyond_log"
        huge = api.client.get("/v1/cases", headers={**api.auth(), "X-Min-Position": str(2**63)})
        assert huge.status_code == 422

    def test_a_reached_position_still_answers(self, api: Api) -> None:
        position = api.open_case()["position"]
        project(api)
        answer = api.client.get("/v1/cases",
                                headers={**api.auth(), "X-Min-Position": str(position)})
        assert answer.status_code == 200


class TestMetrics:
    def test_metrics_need_the_scrape_token_or_an_admin(self, tmp_path: Path, db_url: str) -> None:
        with running_api(tmp_path, db_url, metrics_token="scrape-" + "x" * 24) as api:
            assert api.client.get("/metrics").status_code == 401
            assert api.client.get("/metrics", headers=api.auth()).status_code == 403
            wrong = {"Authorization": "Bearer scrape-" + "y" * 24}
            assert api.client.get("/metrics", headers=wrong).status_code == 401
            admin = api.client.get("/metrics", headers=api.auth("adm-1", ["admin"]))
            scrape = {"Authorization": "Bearer scrape-" + "x" * 24}
            scraped = api.client.get("/metrics", headers=scrape)
        assert admin.status_code == 200
        assert scraped.status_code == 200
        assert "wardship_http_request_duration_seconds" in scraped.text

    def test_lag_is_read_without_a_blocking_connection(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        project(api)
        api.open_case()

        def blocking_connect(*args: object, **kwargs: object) -> None:
            raise AssertionError("a synchronous connection on the event loop")

        monkeypatch.setattr("psycopg.connect", blocking_connect)
        monkeypatch.setattr("psycopg.Connection.connect", blocking_connect)
        text = api.client.get("/metrics", headers=api.auth("adm-1", ["admin"])).text
        assert 'wardship_projection_lag_events{projection="cases"} 2.0' in text

    def test_scrapes_share_one_lag_read_per_interval(self, api: Api) -> None:
        """However often /metrics is scraped, the lag is read from the database at most once
        per LAG_REFRESH_EVERY seconds: a scrape right after another reports the same figure."""
        admin = api.auth("adm-1", ["admin"])
        project(api)
        api.open_case()
        lag = 'wardship_projection_lag_events{projection="cases"}'
        first = api.client.get("/metrics", headers=admin).text
        assert f"{lag} 2.0" in first
        # More events the runner has not applied: the case, the child's file, and the
        # file's alarm (a second report about the same child).
        api.open_case()
        assert f"{lag} 2.0" in api.client.get("/metrics", headers=admin).text
        time.sleep(LAG_REFRESH_EVERY + 0.2)
        assert f"{lag} 5.0" in api.client.get("/metrics", headers=admin).text

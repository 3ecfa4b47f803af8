"""Case actions per second and latency with 8 concurrent clients against a real uvicorn server.

Printed beside two baselines measured in the same run: raw PostgreSQL single-row
insert-and-commit, and a minimal FastAPI endpoint doing one such insert. Target:
at least 0.6x the minimal endpoint's rate, p99 within 3x of its p99. A second test measures
the service as deployed: two API processes and one `wardship worker` (relaying every change
to Temporal) on one database. Figures are printed, not asserted:
`./run bench -k api_throughput`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.settings import Settings
from deploy.binaries import temporal_cli
from deploy.ports import free_port, is_listening
from tests.api.support import LESHAN_VILLAGE, case_body
from tests.projections.conftest import CIPHER_KEY
from tests.workflows.support import start_workers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.bench

CLIENTS = 8
SECONDS = 3.0
ROUNDS = 3
WARMUP = 0.5
CASES_PER_CLIENT = 4


class Figures:
    """Requests done by the clients in the measured window, and their latencies."""

    def __init__(self, name: str, latencies: list[float], elapsed: float) -> None:
        self.name = name
        self.latencies = latencies
        self.elapsed = elapsed
        self.rate = len(latencies) / elapsed
        ordered = sorted(latencies)
        self.p50 = statistics.median(ordered) * 1000
        self.p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000

    @classmethod
    def merge(cls, rounds: list[Figures]) -> Figures:
        return cls(rounds[0].name, [x for r in rounds for x in r.latencies],
                   sum(r.elapsed for r in rounds))

    def line(self) -> str:
        return (f"{self.name:<38} {self.rate:7.0f}/s   p50 {self.p50:6.1f} ms"
                f"   p99 {self.p99:6.1f} ms")


def load(name: str, make_client: Callable[[int], Callable[[], None]]) -> Figures:
    """Run CLIENTS threads calling their request function for WARMUP + SECONDS."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    start = time.perf_counter() + WARMUP
    stop = start + SECONDS
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            call = make_client(n)
            while (now := time.perf_counter()) < stop:
                call()
                done = time.perf_counter()
                if now >= start:
                    latencies[n].append(done - now)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return Figures(name, [x for per in latencies for x in per], SECONDS)


@contextlib.contextmanager
def server_process(command: list[str], port: int, env: dict[str, str]) -> Iterator[str]:
    """A server in its own process (as deployed), logs discarded; yields its URL."""
    process = subprocess.Popen([sys.executable, *command], env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not is_listening(port):
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_case_actions_against_the_two_baselines(tmp_path: Path, db_url: str) -> None:
    url = db_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload text)")

    # Baseline 1: raw PostgreSQL, one connection per client, insert-and-commit.
    def raw_client(n: int) -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)

        def insert() -> None:
            conn.execute("INSERT INTO bench_rows (payload) VALUES (%s)", (f"client {n}",))

        return insert

    # Baseline 2: a minimal FastAPI endpoint doing one such insert.
    minimal_port = free_port()
    minimal_server = _minimal_server(minimal_port)

    # The API, started as deployed (`wardship api`), JSON access lines included.
    api_port = free_port()
    env = {"DATABASE_URL": url, "WARDSHIP_STATE_DIR": str(tmp_path),
           "WARDSHIP_PORT": str(api_port), "WARDSHIP_LOG_FORMAT": "json"}
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": url})
    migrate_database(settings)  # as a deployment does before the API starts
    token = dev_token(settings, subject="bench", roles=["caseworker"], jurisdiction="5111")
    auth = {"Authorization": f"Bearer {token}"}

    two_port = free_port()
    two = {**env, "WARDSHIP_PORT": str(two_port), "WARDSHIP_API_PROCESSES": "2"}
    with server_process(minimal_server, minimal_port, {"DATABASE_URL": url}) as minimal_base, \
            server_process(["-m", "api.cli", "api"], api_port, env) as api_base, \
            server_process(["-m", "api.cli", "api"], two_port, two) as two_base:

        minimal_client = _minimal_client(minimal_base)
        acting_on = _acting(auth)

        # Interleaved rounds, so that load from elsewhere on the machine hits all three alike.
        rounds: dict[str, list[Figures]] = {"raw": [], "minimal": [], "api": [], "two": []}
        for _ in range(ROUNDS):
            rounds["raw"].append(load("raw PostgreSQL insert+commit", raw_client))
            rounds["minimal"].append(load("minimal FastAPI insert endpoint", minimal_client))
            rounds["api"].append(load("Wardship POST /v1/cases/{id}/actions",
                                      acting_on(api_base)))
            rounds["two"].append(load("  the same, 2 API processes", acting_on(two_base)))

    raw, minimal, actions, two_processes = (
        Figures.merge(rounds[k]) for k in ("raw", "minimal", "api", "two"))
    print(f"\n{CLIENTS} concurrent clients, {ROUNDS} interleaved rounds of {SECONDS:.0f} s,"
          f" on {os.cpu_count()} CPUs")
    for figures in (raw, minimal, actions, two_processes):
        print(figures.line())
    for name, figures in (("1 API process", actions), ("2 API processes", two_processes)):
        print(f"actions vs minimal endpoint, {name}: rate {figures.rate / minimal.rate:.2f}x"
              f" (target >= 0.6x), p99 {figures.p99 / minimal.p99:.2f}x (target <= 3x)")


def _acting(auth: dict[str, str]) -> Callable[[str], Callable[[int], Callable[[], None]]]:
    """Clients that each add notes to cases of their own (no conflicts between clients)."""

    def acting_on(base: str) -> Callable[[int], Callable[[], None]]:
        def api_client(n: int) -> Callable[[], None]:
            http = httpx.Client(base_url=base, headers=auth)
            cases = [_ok(http.post("/v1/cases", json=_report_about_child(f"{base}-{n}-{i}")))["id"]
                     for i in range(CASES_PER_CLIENT)]
            turn = iter(range(10**9))

            def act() -> None:
                case_id = cases[next(turn) % len(cases)]
                _ok(http.post(f"/v1/cases/{case_id}/actions",
                              json={"action": "add_note", "text": "home visit arranged"}))

            return act

        return api_client

    return acting_on


def _minimal_client(base: str) -> Callable[[int], Callable[[], None]]:
    def client(n: int) -> Callable[[], None]:
        http = httpx.Client(base_url=base)
        return lambda: _ok(http.post("/rows", json={"text": f"client {n}"}))

    return client


def _minimal_server(port: int) -> list[str]:
    return ["-m", "uvicorn", "tests.bench.minimal_app:create_app", "--factory",
            "--port", str(port), "--no-access-log"]


async def test_as_deployed_two_api_processes_and_a_worker(tmp_path: Path, db_url: str) -> None:
    """Two API processes and one worker relaying to a Temporal dev server, one database."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload text)")
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url,
                                        "cipher_key": CIPHER_KEY})
    migrate_database(settings)
    token = dev_token(settings, subject="bench", roles=["caseworker"], jurisdiction="5111")
    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()))
    policy = Path(str(resources.files("domain.policies").joinpath("cn-default-1.toml")))
    workers = start_workers(1, temporal.client, "bench", database_url=db_url,
                            cipher_key=CIPHER_KEY, policy=policy, workdir=tmp_path)
    minimal_port, api_port = free_port(), free_port()
    env = {"DATABASE_URL": db_url, "WARDSHIP_STATE_DIR": str(tmp_path),
           "WARDSHIP_CIPHER_KEY": CIPHER_KEY, "WARDSHIP_PORT": str(api_port),
           "WARDSHIP_LOG_FORMAT": "json", "WARDSHIP_API_PROCESSES": "2",
           "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
           "WARDSHIP_TASK_QUEUE": "bench"}
    rounds: dict[str, list[Figures]] = {"minimal": [], "deployed": []}
    try:
        with server_process(_minimal_server(minimal_port), minimal_port,
                            {"DATABASE_URL": db_url}) as minimal_base, \
                server_process(["-m", "api.cli", "api"], api_port, env) as api_base:
            acting_on = _acting({"Authorization": f"Bearer {token}"})
            for _ in range(ROUNDS):
                rounds["minimal"].append(await asyncio.to_thread(
                    load, "minimal FastAPI insert endpoint", _minimal_client(minimal_base)))
                rounds["deployed"].append(await asyncio.to_thread(
                    load, "2 API processes + 1 worker", acting_on(api_base)))
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        await temporal.shutdown()
    minimal, deployed = (Figures.merge(rounds[k]) for k in ("minimal", "deployed"))
    print(f"\nas deployed: {CLIENTS} concurrent clients, {ROUNDS} interleaved rounds of "
          f"{SECONDS:.0f} s, on {os.cpu_count()} CPUs")
    for figures in (minimal, deployed):
        print(figures.line())
    print(f"2 API processes + 1 worker vs minimal endpoint: rate "
          f"{deployed.rate / minimal.rate:.2f}x (target >= 0.6x), p99 "
          f"{deployed.p99 / minimal.p99:.2f}x (target <= 3x)")


def _report_about_child(number: str) -> dict[str, Any]:
    body = case_body(LESHAN_VILLAGE)
    body["child"] = {**body["child"], "name": f"Bench Child {number}"}
    return body


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()

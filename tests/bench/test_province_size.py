"""Benchmark: a province on one machine. A generated store of `PROVINCE_FILES` child files
(a school roll imported) and `PROVINCE_CASES` open cases, each with its live workflow, then:
the worker's and the Temporal server's memory, the store's size on disk, the p99 of the
overdue board and of case search, and the API's action rate at that size beside the minimal
endpoint measured in the same run.

Run with `./run bench -k province_size` (about 35 minutes at full size on 2 cores);
`PROVINCE_FILES=20000 PROVINCE_CASES=5000` for a quick look.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.imports.reader import open_import
from api.imports.runner import run_job, start_job
from api.settings import Settings
from deploy.binaries import temporal_cli
from deploy.ports import free_port
from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.storage import event_store_env
from tests.api.support import case_body
from tests.bench.test_api_throughput import Figures, load, server_process
from tests.imports_data import id_number, school_roll
from tests.projections.conftest import CIPHER_KEY, project_all
from tests.workflows.support import eventually, start_workers
from workflows.relay import TRACKING_TABLE

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.bench

FILES = int(os.environ.get("PROVINCE_FILES", "200000"))
CASES = int(os.environ.get("PROVINCE_CASES", "50000"))
READS = 200  # requests per read measured
COUNTY = "511102"
ADMIN = Actor("bench-admin", frozenset({Role.ADMIN}), COUNTY, "Bench Admin")
CASEWORKER = Actor("bench-cw", frozenset({Role.CASEWORKER}), COUNTY, "Bench Worker")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _temporal_pid(port: str) -> int:
    """The dev server process listening on `port` (other tests may run their own)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"start-dev" in command and port.encode() in command:
                return int(entry.name)
    raise AssertionError(f"no dev server on port {port}")


def _p99(call: Callable[[], httpx.Response]) -> tuple[float, float]:
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def _open(app: Wardship, i: int) -> str:
    """A report about the child on row `i` of the roll: linked to that child's file."""
    body = case_body(f"{COUNTY}001{1 + i % 20:03d}")
    view = app.open_case(CASEWORKER, entry="report", jurisdiction=body["jurisdiction"],
                         child={**body["child"], "id_number": id_number(i, COUNTY),
                                "name": f"Roll Child {i}"},
                         concern=body["concern"], source=body["source"])
    return str(view["id"])


async def test_a_province_on_one_machine(tmp_path: Path, db_url: str) -> None:
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url,
                                        "cipher_key": CIPHER_KEY})
    migrate_database(settings)
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=10))
    figures: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        roll = open_import(school_roll(FILES, bad=False, county=COUNTY).text.encode(),
                           "school_roll")
        job = run_job(app, ADMIN, roll, start_job(app, ADMIN, roll, COUNTY))
        figures["import"] = time.perf_counter() - started
        print(f"\nimported {FILES:,} rows in {figures['import']:.0f} s", flush=True)
        opened = int(job["cases_opened"])
        started = time.perf_counter()
        # The dropouts' discovery cases are open already; reports about other children make
        # up the rest (every 20th roll row is a dropout).
        rows = [i for i in range(FILES) if i % 20 != 0][:max(0, CASES - opened)]
        with ThreadPoolExecutor(8) as pool:
            case_ids = list(pool.map(lambda i: _open(app, i), rows))
        figures["reports"] = time.perf_counter() - started
        figures["cases"] = opened + len(case_ids)
        head = app.recorder.max_notification_id() or 0
        print(f"opened {len(case_ids):,} reports in {figures['reports']:.0f} s; "
              f"{head:,} events", flush=True)
    finally:
        app.close()

    with psycopg.connect(db_url, autocommit=True) as conn:
        started = time.perf_counter()
        reader = Wardship(env=event_store_env(db_url, CIPHER_KEY, pool_size=4))
        try:
            project_all(reader, conn, limit=5000)
        finally:
            reader.close()
        figures["projections"] = time.perf_counter() - started
        print(f"read models built in {figures['projections']:.0f} s", flush=True)

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()))
    policy = Path(str(resources.files("domain.policies").joinpath("cn-default-1.toml")))
    workers = start_workers(1, env.client, "province", database_url=db_url,
                            cipher_key=CIPHER_KEY, policy=policy, workdir=tmp_path)
    try:
        started = time.perf_counter()

        def relayed() -> bool:
            with psycopg.connect(db_url) as conn:
                row = conn.execute(
                    f"SELECT max(notification_id) FROM {TRACKING_TABLE}").fetchone()
            return bool(row and row[0] and row[0] >= head)

        await eventually(relayed, 3600)
        figures["relay"] = time.perf_counter() - started
        print(f"relayed to live workflows in {figures['relay']:.0f} s", flush=True)
        await asyncio.sleep(30)  # the workflows take their first signals in
        port = env.client.service_client.config.target_host.rsplit(":", 1)[1]
        figures["worker_mib"] = _rss_mib(workers[0].pid)
        figures["temporal_mib"] = _rss_mib(_temporal_pid(port))
        with psycopg.connect(db_url) as conn:
            size = conn.execute("SELECT pg_database_size(current_database()),"
                                " (SELECT count(*) FROM wardship_events)").fetchone()
        assert size is not None
        figures["database_mib"], figures["events"] = size[0] / 2**20, size[1]
        print(f"memory: worker {figures['worker_mib']:.0f} MiB, Temporal "
              f"{figures['temporal_mib']:.0f} MiB; database {figures['database_mib']:.0f} MiB",
              flush=True)
        figures.update(_reads_and_rate(settings, tmp_path, db_url, case_ids))
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        await env.shutdown()

    print(f"\nprovince size: {FILES:,} child files, {figures['cases']:,} open cases, "
          f"{figures['events']:,} events")
    print(f"  built in: import {figures['import']:.0f} s, reports {figures['reports']:.0f} s, "
          f"read models {figures['projections']:.0f} s, relay to live workflows "
          f"{figures['relay']:.0f} s")
    print(f"  memory: worker {figures['worker_mib']:.0f} MiB, Temporal dev server "
          f"{figures['temporal_mib']:.0f} MiB; database on disk {figures['database_mib']:.0f} MiB"
          f" ({figures['database_mib'] * 2**20 / figures['events']:.0f} bytes/event)")
    for name in ("board", "search"):
        p50, p99 = figures[name]
        print(f"  {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 100 ms)")
    api, minimal = figures["api"], figures["minimal"]
    print(f"  {api.line()}\n  {minimal.line()}\n  actions vs minimal endpoint at this size: "
          f"{api.rate / minimal.rate:.2f}x ({figures['refused']} answered 503 under load)")


def _reads_and_rate(settings: Settings, state: Path, db_url: str, case_ids: list[str]
                    ) -> dict[str, Any]:
    """Board and search p99 as a county supervisor, then the action rate, on served APIs."""
    port, minimal_port = free_port(), free_port()
    env = {"DATABASE_URL": db_url, "WARDSHIP_STATE_DIR": str(state),
           "WARDSHIP_PORT": str(port), "WARDSHIP_CIPHER_KEY": CIPHER_KEY}
    supervisor = {"Authorization": "Bearer " + dev_token(
        settings, subject="bench-sv", roles=["supervisor"], jurisdiction=COUNTY)}
    worker = {"Authorization": "Bearer " + dev_token(
        settings, subject="bench-cw", roles=["caseworker"], jurisdiction=COUNTY)}
    minimal_server = ["-m", "uvicorn", "tests.bench.minimal_app:create_app", "--factory",
                      "--port", str(minimal_port), "--no-access-log"]
    with server_process(["-m", "api.cli", "api"], port, env) as base, \
            server_process(minimal_server, minimal_port, {"DATABASE_URL": db_url}) as mbase:
        http = httpx.Client(base_url=base, headers=supervisor, timeout=30)
        found: dict[str, Any] = {
            "board": _p99(lambda: http.get("/v1/deadlines", params={"limit": 50})),
            "search": _p99(lambda: http.get("/v1/cases", params={
                "stage": "report", "category": "left_behind", "limit": 50})),
        }
        print(f"board p50/p99 {found['board']}, search p50/p99 {found['search']} ms",
              flush=True)

        def acting(n: int) -> Callable[[], None]:
            client = httpx.Client(base_url=base, headers=worker, timeout=30)
            mine = case_ids[n::8][:50]
            turn = iter(range(10**9))
            return lambda: _counted(client.post(
                f"/v1/cases/{mine[next(turn) % len(mine)]}/actions",
                json={"action": "add_note", "text": "visit"}))

        def minimal(n: int) -> Callable[[], None]:
            client = httpx.Client(base_url=mbase)
            return lambda: _ok(client.post("/rows", json={"text": f"client {n}"}))

        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bench_rows "
                         "(id bigserial PRIMARY KEY, payload text)")
        rounds: dict[str, list[Figures]] = {"api": [], "minimal": []}
        for _ in range(2):
            rounds["minimal"].append(load("minimal FastAPI insert endpoint", minimal))
            rounds["api"].append(load("Wardship POST /v1/cases/{id}/actions", acting))
    found["api"] = Figures.merge(rounds["api"])
    found["minimal"] = Figures.merge(rounds["minimal"])
    found["refused"] = sum(REFUSED.values())
    return found


def _ok(response: httpx.Response) -> None:
    assert response.status_code < 300, response.text


REFUSED: dict[int, int] = {}


def _counted(response: httpx.Response) -> None:
    """An action's answer: a refusal under load (503: the pool had no connection in time) is
    counted and printed, not fatal to the figures."""
    if response.status_code >= 300:
        assert response.status_code == 503, response.text
        REFUSED[503] = REFUSED.get(503, 0) + 1

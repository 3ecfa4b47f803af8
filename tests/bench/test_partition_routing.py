"""What routing between province partitions costs a case action, against the one-store API
measured in the same run.

Both run as deployed (`wardship api`, one uvicorn process): the one-store API on Sichuan's
database, and the partitioned API serving Sichuan (51) and Guangdong (44) on two databases.
8 clients add notes to Sichuan cases of their own, in interleaved rounds. Each partitioned
request first finds the case's partition (`api/partitioned.py`); "44" sorts first, so a case
seen for the first time is looked for in both. Printed, not asserted:
`./run bench -k partition_routing`.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import httpx
import pytest

from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.settings import Settings
from deploy.ports import free_port
from tests.bench.test_api_throughput import (
    CASES_PER_CLIENT,
    CLIENTS,
    ROUNDS,
    SECONDS,
    Figures,
    _ok,
    _report_about_child,
    load,
    server_process,
)
from tests.conftest import new_database

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.bench


def test_case_actions_through_the_partition_router(tmp_path: Path, database_url: str) -> None:
    with new_database(database_url, "bench51") as sichuan, \
            new_database(database_url, "bench44") as guangdong:
        partitions = {"51": {"database_url": sichuan, "temporal_namespace": "wardship-51"},
                      "44": {"database_url": guangdong, "temporal_namespace": "wardship-44"}}
        settings = Settings.model_validate({"state_dir": tmp_path, "partitions": partitions})
        for code in partitions:
            migrate_database(settings.for_partition(code))
        token = dev_token(settings, subject="bench", roles=["caseworker"], jurisdiction="5111")
        auth = {"Authorization": f"Bearer {token}"}
        common = {"WARDSHIP_STATE_DIR": str(tmp_path), "WARDSHIP_LOG_FORMAT": "json"}
        one_port, routed_port = free_port(), free_port()
        one_store = {**common, "DATABASE_URL": sichuan, "WARDSHIP_PORT": str(one_port)}
        routed = {**common, "WARDSHIP_PARTITIONS": json.dumps(partitions),
                  "WARDSHIP_PORT": str(routed_port)}

        with server_process(["-m", "api.cli", "api"], one_port, one_store) as one_base, \
                server_process(["-m", "api.cli", "api"], routed_port, routed) as routed_base:

            def noting(base: str) -> Callable[[int], Callable[[], None]]:
                def client(n: int) -> Callable[[], None]:
                    http = httpx.Client(base_url=base, headers=auth)
                    cases = [_ok(http.post("/v1/cases", json=_report_about_child(
                        f"{base[-5:]}-{n}-{i}")))["id"] for i in range(CASES_PER_CLIENT)]
                    turn = iter(range(10**9))

                    def act() -> None:
                        case_id = cases[next(turn) % len(cases)]
                        _ok(http.post(f"/v1/cases/{case_id}/actions",
                                      json={"action": "add_note", "text": "visit arranged"}))

                    return act

                return client

            rounds: dict[str, list[Figures]] = {"one": [], "routed": []}
            for _ in range(ROUNDS):
                rounds["one"].append(load("one store: POST /v1/cases/{id}/actions",
                                          noting(one_base)))
                rounds["routed"].append(load("2 partitions, routed: same",
                                             noting(routed_base)))

    one, routed_figures = (Figures.merge(rounds[k]) for k in ("one", "routed"))
    print(f"\n{CLIENTS} concurrent clients, {ROUNDS} interleaved rounds of {SECONDS:.0f} s,"
          f" on {os.cpu_count()} CPUs")
    for figures in (one, routed_figures):
        print(figures.line())
    print(f"routed vs one store: rate {routed_figures.rate / one.rate:.2f}x,"
          f" p50 {routed_figures.p50 - one.p50:+.1f} ms, p99 {routed_figures.p99 / one.p99:.2f}x")

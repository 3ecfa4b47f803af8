"""Two province partitions side by side behind one API: each request reaches its province's
store, each partition's reads list only its own cases, and a case moved between them keeps
its whole history and a hash chain that verifies on both sides."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.http.auth import dev_token
from api.inspection.casefile import check_case_file
from api.main import create_app
from api.partitioned import PartitionedApi, build_api
from api.settings import Settings, get_settings
from deploy.ports import free_port
from domain.actors import Actor
from domain.codes import Role
from domain.events import CaseHandedOver, ReceivedFromPartition
from domain.handover import move_case
from tests.api.support import HSM_KEYS, case_body
from tests.conftest import new_database
from tests.projections.conftest import project_all

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


SICHUAN_VILLAGE = "511102001001"
GUANGDONG_VILLAGE = "440103001001"


@pytest.fixture
def provinces(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, PartitionedApi]]:
    """Sichuan (51) and Guangdong (44), each in its own database on the test server, each
    migrated as its deployment would be, served by one partitioned API."""
    with contextlib.ExitStack() as stack:
        partitions = {
            code: {"database_url": stack.enter_context(new_database(database_url, f"p{code}")),
                   "temporal_namespace": f"wardship-{code}"}
            for code in ("51", "44")}
        settings = Settings.model_validate({"state_dir": tmp_path, "partitions": partitions})
        for code in partitions:
            migrate_database(settings.for_partition(code))
        api = build_api(settings)
        assert isinstance(api, PartitionedApi)
        with TestClient(api, raise_server_exceptions=False) as client:
            yield client, api


def _auth(api: PartitionedApi, sub: str, roles: list[str], jurisdiction: str
          ) -> dict[str, str]:
    token = dev_token(api.settings, subject=sub, roles=roles, jurisdiction=jurisdiction)
    return {"Authorization": f"Bearer {token}"}


def _project(api: PartitionedApi) -> None:
    """Bring every partition's read models up to date, as its runner process would."""
    for code in api.apps:
        settings = api.settings.for_partition(code)
        reader = bootstrap(settings, pool_size=2)
        try:
            with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
                project_all(reader, conn)
        finally:
            reader.close()


def _listed(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/v1/cases", headers=headers)
    assert response.status_code == 200, response.text
    return {case["id"] for case in response.json()["items"]}


def _users(api: PartitionedApi) -> dict[str, dict[str, str]]:
    """Headers of invented users: a caseworker and a supervisor in each province."""
    return {name: _auth(api, name, [role], code) for name, role, code in (
        ("cw-51", "caseworker", "5111"), ("sv-51", "supervisor", "5111"),
        ("cw-44", "caseworker", "4401"), ("sv-44", "supervisor", "4401"))}


def test_each_partition_holds_and_lists_only_its_own_cases(
    provinces: tuple[TestClient, PartitionedApi],
) -> None:
    client, api = provinces
    users = _users(api)
    sc_worker, gd_worker = users["cw-51"], users["cw-44"]
    sichuan = _opened(client, SICHUAN_VILLAGE, sc_worker)
    guangdong = _opened(client, GUANGDONG_VILLAGE, gd_worker)

    assert {str(i) for i in api.wardship("51").case_ids()} == {sichuan["id"]}
    assert {str(i) for i in api.wardship("44").case_ids()} == {guangdong["id"]}
    _project(api)
    assert _listed(client, sc_worker) == {sichuan["id"]}
    assert _listed(client, gd_worker) == {guangdong["id"]}
    # A case is found in its own partition whoever asks; another province's caller may not
    # see it there.
    assert client.get(f"/v1/cases/{sichuan['id']}", headers=sc_worker).status_code == 200
    assert client.get(f"/v1/cases/{sichuan['id']}", headers=gd_worker).status_code == 404


def test_a_case_moved_to_another_province_keeps_its_history_and_chain(
    provinces: tuple[TestClient, PartitionedApi],
) -> None:
    client, api = provinces
    users = _users(api)
    sc_worker, sc_supervisor = users["cw-51"], users["sv-51"]
    gd_worker, gd_supervisor = users["cw-44"], users["sv-44"]
    case = _opened(client, SICHUAN_VILLAGE, sc_worker)
    case_id = case["id"]
    accepted = client.post(f"/v1/cases/{case_id}/actions", headers=sc_worker, json={
        "action": "accept_report", "grade": "yellow", "assignee": "cw-51"})
    assert accepted.status_code == 200, accepted.text
    refused = client.post(f"/v1/cases/{case_id}/handover", headers=sc_worker,
                          json={"jurisdiction": GUANGDONG_VILLAGE})
    assert refused.status_code == 403, refused.text

    moved = client.post(f"/v1/cases/{case_id}/handover", headers=sc_supervisor,
                        json={"jurisdiction": GUANGDONG_VILLAGE})

    assert moved.status_code == 200, moved.text
    assert moved.json()["jurisdiction"] == GUANGDONG_VILLAGE
    source = api.wardship("51").case_events(UUID(case_id))
    target = api.wardship("44").case_events(UUID(case_id))
    assert isinstance(source[-1], CaseHandedOver)
    assert isinstance(target[-1], ReceivedFromPartition)
    assert [e.hash for e in target[:-1]] == [e.hash for e in source]
    # Both copies verify; the target's chain carries on from the source's head.
    target_check = _verified(client, case_id, gd_supervisor)
    source_check = _verified(client, case_id, {**gd_supervisor, "X-Wardship-Partition": "51"})
    assert source_check["events"] == len(source) == 3
    assert target_check["events"] == len(target) == 4
    assert target[-1].prev_hash == source_check["head_hash"]
    # So do the signed case files each side exports, checked offline.
    for headers, events in ((gd_supervisor, 4),
                            ({**gd_supervisor, "X-Wardship-Partition": "51"}, 3)):
        exported = client.get(f"/v1/cases/{case_id}/export", headers=headers)
        assert exported.status_code == 200, exported.text
        check = check_case_file(exported.json())
        assert check.valid, check.message
        assert check.events == events
    # The case is worked in Guangdong now, and listed there only.
    noted = client.post(f"/v1/cases/{case_id}/actions", headers=gd_worker,
                        json={"action": "add_note", "text": "arrived from Sichuan"})
    assert noted.status_code == 200, noted.text
    assert client.get(f"/v1/cases/{case_id}", headers=sc_worker).status_code == 404
    _project(api)
    assert _listed(client, gd_worker) == {case_id}
    assert _listed(client, sc_supervisor) == set()
    again = client.post(f"/v1/cases/{case_id}/handover", headers=gd_supervisor,
                        json={"jurisdiction": GUANGDONG_VILLAGE})
    assert again.status_code in (409, 422), again.text


def test_a_case_moved_by_another_process_is_found_where_it_went(
    provinces: tuple[TestClient, PartitionedApi],
) -> None:
    client, api = provinces
    users = _users(api)
    sc_worker, gd_worker = users["cw-51"], users["cw-44"]
    case_id = _opened(client, SICHUAN_VILLAGE, sc_worker)["id"]
    assert client.get(f"/v1/cases/{case_id}", headers=sc_worker).status_code == 200

    # Another API process moves it: this one remembers it in Sichuan, and must notice.
    supervisor = Actor("sv-51", frozenset({Role.SUPERVISOR}), "5111", "Invented Supervisor")
    move_case(api.wardship("51"), api.wardship("44"), UUID(case_id), supervisor,
              jurisdiction=GUANGDONG_VILLAGE)

    found = client.get(f"/v1/cases/{case_id}", headers=gd_worker)
    assert found.status_code == 200, found.text
    assert found.json()["version"] == 3  # opened, handed over, received: the target's copy
    noted = client.post(f"/v1/cases/{case_id}/actions", headers=gd_worker,
                        json={"action": "add_note", "text": "arrived"})
    assert noted.status_code == 200, noted.text
    assert client.get(f"/v1/cases/{case_id}", headers=sc_worker).status_code == 404


def test_one_province_down_leaves_the_api_ready_for_the_others(
    tmp_path: Path, database_url: str, temporal_address: str,
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with new_database(database_url, "p51") as sichuan_url:
        settings = Settings.model_validate({
            "state_dir": tmp_path, "temporal_address": temporal_address, "readiness_timeout": 5,
            "partitions": {
                "51": {"database_url": sichuan_url, "temporal_namespace": "default"},
                "44": {"database_url": unreachable, "temporal_namespace": "default"}}})
        migrate_database(settings.for_partition("51"))
        with TestClient(build_api(settings), raise_server_exceptions=False) as client:
            response = client.get("/readyz")
            only_down = client.get("/readyz", headers={"X-Wardship-Partition": "44"})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "degraded"
    assert answer["partitions"]["51"]["status"] == "ready"
    assert answer["partitions"]["44"]["checks"]["database"] == "down"
    assert only_down.status_code == 503


def test_a_process_of_one_partition_takes_its_store_and_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/ignored")
    monkeypatch.setenv("WARDSHIP_PARTITIONS", json.dumps({
        "51": {"database_url": "postgresql://db51/wardship", "temporal_namespace": "w-51"},
        "44": {"database_url": "postgresql://db44/wardship", "temporal_namespace": "w-44",
               "task_queue": "cases-44"}}))
    monkeypatch.setenv("WARDSHIP_PARTITION", "44")
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()
    assert (settings.partition, settings.database_url, settings.temporal_namespace,
            settings.task_queue) == ("44", "postgresql://db44/wardship", "w-44", "cases-44")
    monkeypatch.setenv("WARDSHIP_PARTITION", "52")
    with pytest.raises(ValueError, match="not one of"):
        Settings()
    monkeypatch.setenv("WARDSHIP_PARTITIONS", json.dumps({
        "99": {"database_url": "postgresql://db/x", "temporal_namespace": "x"}}))
    with pytest.raises(ValueError, match="name no province"):
        Settings()


def test_production_takes_the_partitions_databases_in_place_of_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("WARDSHIP_DATABASE_URL", raising=False)
    keys = {"environment": "production", "cipher_key": "k", "temporal_address": "t:7233",
            "jwt_public_key": "pem", "jwt_issuer": "https://idp", "jwt_audience": "wardship",
            **HSM_KEYS}
    with pytest.raises(ValueError, match="DATABASE_URL"):
        Settings.model_validate(keys)
    settings = Settings.model_validate({**keys, "partitions": {
        "51": {"database_url": "postgresql://db51/w", "temporal_namespace": "w-51"}}})
    assert settings.for_partition("51").database_url == "postgresql://db51/w"


def test_without_partitions_the_api_is_the_one_store_api(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert type(build_api(settings)) is type(create_app(settings))


def _opened(client: TestClient, jurisdiction: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/cases", json=case_body(jurisdiction), headers=headers)
    assert response.status_code == 201, response.text
    view: dict[str, Any] = response.json()
    return view


def _verified(client: TestClient, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/v1/cases/{case_id}/verify", headers=headers)
    assert response.status_code == 200, response.text
    check: dict[str, Any] = response.json()
    assert check["valid"], check
    return check

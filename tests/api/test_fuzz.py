"""Generated requests from /openapi.json (schemathesis): no input makes the case routes fail 5xx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from api.main import create_app
from deploy.ports import free_port
from tests.api.support import LESHAN_VILLAGE, case_body, served

if TYPE_CHECKING:
    from pathlib import Path

# The routes of the caseworker API; other resources have their own fuzzing.
FUZZED = {
    ("POST", "/v1/cases"),
    ("GET", "/v1/cases/{case_id}"),
    ("POST", "/v1/cases/{case_id}/actions"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}
EXAMPLES = 60


def test_generated_requests_never_get_a_server_error(tmp_path: Path, db_url: str) -> None:
    from api.cli.migrate import migrate_database
    from api.http.auth import dev_token
    from api.settings import Settings

    app_settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url})
    migrate_database(app_settings)
    token = dev_token(app_settings, subject="fuzz", roles=["supervisor"], jurisdiction="5111")
    auth = {"Authorization": f"Bearer {token}"}
    with served(create_app(app_settings), free_port()) as base_url:
        opened = httpx.post(f"{base_url}/v1/cases", json=case_body(LESHAN_VILLAGE), headers=auth)
        case_id = opened.json()["id"]
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        failures: list[str] = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            if (operation.method.upper(), operation.path) not in FUZZED:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += _fuzz(operation, mode, base_url, auth, case_id)
    assert failures == []


def _fuzz(
    operation: Any, mode: GenerationMode, base_url: str, auth: dict[str, str], case_id: str
) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # A real case half the time, so bodies reach the domain and not only the 404.
        if "case_id" in (case.path_parameters or {}) and hash(str(case.body)) % 2 == 0:
            case.path_parameters["case_id"] = case_id
        response = case.call(base_url=base_url, headers=auth)
        if response.status_code >= 500:
            failures.append(f"{operation.method} {operation.path} -> {response.status_code}: "
                            f"{case.as_curl_command()}")

    try:
        check()
    except Unsatisfiable:
        # Nothing in the operation can be made invalid (e.g. a GET without parameters).
        assert mode is GenerationMode.NEGATIVE
    return failures

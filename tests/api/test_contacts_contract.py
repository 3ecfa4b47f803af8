"""`/v1/contacts` against its OpenAPI document, as an admin (`st run --checks all`): every
body the schema allows is accepted, every other refused, every answer as declared."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import schemathesis

from api.main import create_app
from api.settings import Settings
from deploy.ports import free_port
from tests.api import test_fuzz
from tests.api.support import served

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

EXAMPLES = 40


def _fresh_idempotency_key(ctx: object, headers: dict[str, Any] | None) -> Any:
    """A new Idempotency-Key on every generated call: a generated key repeats ("0"), and a
    repeat answers the first call's 201 again, whose contact a generated DELETE may since
    have removed; that replay is the key's promise, not a broken link."""
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers


def test_the_contact_routes_keep_to_their_document(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli.migrate import migrate_database
    from api.http.auth import dev_token

    # Generated Idempotency-Keys repeat across different bodies: refused by a rule (the same
    # key must ask the same thing) that no schema can state.
    monkeypatch.setattr(test_fuzz, "UNSTATABLE",
                        test_fuzz.UNSTATABLE | {("idempotency_key_reused", None)})

    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": db_url})
    migrate_database(settings)
    # A province's admin: generated jurisdictions under other provinces get the 403 declared.
    token = dev_token(settings, subject="ad-51", roles=["admin"], jurisdiction="51")
    with served(create_app(settings), free_port()) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").include(
            path_regex="^/v1/contacts")
        schema.config.update(headers={"Authorization": f"Bearer {token}"}, request_timeout=30)
        schema.hook("map_headers")(_fresh_idempotency_key)
        schema.config.seed = 20261201
        schema.config.generation.update(max_examples=EXAMPLES)
        schema.config.checks.update(included_check_names=["all"])
        # The 64 KiB body limit is declared (413) but no JSON Schema can state a body's size.
        for check in (schema.config.checks.positive_data_acceptance,
                      schema.config.checks.negative_data_rejection):
            check.expected_statuses = [*check.expected_statuses, "413"]
        failures = test_fuzz._contract_failures(schema)
    assert failures == [], "\n".join(failures)

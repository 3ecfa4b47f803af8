"""Every process builds its application one way: the configured policy, cipher and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from api.cli import main as wardship
from api.settings import get_settings
from deploy.migrate import SCHEMA_VERSION, applied_version
from domain.application import Wardship
from domain.policy import DEFAULT_POLICY
from domain.policy import __file__ as policy_module
from domain.storage import event_store_env

if TYPE_CHECKING:
    from collections.abc import Iterator

CUSTOM_VERSION = "leshan-test-9"


@pytest.fixture
def environment(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A process environment on a fresh database and a local policy of its own version."""
    policy = tmp_path / "policy.toml"
    shipped = Path(policy_module).parent / "policies" / DEFAULT_POLICY
    policy.write_text(shipped.read_text("utf-8").replace(
        'version = "cn-default-1"', f'version = "{CUSTOM_VERSION}"'), "utf-8")
    values = {"DATABASE_URL": db_url, "WARDSHIP_POLICY": str(policy),
              "WARDSHIP_STATE_DIR": str(tmp_path / "state"), "TEMPORAL_ADDRESS": "x:7233"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    # The CLI configures the process's logging; a test process keeps pytest's.
    monkeypatch.setattr("api.logs.configure_logging", lambda *args: None)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def stored_policy_versions(db_url: str) -> set[str]:
    reader = Wardship(env=event_store_env(db_url, get_settings().effective_cipher_key()))
    try:
        notifications = reader.recorder.select_notifications(start=1, limit=1000)
        events = [reader.mapper.to_domain_event(n) for n in notifications]
    finally:
        reader.close()
    # Case events carry the policy version; the child registry's events do not.
    return {e.policy_version for e in events if hasattr(e, "policy_version")}


def table_exists(db_url: str, name: str) -> bool:
    with psycopg.connect(db_url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    return found is not None and found[0] is not None


class TestWiring:
    def test_the_demo_records_its_cases_under_the_configured_policy(
        self, environment: dict[str, str]
    ) -> None:
        assert wardship(["migrate"]) == 0
        assert wardship(["demo", "--children", "2"]) == 0
        assert stored_policy_versions(environment["DATABASE_URL"]) == {CUSTOM_VERSION}

    def test_migrate_creates_every_table_and_records_the_schema_version(
        self, environment: dict[str, str]
    ) -> None:
        assert wardship(["migrate"]) == 0
        url = environment["DATABASE_URL"]
        for table in ("wardship_events", "wardship_idempotency", "wardship_access_log",
                      "wardship_relay_tracking", "wardship_projections", "rm_cases"):
            assert table_exists(url, table), table
        with psycopg.connect(url) as conn:
            assert applied_version(conn) == SCHEMA_VERSION
        assert wardship(["migrate", "--wait", "0"]) == 0

    def test_the_runners_change_no_schema(self, environment: dict[str, str]) -> None:
        """Only `wardship migrate` creates tables; a runner on an unmigrated store refuses.

        The worker against a real Temporal server, as a role that may create nothing, is
        tests/workflows/test_least_privilege.py's.
        """
        assert wardship(["migrate", "--wait", "0"]) == 1  # nothing has migrated yet
        with pytest.raises(LookupError, match="wardship migrate"):
            wardship(["projections", "run"])
        with psycopg.connect(environment["DATABASE_URL"]) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)

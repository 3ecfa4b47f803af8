"""An erasure whose approving process died after recording it and before destroying the
child's keys is finished by the relay: the keys are destroyed and the kept answers that name
the child's records are dropped (real PostgreSQL, real Temporal server)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import psycopg
import pytest

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.settings import Settings
from domain.personal import ERASED
from tests.inspection.support import CASEWORKER, CHILD, SUPERVISOR, open_case
from tests.workflows.support import CIPHER_KEY
from workflows.relay import Relay

if TYPE_CHECKING:
    from pathlib import Path

    from temporalio.testing import WorkflowEnvironment


class Died(BaseException):
    """The approving process stopping where it stood (not an error anything handles)."""


async def test_the_relay_destroys_the_keys_of_an_erasure_whose_approver_died_first(
    time_skipping_env: WorkflowEnvironment, db_url: str, task_queue: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(database_url=db_url, cipher_key=CIPHER_KEY, state_dir=tmp_path)
    migrate_database(settings)
    app = bootstrap(settings)
    try:
        case_id = open_case(app)
        app.perform(case_id, CASEWORKER, "screen_out", {"reason": "handled by the school"})
        file_id = UUID(app.get_case(case_id)["child_id"])
        with psycopg.connect(db_url, autocommit=True) as conn:
            # The first answer to a request about the case, kept for its retries.
            conn.execute("INSERT INTO wardship_idempotency (subject, key, request_hash, status,"
                         " headers, body) VALUES ('cw-1', 'k-1', 'h', 200, '{}', %s)",
                         (f'{{"id":"{case_id}","child":"{CHILD["name"]}"}}'.encode(),))
        app.request_erasure(CASEWORKER, file_id, "the guardian's lawful request (invented)")

        def dies(*_: object) -> None:
            raise Died

        with monkeypatch.context() as crash:
            crash.setattr(app.keyring, "destroy", dies)
            with pytest.raises(Died):
                app.approve_erasure(SUPERVISOR, file_id)
        # Recorded, yet nothing destroyed: the child still reads as before.
        assert app.privacy(SUPERVISOR, file_id)["erased"] is not None
        assert app.get_case_aggregate(case_id).child["name"] == CHILD["name"]

        relay = Relay(app, time_skipping_env.client, task_queue)
        while await relay.run_once():
            pass
        key = app.keyring.table.get(str(file_id))
        assert key is not None
        assert key.wrapped is None
        assert app.get_case_aggregate(case_id).child["name"] == ERASED
        with psycopg.connect(db_url) as conn:
            assert conn.execute("SELECT count(*) FROM wardship_idempotency").fetchone() == (0,)
    finally:
        app.close()

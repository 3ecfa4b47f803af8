"""A read-model runner rides out a database outage and catches up, with no restart."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import psycopg

from api.bootstrap import bootstrap
from api.cli.migrate import migrate_database
from api.settings import Settings
from projections.registry import MODELS
from projections.runner import run_models, wait_until
from tests.domain.builders import CIPHER_KEY, T0, open_case
from tests.outage import Outage

if TYPE_CHECKING:
    from pathlib import Path

OUTAGE_SECONDS = 3.0


class TestRunnerOutage:
    def test_the_runner_survives_an_outage_and_applies_what_came_after(
        self, tmp_path: Path, database_url: str, db_url: str
    ) -> None:
        settings = Settings(database_url=db_url, cipher_key=CIPHER_KEY, state_dir=tmp_path)
        migrate_database(settings)
        writer, reader = bootstrap(settings), bootstrap(settings, pool_size=2)
        stop = threading.Event()
        runner = threading.Thread(target=run_models, args=(list(MODELS), reader, db_url, stop))
        try:
            open_case(writer, at=T0)
            runner.start()
            with psycopg.connect(db_url, autocommit=True) as conn:
                assert wait_until(conn, "cases", writer.recorder.max_notification_id() or 0, 10)
            # The database goes away (sessions killed, new ones refused), then comes back.
            with Outage(database_url, db_url).during():
                time.sleep(OUTAGE_SECONDS)
            assert runner.is_alive()
            # What is written after the outage reaches the read model, same thread.
            back = time.monotonic()
            open_case(writer, at=T0)
            head = writer.recorder.max_notification_id() or 0
            with psycopg.connect(db_url, autocommit=True) as conn:
                assert wait_until(conn, "cases", head, 30)
                assert wait_until(conn, "stats", head, 5)
            print(f"\nread models caught up {time.monotonic() - back:.2f}s after the outage")
            assert runner.is_alive()
        finally:
            stop.set()
            runner.join(timeout=30)
            writer.close()
            reader.close()
        assert not runner.is_alive()

"""Run read models: each applies batches of the log with rows and position in one transaction.

The state row of a projection is locked (`FOR UPDATE`) for the whole batch, so two runners of
the same projection never apply an event twice; a crash mid-batch rolls the batch back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from psycopg import sql

from projections.registry import MODELS
from projections.store import (
    CHANNEL,
    STATE_TABLE,
    Batch,
    create_state_table,
    create_tables,
    drop_tables,
    point_views,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence

    from deploy.heartbeat import Heartbeat
    from domain.application import Wardship
    from projections.base import Positioned, ReadModel

log = structlog.get_logger("wardship.projections")

BATCH_SIZE = 2000
# The setup of tables and views is serialised across runner processes and threads.
_SETUP_LOCK = 7_311_151


def ensure(conn: psycopg.Connection[Any], model: ReadModel) -> None:
    """Create the state table, the model's first generation and its views, if missing.

    Schema changes: `wardship migrate` (as the tables' owner) calls it, never a runner.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        create_state_table(conn)
        found = conn.execute(
            f"SELECT generation FROM {STATE_TABLE} WHERE name = %s", (model.name,)  # noqa: S608
        ).fetchone()
        if found is None:
            create_tables(conn, model.tables, 1)
            point_views(conn, model.tables, 1)
            conn.execute(
                f"INSERT INTO {STATE_TABLE} (name, generation, position) VALUES (%s, 1, 0)",  # noqa: S608
                (model.name,),
            )


def install_all(conn: psycopg.Connection[Any]) -> None:
    """Create every registered read model's tables and views, if missing (`wardship migrate`)."""
    for model_class in MODELS.values():
        ensure(conn, model_class())


def require(conn: psycopg.Connection[Any], model: ReadModel) -> None:
    """Raise LookupError unless `model` is set up: a runner changes no schema of its own."""
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (STATE_TABLE,)).fetchone()
    if found and found[0] and conn.execute(
        f"SELECT 1 FROM {STATE_TABLE} WHERE name = %s", (model.name,)  # noqa: S608
    ).fetchone():
        return
    raise LookupError(f"read model {model.name!r} is not set up: run `wardship migrate` first")


def may_change_schema(conn: psycopg.Connection[Any]) -> bool:
    """Whether this connection's role may create tables (the owner may; the app role may not)."""
    found = conn.execute("SELECT has_schema_privilege(current_schema(), 'CREATE')").fetchone()
    return bool(found and found[0])


def position_of(conn: psycopg.Connection[Any], name: str) -> int:
    found = conn.execute(
        f"SELECT position FROM {STATE_TABLE} WHERE name = %s", (name,)  # noqa: S608
    ).fetchone()
    return int(found[0]) if found else 0


class Worker:
    """Applies the log to one read model in batches; `step` is one transaction."""

    def __init__(
        self, model: ReadModel, app: Wardship, conn: psycopg.Connection[Any],
        state: str | None = None,
    ) -> None:
        self.model = model
        self.app = app
        self.conn = conn
        self.state = state or model.name  # the state row: a rebuild keeps its own

    def read(self, after: int, limit: int) -> tuple[int, list[Positioned]]:
        """The next notifications after `after`: the last position and the decoded events."""
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        if not notifications:
            return after, []
        topics, mapper = self.model.topics, self.app.mapper
        events = [(n.id, mapper.to_domain_event(n)) for n in notifications if n.topic in topics]
        return notifications[-1].id, events

    def step(self, limit: int = BATCH_SIZE) -> int:
        """Apply the next batch; returns how many log positions it advanced (0: caught up)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            generation, before = self._lock(cur, self.state)
            last, events = self.read(before, limit)
            if last == before:
                return 0
            self._apply(cur, generation, events)
            self._advance(cur, self.state, before, last)
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.state}:{last}"))
            return last - before

    def catch_up_in(self, cur: psycopg.Cursor[Any], generation: int) -> int:
        """Apply the rest of the log inside the caller's transaction (used for the swap)."""
        while True:
            _, before = self._lock(cur, self.state)
            last, events = self.read(before, BATCH_SIZE)
            if last == before:
                return before
            self._apply(cur, generation, events)
            self._advance(cur, self.state, before, last)

    def _apply(self, cur: psycopg.Cursor[Any], generation: int, events: list[Positioned]) -> None:
        if events:
            batch = Batch.start(cur, self.model.tables, generation)
            self.model.apply(batch, events)
            batch.flush()

    @staticmethod
    def _lock(cur: psycopg.Cursor[Any], name: str) -> tuple[int, int]:
        cur.execute(
            f"SELECT generation, position FROM {STATE_TABLE} WHERE name = %s FOR UPDATE",  # noqa: S608
            (name,),
        )
        found = cur.fetchone()
        if found is None:
            raise LookupError(f"projection {name!r} is not set up")
        return int(found[0]), int(found[1])

    @staticmethod
    def _advance(cur: psycopg.Cursor[Any], name: str, before: int, last: int) -> None:
        cur.execute(
            f"UPDATE {STATE_TABLE} SET position = %s, updated_at = now()"  # noqa: S608
            " WHERE name = %s AND position = %s",
            (last, name, before),
        )
        if cur.rowcount != 1:
            raise RuntimeError(f"projection {name!r} moved under us; batch rolled back")

    def catch_up(self, limit: int = BATCH_SIZE) -> int:
        """Apply batches until the log is exhausted; returns positions advanced."""
        total = 0
        while advanced := self.step(limit):
            total += advanced
        return total


def rebuild(model: ReadModel, app: Wardship, conn: psycopg.Connection[Any]) -> int:
    """Rebuild `model` from the whole log into new tables, then switch the views over.

    The live runner keeps serving the old tables meanwhile; the final catch-up and the switch
    happen with the state row locked, so no event is lost or applied twice across the swap.
    It creates and drops tables, so only the tables' owner may run it (PermissionError).
    """
    if not may_change_schema(conn):
        raise PermissionError(
            "a rebuild creates and drops tables: run it as the tables' owner (wardship_owner)")
    ensure(conn, model)
    shadow = f"{model.name}~rebuild"
    with conn.transaction():
        current = conn.execute(
            f"SELECT generation FROM {STATE_TABLE} WHERE name = %s", (model.name,)  # noqa: S608
        ).fetchone()
        assert current is not None
        generation = int(current[0]) + 1
        create_tables(conn, model.tables, generation)
        conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (shadow,))  # noqa: S608
        conn.execute(
            f"INSERT INTO {STATE_TABLE} (name, generation, position) VALUES (%s, %s, 0)",  # noqa: S608
            (shadow, generation),
        )
    worker = Worker(model, app, conn, state=shadow)
    worker.catch_up()
    with conn.transaction(), conn.cursor() as cur:
        old, _ = Worker._lock(cur, model.name)
        position = worker.catch_up_in(cur, generation)
        point_views(conn, model.tables, generation)
        cur.execute(
            f"UPDATE {STATE_TABLE} SET generation = %s, position = %s, updated_at = now()"  # noqa: S608
            " WHERE name = %s",
            (generation, position, model.name),
        )
        cur.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (shadow,))  # noqa: S608
    with conn.transaction():
        drop_tables(conn, model.tables, old)
    return position


class Fleet:
    """Several read models in one loop: each batch of the log is read and decoded once, then
    applied to every model; all rows and positions of a batch commit together."""

    def __init__(
        self, models: Sequence[ReadModel], app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        self.app = app
        self.conn = conn
        self.workers = [Worker(model, app, conn) for model in models]

    def step(self, limit: int = BATCH_SIZE) -> int:
        """Apply the next batch to every model; returns positions advanced (0: caught up)."""
        names = [worker.state for worker in self.workers]
        positions = dict(self.conn.execute(
            f"SELECT name, position FROM {STATE_TABLE} WHERE name = ANY(%s)",  # noqa: S608
            (names,)).fetchall())
        low = min(int(positions.get(name, 0)) for name in names)
        notifications = self.app.recorder.select_notifications(
            start=low, limit=limit, inclusive_of_start=False
        )
        if not notifications:
            return 0
        last, decoded = notifications[-1].id, dict[int, Any]()

        def event(notification: Any) -> Any:
            if notification.id not in decoded:
                decoded[notification.id] = self.app.mapper.to_domain_event(notification)
            return decoded[notification.id]

        # One transaction for every model's rows and position: one commit per batch.
        with self.conn.transaction(), self.conn.cursor() as cur:
            for worker in self.workers:
                generation, before = worker._lock(cur, worker.state)
                if before < low or before >= last:
                    continue  # moved (a rebuild swapped in) or ahead: the next round sees it
                events = [(n.id, event(n)) for n in notifications
                          if n.id > before and n.topic in worker.model.topics]
                worker._apply(cur, generation, events)
                worker._advance(cur, worker.state, before, last)
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{worker.state}:{last}"))
        return last - low

    def run(self, stop: threading.Event, idle: float = 1.0,
            heartbeat: Heartbeat | None = None) -> None:
        """Apply batches until `stop` is set, sleeping on the log's NOTIFY channel when idle;
        each turn of the loop renews `heartbeat` (the liveness probe's file)."""
        channel = getattr(self.app.recorder, "channel_name", "")
        with psycopg.connect(self.conn.info.dsn, autocommit=True,
                             password=self.conn.info.password) as listener:
            if channel:
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            while not stop.is_set():
                if heartbeat is not None:
                    heartbeat.beat()
                if self.step():
                    continue
                for _ in listener.notifies(timeout=idle, stop_after=1):
                    pass


def run_models(
    names: Sequence[str], app: Wardship, database_url: str, stop: threading.Event,
    heartbeat: Heartbeat | None = None,
) -> None:
    """Run the named read models on `app`'s log in this thread until `stop` is set."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        models = [MODELS[name]() for name in names]
        for model in models:
            require(conn, model)
            log.info("projection_started", projection=model.name,
                     position=position_of(conn, model.name))
        Fleet(models, app, conn).run(stop, heartbeat=heartbeat)


def wait_until(conn: psycopg.Connection[Any], name: str, position: int, timeout: float) -> bool:
    """Block until projection `name` has applied `position` (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while position_of(conn, name) < position:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True

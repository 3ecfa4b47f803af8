"""Run read models: each applies batches of the log with rows and position in one transaction.

The state row of a projection is locked (`FOR UPDATE`) for the whole batch, so two runners of
the same projection never apply an event twice; a crash mid-batch rolls the batch back.
An event a model cannot decode or apply is parked (`projections.parked`) in that same
transaction, and the model goes on with the next one.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from psycopg import sql

from deploy.outages import CONNECT_TIMEOUT, DATABASE_UNREACHABLE, Backoff
from projections import parked
from projections.parked import Decoder, Parking
from projections.registry import MODELS
from projections.store import (
    CHANNEL,
    STATE_TABLE,
    Batch,
    create_indexes,
    create_state_table,
    create_tables,
    drop_tables,
    point_views,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from eventsourcing.persistence import Notification

    from deploy.heartbeat import Heartbeat
    from domain.application import Wardship
    from projections.base import Positioned, ReadModel

log = structlog.get_logger("wardship.projections")

BATCH_SIZE = 2000
# The setup of tables and views is serialised across runner processes and threads.
_SETUP_LOCK = 7_311_151


def decoder(app: Wardship) -> Decoder:
    """How read models get their events: decoded once a page, with the fields sealed under a
    child's key left sealed. Read models keep no personal data (docs/privacy.md), and this
    way they cannot, and no child's key is read (most of a sealed event's decoding cost)."""
    return Decoder(app.mapper, personal=False)


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
        # A rebuild parks under the model's name too: its tables become the model's.
        self.consumer = parked.projection_consumer(model.name)

    def read(self, after: int, limit: int) -> tuple[int, list[Notification]]:
        """The next notifications after `after`: the last position, and those of the model's
        topics (not yet decoded)."""
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        if not notifications:
            return after, []
        topics = self.model.topics
        return notifications[-1].id, [n for n in notifications if n.topic in topics]

    def step(self, limit: int = BATCH_SIZE) -> int:
        """Apply the next batch; returns how many log positions it advanced (0: caught up)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            generation, before = self._lock(cur, self.state)
            last, notifications = self.read(before, limit)
            if last == before:
                return 0
            self._apply(cur, generation, notifications, decoder(self.app))
            self._advance(cur, self.state, before, last)
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.state}:{last}"))
            return last - before

    def apply_at(self, cur: psycopg.Cursor[Any], position: int) -> None:
        """Apply the event at `position` to the model now, whatever the model's position (a
        parked event retried after a fix); raises if it still fails."""
        found = self.app.recorder.select_notifications(start=position, limit=1, stop=position)
        if not found:
            raise LookupError(f"no event at log position {position}")
        decode = decoder(self.app)
        event = decode(found[0])
        if event is None:
            raise decode.errors[position]
        generation, _ = self._lock(cur, self.state)
        self._apply_batch(cur, generation, [(position, event)])

    def _apply(self, cur: psycopg.Cursor[Any], generation: int,
               notifications: list[Notification], decode: Decoder) -> None:
        """Apply the model's events of `notifications`; park each it cannot decode or apply."""
        events: list[Positioned] = []
        for notification in notifications:
            event = decode(notification)
            if event is None:
                parked.park(cur, Parking.of(self.consumer, notification, "decode",
                                            decode.errors[notification.id]))
            else:
                events.append((notification.id, event))
        if events:
            self._apply_part(cur, generation, events, {n.id: n for n in notifications})

    def _apply_part(self, cur: psycopg.Cursor[Any], generation: int, events: list[Positioned],
                    notifications: dict[int, Notification]) -> None:
        """Apply `events` under a savepoint; if they fail for a reason of their own, apply
        each half the same way, down to the single events that fail, which are parked.

        Halving finds one bad event among 2,000 in ~22 tries instead of 2,000 (event by
        event took 25 times a clean batch on this machine); the models give the same rows
        whether events come in one batch or several.
        """
        try:
            with cur.connection.transaction():
                self._apply_batch(cur, generation, events)
            return
        except Exception as error:
            parked.raise_if_transient(error, lambda: cur.execute("SELECT 1"))
            failure = error
        if len(events) == 1:
            parked.park(cur, Parking.of(
                self.consumer, notifications[events[0][0]], "apply", failure))
            return
        middle = len(events) // 2
        for half in (events[:middle], events[middle:]):
            self._apply_part(cur, generation, half, notifications)

    def _apply_batch(self, cur: psycopg.Cursor[Any], generation: int,
                     events: list[Positioned]) -> None:
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


SHADOW = "~rebuild"  # a rebuild's own state row: the model's name and this


def rebuild(model: ReadModel, app: Wardship, conn: psycopg.Connection[Any]) -> int:
    """Rebuild `model` from the whole log into new tables, then switch the views over."""
    return rebuild_models([model], app, conn)


def rebuild_models(
    models: Sequence[ReadModel], app: Wardship, conn: psycopg.Connection[Any],
    limit: int = BATCH_SIZE,
) -> int:
    """Rebuild `models` from the whole log in one pass into new tables, then switch every
    model's views over at once; returns the log position they reached.

    Each page of the log is read and decoded once and applied to every model's new
    generation. The live runner keeps serving the old tables meanwhile; the final catch-up
    and the switch happen with the models' state rows locked, so no event is lost or applied
    twice across the swap. A rebuild that fails before the switch drops its new tables and
    leaves the live ones as they were. It creates and drops tables, so only the tables'
    owner may run it (PermissionError).
    """
    if not models:
        raise ValueError("no read model to rebuild")
    if not may_change_schema(conn):
        raise PermissionError(
            "a rebuild creates and drops tables: run it as the tables' owner (wardship_owner)")
    for model in models:
        ensure(conn, model)
    generations = _prepare_shadows(conn, models)
    try:
        fleet = Fleet(models, app, conn, states=[m.name + SHADOW for m in models])
        while fleet.step(limit):
            pass
        with conn.transaction():
            for model in models:
                create_indexes(conn, model.tables, generations[model.name])
        with conn.transaction(), conn.cursor() as cur:
            # Locked in the order every runner locks them (by name), so no deadlock.
            old = dict(cur.execute(
                f"SELECT name, generation FROM {STATE_TABLE} WHERE name = ANY(%s)"  # noqa: S608
                " ORDER BY name FOR UPDATE", ([m.name for m in models],)).fetchall())
            position = fleet.catch_up_in(cur, limit)
            for model in models:
                point_views(conn, model.tables, generations[model.name])
                cur.execute(
                    f"UPDATE {STATE_TABLE} SET generation = %s, position = %s,"  # noqa: S608
                    " updated_at = now() WHERE name = %s",
                    (generations[model.name], position, model.name),
                )
                cur.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s",  # noqa: S608
                            (model.name + SHADOW,))
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            _discard_shadows(conn, models, generations)
        raise
    with conn.transaction():
        for model in models:
            drop_tables(conn, model.tables, int(old[model.name]))
    return position


def _prepare_shadows(conn: psycopg.Connection[Any], models: Sequence[ReadModel]) -> dict[str, int]:
    """Create each model's next generation, empty, with a state row at position 0."""
    generations: dict[str, int] = {}
    with conn.transaction():
        for model in models:
            current = conn.execute(
                f"SELECT generation FROM {STATE_TABLE} WHERE name = %s",  # noqa: S608
                (model.name,)).fetchone()
            assert current is not None
            generations[model.name] = generation = int(current[0]) + 1
            create_tables(conn, model.tables, generation, indexes=False)
            shadow = model.name + SHADOW
            conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (shadow,))  # noqa: S608
            conn.execute(
                f"INSERT INTO {STATE_TABLE} (name, generation, position)"  # noqa: S608
                " VALUES (%s, %s, 0)", (shadow, generation))
    return generations


def _discard_shadows(conn: psycopg.Connection[Any], models: Sequence[ReadModel],
                     generations: dict[str, int]) -> None:
    """Drop a failed rebuild's new tables and state rows (never a generation that is live)."""
    with conn.transaction():
        for model in models:
            live = conn.execute(
                f"SELECT generation FROM {STATE_TABLE} WHERE name = %s",  # noqa: S608
                (model.name,)).fetchone()
            if live is not None and int(live[0]) != generations[model.name]:
                drop_tables(conn, model.tables, generations[model.name])
            conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s",  # noqa: S608
                         (model.name + SHADOW,))


class Fleet:
    """Several read models in one loop: each batch of the log is read and decoded once, then
    applied to every model; all rows and positions of a batch commit together."""

    def __init__(
        self, models: Sequence[ReadModel], app: Wardship, conn: psycopg.Connection[Any],
        states: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        self.conn = conn
        names = states or [model.name for model in models]
        workers = [Worker(model, app, conn, state)
                   for model, state in zip(models, names, strict=True)]
        # State rows are locked in name order by every runner and rebuild: no deadlock.
        self.workers = sorted(workers, key=lambda worker: worker.state)

    def _low(self, conn: psycopg.Connection[Any] | psycopg.Cursor[Any]) -> int:
        """The lowest position of the fleet's models: where the next page starts."""
        names = [worker.state for worker in self.workers]
        positions = dict(conn.execute(
            f"SELECT name, position FROM {STATE_TABLE} WHERE name = ANY(%s)",  # noqa: S608
            (names,)).fetchall())
        return min(int(positions.get(name, 0)) for name in names)

    def step(self, limit: int = BATCH_SIZE) -> int:
        """Apply the next batch to every model; returns positions advanced (0: caught up)."""
        low = self._low(self.conn)
        notifications = self.app.recorder.select_notifications(
            start=low, limit=limit, inclusive_of_start=False
        )
        if not notifications:
            return 0
        # One transaction for every model's rows and position: one commit per batch.
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._apply_page(cur, low, notifications, notify=True)
        return notifications[-1].id - low

    def catch_up_in(self, cur: psycopg.Cursor[Any], limit: int = BATCH_SIZE) -> int:
        """Apply the rest of the log inside the caller's transaction (a rebuild's swap);
        returns the position reached."""
        while True:
            low = self._low(cur)
            notifications = self.app.recorder.select_notifications(
                start=low, limit=limit, inclusive_of_start=False)
            if not notifications:
                return low
            self._apply_page(cur, low, notifications, notify=False)

    def _apply_page(self, cur: psycopg.Cursor[Any], low: int,
                    notifications: Sequence[Notification], notify: bool) -> None:
        """Decode `notifications` once and apply each model's share of them."""
        last, decode = notifications[-1].id, decoder(self.app)
        for worker in self.workers:
            generation, before = worker._lock(cur, worker.state)
            if before < low or before >= last:
                continue  # moved (a rebuild swapped in) or ahead: the next round sees it
            mine = [n for n in notifications
                    if n.id > before and n.topic in worker.model.topics]
            worker._apply(cur, generation, mine, decode)
            worker._advance(cur, worker.state, before, last)
            if notify:
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{worker.state}:{last}"))

    def run(self, stop: threading.Event, idle: float = 1.0,
            on_step: Callable[[], None] | None = None,
            heartbeat: Heartbeat | None = None) -> None:
        """Apply batches until `stop` is set, sleeping on the log's NOTIFY channel when idle.

        `on_step` is called after each step that reached the database; each turn of the loop
        renews `heartbeat` (the liveness probe's file).
        """
        channel = getattr(self.app.recorder, "channel_name", "")
        with psycopg.connect(self.conn.info.dsn, autocommit=True,
                             password=self.conn.info.password,
                             connect_timeout=CONNECT_TIMEOUT) as listener:
            if channel:
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            while not stop.is_set():
                if heartbeat is not None:
                    heartbeat.beat()
                advanced = self.step()
                if on_step is not None:
                    on_step()
                if advanced:
                    continue
                for _ in listener.notifies(timeout=idle, stop_after=1):
                    pass


def run_models(
    names: Sequence[str], app: Wardship, database_url: str, stop: threading.Event,
    heartbeat: Heartbeat | None = None,
) -> None:
    """Run the named read models on `app`'s log in this thread until `stop` is set.

    While the database is unreachable it waits and reconnects (capped backoff), and goes on
    from the positions committed before: a batch cut short rolled back whole.
    """
    models = [MODELS[name]() for name in names]
    backoff = Backoff(log, "projections_database")
    started = False
    while not stop.is_set():
        try:
            with psycopg.connect(database_url, autocommit=True,
                                 connect_timeout=CONNECT_TIMEOUT) as conn:
                for model in models:
                    require(conn, model)
                    if not started:
                        log.info("projection_started", projection=model.name,
                                 position=position_of(conn, model.name))
                started = True
                Fleet(models, app, conn).run(stop, on_step=backoff.succeeded,
                                             heartbeat=heartbeat)
            return
        except DATABASE_UNREACHABLE as error:
            # Waiting out an outage is alive: the probe must not restart a runner for it.
            if heartbeat is not None:
                heartbeat.beat()
            stop.wait(backoff.failed(error))


def wait_until(conn: psycopg.Connection[Any], name: str, position: int, timeout: float) -> bool:
    """Block until projection `name` has applied `position` (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while position_of(conn, name) < position:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True

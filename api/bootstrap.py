"""The one place a Wardship application is built, for every process (API, worker, runners, CLI).

From the settings: the event store and its cipher, the master key provider, the deadline
policy, and on PostgreSQL the listener that makes the process forget keys other processes
destroy, and the dropping of kept answers that name an erased child's records. The services
never change the schema: only `wardship migrate` (`create_tables=True`, as the tables' owner)
does.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from eventsourcing.postgres import PostgresApplicationRecorder

from api.http.idempotency import forget_stored_answers
from deploy.hsm import Pkcs11KeyProvider
from deploy.outages import CONNECT_TIMEOUT
from domain.application import Wardship
from domain.key_listener import KeyListener
from domain.policy import load_policy
from domain.storage import event_store_env

if TYPE_CHECKING:
    from collections.abc import Mapping

    from api.settings import Settings
    from domain.keyring import KeyProvider

# Seconds a pool keeps retrying a lost connection (delays doubling from 1 s) before it waits
# for the next request to try again. psycopg_pool's default of 5 minutes let a pool sleep up
# to half an outage's length after the database was back; this bounds recovery to seconds.
RECONNECT_SECONDS = 4.0
# Seconds a caller waits for a pooled connection (eventsourcing's 10 s by default). A caller
# already waiting when the pool gives up reconnecting waits out this wait before its retry
# asks the pool to try again: with 10 s a runner caught up ~10 s after an outage, with 2 s
# in ~2 s. A burst of due deadlines waits milliseconds for a connection.
POOL_WAIT = 2.0


def bootstrap(
    settings: Settings, *, pool_size: int = 5, tuning: Mapping[str, str] | None = None,
    create_tables: bool = False, pool_wait: float = POOL_WAIT,
) -> Wardship:
    """The Wardship application for `settings`.

    `pool_size` is the event store's connection pool; `tuning` overrides eventsourcing
    settings of a PostgreSQL store (the API turns the pre-ping off). Only with `create_tables`
    does eventsourcing issue its CREATE TABLE statements (`wardship migrate`). `pool_wait`
    (seconds) bounds a wait for a pooled connection (shorter in the API, which must answer).
    """
    env = event_store_env(settings.database_url, settings.effective_cipher_key(),
                          pool_size=pool_size)
    env["SAVE_TIMEOUT"] = str(settings.save_timeout)
    if settings.master_keys is not None:
        env["MASTER_KEYS"] = settings.master_keys.get_secret_value()
    if settings.partition is not None:
        env["PARTITION"] = settings.partition  # the store refuses other provinces' cases
    if settings.database_url is not None:
        # Set here, whatever the process environment says: a service never issues DDL.
        env["CREATE_TABLE"] = "y" if create_tables else "n"
        env.update(tuning or {})
    app = Wardship(env=env, policy=load_policy(settings.policy),
                   key_provider=key_provider(settings))
    ride_out_outages(app, pool_wait)
    if settings.database_url is not None:
        hear_destroyed_keys(app, settings.database_url)
        forget_answers_on_erasure(app)
    return app


def forget_answers_on_erasure(app: Wardship) -> None:
    """Whenever this application destroys an erased child's keys, drop the kept answers to
    idempotent requests that name the child's records: an answer may hold their personal
    data, which must not outlive the keys."""
    recorder = app.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        app.on_shred.append(functools.partial(forget_stored_answers, recorder.datastore))


def key_provider(settings: Settings) -> KeyProvider | None:
    """The provider of the master keys that wrap the children's data keys; None: the local
    ones (WARDSHIP_MASTER_KEYS, or derived from the cipher key)."""
    if settings.key_provider != "pkcs11":
        return None
    assert settings.pkcs11_token is not None  # the settings require it
    return Pkcs11KeyProvider(str(settings.pkcs11_module), settings.pkcs11_token,
                             settings.effective_pkcs11_pin(), settings.pkcs11_key_labels())


def hear_destroyed_keys(app: Wardship, database_url: str) -> None:
    """Make this process forget a data key any process destroys, within about a second
    (domain.key_listener); stopped when the application closes."""
    listener = KeyListener(database_url, app.keyring, app.store,
                           connect_timeout=CONNECT_TIMEOUT)
    # Started listening, a process trusts its caches at once; a database out of reach
    # leaves it distrusting them (and retrying) rather than failing to start.
    listener.start(wait=CONNECT_TIMEOUT)
    app.on_close.append(listener.close)


def ride_out_outages(app: Wardship, pool_wait: float = POOL_WAIT) -> None:
    """Bound the event store pool's connects and reconnects (eventsourcing sets neither)."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        return  # in memory: nothing to reach
    pool = recorder.datastore.pool
    pool.reconnect_timeout = RECONNECT_SECONDS
    if isinstance(pool.kwargs, dict):
        pool.kwargs["connect_timeout"] = CONNECT_TIMEOUT
    pool.timeout = pool_wait

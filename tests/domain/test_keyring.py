"""Per-child data keys (domain.keyring): the bounded TTL cache, destruction, rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
import pytest
from cryptography.exceptions import InvalidTag

from domain.application import Wardship
from domain.keyring import (
    KeyDestroyed,
    KeyProviders,
    Keyring,
    KeyRow,
    LocalKeyProvider,
    MemoryKeyTable,
    NoMasterKey,
    PostgresKeyTable,
    notify_payloads,
    open_box,
    seal_box,
)
from domain.storage import event_store_env
from tests.domain.builders import CIPHER_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator

    from domain.keyring import KeyTable

OLD = LocalKeyProvider({"m1": b"1" * 32})
NEW = LocalKeyProvider({"m2": b"2" * 32, "m1": b"1" * 32})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_cached_for_its_ttl_then_read_again() -> None:
    clock, table = Clock(), MemoryKeyTable()
    ring = Keyring(table, OLD, ttl=10, monotonic=clock)
    key = ring.data_key("child-1", create=True)
    assert ring.cached_ids() == {"child-1"}
    clock.now = 11
    assert ring.cached_ids() == set()
    assert ring.data_key("child-1") == key  # unwrapped again from the table


def test_the_cache_is_bounded() -> None:
    ring = Keyring(MemoryKeyTable(), OLD, size=3)
    for n in range(5):
        ring.data_key(f"child-{n}", create=True)
    assert ring.cached_ids() == {"child-2", "child-3", "child-4"}


def test_a_destroyed_key_leaves_the_cache_and_is_never_made_again() -> None:
    ring = Keyring(MemoryKeyTable(), OLD)
    ring.data_key("child-1", create=True)
    ring.destroy(["child-1"])
    assert "child-1" not in ring.cached_ids()
    with pytest.raises(KeyDestroyed):
        ring.data_key("child-1", create=True)


def test_a_box_opens_only_with_its_associated_data() -> None:
    key = Keyring(MemoryKeyTable(), OLD).data_key("child-1", create=True)
    box = seal_box(key, b"Test Child A", b"case-1/3")
    assert open_box(key, box, b"case-1/3") == b"Test Child A"
    with pytest.raises(InvalidTag):
        open_box(key, box, b"case-2/3")


def rotation(table: KeyTable) -> None:
    old = Keyring(table, OLD)
    keys = {f"child-{n:03}": old.data_key(f"child-{n:03}", create=True) for n in range(30)}
    old.destroy(["child-007"])
    rotating = Keyring(table, NEW)
    seen: list[int] = []
    assert rotating.rotate(batch=7, progress=seen.append) == 29
    assert len(seen) == 29
    assert rotating.rotate() == 0  # resumable: nothing left under the old master key
    only_new = Keyring(table, LocalKeyProvider({"m2": b"2" * 32}))  # m1 retired
    for key_id, key in keys.items():
        if key_id == "child-007":
            assert only_new.is_destroyed(key_id)
        else:
            assert only_new.data_key(key_id) == key


def test_rotation_rewraps_every_live_key_in_memory() -> None:
    rotation(MemoryKeyTable())


def test_rotation_moves_keys_from_one_provider_to_another() -> None:
    table = MemoryKeyTable()
    keys = {f"child-{n}": Keyring(table, OLD).data_key(f"child-{n}", create=True)
            for n in range(5)}
    elsewhere = LocalKeyProvider({"hsm-1": b"h" * 32})  # as an HSM's key would be
    moving = Keyring(table, KeyProviders(elsewhere, OLD))
    assert moving.data_key("child-0") == keys["child-0"]  # the old provider still unwraps
    assert moving.rotate() == 5
    assert table.counts() == {"hsm-1": 5}
    moved = Keyring(table, elsewhere)  # the old provider gone
    assert all(moved.data_key(key_id) == key for key_id, key in keys.items())
    with pytest.raises(LookupError, match="'m1' is not configured"):
        KeyProviders(elsewhere).unwrap(b"", "m1", b"")


@pytest.fixture
def postgres_table(db_url: str) -> Iterator[PostgresKeyTable]:
    """The keys table the application makes in its store's database."""
    app = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    try:
        assert isinstance(app.keyring.table, PostgresKeyTable)
        yield app.keyring.table
    finally:
        app.close()


def test_rotation_rewraps_every_live_key_in_postgres(
        postgres_table: PostgresKeyTable) -> None:
    rotation(postgres_table)


def test_the_table_refuses_to_restore_a_destroyed_key(
        postgres_table: PostgresKeyTable, db_url: str) -> None:
    Keyring(postgres_table, OLD).destroy(["child-1"], datetime.now(UTC))
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE wardship_data_keys SET wrapped = 'x', destroyed_at = NULL")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM wardship_data_keys")


def test_a_key_read_while_it_was_forgotten_is_not_kept() -> None:
    # Another process destroys the key while this one is reading it: the read must not
    # leave the key cached after the announcement made this process forget it.
    table = MemoryKeyTable()
    Keyring(table, OLD).data_key("child-1", create=True)
    ring = Keyring(table, OLD)
    read = table.get

    def get_then_hear_destroy(key_id: str) -> KeyRow | None:
        row = read(key_id)
        ring.forget([key_id])
        return row

    table.get = get_then_hear_destroy  # type: ignore[method-assign]
    ring.data_key("child-1")
    assert ring.cached_ids() == set()


def test_a_destroy_is_announced_in_messages_postgresql_takes() -> None:
    ids = [f"{n:08}-0000-4000-8000-000000000000" for n in range(1000)]
    payloads = notify_payloads(ids)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    assert [k for p in payloads for k in p.split(",")] == ids


def test_a_store_in_postgresql_refuses_a_master_key_of_its_own(db_url: str) -> None:
    # Another process could not unwrap the keys it made: every case would be parked there.
    with pytest.raises(NoMasterKey, match="WARDSHIP_MASTER_KEYS"):
        Wardship(env=event_store_env(db_url))
    with psycopg.connect(db_url) as conn:  # nothing was made
        assert conn.execute("SELECT to_regclass('wardship_data_keys')").fetchone() == (None,)
    Wardship(env=event_store_env(None)).close()  # in memory, gone with the process: fine
    master = {"MASTER_KEYS": "m1:" + base64.b64encode(b"1" * 32).decode()}
    Wardship(env={**event_store_env(db_url), **master}).close()

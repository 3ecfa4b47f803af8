"""Per-child data keys (envelope encryption): each key wrapped by a master key, stored in the
keys table, unwrapped into a bounded cache with a time-to-live, destroyed to erase a child.

The master key is behind `KeyProvider` (wrap, unwrap): `LocalKeyProvider` holds master keys
from the environment for development; `deploy.hsm.Pkcs11KeyProvider` keeps them in an HSM; a
KMS or Vault transit provider would make the same two calls to its service (docs/privacy.md).
Boxes are AES-256-GCM (`cryptography`'s AESGCM).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import InvalidCommand

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

NONCE_BYTES = 12
# Unwrapped keys kept in memory: enough for every child a busy county touches in minutes.
CACHE_SIZE = 10_000
# How long a process trusts what it learned of a key (seconds). A backstop: a destroy is
# announced on NOTIFY_CHANNEL and every listening process forgets the key within about a
# second (domain.key_listener); a process that is not listening forgets it within this.
CACHE_TTL = 60.0
KEYS_TABLE = "wardship_data_keys"
# Where a destroy is announced (PostgreSQL NOTIFY, sent only if the destroy commits): the
# destroyed key ids, comma-separated, a few hundred to a message (its payload is < 8000 bytes).
NOTIFY_CHANNEL = "wardship_keys_destroyed"
NOTIFY_BYTES = 7000
DESTROYED = "(destroyed)"  # how `counts` names the destroyed keys
_TABLE_SQL = Path(__file__).resolve().parent.parent / "deploy" / "migrations" / \
    "0100_data_keys.sql"


class KeyDestroyed(InvalidCommand):
    """The child's data key was destroyed (their personal data erased): nothing personal can
    be recorded or read under it again."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"the personal data of child file {key_id} was erased; a new report "
                         "about the child opens a new file")
        self.key_id = key_id


class KeyProvider(Protocol):
    """Wraps data keys under the current master key and unwraps them under any known one:
    `unwrap` raises LookupError for a master key it does not hold, and cryptography's
    InvalidTag for a wrapped key not wrapped with this context."""

    @property
    def master_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, master_key_id: str, context: bytes) -> bytes: ...


class LocalKeyProvider:
    """Master keys held in this process (development): the first is current, the others may
    still unwrap keys not yet rotated."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("at least one master key is needed")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes")
        self._keys = dict(keys)
        self._current = next(iter(self._keys))

    @property
    def master_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._keys[self._current]).encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, master_key_id: str, context: bytes) -> bytes:
        key = self._keys.get(master_key_id)
        if key is None:
            raise LookupError(f"master key {master_key_id!r} is not configured (retired?)")
        return AESGCM(key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)


class KeyProviders:
    """Several providers as one: the first wraps, and each unwraps the keys under its own
    master keys (a rotation from the local keys to an HSM)."""

    def __init__(self, current: KeyProvider, *older: KeyProvider) -> None:
        self._providers = (current, *older)

    @property
    def master_key_id(self) -> str:
        return self._providers[0].master_key_id

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        return self._providers[0].wrap(data_key, context)

    def unwrap(self, wrapped: bytes, master_key_id: str, context: bytes) -> bytes:
        for provider in self._providers[:-1]:
            with contextlib.suppress(LookupError):
                return provider.unwrap(wrapped, master_key_id, context)
        return self._providers[-1].unwrap(wrapped, master_key_id, context)


class NoMasterKey(ValueError):
    """A store that outlives the process, without a master key every process shares."""

    def __init__(self) -> None:
        super().__init__(
            "a Wardship store in PostgreSQL needs a master key that every process shares: set "
            "WARDSHIP_MASTER_KEYS (id:base64 of 32 bytes, current first) or WARDSHIP_CIPHER_KEY. "
            "Without one this process would wrap the children's data keys under a random key "
            "of its own, which no other process could unwrap (every case parked)")


def parse_master_keys(configured: str) -> dict[str, bytes]:
    """MASTER_KEYS (`id:base64,id:base64`, current first) as master key id -> key; raises
    ValueError naming what is wrong."""
    keys: dict[str, bytes] = {}
    for item in configured.split(","):
        key_id, _, encoded = item.strip().partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            key = b""
        if not key_id or len(key) != 32:
            raise ValueError(f"WARDSHIP_MASTER_KEYS: {key_id or '(no id)'!r} is not "
                             "`id:base64` of a 32-byte key")
        keys[key_id] = key
    return keys


def provider_from_env(env: Mapping[str, str], *, persistent: bool = False
                      ) -> LocalKeyProvider:
    """MASTER_KEYS (`id:base64,id:base64`, current first; WARDSHIP_MASTER_KEYS in the process
    environment); else one derived from CIPHER_KEY (development and tests); else, for a
    store in memory only, a random one (gone with the process). Raises NoMasterKey for a
    `persistent` store without either."""
    configured = env.get("MASTER_KEYS") or ""
    if configured.strip():
        return LocalKeyProvider(parse_master_keys(configured))
    cipher_key = env.get("CIPHER_KEY") or ""
    if cipher_key:
        derived = hashlib.sha256(b"wardship-master-key:" + cipher_key.encode()).digest()
        return LocalKeyProvider({"cipher-key": derived})
    if persistent:
        raise NoMasterKey
    return LocalKeyProvider({"ephemeral": AESGCM.generate_key(256)})


def seal_box(key: bytes, plaintext: bytes, associated: bytes) -> str:
    """AES-256-GCM of `plaintext` bound to `associated` data: nonce and ciphertext, base64."""
    nonce = os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, associated)).decode()


def open_box(key: bytes, box: str, associated: bytes) -> bytes:
    """The plaintext of a box; raises cryptography's InvalidTag when the box or the
    associated data differ from what was sealed (a box copied to another place)."""
    raw = base64.b64decode(box)
    return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)


@dataclass(frozen=True)
class KeyRow:
    """One row of the keys table: None `wrapped` once destroyed."""

    key_id: str
    # Left out of reprs, so that no traceback or log line carries a key, even a wrapped one.
    wrapped: bytes | None = field(repr=False)
    master_key_id: str
    destroyed_at: datetime | None


class KeyTable(Protocol):
    """Where wrapped keys are kept."""

    def get(self, key_id: str) -> KeyRow | None: ...

    def get_many(self, key_ids: list[str]) -> list[KeyRow]: ...

    def insert(self, key_id: str, wrapped: bytes, master_key_id: str) -> None: ...

    def insert_many(self, rows: list[tuple[str, bytes]], master_key_id: str) -> set[str]: ...

    def destroy(self, key_ids: Iterable[str], at: datetime) -> None: ...

    def rewrap(self, key_id: str, old_master: str, wrapped: bytes, new_master: str) -> bool: ...

    def not_under(self, master_key_id: str, after: str, limit: int) -> list[KeyRow]: ...

    def counts(self) -> dict[str, int]: ...


class MemoryKeyTable:
    """The keys of a store in memory (unit tests)."""

    def __init__(self) -> None:
        self._rows: dict[str, KeyRow] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> KeyRow | None:
        return self._rows.get(key_id)

    def get_many(self, key_ids: list[str]) -> list[KeyRow]:
        return [row for key_id in key_ids if (row := self._rows.get(key_id)) is not None]

    def insert(self, key_id: str, wrapped: bytes, master_key_id: str) -> None:
        self.insert_many([(key_id, wrapped)], master_key_id)

    def insert_many(self, rows: list[tuple[str, bytes]], master_key_id: str) -> set[str]:
        inserted = set()
        with self._lock:
            for key_id, wrapped in rows:
                if key_id not in self._rows:
                    self._rows[key_id] = KeyRow(key_id, wrapped, master_key_id, None)
                    inserted.add(key_id)
        return inserted

    def destroy(self, key_ids: Iterable[str], at: datetime) -> None:
        with self._lock:
            for key_id in key_ids:
                row = self._rows.get(key_id)
                master = row.master_key_id if row else ""
                self._rows[key_id] = KeyRow(key_id, None, master, at)

    def rewrap(self, key_id: str, old_master: str, wrapped: bytes, new_master: str) -> bool:
        with self._lock:
            row = self._rows.get(key_id)
            if row is None or row.wrapped is None or row.master_key_id != old_master:
                return False
            self._rows[key_id] = KeyRow(key_id, wrapped, new_master, None)
            return True

    def not_under(self, master_key_id: str, after: str, limit: int) -> list[KeyRow]:
        rows = sorted((r for r in self._rows.values() if r.key_id > after
                       and r.wrapped is not None and r.master_key_id != master_key_id),
                      key=lambda r: r.key_id)
        return rows[:limit]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self._rows.values():
            name = row.master_key_id if row.wrapped is not None else DESTROYED
            found[name] = found.get(name, 0) + 1
        return found


class PostgresKeyTable:
    """The keys table in the event store's database, through its connection pool."""

    def __init__(self, datastore: Any, create: bool) -> None:
        self._datastore = datastore
        if create:
            # The same idempotent script `wardship migrate` runs: one definition of the table.
            with datastore.get_connection() as connection:
                found = connection.execute("SELECT to_regclass(%s) AS t", (KEYS_TABLE,))
                row = found.fetchone()
                if row is None or row["t"] is None:
                    connection.execute(_TABLE_SQL.read_text("utf-8").encode())

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._datastore.get_connection() as connection:
            cursor = connection.execute(sql.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def get(self, key_id: str) -> KeyRow | None:
        rows = self._query(f"SELECT key_id, wrapped, master_key_id, destroyed_at FROM "  # noqa: S608
                           f"{KEYS_TABLE} WHERE key_id = %s", (key_id,))
        return _row(rows[0]) if rows else None

    def get_many(self, key_ids: list[str]) -> list[KeyRow]:
        rows = self._query(f"SELECT key_id, wrapped, master_key_id, destroyed_at FROM "  # noqa: S608
                           f"{KEYS_TABLE} WHERE key_id = ANY(%s)", (key_ids,))
        return [_row(r) for r in rows]

    def insert(self, key_id: str, wrapped: bytes, master_key_id: str) -> None:
        self.insert_many([(key_id, wrapped)], master_key_id)

    def insert_many(self, rows: list[tuple[str, bytes]], master_key_id: str) -> set[str]:
        """Insert the keys not there yet; the ids inserted."""
        found = self._query(
            f"INSERT INTO {KEYS_TABLE} (key_id, wrapped, master_key_id) "
            "SELECT unnest(%s::text[]), unnest(%s::bytea[]), %s "
            "ON CONFLICT (key_id) DO NOTHING RETURNING key_id",
            ([k for k, _ in rows], [w for _, w in rows], master_key_id))
        return {r["key_id"] for r in found}

    def destroy(self, key_ids: Iterable[str], at: datetime) -> None:
        """Destroy the keys and announce it to every process, in one transaction: the
        announcement is sent only if the destroy commits."""
        ids = list(key_ids)
        with self._datastore.get_connection() as connection, connection.transaction():
            # A key never created (a child with no personal data yet) is recorded destroyed,
            # so none is created for it later.
            connection.execute((
                f"INSERT INTO {KEYS_TABLE} (key_id, wrapped, master_key_id, "
                "destroyed_at) SELECT unnest(%s::text[]), NULL, '', %s "
                "ON CONFLICT (key_id) DO UPDATE SET wrapped = NULL, "
                "destroyed_at = coalesce(" + KEYS_TABLE + ".destroyed_at, "
                "excluded.destroyed_at)").encode(), (ids, at))
            for payload in notify_payloads(ids):
                connection.execute(b"SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))

    def rewrap(self, key_id: str, old_master: str, wrapped: bytes, new_master: str) -> bool:
        rows = self._query(f"UPDATE {KEYS_TABLE} SET wrapped = %s, master_key_id = %s "  # noqa: S608
                           "WHERE key_id = %s AND master_key_id = %s AND wrapped IS NOT NULL "
                           "RETURNING key_id", (wrapped, new_master, key_id, old_master))
        return bool(rows)

    def not_under(self, master_key_id: str, after: str, limit: int) -> list[KeyRow]:
        rows = self._query(f"SELECT key_id, wrapped, master_key_id, destroyed_at FROM "  # noqa: S608
                           f"{KEYS_TABLE} WHERE key_id > %s AND wrapped IS NOT NULL AND "
                           "master_key_id <> %s ORDER BY key_id LIMIT %s",
                           (after, master_key_id, limit))
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._query("SELECT CASE WHEN wrapped IS NULL THEN %s ELSE master_key_id END "  # noqa: S608
                           f"AS name, count(*) AS n FROM {KEYS_TABLE} GROUP BY 1",
                           (DESTROYED,))
        return {r["name"]: int(r["n"]) for r in rows}


def notify_payloads(key_ids: Iterable[str]) -> list[str]:
    """The key ids as NOTIFY payloads: comma-separated, each under NOTIFY_BYTES."""
    payloads: list[str] = []
    current = ""
    for key_id in key_ids:
        if current and len(f"{current},{key_id}".encode()) > NOTIFY_BYTES:
            payloads.append(current)
            current = ""
        current = f"{current},{key_id}" if current else key_id
    return [*payloads, current] if current else payloads


def _row(row: Any) -> KeyRow:
    wrapped = row["wrapped"]
    return KeyRow(row["key_id"], bytes(wrapped) if wrapped is not None else None,
                  row["master_key_id"], row["destroyed_at"])


class Keyring:
    """The data keys by key id (a child file's id), unwrapped on demand into a bounded TTL
    cache that also remembers destroyed keys; `destroy` and `forget` empty the cache of them
    at once."""

    def __init__(self, table: KeyTable, provider: KeyProvider, *, ttl: float = CACHE_TTL,
                 size: int = CACHE_SIZE, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.table = table
        self.provider = provider
        # Seconds a key read from now on is trusted (shortened while destroys may go unheard).
        self.ttl = ttl
        self._size = size
        self._monotonic = monotonic
        # key id -> (expiry, key): the key, None once destroyed, b"" while none was made.
        self._cache: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()
        # Counts `forget` calls: a key read from the table before one is not kept after it
        # (it may be the key just destroyed, read a moment before).
        self._epoch = 0

    def data_key(self, key_id: str, *, create: bool = False) -> bytes:
        """The unwrapped key; with `create`, a new one when the child has none yet. Raises
        KeyDestroyed for an erased child, LookupError for a key never made."""
        cached = self._cached(key_id)
        if cached is not None and (cached[1] or not create):
            if cached[1] is None:
                raise KeyDestroyed(key_id)
            if not cached[1]:
                raise LookupError(f"no data key {key_id}")
            return cached[1]
        epoch = self._epoch
        row = self.table.get(key_id)
        if row is None and create:
            fresh = AESGCM.generate_key(256)
            self.table.insert(key_id, self.provider.wrap(fresh, _context(key_id)),
                              self.provider.master_key_id)
            row = self.table.get(key_id)  # ours, or the one another writer made first
        if row is None:
            self._remember(key_id, b"", epoch)
            raise LookupError(f"no data key {key_id}")
        key = None if row.wrapped is None else self.provider.unwrap(
            row.wrapped, row.master_key_id, _context(key_id))
        self._remember(key_id, key, epoch)
        if key is None:
            raise KeyDestroyed(key_id)
        return key

    def ensure(self, key_ids: Iterable[str]) -> None:
        """Have the keys at hand, making those not made yet: a few queries for a whole batch
        (an import records a thousand new children in one save)."""
        wanted = sorted({k for k in key_ids if not self._usable(k)})
        if not wanted:
            return
        epoch = self._epoch
        found = {row.key_id: row for row in self.table.get_many(wanted)}
        missing = [k for k in wanted if k not in found]
        if missing:
            fresh = {k: AESGCM.generate_key(256) for k in missing}
            made = self.table.insert_many(
                [(k, self.provider.wrap(key, _context(k))) for k, key in fresh.items()],
                self.provider.master_key_id)
            for key_id in made:
                self._remember(key_id, fresh[key_id], epoch)
            # Another writer made the others first: theirs count.
            found.update((row.key_id, row) for row in self.table.get_many(
                [k for k in missing if k not in made]))
        for key_id, row in found.items():
            self._remember(key_id, None if row.wrapped is None else self.provider.unwrap(
                row.wrapped, row.master_key_id, _context(key_id)), epoch)

    def _usable(self, key_id: str) -> bool:
        cached = self._cached(key_id)
        return cached is not None and cached[1] is not None and cached[1] != b""

    def is_destroyed(self, key_id: str) -> bool:
        try:
            self.data_key(key_id)
        except KeyDestroyed:
            return True
        except LookupError:
            return False
        return False

    def destroy(self, key_ids: Iterable[str], at: datetime | None = None) -> None:
        """Destroy the keys in the table and drop them from this process's cache."""
        ids = list(key_ids)
        self.table.destroy(ids, at or datetime.now(UTC))
        self.forget(ids)

    def forget(self, key_ids: Iterable[str] | None = None) -> None:
        """Drop these keys (None: every key) from this process's cache, and keep nothing a
        lookup under way read before now: they are read from the table again."""
        with self._lock:
            self._epoch += 1
            if key_ids is None:
                self._cache.clear()
            for key_id in key_ids or ():
                self._cache.pop(key_id, None)

    def cached_ids(self) -> set[str]:
        """The key ids this process holds unwrapped now (for tests and health)."""
        now = self._monotonic()
        with self._lock:
            return {k for k, (expires, key) in self._cache.items() if key and expires > now}

    def rotate(self, batch: int = 500, progress: Callable[[int], None] | None = None) -> int:
        """Re-wrap every live key not under the current master key; resumable (each key is
        changed alone, compare-and-set on its master key id). The number re-wrapped."""
        current = self.provider.master_key_id
        done, after = 0, ""
        while rows := self.table.not_under(current, after, batch):
            for row in rows:
                assert row.wrapped is not None
                context = _context(row.key_id)
                key = self.provider.unwrap(row.wrapped, row.master_key_id, context)
                if self.table.rewrap(row.key_id, row.master_key_id,
                                     self.provider.wrap(key, context), current):
                    done += 1
                if progress is not None:
                    progress(1)
            after = rows[-1].key_id
        return done

    def _cached(self, key_id: str) -> tuple[float, bytes | None] | None:
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is None:
                return None
            if entry[0] <= self._monotonic():
                del self._cache[key_id]
                return None
            self._cache.move_to_end(key_id)
            return entry

    def _remember(self, key_id: str, key: bytes | None, epoch: int) -> None:
        with self._lock:
            if epoch != self._epoch:
                return  # read before a `forget`: perhaps a key destroyed since
            self._cache[key_id] = (self._monotonic() + self.ttl, key)
            self._cache.move_to_end(key_id)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)


def _context(key_id: str) -> bytes:
    """What a wrapped key is bound to: its own id, so a wrapped key copied to another row
    does not unwrap."""
    return f"wardship-data-key:{key_id}".encode()

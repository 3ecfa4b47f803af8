"""Idempotency keys: a retried action gets the first answer, kept durably per user and key.

The first request reserves (subject, key) with a hash of what it asks; the answer is stored
when it succeeds. A refusal changed nothing, so its reservation is released for a retry.
The key also names the command (`command_id`), which its events record: a retry that takes
over a stale reservation runs the command again, and the domain answers it from the event
already recorded under that id instead of recording it twice.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Response
from psycopg.types.json import Jsonb

from api.http.problems import Problem
from domain.keyring import KEYS_TABLE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from psycopg_pool import AsyncConnectionPool

# Headers that belong to the body's encoding, not to the answer kept for retries.
_BODY_HEADERS = frozenset({"content-length", "content-type"})
# A reservation older than this belongs to a request that died; a retry may take it over.
STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer to a request with this key."""

    status: int
    headers: dict[str, str]
    body: bytes


def request_hash(*parts: bytes | str) -> str:
    """What the request asked for; the same key must always ask the same thing."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def command_id(subject: str, key: str | None) -> str:
    """The id of the command a request carries: the user's Idempotency-Key (hashed, so the
    log holds no client text and keys of different users never meet), else a fresh one."""
    if key is None:
        return uuid.uuid4().hex
    return request_hash("command", subject, key)[:32]


def key_reused() -> Problem:
    return Problem(
        422, "idempotency_key_reused", "The Idempotency-Key was used for another request",
        "send a new Idempotency-Key for a different request",
    )


def in_progress() -> Problem:
    return Problem(
        409, "idempotency_in_progress", "The first request with this key is still running",
        "retry in a moment to get its answer", headers={"Retry-After": "1"},
    )


# The records an answer names: every id in it. A data key's id is its file's or monitoring
# record's id (domain.keyring), and answers name the child file they are about.
_IDS = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Share-locks the keys of the records an answer names, and says which were destroyed. The lock
# orders keeping an answer against an erasure of what it names: a destroy under way is waited
# for and seen here; one that comes later waits for this answer to be kept, and the erasure's
# forgetting (`FORGET_ANSWERS`, after the destroy) then finds it. A key never made has no row
# to lock, and guards no personal data either.
_DESTROYED_KEYS = (
    f"SELECT destroyed_at IS NOT NULL FROM {KEYS_TABLE} WHERE key_id = ANY(%s)"  # noqa: S608
    " FOR SHARE")


# Drops the first answers that name any of the given records: an answer may hold their
# personal data (a case's closed reason, a monitoring record's risk reason), which must not
# outlive the key an erasure destroys. A retry of such a request then runs again (its
# command id finds what it recorded) and reads erased.
FORGET_ANSWERS = (
    "DELETE FROM wardship_idempotency WHERE body IS NOT NULL AND EXISTS ("
    "SELECT 1 FROM unnest(%s::text[]) AS named"
    " WHERE position(convert_to(named, 'UTF8') IN body) > 0)"
)


def forget_stored_answers(datastore: Any, record_ids: Sequence[str]) -> None:
    """Drop the answers kept in the database that name one of these records
    (`FORGET_ANSWERS`); api.bootstrap has every application do it when an erasure destroys
    keys, in whichever process (the API approving it, the relay finishing it, a restore)."""
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT to_regclass('wardship_idempotency') AS t")
        found = cursor.fetchone()
        if found is not None and found["t"] is not None:  # not there before `migrate`
            cursor.execute(FORGET_ANSWERS, (list(record_ids),))


class IdempotencyStore:
    """Reservations and first answers in `wardship_idempotency` (a dict without a database)."""

    def __init__(self, pool: AsyncConnectionPool | None) -> None:
        self._pool = pool
        self._memory: dict[tuple[str, str], tuple[str, StoredAnswer | None]] = {}
        self._forgotten: set[str] = set()  # records erased, without a database

    async def reserve(self, subject: str, key: str, digest: str) -> StoredAnswer | None:
        """None: this request owns the key and must run; else the stored first answer."""
        if self._pool is None:
            return self._reserve_in_memory(subject, key, digest)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO wardship_idempotency (subject, key, request_hash)"
                " VALUES (%s, %s, %s) ON CONFLICT (subject, key) DO UPDATE"
                " SET request_hash = EXCLUDED.request_hash, created_at = now()"
                " WHERE wardship_idempotency.status IS NULL"
                " AND wardship_idempotency.created_at < now() - %s"
                " RETURNING 1",
                (subject, key, digest, STALE_AFTER),
            )
            if await cursor.fetchone() is not None:
                return None
            cursor = await conn.execute(
                "SELECT request_hash, status, headers, body FROM wardship_idempotency"
                " WHERE subject = %s AND key = %s", (subject, key),
            )
            row = await cursor.fetchone()
        if row is None:  # released between our two statements: the caller may retry
            raise in_progress()
        stored_hash, status, headers, body = row
        if stored_hash != digest:
            raise key_reused()
        if status is None:
            raise in_progress()
        return StoredAnswer(status, dict(headers or {}), bytes(body))

    async def complete(self, subject: str, key: str, answer: StoredAnswer) -> None:
        """Keep the first answer for retries, unless an erasure destroyed the key of a record
        it names while it was made: then free the key, so a retry runs again and reads erased
        (its command id finds what it recorded)."""
        named = sorted({found.decode() for found in _IDS.findall(answer.body)})
        if self._pool is None:
            digest, _ = self._memory[(subject, key)]
            if self._forgotten.isdisjoint(named):
                self._memory[(subject, key)] = (digest, answer)
            else:
                del self._memory[(subject, key)]
            return
        async with self._pool.connection() as conn, conn.transaction():
            destroyed = await (await conn.execute(_DESTROYED_KEYS, (named,))).fetchall()
            if any(erased for (erased,) in destroyed):
                await conn.execute("DELETE FROM wardship_idempotency WHERE subject = %s"
                                   " AND key = %s", (subject, key))
                return
            await conn.execute(
                "UPDATE wardship_idempotency SET status = %s, headers = %s, body = %s"
                " WHERE subject = %s AND key = %s",
                (answer.status, Jsonb(answer.headers), answer.body, subject, key),
            )

    async def release(self, subject: str, key: str) -> None:
        """Forget a reservation whose request changed nothing, so a retry runs again."""
        if self._pool is None:
            self._memory.pop((subject, key), None)
            return
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM wardship_idempotency WHERE subject = %s AND key = %s"
                " AND status IS NULL", (subject, key),
            )

    def forget_answers_about(self, record_ids: Sequence[str]) -> None:
        """Drop every answer kept in memory naming one of these records (the application's
        `on_shred`, without a database; `forget_stored_answers` with one), and keep none
        naming them from now on."""
        self._forgotten.update(record_ids)
        for place, (_, answer) in list(self._memory.items()):
            if answer is not None and any(i.encode() in answer.body for i in record_ids):
                del self._memory[place]

    def _reserve_in_memory(self, subject: str, key: str, digest: str) -> StoredAnswer | None:
        found = self._memory.get((subject, key))
        if found is None:
            self._memory[(subject, key)] = (digest, None)
            return None
        if found[0] != digest:
            raise key_reused()
        if found[1] is None:
            raise in_progress()
        return found[1]


async def answer_once(
    store: IdempotencyStore, subject: str, key: str | None, digest: str,
    answer: Callable[[], Awaitable[Response]],
) -> Response:
    """`answer()` once per user and key: a retry gets the stored first answer, and a request
    that fails releases its key so that a retry runs (the command id makes that safe)."""
    if key is None:
        return await answer()
    stored = await store.reserve(subject, key, digest)
    if stored is not None:
        return Response(stored.body, stored.status, media_type="application/json",
                        headers={**stored.headers, "Idempotent-Replayed": "true"})
    try:
        response = await answer()
    except BaseException:
        await store.release(subject, key)
        raise
    headers = {k: v for k, v in response.headers.items() if k not in _BODY_HEADERS}
    await store.complete(subject, key, StoredAnswer(response.status_code, headers,
                                                    bytes(response.body)))
    return response

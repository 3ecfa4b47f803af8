"""Where each record lives in a partitioned deployment: found by asking every partition's
store, then remembered and checked with one indexed query a request.

A record (case, child file, monitoring record, contact, import) is in the partition that
holds it and did not hand it over. A case that moved is in both stores, frozen in the
source, whose rows end in `CaseHandedOver`. Only ids and topics are read: nothing is
decrypted or decoded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from eventsourcing.utils import get_topic
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.readmodels import EVENTS_TABLE
from domain.events import CaseHandedOver

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from fastapi import FastAPI

# Records whose partition this process remembers.
KNOWN_HOMES = 100_000
HERE, MOVED = "here", "moved"
HANDED_OVER = get_topic(CaseHandedOver)
# A record's rows after a version: their topics say whether it was handed over since.
_SINCE = (f"SELECT originator_version, topic FROM {EVENTS_TABLE}"  # noqa: S608 (a constant)
          " WHERE originator_id = %s AND originator_version > %s ORDER BY originator_version")


@dataclass
class _Seen:
    """Where a record was found, the newest version of it seen there, and whether it had
    been handed over from there (then it is looked for again on each request)."""

    code: str
    version: int
    moved: bool


class RecordHomes:
    """The partition of each record this process has met (bounded), kept honest by a
    check on each use: a move made by another process is noticed at once."""

    def __init__(self, apps: Mapping[str, FastAPI]) -> None:
        # Each partition's API, whose read pool (opened in its lifespan) the checks use.
        self._apps = apps
        self._seen: dict[UUID, _Seen] = {}

    async def home(self, record_id: UUID, preferred: str | None = None) -> str | None:
        """The partition holding the record: where it is and was not handed over from (a move
        cut off half-way: its source); among several, the caller's province. None: nowhere."""
        return await self.known(record_id) or await self.search(record_id, preferred)

    def remember(self, record_id: UUID, code: str, version: int = 0, *,
                 moved: bool = False) -> None:
        """Note the record's partition (the oldest note is forgotten past the bound)."""
        self._seen.pop(record_id, None)
        self._seen[record_id] = _Seen(code, version, moved)
        if len(self._seen) > KNOWN_HOMES:
            del self._seen[next(iter(self._seen))]

    async def known(self, record_id: UUID) -> str | None:
        """The remembered partition, if nothing recorded there since says the record left:
        one indexed query, which usually finds no new row."""
        seen = self._seen.get(record_id)
        if seen is None or seen.moved:
            return None
        held, version = await self._since(seen.code, record_id, seen.version)
        if held != HERE:
            return None
        seen.version = version
        return seen.code

    async def search(self, record_id: UUID, preferred: str | None) -> str | None:
        """Ask every partition, in parallel (the first time a process meets the record, or
        when it left the one remembered)."""
        codes = list(self._apps)
        found = await asyncio.gather(*(self._since(code, record_id, 0) for code in codes))
        here = {code: version for code, (held, version) in zip(codes, found, strict=True)
                if held == HERE}
        moved = {code: version for code, (held, version) in zip(codes, found, strict=True)
                 if held == MOVED}
        if here:
            home = preferred if preferred in here else next(iter(here))
            self.remember(record_id, home, here[home])
            return home
        if moved:
            home = next(iter(moved))
            self.remember(record_id, home, moved[home], moved=True)
            return home
        return None

    async def _since(self, code: str, record_id: UUID, version: int) -> tuple[str | None, int]:
        """What the partition's store says of the record after `version`: here, moved (a
        hand-over among the new rows) or not there (None), and the newest version seen. Only
        ids and topics are read: nothing is decrypted or decoded."""
        pool: AsyncConnectionPool | None = getattr(self._apps[code].state, "pool", None)
        if pool is None:
            return None, version
        try:
            async with pool.connection() as connection:
                rows = await (await connection.execute(_SINCE, (record_id, version))).fetchall()
        except (psycopg.Error, PoolTimeout):
            return None, version  # that partition's own answer will be a 503
        if not rows:
            return (HERE if version else None), version
        moved = any(topic == HANDED_OVER for _, topic in rows)
        return (MOVED if moved else HERE), int(rows[-1][0])

"""Live streams: at most a few open per user and a bounded number per process, each ending
when the caller's token expires."""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.http.problems import Problem
from domain.actors import Actor  # noqa: TC001 (a dataclass field)

MAX_STREAMS_PER_USER = 3
RETRY_AFTER_SECONDS = 30


class StreamSlots:
    """Counts each subject's open streams and refuses one more than the limit (429), and one
    more than `total` in the process, whoever asks (503: the process is full, not the user
    at fault)."""

    def __init__(self, total: int, limit: int = MAX_STREAMS_PER_USER) -> None:
        self.limit = limit
        self.total = total
        self._open: dict[str, int] = {}

    def acquire(self, user: Actor, expires_at: float) -> StreamLease:
        """A lease on one stream slot for `user`, until `expires_at` (epoch seconds)."""
        if sum(self._open.values()) >= self.total:
            raise Problem(503, "streams_full", "No stream slot free",
                          f"this server holds {self.total} live streams, its most; retry later"
                          " or read GET /v1/notifications meanwhile",
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        count = self._open.get(user.subject, 0)
        if count >= self.limit:
            raise Problem(429, "too_many_streams", "Too many open streams",
                          f"at most {self.limit} live streams per user; close one first",
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self._open[user.subject] = count + 1
        return StreamLease(user, expires_at, self)

    def release(self, subject: str) -> None:
        count = self._open.get(subject, 0) - 1
        if count > 0:
            self._open[subject] = count
        else:
            self._open.pop(subject, None)

    def open_count(self, subject: str) -> int:
        """How many streams `subject` has open now."""
        return self._open.get(subject, 0)


@dataclass
class StreamLease:
    """One open stream: who holds it and when their token expires; release it exactly once."""

    user: Actor
    expires_at: float
    slots: StreamSlots
    released: bool = False

    def expired(self) -> bool:
        """Whether the token that opened the stream has expired."""
        return time.time() >= self.expires_at

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots.release(self.user.subject)

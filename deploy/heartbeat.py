"""A liveness signal for processes without an HTTP port (worker, projection runner): a file
whose modification time the process's main loop renews.

The probe is then a plain file check with no Python start-up and no dependency on the database
or Temporal (`find FILE -mmin -3`, see deploy/k8s/wardship.yaml): the loop still turning is
what it tells, which a process stuck in a deadlock or a blocked event loop stops doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

BEAT_EVERY = 10.0  # seconds; the probes allow a minute (ready) and three (alive) without one


class Heartbeat:
    """Renews `path` when `beat` is called, at most once per `every` seconds."""

    def __init__(self, path: Path, every: float = BEAT_EVERY) -> None:
        self.path = path
        self.every = every
        self._last = float("-inf")

    def beat(self) -> None:
        """Touch the file if the last touch is `every` seconds old (cheap to call often)."""
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        # A full or read-only disk must not stop the work: the probe will say so instead.
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    async def beat_while(self, stop: asyncio.Event) -> None:
        """Beat from the event loop until `stop` is set: shows the loop is turning."""
        while not stop.is_set():
            self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

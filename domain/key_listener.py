"""Store machinery beside the domain: this process forgets a data key destroyed by any other,
and every aggregate it decoded under that key, within about a second (docs/privacy.md).

A destroy is announced with PostgreSQL NOTIFY in the destroy's own transaction
(`domain.keyring.PostgresKeyTable.destroy`), so only a committed destroy is heard. One thread
per application LISTENs on its own connection. While that connection is down, announcements
are lost, so the process stops trusting its caches: keys are kept for a second only and
aggregates not at all, and both caches are emptied when listening starts again. The keyring's
time-to-live stays as a backstop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import psycopg

from domain.keyring import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from domain.keyring import Keyring
    from domain.store import AggregateStore

log = logging.getLogger(__name__)

# Seconds a key is trusted while announcements may be missed (the listener is down).
UNHEARD_TTL = 1.0
# Seconds between looks at the stop flag (how long closing the application may wait).
POLL = 0.2
# Seconds between pings of a quiet connection: a peer that vanished without closing it (a
# dropped network) is noticed by the ping failing, within PING + TCP_TIMEOUT.
PING = 2.0
TCP_TIMEOUT_MS = 2000
# Seconds between attempts to listen again.
RETRY = 0.5


class KeyListener:
    """Hears destroyed data keys announced on NOTIFY_CHANNEL and makes this process forget
    them; distrusts its caches whenever it cannot hear."""

    def __init__(self, conninfo: str, keyring: Keyring, store: AggregateStore, *,
                 connect_timeout: float = 5.0) -> None:
        self._conninfo = conninfo
        self._keyring = keyring
        self._store = store
        self._connect_timeout = connect_timeout
        self._ttl = keyring.ttl
        self._stop = threading.Event()
        self._listening = threading.Event()
        # Named after this process, so an operator (or a test) can tell the listeners apart.
        self.application_name = f"wardship-keys-{os.getpid()}"
        self._thread = threading.Thread(target=self._run, name="wardship-key-listener",
                                        daemon=True)

    def start(self, wait: float = 0.0) -> None:
        """Start listening; wait up to `wait` seconds for the first LISTEN. Until it is
        heard, the caches are not trusted."""
        self._distrust()
        self._thread.start()
        self._listening.wait(wait)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=POLL + self._connect_timeout + 1)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def _run(self) -> None:
        warned = False  # logged once an outage, not once an attempt
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:
                # Connection lost or refused, or a bug in forgetting: never trust blindly.
                if self._listening.is_set() or not warned:
                    warned = True
                    log.warning("key_listener_deaf", extra={"error": type(error).__name__})
            if self._listening.is_set():
                self._listening.clear()
                self._distrust()
            self._stop.wait(RETRY)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True,
                             application_name=self.application_name,
                             connect_timeout=max(1, round(self._connect_timeout)),
                             keepalives=1, keepalives_idle=5, keepalives_interval=1,
                             keepalives_count=3, tcp_user_timeout=TCP_TIMEOUT_MS) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}".encode())
            # Heard from now on; whatever was destroyed before is forgotten here.
            self._trust()
            self._listening.set()
            log.info("key_listener_listening")
            pinged = time.monotonic()
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=POLL):
                    key_ids = [k for k in notice.payload.split(",") if k]
                    self._keyring.forget(key_ids)
                    self._store.forget(key_ids)
                if time.monotonic() - pinged >= PING:
                    conn.execute(b"SELECT 1")
                    pinged = time.monotonic()

    def _distrust(self) -> None:
        """Announcements may be missed: forget everything; keep keys briefly, aggregates not."""
        self._keyring.ttl = min(self._ttl, UNHEARD_TTL)
        self._store.caching = False
        self._keyring.forget()
        self._store.forget()

    def _trust(self) -> None:
        """Listening again: forget what was learnt while deaf, then cache as usual."""
        self._keyring.forget()
        self._store.forget()
        self._keyring.ttl = self._ttl
        self._store.caching = True

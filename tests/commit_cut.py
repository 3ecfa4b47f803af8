"""A loopback TCP proxy to PostgreSQL that can drop a connection right after the server has
committed: the client's COMMIT reaches the server, its answer never reaches the client.
The event store's append (`domain.time_index`) is one statement that commits itself, so its
call counts as a COMMIT here.

This is the ambiguous commit of a real outage (the transaction is durable, the writer sees a
broken connection), made on the wire instead of by a hook in the code under test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterator

# What a client sends when it commits: a COMMIT, or the event store's self-committing append.
COMMITS = (b"COMMIT", b"_append_events\"(")


class CommitCutProxy:
    """Forwards 127.0.0.1:`port` to the database; `cut_next_commit()` arms one cut, after
    which the database can stay unreachable until `restore()`."""

    def __init__(self, database_url: str) -> None:
        target = urlsplit(database_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = urlunsplit(target._replace(
            netloc=f"{target.username or 'postgres'}@127.0.0.1:{self.port}"))
        self._armed = threading.Event()
        self._down_after_cut = False
        self._down = threading.Event()
        self._open: list[socket.socket] = []
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next_commit(self, *, then_down: bool = False) -> None:
        """Drop the answer to the next COMMIT; `then_down`: and every connection after it."""
        self._down_after_cut = then_down
        self._armed.set()

    def restore(self) -> None:
        self._down.clear()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down.is_set():
                _close(client)
                continue
            server = socket.create_connection(self._target)
            self._open += [client, server]
            committing = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, committing),
                             daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, committing),
                             daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket,
                  committing: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self._armed.is_set() and any(mark in data for mark in COMMITS):
                    self._armed.clear()
                    committing.set()
                server.sendall(data)
        _close(client, server)

    def _downstream(self, server: socket.socket, client: socket.socket,
                    committing: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if committing.is_set():
                    # The server has answered the COMMIT: it is durable. Drop the answer.
                    self.cuts += 1
                    if self._down_after_cut:
                        self._down.set()
                        _close(*self._open)
                    break
                client.sendall(data)
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextlib.contextmanager
def commit_cut_proxy(database_url: str) -> Iterator[CommitCutProxy]:
    proxy = CommitCutProxy(database_url)
    try:
        yield proxy
    finally:
        proxy.close()

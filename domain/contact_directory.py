"""The contact directory as of the event log, kept in memory and caught up on demand.

Machinery beside the domain, like `domain.store`: the rules are in `domain.contact` and
`domain.contacts`; this only reads the contact events after the last position it applied.
A directory once handed out is never changed: a catch-up that finds news builds a new one,
so callers in other threads read theirs without a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from domain.contact import CONTACT_EVENTS, ContactRegistered, ContactRemoved
from domain.contacts import Directory
from domain.log_pages import notifications_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

log = logging.getLogger(__name__)

TOPICS = [get_topic(cls) for cls in CONTACT_EVENTS]


class LiveDirectory:
    """The directory of every contact on duty, up to the log position it last read."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[UUID],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._recorder = recorder
        self._mapper = mapper
        self._clock = clock
        self._lock = threading.Lock()
        self._directory = Directory()
        self._position = 0
        self._caught_up_at: float | None = None

    @property
    def position(self) -> int:
        """The log position the directory includes."""
        return self._position

    def current(self, max_age: float = 0.0) -> Directory:
        """The directory as of the log now, or as of a catch-up less than `max_age` seconds
        ago (the worker asks once per notice: a second's staleness spares a query each).

        A caller that accepts staleness never queues behind a catch-up another thread is
        running: when many deadlines fall due together, their judgements must not wait on
        one query."""
        now = self._clock()
        if self._caught_up_at is not None and now - self._caught_up_at < max_age:
            return self._directory  # handed-out directories are never changed: no lock
        stale_is_fine = max_age > 0 and self._caught_up_at is not None
        if not self._lock.acquire(blocking=not stale_is_fine):
            return self._directory
        try:
            # The head first: the log is gap-free up to it, so nothing below it comes later.
            head = self._recorder.max_notification_id() or 0
            # Position and directory change together, so a failed read loses nothing.
            changed = None
            for notification in notifications_of(self._recorder, TOPICS, after=self._position,
                                                 upto=head):
                if changed is None:
                    changed = Directory(dict(self._directory.entries))
                self._apply(changed, notification)
            if changed is not None:
                self._directory = changed
            self._position = max(self._position, head)
            self._caught_up_at = now
            return self._directory
        finally:
            self._lock.release()

    def _apply(self, directory: Directory, notification: Notification) -> None:
        try:
            event = self._mapper.to_domain_event(notification)
        except Exception as error:
            # One undecodable record must not blind routing for every contact after it;
            # no traceback is logged, since its values could hold a contact's details.
            log.error("contact_event_undecodable",
                      extra={"position": notification.id,
                             "error_type": type(error).__name__})
            return
        if isinstance(event, ContactRegistered):
            directory.add(event.entry())
        elif isinstance(event, ContactRemoved):
            directory.remove(str(event.originator_id))

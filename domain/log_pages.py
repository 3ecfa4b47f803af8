"""Reading the event log by topic, a page at a time: the one loop the services that rebuild
something from a few kinds of event (contacts, digests, id lists) share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from eventsourcing.persistence import Notification

PAGE = 1000  # log entries read per query


def notifications_of(
    recorder: Any, topics: Iterable[str], *, after: int = 0, upto: int | None = None,
    page: int = PAGE,
) -> Iterator[Notification]:
    """The log entries of the given topics after position `after` (up to `upto`, inclusive),
    oldest first."""
    wanted, position = list(topics), after
    while upto is None or position < upto:
        found = recorder.select_notifications(
            position, page, stop=upto, topics=wanted, inclusive_of_start=False)
        if not found:
            return
        yield from found
        position = found[-1].id

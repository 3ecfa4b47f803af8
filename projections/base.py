"""What every read model provides to the runner: its tables, the topics it reads, `apply`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.utils import get_topic
from psycopg.rows import dict_row

from domain import events as ev

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from projections.store import Batch, Table

# One decoded event with its position in the application's notification log.
Positioned = tuple[int, Any]


def topics_of(*classes: type[Any]) -> frozenset[str]:
    """The stored topics of event classes (what the runner filters the log on)."""
    return frozenset(get_topic(cls) for cls in classes)


CASE_EVENT_TOPICS = topics_of(*ev.CASE_EVENTS)


async def fetch_rows(
    conn: AsyncConnection[Any], query: str, params: Any, uuids: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A read model's rows as dicts, with the named uuid columns as text (as answers show
    them)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    for row in rows:
        for column in uuids:
            row[column] = str(row[column])
    return rows


def like_prefix(code: str) -> str:
    """The LIKE pattern for every division code under `code`."""
    return code + "%"  # codes are digits only, so nothing needs escaping


def where_equal(where: list[str], params: dict[str, Any],
                columns: tuple[tuple[str, object], ...]) -> None:
    """Add `column = value` to a query's conditions for each column given a value (an
    enum's code as the read models store it)."""
    for column, value in columns:
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = str(value)


# Event kinds the models test every event against, made once (a union written inside
# `isinstance` is built anew on each call: a third of a rebuild's isinstance time).
GRADED = ev.ReportAccepted | ev.CaseEscalated | ev.AssessmentRecorded
ASSIGNED = ev.ReportAccepted | ev.CaseAssigned


def grade_after(event: Any, grade: str | None) -> str | None:
    """The case's grade after `event`: set by intake, escalation or assessment, cleared when
    a reopened case goes back to intake, else unchanged."""
    if isinstance(event, GRADED):
        return event.grade or grade
    if isinstance(event, ev.CaseReopened):
        return None
    return grade


class ReadModel:
    """A read model: tables plus `apply`, which changes rows for a batch of events.

    Events whose topic is not in `topics` are not even decoded; the runner still records
    their position, so the model never sees them twice nor waits on them.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    topics: ClassVar[frozenset[str]] = CASE_EVENT_TOPICS

    def apply(self, batch: Batch, events: list[Positioned]) -> None:
        raise NotImplementedError

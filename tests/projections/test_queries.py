"""Each read model answers its own queries: the overdue rule, filters and keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from api.cli.demo_data import caseworker, supervisor
from projections.cases import search
from projections.children import child_cases, find_child
from projections.deadlines import board
from projections.inbox import notifications
from projections.stats import summary
from tests.projections.conftest import project_all
from tests.projections.test_read_models import report

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from uuid import UUID

    from domain.application import Wardship

NOW = datetime.now(UTC)
TOWNSHIP = "511102001"


@pytest.fixture
async def aconn(store_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(store_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def late(app: Wardship) -> UUID:
    """A red case accepted in time ten days ago, its response dispatch since recorded missed
    and its emergency response left open past due."""
    worker, opened = caseworker(TOWNSHIP), NOW - timedelta(days=10)
    case_id = report(app, TOWNSHIP, opened)
    app.perform(case_id, worker, "accept_report", {"grade": "red", "assignee": worker.subject},
                occurred_at=opened + timedelta(minutes=30))
    dispatch = next(d for d in app.get_case(case_id)["deadlines"]
                    if d["kind"] == "response_dispatch")
    app.record_deadline_missed(case_id, dispatch["id"], NOW)
    return case_id


def kinds(rows: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    return {row["kind"]: (row["status"], row["overdue"]) for row in rows}


class TestOverdue:
    async def test_open_past_due_and_missed_unresolved_are_overdue_the_rest_not(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        project_all(app, conn)
        every = await board(aconn, prefix=TOWNSHIP, status="all")
        assert kinds(every) == {"intake": ("met", False),
                                "response_dispatch": ("missed", True),
                                "emergency_completion": ("open", True),
                                "case_review": ("open", False)}  # not due yet
        overdue = await board(aconn, prefix=TOWNSHIP)
        assert kinds(overdue) == {"response_dispatch": ("missed", True),
                                  "emergency_completion": ("open", True)}

    async def test_a_missed_deadline_put_right_late_is_no_longer_overdue(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        worker = caseworker(TOWNSHIP)
        app.perform(late, worker, "dispatch_response", {"responders": ["police"]},
                    occurred_at=NOW)
        project_all(app, conn)
        missed = await board(aconn, prefix=TOWNSHIP, status="missed")
        assert kinds(missed) == {"response_dispatch": ("missed", False)}
        overdue = await board(aconn, prefix=TOWNSHIP)
        assert kinds(overdue) == {"emergency_completion": ("open", True)}

    async def test_the_case_list_applies_the_same_rule_to_whole_cases(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        calm = report(app, TOWNSHIP, NOW)
        closed = report(app, TOWNSHIP, NOW)
        app.perform(closed, caseworker(TOWNSHIP), "close", {"reason": "duplicate report"},
                    occurred_at=NOW)
        project_all(app, conn)
        flags = {row["id"]: row["overdue"] for row in await search(aconn, prefix=TOWNSHIP)}
        # A closed case has no deadline left: not overdue (false, never null).
        assert flags == {str(late): True, str(calm): False, str(closed): False}
        assert [r["id"] for r in await search(aconn, prefix=TOWNSHIP, overdue=True)] == [
            str(late)]
        assert {r["id"] for r in await search(aconn, prefix=TOWNSHIP, overdue=False)} == {
            str(calm), str(closed)}


class TestPagesAndFilters:
    async def test_the_board_pages_by_due_time_case_and_deadline(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        report(app, TOWNSHIP, NOW - timedelta(days=1))
        project_all(app, conn)
        every = await board(aconn, prefix="5111", status="all", limit=100)
        paged: list[dict[str, Any]] = []
        after = None
        while page := await board(aconn, prefix="5111", status="all", after=after, limit=1):
            paged += page
            after = (page[-1]["due_at"], page[-1]["case_id"], page[-1]["id"])
        assert paged == every
        assert [row["due_at"] for row in every] == sorted(row["due_at"] for row in every)

    async def test_case_search_pages_newest_first_under_the_code(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any],
    ) -> None:
        ids = [str(report(app, TOWNSHIP, NOW)) for _ in range(3)]
        report(app, "511111002", NOW)
        project_all(app, conn)
        first = await search(aconn, prefix="511102", limit=2)
        rest = await search(aconn, prefix="511102", before=first[-1]["opened_position"])
        assert [row["id"] for row in first + rest] == ids[::-1]
        assert await search(aconn, prefix=TOWNSHIP, stage="assistance") == []

    async def test_the_inbox_holds_notifications_for_the_exact_code_with_delivery(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        dispatch = next(d for d in app.get_case(late)["deadlines"]
                        if d["kind"] == "response_dispatch")
        nid = app.record_escalation(late, dispatch["id"], 1, NOW)
        assert nid is not None
        app.record_delivery(late, nid, "sms", False, "timeout", NOW)
        project_all(app, conn)
        [row] = await notifications(aconn, TOWNSHIP, acknowledged=False)
        assert (row["id"], row["case_id"], row["delivery"]) == (nid, str(late), "failed")
        assert await notifications(aconn, "511102") == []
        assert await notifications(aconn, TOWNSHIP, after=row["position"]) == []
        app.acknowledge_notification(late, nid, supervisor(TOWNSHIP))
        project_all(app, conn)
        assert await notifications(aconn, TOWNSHIP, acknowledged=False) == []

    async def test_child_file_and_stats_answer_from_their_own_tables(
        self, app: Wardship, conn: psycopg.Connection[Any],
        aconn: psycopg.AsyncConnection[Any], late: UUID,
    ) -> None:
        project_all(app, conn)
        child_id = app.get_case(late)["child_id"]
        child = await find_child(aconn, child_id)
        assert child is not None
        assert (child["jurisdiction"], child["case_count"]) == (TOWNSHIP, 1)
        assert [c["id"] for c in await child_cases(aconn, child_id)] == [str(late)]
        facts = await summary(aconn, prefix="5111", since=NOW - timedelta(days=30),
                              until=NOW + timedelta(days=1))
        assert facts["cases"] == 1
        assert facts["by_stage"] == {"emergency_response": 1}
        assert {(d["kind"], d["met"], d["missed"]) for d in facts["deadlines_met"]} == {
            ("intake", 1, 0), ("response_dispatch", 0, 1)}

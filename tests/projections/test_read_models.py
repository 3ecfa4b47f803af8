"""Each read model's answer after a realistic sequence; rebuilds; crashes mid-batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest

from api.cli.demo_data import caseworker, load_demo, supervisor
from api.cli.demo_ledger import load_ledger
from projections import cases, deadlines
from projections.inbox import InboxModel
from projections.registry import MODELS
from projections.runner import Fleet, Worker, ensure, position_of, rebuild
from tests.projections.conftest import project_all, snapshot

if TYPE_CHECKING:
    from domain.application import Wardship
    from projections.base import Positioned
    from projections.store import Batch

NOW = datetime.now(UTC)
TOWNSHIP = "511102001"


def report(app: Wardship, township: str, opened: datetime, **source: Any) -> UUID:
    view = app.open_case(
        caseworker(township), entry="report", jurisdiction=township,
        child={"name": "测试儿童", "sex": "female", "birth_date": "2015-05-05",
               "category": "left_behind", "id_number": None},
        concern={"categories": ["neglect"], "summary": "invented", "danger_now": False},
        source={"channel": "school", "reporter": {"mandatory": True}, **source},
        occurred_at=opened,
    )
    return UUID(view["id"])


@pytest.fixture
def story(app: Wardship) -> dict[str, UUID]:
    """A red case left undone for ten days (missed, escalated, delivered, acknowledged) and a
    yellow case in assistance with a home visit."""
    worker, opened = caseworker(TOWNSHIP), NOW - timedelta(days=10)
    late = report(app, TOWNSHIP, opened)
    app.perform(late, worker, "accept_report", {"grade": "red", "assignee": worker.subject},
                occurred_at=opened + timedelta(minutes=30))
    deadline = next(d for d in app.get_case(late)["deadlines"] if d["kind"] == "response_dispatch")
    app.record_deadline_missed(late, deadline["id"], NOW)
    nid = app.record_escalation(late, deadline["id"], 1, NOW)
    assert nid is not None
    app.record_delivery(late, nid, "webhook", True, "200", NOW)
    app.acknowledge_notification(late, nid, supervisor(TOWNSHIP))

    other = "511111002"
    calm = report(app, other, NOW - timedelta(days=5), channel="hotline_12345")
    worker2 = caseworker(other)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("accept_report", {"grade": "yellow", "assignee": worker2.subject}),
        ("record_assessment", {"guardianship_capacity": "impaired"}),
        ("complete_assessment", {"outcome": "assistance"}),
        ("record_visit", {"child_seen": True}),
    ]
    for hours, (action, params) in enumerate(steps, start=1):
        app.perform(calm, worker2, action, params,
                    occurred_at=NOW - timedelta(days=5) + timedelta(hours=hours))
    return {"late": late, "calm": calm}


class TestAnswers:
    def test_case_list_shows_stage_grade_and_overdue(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        project_all(app, conn)
        rows = {row[0]: row[1:] for row in conn.execute(
            f"SELECT case_id, stage, grade, {cases.OVERDUE},"
            " child_category, source_channel FROM rm_cases").fetchall()}
        assert rows[story["late"]] == ("emergency_response", "red", True, "left_behind",
                                       "school")
        assert rows[story["calm"]] == ("assistance", "yellow", False, "left_behind",
                                       "hotline_12345")

    def test_overdue_board_lists_missed_and_late_deadlines_under_the_code(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        project_all(app, conn)
        overdue = conn.execute(
            "SELECT kind, status FROM rm_deadlines WHERE jurisdiction LIKE '511102%'"
            f" AND {deadlines.OVERDUE} ORDER BY kind").fetchall()
        assert overdue == [("emergency_completion", "open"), ("response_dispatch", "missed")]
        calm = conn.execute("SELECT kind, status FROM rm_deadlines WHERE case_id = %s"
                            " ORDER BY deadline_id", (story["calm"],)).fetchall()
        assert ("assessment", "met") in calm
        assert ("home_visit", "met") in calm

    def test_inbox_holds_the_notification_with_delivery_and_ack(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        project_all(app, conn)
        row = conn.execute(
            "SELECT recipient_jurisdiction, level, kind, deliveries, acknowledged_by"
            " FROM rm_notifications").fetchall()
        assert row == [(TOWNSHIP, 1, "response_dispatch", {"webhook": "delivered"},
                        supervisor(TOWNSHIP).subject)]

    def test_the_old_area_finds_a_handover_notice_in_its_inbox_and_acknowledges_it(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        county = supervisor("511102")
        app.perform(story["late"], county, "transfer_jurisdiction", {"jurisdiction": "511102003"})
        (nid,) = [n for n in app.get_case_aggregate(story["late"]).notifications
                  if "handover" in n]
        assert app.acknowledge_notification(story["late"], nid, supervisor(TOWNSHIP))
        project_all(app, conn)
        row = conn.execute(
            "SELECT recipient_jurisdiction, kind, case_jurisdiction, acknowledged_by"
            " FROM rm_notifications WHERE notification_id = %s", (nid,)).fetchone()
        assert row == (TOWNSHIP, "handover", "511102003", supervisor(TOWNSHIP).subject)

    def test_merged_child_files_show_every_case_under_one_child(
        self, app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        unknown = {"name": "不详", "sex": "male", "birth_date": None, "category": "other"}
        ids = [UUID(app.open_case(
            caseworker(TOWNSHIP), entry="report", jurisdiction=TOWNSHIP, child=unknown,
            concern={"categories": ["unattended"], "summary": "", "danger_now": False},
            source={"channel": "public"}, occurred_at=NOW)["child_id"]) for _ in range(2)]
        project_all(app, conn)
        app.merge_child_files(caseworker(TOWNSHIP), ids[0], ids[1], "same boy, seen twice")
        project_all(app, conn)
        counts = dict(conn.execute("SELECT child_id, case_count FROM rm_children").fetchall())
        assert counts == {str(ids[0]): 0, str(ids[1]): 2}
        owners = conn.execute("SELECT DISTINCT child_id FROM rm_child_cases").fetchall()
        assert owners == [(str(ids[1]),)]

    def test_child_file_has_cases_last_contact_and_next_visit_but_no_name(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        project_all(app, conn)
        last_contact, next_visit = conn.execute(
            "SELECT last_contact_at, next_visit_due FROM rm_child_cases WHERE case_id = %s",
            (story["calm"],)).fetchone() or (None, None)
        assert last_contact == NOW - timedelta(days=5) + timedelta(hours=4)
        assert next_visit == last_contact + timedelta(days=30)  # yellow: every 30 days
        dump = repr(snapshot(conn))
        assert "测试儿童" not in dump  # personal data stays encrypted in the event store

    def test_stats_count_stages_and_deadlines_met(
        self, app: Wardship, conn: psycopg.Connection[Any], story: dict[str, UUID]
    ) -> None:
        project_all(app, conn)
        stages = dict(conn.execute(
            "SELECT stage, count(*) FROM rm_stat_spells GROUP BY 1").fetchall())
        assert stages == {"report": 2, "emergency_response": 1, "assessment": 1,
                          "assistance": 1}
        outcomes = dict(conn.execute(
            "SELECT kind, status FROM rm_stat_deadlines WHERE case_id = %s"
            " AND status <> 'open'", (story["late"],)).fetchall())
        assert outcomes == {"intake": "met", "response_dispatch": "missed"}


    def test_a_reopened_case_is_ungraded_until_intake_grades_it_again(
        self, app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        worker, opened = caseworker(TOWNSHIP), NOW - timedelta(days=3)
        case_id = report(app, TOWNSHIP, opened)
        steps = [("accept_report", {"grade": "yellow", "assignee": worker.subject}),
                 ("close", {"reason": "family moved"}), ("reopen", {"reason": "new report"})]
        for hours, (action, params) in enumerate(steps, start=1):
            app.perform(case_id, worker, action, params,
                        occurred_at=opened + timedelta(hours=hours))
        project_all(app, conn)
        for view in ("rm_cases", "rm_deadline_cases", "rm_child_cases", "rm_stat_cases"):
            grade = conn.execute(f"SELECT grade FROM {view} WHERE case_id = %s",
                                 (case_id,)).fetchone()
            assert grade == (None,), view


class TestRebuildAndResume:
    def test_rebuild_yields_identical_tables(
        self, app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        load_demo(app, children=40, seed=7)
        load_ledger(app, children=20, seed=7)
        project_all(app, conn, limit=97)
        before = snapshot(conn)
        assert len(before["rm_ledger"]) == 20
        for model_class in MODELS.values():
            rebuild(model_class(), app, conn)
        assert snapshot(conn) == before
        generations = conn.execute(
            "SELECT DISTINCT generation FROM wardship_projections").fetchall()
        assert generations == [(2,)]

    def test_one_runner_for_all_models_gives_the_same_tables(
        self, app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        load_demo(app, children=30, seed=9)
        models = [model_class() for model_class in MODELS.values()]
        for model in models:
            ensure(conn, model)
        Worker(models[0], app, conn).catch_up(limit=50)  # one model ahead of the others
        fleet = Fleet(models, app, conn)
        while fleet.step(limit=61):
            pass
        together = snapshot(conn)
        for model in models:
            rebuild(model, app, conn)
        assert snapshot(conn) == together

    def test_a_runner_crashing_mid_batch_resumes_without_double_counting(
        self, app: Wardship, conn: psycopg.Connection[Any]
    ) -> None:
        load_demo(app, children=40, seed=8)
        project_all(app, conn)
        expected = snapshot(conn)
        for model_class in MODELS.values():
            rebuild(model_class(), app, conn)  # fresh tables to build again, crash included

        class Crashing(InboxModel):
            calls = 0

            def apply(self, batch: Batch, events: list[Positioned]) -> None:
                super().apply(batch, events)
                batch.flush()  # rows written in the transaction...
                Crashing.calls += 1
                if Crashing.calls == 2:
                    # ...then the connection dies before commit (an error of the event's own
                    # would park the event instead).
                    raise psycopg.OperationalError("killed")

        conn.execute("UPDATE wardship_projections SET position = 0 WHERE name = 'inbox'")
        conn.execute("DELETE FROM rm_notifications__g2")
        crashing = Worker(Crashing(), app, conn)
        with pytest.raises(psycopg.OperationalError, match="killed"):
            crashing.catch_up(limit=50)
        assert position_of(conn, "inbox") > 0
        ensure(conn, InboxModel())
        Worker(InboxModel(), app, conn).catch_up(limit=50)
        assert snapshot(conn)["rm_notifications"] == expected["rm_notifications"]

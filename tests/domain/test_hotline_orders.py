"""12345 work orders on the case: opened or linked once per ticket, a reply deadline, the reply."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.actors import Actor
from domain.codes import Role
from tests.domain.builders import CASEWORKER, CHILD, T0, TOWNSHIP

if TYPE_CHECKING:
    from domain.application import Wardship

DESK = Actor("hotline-12345", frozenset({Role.HOTLINE}), "51", "12345 desk")
NOW = T0 + timedelta(hours=1)


def order(app: Wardship, ticket: str, child: dict[str, Any] | None = None,
          urgent: bool = False) -> tuple[dict[str, Any], bool]:
    return app.receive_hotline_order(
        DESK, ticket=ticket, received_at=T0, jurisdiction=TOWNSHIP, urgent=urgent,
        content="neighbours say the child is often home alone",
        caller={"name": "Invented Caller", "phone": "000"}, child=dict(child or CHILD),
        now=NOW)


class TestWorkOrders:
    def test_an_order_opens_a_report_with_a_reply_deadline(self, app: Wardship) -> None:
        view, opened = order(app, "12345-2026-000001", urgent=True)
        assert opened
        assert view["stage"] == "report"
        assert view["ticket"] == "12345-2026-000001"
        kinds = {d["kind"] for d in view["deadlines"]}
        assert {"hotline_reply", "intake_danger"} <= kinds
        case = app.get_case_aggregate(UUID(view["id"]))
        assert case.source["channel"] == "hotline_12345"
        assert case.concern["danger_now"] is True
        # The platform is on record as itself, a client, not as the system or a person.
        assert {e.actor_role for e in app.case_events(case.id)} == {"hotline"}

    def test_the_same_ticket_again_records_nothing(self, app: Wardship) -> None:
        first, _ = order(app, "12345-2026-000002")
        head = app.recorder.max_notification_id()
        again, opened = order(app, "12345-2026-000002")
        assert not opened
        assert again["id"] == first["id"]
        assert app.recorder.max_notification_id() == head

    def test_an_order_about_a_child_with_an_open_case_links_to_it(self, app: Wardship) -> None:
        existing = app.open_case(CASEWORKER, entry="report", jurisdiction=TOWNSHIP,
                                 child=dict(CHILD), concern={"categories": ["neglect"]},
                                 source={"channel": "school"}, occurred_at=T0, now=NOW)
        view, opened = order(app, "12345-2026-000003")
        assert not opened
        assert view["id"] == existing["id"]
        head = app.recorder.max_notification_id()
        again, _ = order(app, "12345-2026-000003")
        assert again["id"] == existing["id"]
        assert app.recorder.max_notification_id() == head
        case = app.get_case_aggregate(UUID(existing["id"]))
        assert case.hotline_orders == {"12345-2026-000003": "awaiting"}

    def test_the_reply_meets_the_deadline_once_intake_decided(self, app: Wardship) -> None:
        view, _ = order(app, "12345-2026-000004")
        case_id = UUID(view["id"])
        assert app.get_case_aggregate(case_id).awaiting_replies == []
        app.perform(case_id, CASEWORKER, "screen_out", {"reason": "no concern"},
                    occurred_at=T0 + timedelta(minutes=5), now=NOW)
        case = app.get_case_aggregate(case_id)
        # Screening out closes the case, yet the platform is still owed its reply.
        assert case.awaiting_replies == ["12345-2026-000004"]
        assert case.intake_outcome == "screened_out"
        assert app.record_hotline_reply(case_id, "12345-2026-000004", True, "HTTP 200", NOW)
        assert not app.record_hotline_reply(case_id, "12345-2026-000004", True, "again", NOW)
        reply = next(d for d in app.get_case(case_id)["deadlines"]
                     if d["kind"] == "hotline_reply")
        assert reply["status"] == "met"

    def test_a_reply_overdue_on_a_screened_out_case_still_escalates(self, app: Wardship) -> None:
        view, _ = order(app, "12345-2026-000006")
        case_id = UUID(view["id"])
        app.perform(case_id, CASEWORKER, "screen_out", {"reason": "no concern"},
                    occurred_at=T0 + timedelta(minutes=5), now=NOW)
        reply = next(d for d in app.get_case(case_id)["deadlines"]
                     if d["kind"] == "hotline_reply")
        late = reply["due_at"] + timedelta(minutes=1)
        assert app.record_deadline_missed(case_id, reply["id"], late)
        # Closed, yet the supervisors hear that the platform was never answered.
        assert app.record_escalation(case_id, reply["id"], 1, late) is not None
        # The reply, late, stops the ladder.
        assert app.record_hotline_reply(case_id, "12345-2026-000006", True, "HTTP 200", late)
        assert app.record_escalation(case_id, reply["id"], 2, late) is None

    def test_the_desk_reads_its_ticket_without_personal_data(self, app: Wardship) -> None:
        view, _ = order(app, "12345-2026-000005")
        seen = app.hotline_ticket(DESK, "12345-2026-000005")
        assert seen == {"ticket": "12345-2026-000005", "case_id": view["id"], "opened": True,
                        "stage": "report", "reply": "awaiting"}

"""A database written by earlier code still loads: its events, its snapshots and its chain.

The fixture holds the stored records of one case (and its child file) as the code before
typed case records wrote them: approvals, referrals, services and notifications were dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.case_state import Approval, Notification, Referral, Service
from tests.domain.builders import CASEWORKER

if TYPE_CHECKING:
    from domain.application import Wardship

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "case_records_v1.json").read_text())
CASE_ID = UUID(FIXTURE["events"][0]["originator_id"])


def _stored(records: list[dict[str, Any]]) -> list[StoredEvent]:
    return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"],
                        r["state"].encode("utf-8")) for r in records]


def _plain(view: dict[str, Any]) -> Any:
    return json.loads(json.dumps(view, default=str))


@pytest.fixture(params=["events only", "with a v1 snapshot"])
def old_store(request: pytest.FixtureRequest, memory_app: Wardship) -> Wardship:
    """The in-memory store holding what the earlier code wrote (without a cipher, as then)."""
    memory_app.recorder.insert_events(_stored(FIXTURE["events"]))
    if request.param == "with a v1 snapshot":
        assert memory_app.snapshots is not None
        memory_app.snapshots.recorder.insert_events(_stored(FIXTURE["snapshots"]))
    return memory_app


class TestStoredCompatibility:
    def test_an_old_case_loads_as_it_did(self, old_store: Wardship) -> None:
        assert _plain(old_store.get_case(CASE_ID)) == FIXTURE["view"]

    def test_its_records_load_typed(self, old_store: Wardship) -> None:
        case = old_store.get_case_aggregate(CASE_ID)
        assert {type(v) for v in case.approvals.values()} == {Approval}
        assert {type(v) for v in case.referrals.values()} == {Referral}
        assert {type(v) for v in case.services.values()} == {Service}
        (notification,) = case.notifications.values()
        assert isinstance(notification, Notification)
        assert notification.deliveries == {"webhook": "delivered", "email": "failed"}
        assert notification.acknowledged_by == "sv-2"

    def test_its_chain_still_verifies(self, old_store: Wardship) -> None:
        assert old_store.verify_chain(CASE_ID) == FIXTURE["verify"]

    def test_new_actions_continue_the_old_case(self, old_store: Wardship) -> None:
        before = old_store.get_case(CASE_ID)["version"]
        view = old_store.perform(CASE_ID, CASEWORKER, "add_note", {"text": "still here"})
        assert view["version"] == before + 1
        assert old_store.verify_chain(CASE_ID)["valid"]

    def test_old_events_carry_no_command_id_and_new_ones_are_found_again(
        self, old_store: Wardship
    ) -> None:
        assert {e.command_id for e in old_store.case_events(CASE_ID)} == {None}
        before = old_store.get_case(CASE_ID)["version"]
        for _ in range(2):  # the second is a retry of the first
            view = old_store.perform(CASE_ID, CASEWORKER, "add_note", {"text": "once"},
                                     expected_version=before, command_id="retried")
        assert view["version"] == before + 1
        assert old_store.verify_chain(CASE_ID)["valid"]

"""A case stored before reasons and linked 12345 orders' callers were sealed still loads and
verifies: its reasons read as stored, its linked orders hold no content or caller, and new
actions continue its chain with sealed reasons.

The fixture holds the stored records of one case, its child file and its 12345 tickets as
commit f034656 wrote them (without a whole-event cipher, as the in-memory store writes), and
the child's data key: a 12345 order that opened the case, a second one linked to it, a
screening-out reason.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import Wardship
from domain.personal import recorded_in_clear
from domain.storage import event_store_env
from tests.domain.builders import CASEWORKER

if TYPE_CHECKING:
    from collections.abc import Iterator

FIXTURE = json.loads((Path(__file__).parent / "fixtures" /
                      "case_records_reasons_unsealed.json").read_text())
CASE_ID = UUID(next(r["originator_id"] for r in FIXTURE["events"]
                    if r["topic"].endswith(":CaseOpened")))


@pytest.fixture
def old_store() -> Iterator[Wardship]:
    """The in-memory store holding what the earlier code wrote, and its keys."""
    app = Wardship(env={**event_store_env(None), "MASTER_KEYS": FIXTURE["master_keys"]})
    for row in FIXTURE["keys"]:
        app.keyring.table.insert(row["key_id"], base64.b64decode(row["wrapped"]),
                                 row["master_key_id"])
    app.recorder.insert_events([
        StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"],
                    r["state"].encode("utf-8")) for r in FIXTURE["events"]])
    yield app
    app.close()


def test_the_old_case_verifies_and_reads_as_stored(old_store: Wardship) -> None:
    assert old_store.verify_chain(CASE_ID) == FIXTURE["verify"]
    events: list[Any] = old_store.case_events(CASE_ID)
    linked, screened = events[2], events[3]
    assert (linked.opened, linked.content, linked.caller) == (False, "", None)
    assert (screened.reason, screened.seal) == ("handled by the school", None)
    assert not recorded_in_clear(screened)  # written to name no one: no bar to erasure
    assert old_store.get_case(CASE_ID)["closed_reason"] == "handled by the school"


def test_new_actions_continue_its_chain_with_sealed_reasons(old_store: Wardship) -> None:
    old_store.perform(CASE_ID, CASEWORKER, "reopen", {"reason": "a new report"})
    reopened: Any = old_store.case_events(CASE_ID)[-1]
    assert reopened.reason == "a new report"
    assert "reason" in reopened.seal["digests"]
    assert old_store.verify_chain(CASE_ID)["valid"]

"""Reasons staff type and a linked 12345 order's caller are the child's personal data too:
readable until the child's erasure, `[已删除]` after it in every read, the chain still
verifying; reasons stored before they were sealed keep verifying as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.inspection.casefile import build_case_file, check_case_file
from api.inspection.history import history_entry
from domain import personal
from domain.actors import Actor
from domain.codes import Role
from domain.personal import ERASED
from projections.registry import MODELS
from projections.runner import rebuild
from tests.inspection.support import CASEWORKER, CHILD, SOURCE, SUPERVISOR, wardship_on
from tests.projections.conftest import project_all, snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator

    from domain.application import Wardship

DESK = Actor("hotline-12345", frozenset({Role.HOTLINE}), "51", "12345 desk")
INSPECTOR = Actor("in-1", frozenset({Role.INSPECTOR}), "511102", "Invented Inspector")
SCREENED = "Invented-Wang the uncle takes the girl in"
DISMISSED = "Grandma Invented-Zhou was home after all"
CALLER_PHONE = "13900000077"
CALLER_NAME = "Invented Neighbour Qian"
LINKED_REPORT = "Qian hears crying at night"
# Each must read before the erasure and be nowhere after it.
WORDS = [SCREENED, DISMISSED, CALLER_PHONE, CALLER_NAME, LINKED_REPORT]


@pytest.fixture
def app(db_url: str) -> Iterator[Wardship]:
    with wardship_on(db_url) as wardship:
        yield wardship


def hotline_order(app: Wardship, ticket: str, **caller: str) -> dict[str, Any]:
    view, _ = app.receive_hotline_order(
        DESK, ticket=ticket, received_at=datetime.now(UTC) - timedelta(minutes=5),
        jurisdiction="511102001", urgent=False,
        content=caller.pop("content", "a child alone"), caller=caller, child=dict(CHILD))
    return view


def two_closed_cases(app: Wardship) -> tuple[UUID, UUID, UUID]:
    """A 12345 report with a second order linked to it, screened out; then a discovery
    about the same child, dismissed: (report case, discovery case, child file)."""
    report = UUID(hotline_order(app, "12345-2026-100001", name="Opening Caller")["id"])
    linked = hotline_order(app, "12345-2026-100002", name=CALLER_NAME, phone=CALLER_PHONE,
                           content=LINKED_REPORT)
    assert linked["id"] == str(report)  # linked to the open case
    app.perform(report, CASEWORKER, "screen_out", {"reason": SCREENED})
    found = app.open_case(
        CASEWORKER, entry="discovery", jurisdiction="511102001", child=dict(CHILD),
        concern={"categories": ["neglect"], "summary": "", "danger_now": False},
        source=dict(SOURCE))
    discovery = UUID(found["id"])
    app.perform(discovery, CASEWORKER, "dismiss", {"reason": DISMISSED})
    file_id = UUID(app.get_case(report)["child_id"])
    assert found["child_id"] == str(file_id)
    return report, discovery, file_id


def erase(app: Wardship, file_id: UUID) -> None:
    app.request_erasure(CASEWORKER, file_id, "the guardian's lawful request (invented)")
    app.approve_erasure(SUPERVISOR, file_id)


def text_of(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def shown(text: str) -> list[str]:
    return [word for word in WORDS if word in text]


def reads(app: Wardship, cases: tuple[UUID, ...], file_id: UUID) -> str:
    """Everything a reader gets of the cases and the file: the history (as the API's history
    route gives it), the state now and as of each version, the case file export, the child
    file."""
    parts: list[Any] = [app.child_file(file_id)]
    for case_id in cases:
        events = app.case_events(case_id)
        parts.append([history_entry(e, reveal_personal=True) for e in events])
        parts.append(app.get_case(case_id))
        parts.extend(vars(app.get_case_aggregate(case_id, v)) for v in range(1, len(events) + 1))
        exported = build_case_file(
            case_id=str(case_id), events=events, policy=app.policy,
            stored_chain=app.verify_chain(case_id), exported_at=datetime.now(UTC),
            exported_by=INSPECTOR, key=Ed25519PrivateKey.generate())
        assert check_case_file(exported).valid
        parts.append(exported)
    return text_of(parts)


def test_reasons_and_a_linked_callers_details_read_erased_everywhere_after_erasure(
        app: Wardship, db_url: str) -> None:
    report, discovery, file_id = two_closed_cases(app)
    assert shown(reads(app, (report, discovery), file_id)) == WORDS  # readable until erased
    assert app.get_case(report)["closed_reason"] == SCREENED
    linked = next(e for e in app.case_events(report) if type(e).__name__ ==
                  "HotlineOrderLinked" and not e.opened)  # type: ignore[attr-defined]
    assert linked.caller == {"name": CALLER_NAME, "phone": CALLER_PHONE}  # type: ignore[attr-defined]
    # Readers who may not see personal data (the replay CLI, inspectors) get them masked.
    masked = [history_entry(e, reveal_personal=False) for e in app.case_events(report)]
    assert shown(text_of(masked)) == []

    erase(app, file_id)

    with wardship_on(db_url) as fresh:  # a process that never saw them, and this one
        for reader in (app, fresh):
            assert shown(reads(reader, (report, discovery), file_id)) == []
            assert reader.get_case(report)["closed_reason"] == ERASED
            assert reader.get_case(discovery)["closed_reason"] == ERASED
            linked = next(e for e in reader.case_events(report) if type(e).__name__ ==
                          "HotlineOrderLinked" and not e.opened)  # type: ignore[attr-defined]
            assert linked.caller["phone"] == ERASED  # type: ignore[attr-defined]
            assert linked.ticket == "12345-2026-100002"  # type: ignore[attr-defined]
            for case_id in (report, discovery):
                assert reader.verify_chain(case_id)["valid"]

    with psycopg.connect(db_url, autocommit=True) as conn:
        project_all(app, conn)
        assert shown(text_of(snapshot(conn))) == []
        for model_class in MODELS.values():
            rebuild(model_class(), app, conn)
        assert shown(text_of(snapshot(conn))) == []

    # Stored, they are only in boxes under the destroyed key.
    for record in app.recorder.select_notifications(0, 10_000):
        state = app.mapper.cipher.decrypt(record.state)  # type: ignore[union-attr]
        assert shown(state.decode("utf-8", errors="replace")) == []


def test_a_snapshot_reads_the_closed_reason_as_its_events_do(
        app: Wardship, db_url: str) -> None:
    report, _, file_id = two_closed_cases(app)
    app.perform(report, CASEWORKER, "reopen", {"reason": "a new report"})
    app.perform(report, CASEWORKER, "accept_report", {"grade": "yellow", "assignee": "cw-1"})
    app.perform(report, CASEWORKER, "close", {"reason": SCREENED, "outcome": "moved away"})
    while app.get_case(report)["version"] < 102:  # a snapshot is taken at version 100
        app.perform(report, CASEWORKER, "add_note", {"text": "a closed case's note"})
    assert app.store.latest_snapshot_version(report) == 100
    erase(app, file_id)
    with wardship_on(db_url) as fresh:  # loads from the snapshot
        assert fresh.get_case(report)["closed_reason"] == ERASED
        assert fresh.verify_chain(report)["valid"]
    with psycopg.connect(db_url) as conn:
        for (state,) in conn.execute("SELECT state FROM wardship_snapshots").fetchall():
            assert shown(app.mapper.cipher.decrypt(bytes(state)).decode()) == []  # type: ignore[union-attr]


def test_reasons_stored_before_they_were_sealed_still_verify_and_erasure_proceeds(
        app: Wardship, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the code before this change recorded them: reasons and linked orders in the clear,
    # chained over their plaintext.
    before = {name: personal._SINCE_KEYS.get(name, ()) for name in personal.CASE_FIELDS}
    with monkeypatch.context() as old_code:
        old_code.setattr(personal, "CASE_FIELDS", before)
        report, discovery, file_id = two_closed_cases(app)
    dismissal = app.case_events(discovery)[-1]
    assert dismissal.seal is None
    assert dismissal.reason == DISMISSED  # type: ignore[attr-defined]
    app.perform(report, CASEWORKER, "add_note", {"text": "a later note"})  # sealed
    for case_id in (report, discovery):
        assert app.verify_chain(case_id)["valid"]
    erase(app, file_id)  # not refused: those reasons were written to name no one
    for case_id in (report, discovery):
        assert app.verify_chain(case_id)["valid"]
    assert app.get_case(discovery)["closed_reason"] == DISMISSED  # stays as it was stored
    assert app.get_case_aggregate(discovery).child["name"] == ERASED


def test_monitoring_reasons_and_a_merge_reason_are_erased_with_the_file(
        app: Wardship) -> None:
    words = ["Invented-Sun drinks", "sleeps in the shed", "Sun went to prison",
             "left with Invented-Sun", "the same girl, says Invented-Ma"]
    nameless = app.open_case(
        CASEWORKER, entry="discovery", jurisdiction="511102001",
        child={**CHILD, "name": "不详", "id_number": None}, source=dict(SOURCE),
        concern={"categories": ["neglect"], "summary": "", "danger_now": False})
    app.perform(UUID(nameless["id"]), CASEWORKER, "dismiss", {"reason": "duplicate"})
    _, discovery, file_id = two_closed_cases(app)
    source = UUID(nameless["child_id"])
    app.merge_child_files(CASEWORKER, source, file_id, words[4])
    township = Actor("cs-1", frozenset({Role.CHILD_SUPERVISOR}), "511102001", "Invented CS")
    guardian = {"name": "Invented Grandmother", "relation": "grandmother"}
    for action, params in (
            ("start_monitoring", {"jurisdiction": "511102001001", "category": "left_behind",
                                  "risk_level": "medium", "risk_reason": words[0],
                                  "guardian": guardian}),
            ("record_visit", {"child_seen": True, "living_situation": words[1],
                              "guardian_capacity": "impaired", "risk_level": "high",
                              "risk_reason": words[2]}),
            ("stop_monitoring", {"reason": words[3]})):
        app.monitoring_action(CASEWORKER if action == "record_visit" else township,
                              file_id, action, params)
    record = app.monitoring(file_id)
    assert (record.risk_reason, record.stopped_reason) == (words[2], words[3])

    erase(app, file_id)

    record = app.monitoring(file_id)
    assert (record.risk_reason, record.stopped_reason) == (ERASED, ERASED)
    merged = [e for f in (source, file_id) for e in app.events.get(f)
              if type(e).__name__ in ("MergedInto", "FileMerged")]
    assert [e.reason for e in merged] == [ERASED, ERASED]  # type: ignore[attr-defined]
    for record_ in app.recorder.select_notifications(0, 10_000):
        state = app.mapper.cipher.decrypt(record_.state).decode(  # type: ignore[union-attr]
            "utf-8", errors="replace")
        assert [word for word in words if word in state] == []
    assert app.verify_chain(discovery)["valid"]

"""Erasure by crypto-shredding (issue 16): once a supervisor approves, no history, state,
export or read model shows the child's personal data, and every chain still verifies."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent

from api.inspection.casefile import build_case_file, check_case_file
from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.errors import ActionNotAllowed, ApprovalRefused, InvalidCommand
from domain.personal import ERASED
from domain.storage import event_store_env
from projections.runner import rebuild
from tests.imports_data import school_roll
from tests.inspection.support import (
    CASEWORKER,
    CHILD,
    CIPHER_KEY,
    SOURCE,
    SUPERVISOR,
    before_per_child_keys,
    open_case,
    wardship_on,
)
from tests.projections.conftest import project_all, snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator

SECOND_SUPERVISOR = Actor("sv-2", frozenset({Role.SUPERVISOR}), "511102", "Invented Second")
INSPECTOR = Actor("in-1", frozenset({Role.INSPECTOR}), "511102", "Invented Inspector")
NOTE = "Aunt Invented-Li says the boy sleeps at the mill"
# What must be nowhere once erased: the child's, the reporter's and the note's words.
PERSONAL = [CHILD["name"], CHILD["id_number"], CHILD["address"], CHILD["phone"],
            "Teacher B", "000-1111", "left alone", "Invented-Li"]
ERASE_NOW = "the guardian's lawful request (invented)"


@pytest.fixture
def app(db_url: str) -> Iterator[Wardship]:
    with wardship_on(db_url) as wardship:
        yield wardship


def closed_case(app: Wardship) -> tuple[UUID, UUID]:
    """A case about the invented child with a note, a care agreement and a snapshot-free
    history, closed: (case id, child file id)."""
    case_id = open_case(app)
    app.perform(case_id, CASEWORKER, "add_note", {"text": NOTE})
    app.perform(case_id, CASEWORKER, "screen_out", {"reason": "handled by the school"})
    return case_id, UUID(app.get_case(case_id)["child_id"])


def erase(app: Wardship, file_id: UUID) -> None:
    app.request_erasure(CASEWORKER, file_id, ERASE_NOW)
    app.approve_erasure(SUPERVISOR, file_id)


def child_of(app: Wardship, case_id: UUID) -> dict[str, Any]:
    return app.get_case_aggregate(case_id).child


def shows_none(text: str) -> bool:
    return not [word for word in PERSONAL if word in text]


def test_erased_child_shows_no_personal_data_anywhere_and_the_chain_verifies(
        app: Wardship, db_url: str) -> None:
    case_id, file_id = closed_case(app)
    assert child_of(app, case_id)["name"] == CHILD["name"]  # readable until erased
    erase(app, file_id)

    # A process that never saw the child, and this one, which did.
    with wardship_on(db_url) as fresh:
        for reader in (app, fresh):
            case = reader.get_case_aggregate(case_id)
            assert case.child["name"] == ERASED
            assert case.source["reporter"]["name"] == ERASED
            assert case.child["category"] == CHILD["category"]  # a code, kept
            assert case.stage == "closed"
            assert case.opened_by == CASEWORKER.subject
            history = reader.case_events(case_id)
            note = next(e for e in history if type(e).__name__ == "NoteAdded")
            assert note.text == ERASED  # type: ignore[attr-defined]
            assert note.actor_id == CASEWORKER.subject
            assert reader.get_case_aggregate(case_id, 1).child["id_number"] == ERASED
            assert shows_none(json.dumps([vars(e) for e in history], default=str))
            assert shows_none(json.dumps(reader.child_file(file_id), default=str))
            assert reader.verify_chain(case_id)["valid"]
            exported = build_case_file(
                case_id=str(case_id), events=history, policy=reader.policy,
                stored_chain=reader.verify_chain(case_id), exported_at=datetime.now(UTC),
                exported_by=INSPECTOR, key=Ed25519PrivateKey.generate())
            assert shows_none(json.dumps(exported, ensure_ascii=False))
            assert check_case_file(exported).valid

    # Read models, caught up and rebuilt from the whole log.
    with psycopg.connect(db_url, autocommit=True) as conn:
        project_all(app, conn)
        from projections.registry import MODELS
        for model_class in MODELS.values():
            rebuild(model_class(), app, conn)
        assert shows_none(json.dumps(snapshot(conn), default=str, ensure_ascii=False))

    # The stored events hold the personal data only in boxes under the destroyed key: the
    # whole-event cipher's key alone does not show it.
    plain_mapper: Mapper[Any] = Mapper(app.mapper.transcoder, cipher=app.mapper.cipher)
    for record in app.recorder.select_notifications(0, 10_000):
        state = plain_mapper.cipher.decrypt(record.state)  # type: ignore[union-attr]
        assert shows_none(state.decode("utf-8", errors="replace"))


def test_the_audit_says_what_was_erased_when_and_by_whom(app: Wardship) -> None:
    case_id, file_id = closed_case(app)
    erase(app, file_id)
    [entry] = app.erasures(INSPECTOR)
    assert entry["child_id"] == str(file_id)
    assert entry["case_ids"] == [str(case_id)]
    assert (entry["requested_by"], entry["approved_by"]) == ("cw-1", "sv-1")
    assert entry["reason"] == ERASE_NOW
    assert str(file_id) in entry["key_ids"]
    assert app.privacy(INSPECTOR, file_id)["erased"]["approved_by"] == "sv-1"


def test_erasure_is_refused_while_a_case_of_the_child_is_open(app: Wardship) -> None:
    case_id = open_case(app)
    file_id = UUID(app.get_case(case_id)["child_id"])
    with pytest.raises(ActionNotAllowed, match="open cases"):
        app.request_erasure(CASEWORKER, file_id, ERASE_NOW)


def test_erasure_is_refused_under_legal_hold_until_it_is_lifted(app: Wardship) -> None:
    case_id, file_id = closed_case(app)
    app.request_erasure(CASEWORKER, file_id, ERASE_NOW)
    held = app.put_legal_hold(INSPECTOR, file_id, reason="court asked to keep the file",
                              reference="(2026)川1102民初1号", case_id=str(case_id))
    [hold] = held["holds"]
    with pytest.raises(ActionNotAllowed, match="legal hold"):
        app.approve_erasure(SUPERVISOR, file_id)
    assert child_of(app, case_id)["name"] == CHILD["name"]
    app.lift_legal_hold(SUPERVISOR, file_id, hold["hold_id"], "the court released it")
    app.approve_erasure(SUPERVISOR, file_id)
    assert child_of(app, case_id)["name"] == ERASED


def test_a_hold_needs_a_reason_and_reference_and_the_right_role(app: Wardship) -> None:
    _, file_id = closed_case(app)
    with pytest.raises(InvalidCommand, match="reference"):
        app.put_legal_hold(INSPECTOR, file_id, reason="court", reference=" ")
    with pytest.raises(ActionNotAllowed):
        app.put_legal_hold(CASEWORKER, file_id, reason="court", reference="ref-1")


def test_the_requester_does_not_approve_their_own_erasure(app: Wardship) -> None:
    _, file_id = closed_case(app)
    app.request_erasure(SUPERVISOR, file_id, ERASE_NOW)
    with pytest.raises(ApprovalRefused, match="another supervisor"):
        app.approve_erasure(SUPERVISOR, file_id)
    with pytest.raises(ApprovalRefused):
        app.approve_erasure(CASEWORKER, file_id)
    app.approve_erasure(SECOND_SUPERVISOR, file_id)


def test_nothing_personal_is_recorded_under_an_erased_childs_key(app: Wardship) -> None:
    case_id, file_id = closed_case(app)
    erase(app, file_id)
    with pytest.raises(InvalidCommand, match="erased"):
        app.perform(case_id, CASEWORKER, "add_note", {"text": "more about the child"})
    # A new report about the same child opens a file of its own.
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001", child=dict(CHILD),
        concern={"categories": ["neglect"], "summary": "again", "danger_now": False},
        source=dict(SOURCE))
    assert view["child_id"] != str(file_id)
    assert child_of(app, UUID(view["id"]))["name"] == CHILD["name"]


def test_a_box_copied_to_another_event_does_not_open(app: Wardship) -> None:
    case_id, _ = closed_case(app)
    records = app.recorder.select_events(case_id)
    note = next(r for r in records if r.topic.endswith("NoteAdded"))
    assert app.mapper.to_domain_event(note).text == NOTE  # type: ignore[attr-defined]
    for moved in (StoredEvent(note.originator_id, note.originator_version + 1, note.topic,
                              note.state),
                  StoredEvent(UUID(int=1), note.originator_version, note.topic, note.state)):
        with pytest.raises(MapperDeserialisationError, match="Failed to deserialise"):
            app.mapper.to_domain_event(moved)


def test_a_shredded_key_leaves_the_cache_at_once(app: Wardship) -> None:
    _, file_id = closed_case(app)
    assert str(file_id) in app.keyring.cached_ids()
    erase(app, file_id)
    assert str(file_id) not in app.keyring.cached_ids()
    assert app.keyring.is_destroyed(str(file_id))


def test_another_process_stops_showing_the_child_within_the_cache_ttl(db_url: str) -> None:
    env = {**event_store_env(db_url, CIPHER_KEY), "KEY_CACHE_TTL": "0.2"}
    with wardship_on(db_url) as app:
        other = Wardship(env=env)
        try:
            case_id, file_id = closed_case(app)
            assert child_of(other, case_id)["name"] == CHILD["name"]  # cached there
            erase(app, file_id)
            time.sleep(0.3)
            assert child_of(other, case_id)["name"] == ERASED
        finally:
            other.close()


def test_the_monitoring_record_is_erased_with_the_file(app: Wardship) -> None:
    _, file_id = closed_case(app)
    township = Actor("cs-1", frozenset({Role.CHILD_SUPERVISOR}), "511102001", "Invented CS")
    guardian = {"name": "Invented Grandmother", "relation": "grandmother",
                "phone": "13800000001"}
    app.monitoring_action(township, file_id, "start_monitoring", {
        "jurisdiction": "511102001001", "category": "left_behind", "risk_level": "medium",
        "risk_reason": "parents work away", "guardian": guardian})
    with pytest.raises(ActionNotAllowed, match="monitoring"):
        app.request_erasure(CASEWORKER, file_id, ERASE_NOW)
    app.monitoring_action(township, file_id, "stop_monitoring", {"reason": "moved away"})
    erase(app, file_id)
    assert app.monitoring(file_id).guardian["name"] == ERASED
    for record in app.recorder.select_notifications(0, 10_000):
        state = app.mapper.cipher.decrypt(record.state)  # type: ignore[union-attr]
        assert b"Invented Grandmother" not in state


def test_a_supervisor_exports_everything_held_about_the_child_on_record(
        app: Wardship) -> None:
    case_id, file_id = closed_case(app)
    with pytest.raises(ActionNotAllowed):
        app.subject_access(CASEWORKER, file_id, "guardian request 2026-11")
    export = app.subject_access(SUPERVISOR, file_id, "guardian request 2026-11")
    text = json.dumps(export, default=str, ensure_ascii=False)
    assert CHILD["name"] in text
    assert NOTE in text
    assert [e["kind"] for e in export["cases"][str(case_id)]][:2] == ["CaseOpened", "NoteAdded"]
    recorded = [e for e in app.events.get(file_id)
                if type(e).__name__ == "SubjectAccessExported"]
    assert [(e.exported_by, e.reference) for e in recorded] == [  # type: ignore[attr-defined]
        ("sv-1", "guardian request 2026-11")]


def test_keys_restored_from_before_an_erasure_are_destroyed_again(
        app: Wardship, db_url: str) -> None:
    case_id, file_id = closed_case(app)
    with psycopg.connect(db_url, autocommit=True) as conn:
        [backup] = conn.execute("SELECT wrapped, master_key_id FROM wardship_data_keys "
                                "WHERE key_id = %s", (str(file_id),)).fetchall()
        erase(app, file_id)
        # As a restore of a backup taken before the erasure leaves the table.
        conn.execute("ALTER TABLE wardship_data_keys DISABLE TRIGGER USER")
        conn.execute("UPDATE wardship_data_keys SET wrapped = %s, master_key_id = %s, "
                     "destroyed_at = NULL WHERE key_id = %s", (*backup, str(file_id)))
        conn.execute("ALTER TABLE wardship_data_keys ENABLE TRIGGER USER")
    with wardship_on(db_url) as restored:
        assert child_of(restored, case_id)["name"] == CHILD["name"]  # the backup's key
        assert restored.reapply_erasures() == 1
        assert child_of(restored, case_id)["name"] == ERASED


def test_an_import_row_of_an_erased_child_is_rejected_not_recorded(app: Wardship) -> None:
    admin = Actor("ad-1", frozenset({Role.ADMIN}), "511102")
    lines = school_roll(3, bad=False).text.splitlines()
    header = lines[0].split(",")
    rows = [(n + 2, dict(zip(header, line.split(","), strict=True)))
            for n, line in enumerate(lines[1:])]

    def run(digest: str, school: str) -> dict[str, Any]:
        job = app.start_import(admin, source="school_roll", jurisdiction="511102",
                               digest=digest, total_rows=len(rows))
        changed = [(line, {**cells, "school": school}) for line, cells in rows]
        return app.import_rows(admin, UUID(job["id"]), 0, changed, app.child_file_ids())

    run("first", "第一小学")
    [first, *_] = sorted(app.child_file_ids(), key=lambda f: app.child_file(f)["personal"]
                         ["name"])
    assert app.child_file(first)["personal"]["name"] == "学生0"
    erase(app, first)
    assert app.child_file(first)["personal"]["name"] == ERASED
    again = run("second", "第二小学")  # new details for every child
    assert again["rejected"] == 1
    assert "erased" in again["rejections"][0]["reason"]
    assert app.child_file(first)["personal"]["name"] == ERASED


def test_snapshots_hold_no_personal_data_once_erased(app: Wardship, db_url: str) -> None:
    case_id, file_id = closed_case(app)
    while app.get_case(case_id)["version"] < 105:  # a snapshot is taken at version 100
        app.perform(case_id, CASEWORKER, "add_note", {"text": "a closed case's note"})
    assert app.store.latest_snapshot_version(case_id) == 100
    erase(app, file_id)
    with wardship_on(db_url) as fresh:  # loads from the snapshot
        assert child_of(fresh, case_id)["name"] == ERASED
        assert fresh.verify_chain(case_id)["valid"]
    with psycopg.connect(db_url) as conn:
        for (state,) in conn.execute("SELECT state FROM wardship_snapshots").fetchall():
            assert shows_none(app.mapper.cipher.decrypt(bytes(state)).decode())  # type: ignore[union-attr]


def test_a_child_recorded_before_per_child_keys_is_not_falsely_erased(db_url: str) -> None:
    with before_per_child_keys(db_url) as before:
        case_id, file_id = closed_case(before)
    with wardship_on(db_url) as app:
        with pytest.raises(ActionNotAllowed, match="before per-child keys"):
            app.request_erasure(CASEWORKER, file_id, ERASE_NOW)
        assert child_of(app, case_id)["name"] == CHILD["name"]

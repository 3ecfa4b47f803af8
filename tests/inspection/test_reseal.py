"""Resealing a store recorded before per-child keys (issue 16, docs/privacy.md): the copy's
chains verify under chain version 2, a signed record links each old head to its new one,
and a child recorded before per-child keys can then be erased."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.inspection.casefile import build_case_file, check_case_file
from domain.actors import Actor
from domain.codes import Role
from domain.errors import ActionNotAllowed
from domain.personal import ERASED
from projections.registry import MODELS
from projections.runner import rebuild
from tests.conftest import new_database
from tests.inspection.support import (
    CASEWORKER,
    CHILD,
    CIPHER_KEY,
    SUPERVISOR,
    before_per_child_keys,
    wardship_on,
)
from tests.inspection.test_erasure import (
    ERASE_NOW,
    INSPECTOR,
    NOTE,
    closed_case,
    erase,
    shows_none,
)
from tests.projections.conftest import project_all, snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from uuid import UUID

    from domain.application import Wardship
    from domain.case import ProtectionCase

TOWNSHIP = Actor("cs-1", frozenset({Role.CHILD_SUPERVISOR}), "511102001", "Invented CS")
GUARDIAN = {"name": "Invented Grandmother", "relation": "grandmother", "phone": "13800000001"}
SIGNING_SEED = base64.b64encode(b"s" * 32).decode()
LATER_NOTE = "Invented-Wu the neighbour now looks in daily"


def legacy_store(db_url: str) -> tuple[UUID, UUID]:
    """A store written before per-child keys: a closed case with a note, its child's file
    and monitoring record; then a note recorded after the change (a mixed chain)."""
    with before_per_child_keys(db_url) as before:
        case_id, file_id = closed_case(before)
        before.monitoring_action(TOWNSHIP, file_id, "start_monitoring", {
            "jurisdiction": "511102001001", "category": "left_behind",
            "risk_level": "medium", "risk_reason": "parents work away", "guardian": GUARDIAN})
        before.monitoring_action(TOWNSHIP, file_id, "stop_monitoring",
                                 {"reason": "moved away"})
    with wardship_on(db_url) as app:
        app.perform(case_id, CASEWORKER, "add_note", {"text": LATER_NOTE})
        assert app.verify_chain(case_id)["valid"]
        with pytest.raises(ActionNotAllowed, match="before per-child keys"):
            app.request_erasure(CASEWORKER, file_id, ERASE_NOW)
    return case_id, file_id


def wardship(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`wardship ARGS` as an operator runs it, in its own process."""
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def target_url(database_url: str) -> Iterator[str]:
    with new_database(database_url, "test_reseal") as url:
        yield url


def operator_env(url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": url, "WARDSHIP_CIPHER_KEY": CIPHER_KEY,
            "WARDSHIP_EXPORT_SIGNING_KEY": SIGNING_SEED, "WARDSHIP_STATE_DIR": str(tmp_path)}


def head(app: Wardship, case_id: UUID) -> str:
    return str(app.case_events(case_id)[-1].hash)


def test_a_resealed_store_verifies_links_its_heads_and_lets_the_child_be_erased(
        db_url: str, target_url: str, tmp_path: Path) -> None:
    case_id, file_id = legacy_store(db_url)
    with wardship_on(db_url) as source:
        old_head = head(source, case_id)
        old_history = [(type(e).__name__, e.originator_version, e.timestamp)
                       for e in source.case_events(case_id)]
        old_as_of = source.case_as_of(case_id, version=2)
        at_note = source.case_as_of(case_id, as_of=old_history[3][2])

    links_file = tmp_path / "links.json"
    done = wardship("reseal", "--target", target_url, "--links-out", str(links_file),
                    env=operator_env(db_url, tmp_path))
    assert done.returncode == 0, done.stderr
    assert "resealing events" in done.stderr  # the progress bar
    checked = wardship("verify", "--all", "--links", env=operator_env(target_url, tmp_path))
    assert checked.returncode == 0, checked.stdout
    assert "OK: every chain verifies" in checked.stdout
    assert "OK: link record 1" in checked.stdout

    with wardship_on(target_url) as app:
        # The same history, each event now sealed under the child's key.
        history = app.case_events(case_id)
        assert [(type(e).__name__, e.originator_version, e.timestamp)
                for e in history] == old_history
        assert all(e.seal for e in history if type(e).__name__ in ("CaseOpened", "NoteAdded"))
        assert app.case_as_of(case_id, version=2) == old_as_of
        assert app.case_as_of(case_id, as_of=old_history[3][2]) == at_note  # the time index
        assert app.child_file(file_id)["personal"]["name"] == CHILD["name"]
        # The link record names the old head beside the new one.
        document = json.loads(links_file.read_text("utf-8"))
        [link] = document["links"]
        assert link == {"case_id": str(case_id), "version": len(history),
                        "old_head": old_head, "new_head": head(app, case_id)}
        assert old_head != link["new_head"]
        # Events with nothing personal and no chain (the monitoring record's stop) are
        # copied as they are.
        assert 0 < document["resealed"] < document["events"]

        # Erasable now, and erased: nothing personal is readable, and every chain verifies.
        erase(app, file_id)
        assert app.get_case_aggregate(case_id).child["name"] == ERASED
        assert app.get_case_aggregate(case_id, 1).child["id_number"] == ERASED
        assert app.monitoring(file_id).guardian["name"] == ERASED
        history = app.case_events(case_id)
        assert shows_none(json.dumps([vars(e) for e in history], default=str))
        assert LATER_NOTE not in json.dumps([vars(e) for e in history], default=str)
        assert shows_none(json.dumps(app.child_file(file_id), default=str))
        assert app.verify_chain(case_id)["valid"]
        exported = build_case_file(
            case_id=str(case_id), events=history, policy=app.policy,
            stored_chain=app.verify_chain(case_id), exported_at=datetime.now(UTC),
            exported_by=INSPECTOR, key=Ed25519PrivateKey.generate())
        assert shows_none(json.dumps(exported, ensure_ascii=False))
        assert check_case_file(exported).valid
        with psycopg.connect(target_url, autocommit=True) as conn:
            project_all(app, conn)
            for model_class in MODELS.values():
                rebuild(model_class(), app, conn)
            assert shows_none(json.dumps(snapshot(conn), default=str, ensure_ascii=False))
        for record in app.recorder.select_notifications(0, 10_000):
            state = app.mapper.cipher.decrypt(record.state).decode()  # type: ignore[union-attr]
            assert shows_none(state)
            assert GUARDIAN["name"] not in state
            assert LATER_NOTE not in state
    after = wardship("verify", "--all", "--links", env=operator_env(target_url, tmp_path))
    assert after.returncode == 0, after.stdout


def test_a_changed_link_record_or_event_in_the_target_fails_verification(
        db_url: str, target_url: str, database_url: str, tmp_path: Path) -> None:
    case_id, _ = legacy_store(db_url)
    assert wardship("reseal", "--target", target_url,
                    env=operator_env(db_url, tmp_path)).returncode == 0
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE wardship_reseal_links DISABLE TRIGGER USER")
        # One hex digit of the old head, turned into another (a digit already 0 would stay
        # as it was): the record no longer matches its signature.
        conn.execute("UPDATE wardship_reseal_links SET document = overlay(document placing "
                     "translate(substr(document, strpos(document, 'old_head') + 11, 1), "
                     "'0123456789abcdef', '123456789abcdef0') "
                     "from strpos(document, 'old_head') + 11 for 1)")
    checked = wardship("verify", "--links", env=operator_env(target_url, tmp_path))
    assert checked.returncode == 1
    assert "signature does not match" in checked.stdout
    assert "INVALID: link record 1" in checked.stdout
    # A second copy whose event the record vouches for was changed afterwards.
    with new_database(database_url, "test_reseal") as second:
        assert wardship("reseal", "--target", second,
                        env=operator_env(db_url, tmp_path)).returncode == 0
        with psycopg.connect(second, autocommit=True) as conn:
            conn.execute("ALTER TABLE wardship_events DISABLE TRIGGER USER")
            conn.execute("UPDATE wardship_events SET state = overlay(state placing '\\x00' "
                         "from 40 for 1) WHERE originator_id = %s AND originator_version = 1",
                         (case_id,))
        changed = wardship("verify", "--links", env=operator_env(second, tmp_path))
        assert changed.returncode == 1
        assert f"case {case_id}: its chain breaks at event 1" in changed.stdout


def test_a_stopped_copy_continues_and_a_finished_one_is_refused(
        db_url: str, target_url: str, tmp_path: Path) -> None:
    case_id, file_id = legacy_store(db_url)
    from domain.reseal import reseal

    # As if stopped after the first page: two events per page, then the copy fails.
    with wardship_on(db_url) as source, wardship_on(target_url) as target:
        pages = []

        def stop_after_one(n: int) -> None:
            pages.append(n)
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            reseal(source, target, page=2, progress=stop_after_one)
        assert target.recorder.max_notification_id() == 2
    env = operator_env(db_url, tmp_path)
    assert wardship("reseal", "--target", target_url, env=env).returncode == 0
    checked = wardship("verify", "--all", "--links", env=operator_env(target_url, tmp_path))
    assert checked.returncode == 0, checked.stdout
    with wardship_on(target_url) as app:
        erase(app, file_id)
        assert app.get_case_aggregate(case_id).child["name"] == ERASED
    again = wardship("reseal", "--target", target_url, env=env)
    assert again.returncode == 1
    assert "already holds a link record" in again.stderr


def test_an_erased_child_and_a_long_case_are_copied_as_they_are(
        db_url: str, target_url: str, tmp_path: Path) -> None:
    with wardship_on(db_url) as app:
        erased_case, erased_file = closed_case(app)
        erase(app, erased_file)
        long_case, _ = closed_case(app)
        # The same child again: a new file, as after any erasure.
        while app.get_case(long_case)["version"] < 105:
            app.perform(long_case, CASEWORKER, "add_note", {"text": NOTE})
        heads = {c: head(app, c) for c in (erased_case, long_case)}
    done = wardship("reseal", "--target", target_url, env=operator_env(db_url, tmp_path))
    assert done.returncode == 0, done.stderr
    assert "resealed 0 of" in done.stdout
    with wardship_on(target_url) as app:
        # Sealed already: the chains, so the heads, are unchanged.
        assert {c: head(app, c) for c in heads} == heads
        assert app.get_case_aggregate(erased_case).child["name"] == ERASED
        assert app.store.latest_snapshot_version(long_case) == 100
        case: ProtectionCase = app.get_case_aggregate(long_case)
        assert case.version >= 105
        assert app.verify_chain(long_case)["valid"]
        assert app.privacy(SUPERVISOR, erased_file)["erased"]["approved_by"] == "sv-1"

"""`wardship keys rotate` (issue 16): every data key re-wrapped under the new master key while
cases are being recorded; nothing is lost, and the old master key can then be retired."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING
from uuid import UUID

from api.cli import main as wardship
from api.settings import get_settings
from deploy.migrate import apply_migrations
from domain.application import Wardship
from domain.storage import event_store_env
from tests.inspection.support import CASEWORKER, CHILD, CIPHER_KEY, SOURCE

if TYPE_CHECKING:
    import pytest

M1 = "m1:" + base64.b64encode(b"1" * 32).decode()
M2 = "m2:" + base64.b64encode(b"2" * 32).decode()


def wardship_with(db_url: str, master_keys: str) -> Wardship:
    return Wardship(env={**event_store_env(db_url, CIPHER_KEY), "MASTER_KEYS": master_keys})


def report(app: Wardship, n: int) -> UUID:
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001",
        child={**CHILD, "id_number": None, "name": f"Invented Child {n}"},
        concern={"categories": ["neglect"], "summary": "x", "danger_now": False},
        source=dict(SOURCE))
    return UUID(view["id"])


def test_rotation_under_load_loses_nothing_and_retires_the_old_master_key(
        db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = wardship_with(db_url, M1)
    apply_migrations(db_url)
    cases = {report(old, n): f"Invented Child {n}" for n in range(60)}
    old.close()

    monkeypatch.setenv("WARDSHIP_DATABASE_URL", db_url)
    monkeypatch.setenv("WARDSHIP_CIPHER_KEY", CIPHER_KEY)
    monkeypatch.setenv("WARDSHIP_MASTER_KEYS", f"{M2},{M1}")
    get_settings.cache_clear()
    # The service goes on recording (new children, notes under old keys) during the rotation.
    busy = wardship_with(db_url, f"{M2},{M1}")
    stop = threading.Event()

    def load() -> None:
        n = 1000
        while not stop.is_set():
            cases[report(busy, n)] = f"Invented Child {n}"
            case_id = next(iter(cases))
            busy.perform(case_id, CASEWORKER, "add_note", {"text": f"note {n}"})
            n += 1

    writer = threading.Thread(target=load)
    writer.start()
    try:
        assert wardship(["keys", "rotate", "--batch", "7"]) == 0
    finally:
        stop.set()
        writer.join()
        busy.close()
        get_settings.cache_clear()
    assert "re-wrapped" in capsys.readouterr().out
    assert wardship(["keys", "status"]) == 0
    status = capsys.readouterr().out
    assert "m1:" not in status  # no key left under the old master key
    get_settings.cache_clear()

    retired = wardship_with(db_url, M2)  # the old master key is gone
    try:
        for case_id, name in cases.items():
            assert retired.get_case_aggregate(case_id).child["name"] == name
        assert retired.verify_chain(next(iter(cases)))["valid"]
    finally:
        retired.close()

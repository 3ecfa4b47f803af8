"""Master keys in an HSM (issue 16): each child's data key is wrapped inside a PKCS#11 token
whose master keys never leave it, bound to the child, rotated into the token from the local
keys and between the token's keys. Run against a real SoftHSM2 token made for the session."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pkcs11
import pytest
from cryptography.exceptions import InvalidTag

from api.bootstrap import bootstrap
from api.cli import main as wardship
from api.settings import Settings, get_settings
from deploy.hsm import KeyProviderError, Pkcs11KeyProvider
from deploy.migrate import apply_migrations
from domain.keyring import Keyring, MemoryKeyTable
from domain.personal import ERASED
from tests.inspection.support import (
    CASEWORKER,
    CHILD,
    CIPHER_KEY,
    SOURCE,
    SUPERVISOR,
    open_case,
    wardship_on,
)
from tests.softhsm import MODULE, Token

if TYPE_CHECKING:
    from collections.abc import Iterator

    from domain.application import Wardship

_REPO = Path(__file__).resolve().parents[2]


def provider(hsm_token: Token, *labels: str) -> Pkcs11KeyProvider:
    return Pkcs11KeyProvider(MODULE, hsm_token.label, hsm_token.pin, labels)


def hsm_settings(db_url: str, hsm_token: Token, keys: str) -> Settings:
    return Settings(database_url=db_url, cipher_key=CIPHER_KEY, key_provider="pkcs11",
                    pkcs11_token=hsm_token.label, pkcs11_pin=hsm_token.pin, pkcs11_keys=keys)


@contextlib.contextmanager
def built(settings: Settings) -> Iterator[Wardship]:
    """The application as every process builds it, on a migrated database."""
    app = bootstrap(settings, create_tables=True)
    assert settings.database_url is not None
    apply_migrations(settings.database_url)
    try:
        yield app
    finally:
        app.close()


def report(app: Wardship, n: int) -> UUID:
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001",
        child={**CHILD, "id_number": None, "name": f"Invented Child {n}"},
        concern={"categories": ["neglect"], "summary": "x", "danger_now": False},
        source=dict(SOURCE))
    return UUID(view["id"])


def test_a_data_key_wrapped_in_the_token_unwraps_only_for_its_own_child(
        hsm_token: Token) -> None:
    ring = Keyring(MemoryKeyTable(), provider(hsm_token, "hsm-1"))
    key = ring.data_key("child-1", create=True)
    row = ring.table.get("child-1")
    assert row is not None
    assert row.wrapped is not None
    assert row.master_key_id == "hsm-1"
    assert key not in row.wrapped
    # A process that never saw the key unwraps it through the token.
    assert Keyring(ring.table, provider(hsm_token, "hsm-1")).data_key("child-1") == key
    # The wrapped key copied to another child's row does not unwrap.
    ring.table.insert("child-2", row.wrapped, row.master_key_id)
    with pytest.raises(InvalidTag):
        Keyring(ring.table, provider(hsm_token, "hsm-1")).data_key("child-2")


def test_master_keys_that_could_leave_the_token_or_are_not_there_are_refused(
        hsm_token: Token) -> None:
    with pytest.raises(KeyProviderError, match="can leave the token"):
        provider(hsm_token, "loose")
    with pytest.raises(KeyProviderError, match="no AES key labelled 'hsm-9'"):
        provider(hsm_token, "hsm-1", "hsm-9")


def test_threads_wrap_and_unwrap_at_once_and_the_provider_survives_a_module_restart(
        hsm_token: Token) -> None:
    hsm = provider(hsm_token, "hsm-1")
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                key, context = os.urandom(32), f"child-{n}-{i}".encode()
                assert hsm.unwrap(hsm.wrap(key, context), "hsm-1", context) == key
        except BaseException as error:  # an assertion in a thread fails the test here
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    wrapped = hsm.wrap(b"k" * 32, b"child-x")
    # The module restarts (every session is gone): the providers made before and after it
    # log in again.
    pkcs11.lib(MODULE).reinitialize()
    assert provider(hsm_token, "hsm-1").unwrap(wrapped, "hsm-1", b"child-x") == b"k" * 32
    assert hsm.unwrap(wrapped, "hsm-1", b"child-x") == b"k" * 32


def test_the_application_on_postgresql_keeps_children_keys_in_the_hsm_and_erases_them(
        db_url: str, hsm_token: Token) -> None:
    settings = hsm_settings(db_url, hsm_token, "hsm-1")
    with built(settings) as app:
        case_id = open_case(app)
        file_id = UUID(app.get_case(case_id)["child_id"])
        app.perform(case_id, CASEWORKER, "screen_out", {"reason": "handled by the school"})
        assert set(app.keyring.table.counts()) == {"hsm-1"}
    # A process that never saw the child reads the child's details through the token.
    with built(settings) as fresh:
        assert fresh.get_case_aggregate(case_id).child["name"] == CHILD["name"]
        fresh.request_erasure(CASEWORKER, file_id, "the guardian's lawful request (invented)")
        fresh.approve_erasure(SUPERVISOR, file_id)
        assert fresh.get_case_aggregate(case_id).child["name"] == ERASED
    with built(settings) as later:
        assert later.get_case_aggregate(case_id).child["name"] == ERASED
        assert later.verify_chain(case_id)["valid"]


def test_rotation_moves_keys_from_the_local_master_key_into_the_hsm_resuming_a_stopped_run(
        db_url: str, hsm_token: Token, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with wardship_on(db_url) as local:  # the master key derived from the cipher key
        cases = {report(local, n): f"Invented Child {n}" for n in range(12)}

    class Stopped(Exception):
        pass

    rewrapped: list[int] = []

    def stop_at_five(n: int) -> None:
        rewrapped.append(n)
        if len(rewrapped) == 5:
            raise Stopped

    with built(hsm_settings(db_url, hsm_token, "hsm-1")) as app:
        # Until rotated, the local key still unwraps; new children's keys go into the HSM.
        first = next(iter(cases))
        assert app.get_case_aggregate(first).child["name"] == cases[first]
        cases[report(app, 100)] = "Invented Child 100"
        with pytest.raises(Stopped):
            app.keyring.rotate(batch=3, progress=stop_at_five)
        assert app.keyring.table.counts() == {"hsm-1": 6, "cipher-key": 7}

    # The run is started again, as an operator would, with the PIN in a mounted file.
    pin_file = tmp_path / "pin"
    pin_file.write_text(hsm_token.pin + "\n")
    for name, value in (("DATABASE_URL", db_url), ("CIPHER_KEY", CIPHER_KEY),
                        ("KEY_PROVIDER", "pkcs11"), ("PKCS11_TOKEN", hsm_token.label),
                        ("PKCS11_PIN_FILE", str(pin_file)), ("PKCS11_KEYS", "hsm-1")):
        monkeypatch.setenv(f"WARDSHIP_{name}", value)
    get_settings.cache_clear()
    try:
        assert wardship(["keys", "rotate"]) == 0
        assert "re-wrapped 7 data keys under master key hsm-1" in capsys.readouterr().out
        # Then from one key of the HSM to another.
        monkeypatch.setenv("WARDSHIP_PKCS11_KEYS", "hsm-2,hsm-1")
        get_settings.cache_clear()
        assert wardship(["keys", "rotate"]) == 0
        assert wardship(["keys", "status"]) == 0
        status = capsys.readouterr().out
        assert "hsm-2: 13" in status
        assert "hsm-1:" not in status
        assert "cipher-key:" not in status
    finally:
        get_settings.cache_clear()

    with built(hsm_settings(db_url, hsm_token, "hsm-2")) as retired:  # hsm-1 retired
        for case_id, name in cases.items():
            assert retired.get_case_aggregate(case_id).child["name"] == name


def test_a_wrong_pin_stops_startup_with_a_clear_error_that_does_not_show_the_pin(
        db_url: str, hsm_token: Token, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("wrong-pin-4471\n")
    env = {**os.environ, "PYTHONPATH": str(_REPO), "SOFTHSM2_CONF": str(hsm_token.conf),
           "WARDSHIP_DATABASE_URL": db_url, "WARDSHIP_CIPHER_KEY": CIPHER_KEY,
           "WARDSHIP_KEY_PROVIDER": "pkcs11", "WARDSHIP_PKCS11_TOKEN": hsm_token.label,
           "WARDSHIP_PKCS11_PIN_FILE": str(pin_file), "WARDSHIP_PKCS11_KEYS": "hsm-1"}
    done = subprocess.run([sys.executable, "-m", "api.cli", "keys", "status"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"the PKCS#11 token {hsm_token.label!r} refused the PIN" in done.stderr
    assert "4471" not in done.stdout + done.stderr

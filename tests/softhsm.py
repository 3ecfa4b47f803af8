"""A real SoftHSM2 token for tests of the HSM key provider, in a directory of its own."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType

if TYPE_CHECKING:
    from collections.abc import Iterator

MODULE = "/usr/lib/softhsm/libsofthsm2.so"  # Debian's softhsm2


@dataclass(frozen=True)
class Token:
    """A token: its configuration file (SOFTHSM2_CONF), label and user PIN."""

    conf: Path
    label: str
    pin: str


@contextlib.contextmanager
def softhsm_token(root: Path) -> Iterator[Token]:
    """A token under `root` holding master keys hsm-1 and hsm-2 (AES-256, not extractable)
    and `loose`, one that could leave the token; skips when SoftHSM2 is not installed.

    SoftHSM reads SOFTHSM2_CONF when a process first loads it: one token per test process."""
    if shutil.which("softhsm2-util") is None or not Path(MODULE).exists():
        pytest.skip("SoftHSM2 is not installed: `apt-get install softhsm2` (.ci/run installs "
                    "it) to run the HSM key tests")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    made = Token(conf, "wardship-test", "4321-user")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOFTHSM2_CONF", str(conf))  # for this process and its subprocesses
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", made.label,
                        "--pin", made.pin, "--so-pin", "8765-so"],
                       check=True, capture_output=True)
        # Closing this session logs the process out: the providers log in themselves.
        with pkcs11.lib(MODULE).get_token(token_label=made.label).open(
                rw=True, user_pin=made.pin) as session:
            for label, extractable in (("hsm-1", False), ("hsm-2", False), ("loose", True)):
                session.generate_key(KeyType.AES, 256, label=label, store=True, template={
                    Attribute.EXTRACTABLE: extractable, Attribute.SENSITIVE: not extractable})
        yield made

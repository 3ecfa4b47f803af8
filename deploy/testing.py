"""Database servers for test sessions: the one in DATABASE_URL, else a throwaway embedded one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.postgres import FAST_UNSAFE, EmbeddedPostgres

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def session_database_url() -> Iterator[str]:
    """Yield a superuser URL: `DATABASE_URL` if set, else a fresh embedded cluster for the session.

    The embedded cluster runs without fsync under a temporary directory and is deleted after.
    """
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    folder = Path(tempfile.mkdtemp(prefix="wardship-test-pg-"))
    server = EmbeddedPostgres(folder / "pg", preferred_port=None, settings=FAST_UNSAFE)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

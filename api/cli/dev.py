"""`wardship dev`: the whole service on one machine, as `./run` starts it.

Starts embedded PostgreSQL (unless DATABASE_URL is set) and the Temporal dev server (unless
TEMPORAL_ADDRESS is set), runs `wardship migrate` once, then every child in `CHILDREN`,
restarting any that dies (with backoff) until Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    from api.settings import Settings
    from deploy.postgres import EmbeddedPostgres
    from deploy.supervisor import Supervisor
    from deploy.temporal import TemporalDevServer


@dataclass(frozen=True)
class DevChild:
    """A long-running `wardship <args>` process."""

    name: str
    args: tuple[str, ...]


CHILDREN: tuple[DevChild, ...] = (
    DevChild("api", ("api",)),
    DevChild("worker", ("worker",)),
    DevChild("projections", ("projections", "run")),
)
MARKER = "api.cli"  # in every child's command line; tells our leftovers from other programs


def run(args: argparse.Namespace) -> int:
    """Start the stack, serve (restarting children that die) until a signal, then stop
    everything."""
    del args
    from api.logs import configure_logging
    from api.settings import get_settings
    from deploy import ports, processes
    from deploy.postgres import EmbeddedPostgres
    from deploy.supervisor import Child, Supervisor, supervised
    from deploy.temporal import TemporalDevServer

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    run_dir = settings.state_dir / "run"
    lock = run_dir / "supervisor.pid"
    other = processes.read_pid_file(lock)
    if other and processes.is_alive(int(other[0])) and MARKER in processes.command_line(
        int(other[0])
    ):
        print(f"wardship dev is already running (pid {other[0]})", file=sys.stderr)
        return 1
    processes.write_pid_file(lock, os.getpid())

    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    try:
        with supervised(Supervisor(run_dir, MARKER)) as supervisor:
            supervisor.stop_leftovers([child.name for child in CHILDREN])
            if not ports.is_free(settings.port, settings.host):
                print(f"port {settings.port} is in use: set WARDSHIP_PORT", file=sys.stderr)
                return 1
            env = dict(os.environ)
            if settings.database_url is None:
                postgres = EmbeddedPostgres(settings.state_dir / "pg")
                env["DATABASE_URL"] = postgres.start()
            if settings.temporal_address is None:
                temporal = TemporalDevServer(settings.state_dir)
                env["TEMPORAL_ADDRESS"] = temporal.start()
            # Create development keys once, before several children race to create them.
            settings.effective_cipher_key()
            settings.effective_jwt_secret()
            # The one schema change, before any service starts: the services issue no DDL.
            migrated = subprocess.run(  # noqa: S603 - our own command
                (sys.executable, "-m", MARKER, "migrate"), env=env, check=False
            )
            if migrated.returncode != 0:
                print("wardship migrate failed; not starting the services", file=sys.stderr)
                return 1
            for child in CHILDREN:
                argv = (sys.executable, "-m", MARKER, *child.args)
                supervisor.start(Child(child.name, argv), env)
            _wait_ready(settings, supervisor)
            # The invented Leshan demo set, once: `demo --if-empty` skips a store holding events.
            supervisor.run_once((sys.executable, "-m", MARKER, "demo", "--if-empty"), env)
            _print_banner(settings, postgres, temporal)
            supervisor.supervise()
    finally:
        # After the children stopped (the `with` above), the servers they used.
        if temporal is not None:
            temporal.stop()
        if postgres is not None:
            postgres.stop()
        lock.unlink(missing_ok=True)
    return 0


def _wait_ready(settings: Settings, supervisor: Supervisor, timeout: float = 60.0) -> None:
    import httpx

    url = f"http://{settings.host}:{settings.port}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check()  # a child that dies while starting is restarted
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    print(f"not ready after {timeout:.0f}s: see {url}", file=sys.stderr)


def _print_banner(
    settings: Settings,
    postgres: EmbeddedPostgres | None,
    temporal: TemporalDevServer | None,
) -> None:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "Wardship is running (a process that dies is restarted; Ctrl-C stops everything)",
        f"  API          {base}   docs {base}/docs   readiness {base}/readyz",
        f"  processes    {', '.join(child.name for child in CHILDREN)} (logs in this terminal)",
    ]
    if postgres is not None:
        lines.append(f"  PostgreSQL   {postgres.url}   log {postgres.log_file}")
    else:
        lines.append("  PostgreSQL   DATABASE_URL")
    if temporal is not None:
        ui = f"http://{settings.host}:{temporal.ui_port}" if temporal.ui_port else "headless"
        lines.append(f"  Temporal     {temporal.address}   UI {ui}   log {temporal.log_file}")
    else:
        lines.append(f"  Temporal     {settings.temporal_address}")
    print("\n".join(lines) + "\n", flush=True)


COMMAND = Command("dev", "run the whole service locally (what ./run starts)", run)

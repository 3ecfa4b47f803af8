"""`wardship worker`: the Temporal worker for case deadlines, plus the relay from the event log.

With `WARDSHIP_WORKER_PROCESSES` above one (the default is one per core) this process only
supervises: it starts that many `wardship worker` children on the same task queue, restarts
one that dies, and stops them all on SIGTERM/SIGINT/SIGHUP.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from api.cli.command import Command

if TYPE_CHECKING:
    import argparse

    from pydantic import SecretStr

    from api.settings import Settings


def run(args: argparse.Namespace) -> int:
    """Build the application, then hand it and plain values to `workflows.worker`."""
    del args
    from api.bootstrap import bootstrap
    from api.logs import configure_logging
    from api.settings import get_settings
    from deploy.collector import tune_collector
    from workflows.worker import WorkerConfig
    from workflows.worker import run as run_worker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.database_url is None or settings.temporal_address is None:
        print("wardship worker needs DATABASE_URL and TEMPORAL_ADDRESS "
              "(`wardship dev` sets both)", file=sys.stderr)
        return 2
    processes = settings.effective_worker_processes()
    if processes > 1:
        return supervise(settings, processes)

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    config = WorkerConfig(
        temporal_address=settings.temporal_address,
        task_queue=settings.task_queue, namespace=settings.temporal_namespace,
        webhook_secret=secret(settings.webhook_secret), smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port, smtp_from=settings.smtp_from,
        smtp_security=settings.smtp_security, smtp_user=settings.smtp_user,
        smtp_password=secret(settings.smtp_password),
        sms_gateway_url=settings.sms_gateway_url,
        sms_gateway_token=secret(settings.sms_gateway_token), public_url=settings.public_url,
        hotline_reply_url=settings.hotline_reply_url,
        wake_early=settings.deadline_wake_early,
        caps=settings.worker_caps(),
        heartbeat_file=settings.heartbeat_file, parent_pid=settings.worker_parent,
    )
    app = bootstrap(settings.model_copy(update={"save_timeout": settings.worker_save_timeout}))
    tune_collector()
    try:
        return run_worker(config, app)
    finally:
        app.close()


def supervise(settings: Settings, processes: int) -> int:
    """Run `processes` one-process workers until a stop signal; a child that dies is started
    again (after a backoff when it keeps dying), as `wardship dev` does with its children.

    Each child polls the task queue with its own client, so Temporal spreads workflow tasks
    over them; the relay and the hotline replies run in one child at a time (their leases).
    A child whose parent is gone stops by itself (`worker_parent`), so none outlives a
    supervisor killed outright.
    """
    from deploy.supervisor import Child, Supervisor, supervised

    names = [f"worker-{index}" for index in range(1, processes + 1)]
    env = {**os.environ, "WARDSHIP_WORKER_PROCESSES": "1",
           "WARDSHIP_WORKER_PARENT": str(os.getpid())}
    with supervised(Supervisor(settings.state_dir / "run", MARKER)) as supervisor:
        supervisor.stop_leftovers(names)
        for name in names:
            supervisor.start(Child(name, (sys.executable, "-m", MARKER, "worker")), env)
        supervisor.supervise()
    return 0


MARKER = "api.cli"  # in every child's command line; tells our leftovers from other programs
COMMAND = Command("worker", "run the deadline workflows worker and the event relay", run)

"""The retention workflow's activity: propose the erasures that fell due (no personal data
in its answer or logs: a count)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from temporalio import activity

if TYPE_CHECKING:
    from collections.abc import Callable

    from domain.application import Wardship

log = structlog.get_logger("wardship.retention")


class RetentionActivities:
    """Activities on the application for `RetentionWorkflow`."""

    def __init__(self, app: Wardship) -> None:
        self.app = app

    @activity.defn(name="propose_retention_erasures")
    def propose_retention_erasures(self) -> int:
        """Ask for each erasure due; how many were asked for."""
        proposed = self.app.propose_retention_erasures()
        log.info("retention_proposed", count=len(proposed))
        return len(proposed)

    def all(self) -> list[Callable[..., Any]]:
        """The activity callables to register with a worker."""
        return [self.propose_retention_erasures]

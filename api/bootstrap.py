"""The one place a Wardship application is built, for every process (API, worker, runners, CLI).

From the settings: the event store and its cipher, the deadline policy; then the project's
migrations, so a process never runs against tables older than its code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploy.migrate import apply_migrations
from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env

if TYPE_CHECKING:
    from collections.abc import Mapping

    from api.settings import Settings


def bootstrap(
    settings: Settings, *, pool_size: int = 5, tuning: Mapping[str, str] | None = None
) -> Wardship:
    """The Wardship application for `settings`, its migrations applied when on PostgreSQL.

    `pool_size` is the event store's connection pool; `tuning` overrides eventsourcing
    settings of a PostgreSQL store (the API turns the pre-ping off).
    """
    env = event_store_env(settings.database_url, settings.effective_cipher_key(),
                          pool_size=pool_size)
    if settings.database_url is not None:
        env.update(tuning or {})
    wardship = Wardship(env=env, policy=load_policy(settings.policy))
    if settings.database_url is not None:
        # After the constructor: it creates the events table the migrations refer to.
        apply_migrations(settings.database_url)
    return wardship

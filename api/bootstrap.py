"""The one place a Wardship application is built, for every process (API, worker, runners, CLI).

From the settings: the event store and its cipher, the deadline policy. The services never
change the schema: only `wardship migrate` (`create_tables=True`, as the tables' owner) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.application import Wardship
from domain.policy import load_policy
from domain.storage import event_store_env

if TYPE_CHECKING:
    from collections.abc import Mapping

    from api.settings import Settings


def bootstrap(
    settings: Settings, *, pool_size: int = 5, tuning: Mapping[str, str] | None = None,
    create_tables: bool = False,
) -> Wardship:
    """The Wardship application for `settings`.

    `pool_size` is the event store's connection pool; `tuning` overrides eventsourcing
    settings of a PostgreSQL store (the API turns the pre-ping off). Only with `create_tables`
    does eventsourcing issue its CREATE TABLE statements (`wardship migrate`).
    """
    env = event_store_env(settings.database_url, settings.effective_cipher_key(),
                          pool_size=pool_size)
    if settings.database_url is not None:
        # Set here, whatever the process environment says: a service never issues DDL.
        env["CREATE_TABLE"] = "y" if create_tables else "n"
        env.update(tuning or {})
    return Wardship(env=env, policy=load_policy(settings.policy))

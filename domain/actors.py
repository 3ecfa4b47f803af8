"""Who performs a command, and the when and how of it (the command context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from domain.codes import Grade, Role

if TYPE_CHECKING:
    from domain.policy import Policy

# How far ahead of the server's clock a client's occurred_at may be before it is refused.
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Actor:
    """A person (or the system) with roles, acting within a division code."""

    subject: str
    roles: frozenset[Role]
    jurisdiction: str
    name: str = ""

    @property
    def role(self) -> Role:
        """The most senior role, recorded on events."""
        for role in (Role.ADMIN, Role.SUPERVISOR, Role.CASEWORKER, Role.CHILD_SUPERVISOR,
                     Role.CHILD_DIRECTOR, Role.INSPECTOR, Role.REPORTER, Role.HOTLINE):
            if role in self.roles:
                return role
        return Role.SYSTEM


SYSTEM = Actor(subject="wardship", roles=frozenset({Role.SYSTEM}), jurisdiction="")


@dataclass(frozen=True)
class Context:
    """The actor, when the act happened, the server's clock and the case's policy."""

    actor: Actor
    policy: Policy | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    occurred_at: datetime | None = None
    # The id a retry of the same command carries (None: a service command, judged idempotent).
    command_id: str | None = None

    @property
    def when(self) -> datetime:
        return self.occurred_at or self.now

    def due(self, kind: str, grade: Grade | None = None) -> datetime | None:
        """When a deadline of kind whose clock starts with this act falls due."""
        if self.policy is None:
            raise TypeError("this command needs the case's policy in its context")
        return self.policy.due_at(kind, grade, self.when)

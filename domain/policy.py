"""The versioned deadline policy: which step is due how long after its clock starts."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from domain.calendar import WorkingCalendar, calendar_for
from domain.codes import Grade, RiskLevel
from domain.durations import Duration
from domain.errors import PolicyError
from domain.patterns import PatternRule, parse_patterns
from domain.retention import DEFAULT_RETENTION, Retention, parse_retention

if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from pathlib import Path

# Kinds whose figure may differ by grade, and the grades each must then cover.
GRADED_KINDS: dict[str, tuple[Grade, ...]] = {
    "response_dispatch": (Grade.RED, Grade.ORANGE),
    "emergency_completion": (Grade.RED, Grade.ORANGE),
    "assessment": tuple(Grade),
    "home_visit": tuple(Grade),
}
KINDS = (
    "report_filing", "intake", "intake_danger", "response_dispatch", "emergency_completion",
    "assessment", "plan_creation", "home_visit", "referral_response", "guardianship_review",
    "case_review", "approval",
)
# Monitoring and the hotline desk (监测预防, 12345): a policy without them runs no monitoring.
OPTIONAL_KINDS = ("visit", "child_file_review", "care_agreement_renewal", "hotline_reply")
# Kinds whose figure differs by guardianship risk level, each level required.
RISK_KINDS: dict[str, tuple[RiskLevel, ...]] = {"visit": tuple(RiskLevel)}
# Service deadlines take their due date from the plan, not from the policy.
SERVICE_DELIVERY = "service_delivery"
DEFAULT_POLICY = "cn-default-1.toml"
# When the morning digest of non-urgent misses goes out (China Standard Time, working days).
DEFAULT_DIGEST_AT = time(8, 30)


@dataclass(frozen=True)
class Policy:
    """A validated policy file: deadline durations by kind and grade, the escalation ladder,
    the digest time and the pattern rules."""

    version: str
    calendar_country: str
    # kind -> {grade or risk level (None: the same for all) -> duration}
    durations: dict[str, dict[str | None, Duration]]
    escalation_levels: tuple[timedelta, ...]
    digest_at: time = DEFAULT_DIGEST_AT
    # Patterns over a child's signals that alarm the township (`domain.patterns`).
    patterns: tuple[PatternRule, ...] = ()
    # How long a child's personal data is kept (`domain.retention`).
    retention: Retention = DEFAULT_RETENTION

    @property
    def calendar(self) -> WorkingCalendar:
        return calendar_for(self.calendar_country)

    def duration(self, kind: str, grade: str | None) -> Duration | None:
        """The duration for kind at a grade (or a risk level, for visits); None where none is
        set (yellow dispatch, or monitoring under a policy without it)."""
        table = self.durations.get(kind, {})
        return table.get(None) or (table.get(grade) if grade else None)

    def due_at(self, kind: str, grade: str | None, start: datetime) -> datetime | None:
        duration = self.duration(kind, grade)
        return duration.after(start, self.calendar) if duration else None


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Validate TOML text into a Policy; every error names the key at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from None
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise PolicyError(f"{source}: 'version' must be a non-empty string")
    country = data.get("calendar", "CN")
    if not isinstance(country, str):
        raise PolicyError(f"{source}: 'calendar' must be a country code such as \"CN\"")
    return Policy(
        version=version,
        calendar_country=country,
        durations=_parse_deadlines(data.get("deadlines"), source),
        escalation_levels=_parse_levels(data.get("escalation"), source),
        digest_at=_parse_digest_at(data.get("notifications"), source),
        patterns=parse_patterns(data.get("patterns"), source),
        retention=parse_retention(data.get("retention"), source),
    )


def load_policy(path: Path | None = None) -> Policy:
    """Load the policy at path, or the shipped national default."""
    if path is None:
        text = resources.files("domain.policies").joinpath(DEFAULT_POLICY).read_text("utf-8")
        return parse_policy(text, DEFAULT_POLICY)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise PolicyError(f"{path.name}: cannot read policy file: {error.strerror}") from None
    return parse_policy(text, path.name)


def shipped_policies() -> list[Policy]:
    """Every policy version shipped with Wardship, so old cases keep their rules."""
    folder = resources.files("domain.policies")
    return [
        parse_policy(entry.read_text("utf-8"), entry.name)
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    ]


def _parse_deadlines(table: Any, source: str) -> dict[str, dict[str | None, Duration]]:
    if not isinstance(table, dict):
        raise PolicyError(f"{source}: missing [deadlines] table")
    known = (*KINDS, *OPTIONAL_KINDS)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise PolicyError(
            f"{source}: unknown deadline kind {unknown[0]!r}; known kinds: {', '.join(known)}"
        )
    missing = [kind for kind in KINDS if kind not in table]
    if missing:
        raise PolicyError(f"{source}: deadline kind {missing[0]!r} is missing")
    return {kind: _parse_kind(kind, table[kind], source) for kind in known if kind in table}


def _parse_kind(kind: str, value: Any, source: str) -> dict[str | None, Duration]:
    where = f"{source}: deadlines.{kind}"
    if isinstance(value, str):
        if kind in RISK_KINDS:
            raise PolicyError(f"{where}: needs one duration per risk level (high, medium, low)")
        return {None: Duration.parse(value, where)}
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a duration or a table of grades")
    keys: tuple[str, ...]
    if kind in RISK_KINDS:
        keys, what = tuple(RISK_KINDS[kind]), "risk level"
    elif kind in GRADED_KINDS:
        keys, what = tuple(GRADED_KINDS[kind]), "grade"
    else:
        raise PolicyError(f"{where}: this kind takes one duration, not one per grade")
    allowed = [level.value for level in (RiskLevel if kind in RISK_KINDS else Grade)]
    for key in value:
        if key not in allowed:
            raise PolicyError(f"{where}: unknown {what} {key!r}; use {', '.join(allowed)}")
    for key in keys:
        if key not in value:
            raise PolicyError(f"{where}: missing {what} {str(key)!r}")
    return {str(key): Duration.parse(text, f"{where}.{key}") for key, text in value.items()}


def _parse_levels(table: Any, source: str) -> tuple[timedelta, ...]:
    levels = table.get("levels") if isinstance(table, dict) else None
    if not isinstance(levels, list) or not levels:
        raise PolicyError(f"{source}: [escalation] needs levels = [\"0s\", ...], one per level")
    delays = tuple(
        Duration.parse(text, f"{source}: escalation.levels[{i}]").as_timedelta()
        for i, text in enumerate(levels)
    )
    if list(delays) != sorted(delays):
        raise PolicyError(f"{source}: escalation.levels must not decrease")
    return delays


def _parse_digest_at(table: Any, source: str) -> time:
    if table is None:
        return DEFAULT_DIGEST_AT
    value = table.get("digest_at", "08:30") if isinstance(table, dict) else None
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value) if isinstance(value, str) else None
    if match is None:
        raise PolicyError(f'{source}: notifications.digest_at must be a time such as "08:30" '
                          "(China Standard Time)")
    return time(int(match[1]), int(match[2]))

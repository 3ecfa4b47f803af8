"""Patterns that no single report shows (监测预警): rules over one child's signals in time.

A child's signals are the reports about them, the closings of their cases and the rises of
their guardianship risk level. A rule is data from the policy's `[patterns]` table: it
matches when a new signal makes `count` signals of its kind within `window`, or, with
`after`, when the new signal comes within `window` after a signal of that other kind. A
rule that matched raises no second alarm within its window: one alarm per run of signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.durations import Duration
from domain.errors import PolicyError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime, timedelta

# What the service notices about a child, by kind.
REPORT, CASE_CLOSED, RISK_RAISED = "report", "case_closed", "risk_raised"
SIGNAL_KINDS = (REPORT, CASE_CLOSED, RISK_RAISED)
# Rule codes are the notices' `kind` in the inbox: lower-case words, like deadline kinds.
_CODE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz_0123456789")


@dataclass(frozen=True)
class Signal:
    """One thing noticed about a child: its kind, when it was recorded, and what it was (the
    case's id, or the monitoring record's event)."""

    kind: str
    at: datetime
    ref: str

    def as_plain(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at.isoformat(), "ref": self.ref}


@dataclass(frozen=True)
class PatternRule:
    """`count` signals of `signal` within `window`; or, with `after`, a `signal` within
    `window` after an `after`."""

    code: str
    signal: str
    window: timedelta
    count: int = 1
    after: str | None = None

    def match(self, history: Iterable[Signal], new: Signal) -> list[Signal] | None:
        """The signals that make the match when `new` arrives, or None."""
        if new.kind != self.signal:
            return None
        since = new.at - self.window
        # The new signal itself may be in the history (a report is its case's opening).
        recent = sorted((s for s in history if since <= s.at <= new.at
                         and (s.kind, s.ref) != (new.kind, new.ref)),
                        key=lambda s: s.at)
        if self.after is not None:
            before = [s for s in recent if s.kind == self.after]
            return [before[-1], new] if before else None
        same = [s for s in recent if s.kind == self.signal]
        return [*same, new] if len(same) + 1 >= self.count else None


@dataclass(frozen=True)
class Match:
    """A rule that matched, and the signals that made it."""

    rule: PatternRule
    signals: list[Signal]


def matches(
    rules: Sequence[PatternRule], history: Iterable[Signal], new: Signal,
    last_alarms: dict[str, datetime],
) -> list[Match]:
    """The rules `new` makes match, leaving out a rule whose last alarm (`last_alarms`: rule
    code -> time) is still within its window."""
    signals = list(history)
    found = []
    for rule in rules:
        last = last_alarms.get(rule.code)
        if last is not None and new.at - last < rule.window:
            continue
        matched = rule.match(signals, new)
        if matched is not None:
            found.append(Match(rule, matched))
    return found


def child_signals(cases: Iterable[Any], record: Any | None) -> list[Signal]:
    """What the service holds about a child: each case's report (`opened_at`), the reports
    that came to it later (`later_reports`: 12345 orders linked, reopenings) and its
    closings, and each rise of the monitoring record's risk level."""
    signals = []
    for case in cases:
        if case.opened_at is not None:
            signals.append(Signal(REPORT, case.opened_at, str(case.id)))
        signals += [Signal(REPORT, at, f"{case.id}:{key}") for key, at in case.later_reports]
        signals += [Signal(CASE_CLOSED, at, f"{case.id}:closed-{n}")
                    for n, at in enumerate(case.closings, 1)]
    if record is not None:
        signals += [Signal(RISK_RAISED, at, f"{record.id}:rise-{n}")
                    for n, at in enumerate(record.risk_rises, 1)]
    return signals


def parse_patterns(table: Any, source: str) -> tuple[PatternRule, ...]:
    """The `[patterns]` table: `code = { signal = "report", count = 2, window = "7d" }` or
    `code = { signal = "report", after = "case_closed", window = "30d" }`."""
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise PolicyError(f"{source}: [patterns] must be a table of rules")
    return tuple(_parse_rule(code, value, f"{source}: patterns.{code}")
                 for code, value in table.items())


def _parse_rule(code: str, value: Any, where: str) -> PatternRule:
    if not code or not set(code) <= _CODE_CHARACTERS:
        raise PolicyError(f"{where}: a rule's name is lower-case letters, digits and _")
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected {{ signal = ..., window = ..., count = ... }}")
    unknown = sorted(set(value) - {"signal", "window", "count", "after"})
    if unknown:
        raise PolicyError(f"{where}: unknown key {unknown[0]!r}; use signal, window, count, "
                          "after")
    signal, after = value.get("signal"), value.get("after")
    for key, kind in (("signal", signal), ("after", after)):
        if (kind is not None or key == "signal") and kind not in SIGNAL_KINDS:
            raise PolicyError(f"{where}.{key}: one of {', '.join(SIGNAL_KINDS)}")
    count = value.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise PolicyError(f"{where}.count: a whole number of signals, 1 or more")
    if after is not None and count != 1:
        raise PolicyError(f"{where}: a rule with 'after' matches one signal; drop 'count'")
    window = Duration.parse(value.get("window", ""), f"{where}.window")
    if window.unit == "wd":
        raise PolicyError(f"{where}.window: use calendar days (\"7d\"), not working days")
    return PatternRule(code=code, signal=str(signal), window=window.as_timedelta(),
                       count=count, after=after)

"""What the chaos run judges: the event log against the ledger, deadlines against the clock,
read models against a rebuild; and the markdown table per fault."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg import sql

from domain import events as ev
from projections.registry import MODELS
from projections.runner import Worker, position_of
from projections.store import STATE_TABLE, create_tables, drop_tables

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from eventsourcing.persistence import Notification

    from domain.application import Wardship
    from projections.base import ReadModel
    from tests.chaos.load import Action, Ledger

# The deadline kind the load's reports start; due seconds after opening (see the run's policy).
KIND = "intake_danger"
# A deadline or level is judged only once it has been due this long, with the stack up.
SETTLE = 15.0
# Later than this after its due time, a miss counts as recorded late.
LATE = 2.0


@dataclass
class Phase:
    """The run from one kill to the next: the fault, how the stack came back, what it showed."""

    part: str  # what was killed ("" for the quiet start)
    start: float  # wall clock
    end: float = math.inf
    down_for: float = 0.0
    back_after: float | None = None  # from restart until the part served again
    ready_after: float | None = None  # from restart until the API was ready again
    died: list[str] = field(default_factory=list)  # parts that exited on their own meanwhile
    read_models: dict[str, int] = field(default_factory=dict)  # rows unlike a rebuild
    read_models_error: str | None = None  # why they could not be compared

    @property
    def title(self) -> str:
        return f"kill -9 {self.part}" if self.part else "no fault (warm-up)"

    def holds(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass
class Deadline:
    """One deadline the load started, and what the log says happened to it."""

    case_id: str
    deadline_id: str
    due_at: float
    misses: list[float] = field(default_factory=list)  # when each DeadlineMissed was judged
    levels: Counter[int] = field(default_factory=Counter)  # EscalationRecorded per level


@dataclass
class LogFacts:
    """The whole event log, reduced to what the checks need."""

    opened: Counter[str] = field(default_factory=Counter)  # child name -> cases opened
    cases: set[str] = field(default_factory=set)
    notes: Counter[str] = field(default_factory=Counter)  # note text -> times recorded
    deadlines: list[Deadline] = field(default_factory=list)


def read_log(app: Wardship) -> LogFacts:
    """Decode every event once; deadlines' due times come from their cases."""
    facts = LogFacts()
    misses: dict[tuple[str, str], list[float]] = {}
    levels: dict[tuple[str, str], Counter[int]] = {}
    position = 0
    while notifications := app.recorder.select_notifications(
        position, 1000, inclusive_of_start=False
    ):
        position = notifications[-1].id
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            if isinstance(event, ev.CaseOpened):
                facts.opened[event.child["name"]] += 1
                facts.cases.add(str(event.originator_id))
            elif isinstance(event, ev.NoteAdded):
                facts.notes[event.text] += 1
            elif isinstance(event, ev.DeadlineMissed):
                key = (str(event.originator_id), event.deadline_id)  # ids are per case
                misses.setdefault(key, []).append(event.timestamp.timestamp())
            elif isinstance(event, ev.EscalationRecorded):
                key = (str(event.originator_id), event.deadline_id)
                levels.setdefault(key, Counter())[event.level] += 1
    for case_id in sorted(facts.cases):
        for deadline in app.get_case_aggregate(UUID(case_id)).deadlines.values():
            if deadline.kind == KIND:
                key = (case_id, deadline.id)
                facts.deadlines.append(Deadline(
                    case_id, deadline.id, deadline.due_at.timestamp(),
                    misses.get(key, []), levels.get(key, Counter())))
    return facts


@dataclass(frozen=True)
class Check:
    """One line of a fault's table; `ok` None marks a figure shown but not judged."""

    name: str
    expected: str
    measured: str
    ok: bool | None


def owner(phases: Sequence[Phase], action: Action) -> Phase | None:
    """The phase of the last kill an action lived through, else the phase it was sent in."""
    lived = [p for p in phases if action.first_sent < p.start <= action.settled]
    return lived[-1] if lived else next((p for p in phases if p.holds(action.first_sent)), None)


def judge(phase: Phase, phases: Sequence[Phase], ledger: Ledger, facts: LogFacts,
          ladder: Sequence[timedelta], settled_at: float) -> list[Check]:
    """The checks of one phase: its actions (see `owner`) and the deadlines due in it."""
    actions = [a for a in ledger.actions if owner(phases, a) is phase]
    acked = [a for a in actions if a.outcome == "acknowledged"]
    lost = [a for a in acked if (a.case_id not in facts.cases if a.kind == "open"
                                  else facts.notes[a.marker] == 0)]
    twice = [a for a in actions if (facts.opened[a.marker] if a.kind == "open"
                                     else facts.notes[a.marker]) > 1]
    exchanges = [x for x in ledger.exchanges if phase.holds(x.sent)]
    errors = sum(1 for x in exchanges if x.answer == "500")
    slowest = max((x.seconds for x in exchanges), default=0.0)

    due = [d for d in facts.deadlines
           if phase.holds(d.due_at) and d.due_at + SETTLE <= settled_at]
    never = [d for d in due if not d.misses]
    early = [d for d in due if any(at < d.due_at for at in d.misses)]
    lateness = [min(d.misses) - d.due_at for d in due if d.misses]
    late = [seconds for seconds in lateness if seconds > LATE]
    double_miss = [d for d in due if len(d.misses) > 1]
    wrong_levels: Counter[str] = Counter()
    levels_judged = 0
    for deadline in due:
        if not deadline.misses:
            continue  # counted as never recorded
        for level, offset in enumerate(ladder, start=1):
            if deadline.due_at + offset.total_seconds() + SETTLE > settled_at:
                continue
            levels_judged += 1
            count = deadline.levels[level]
            if count != 1:
                wrong_levels["never" if count == 0 else f"{count} times"] += 1
    differing = sum(phase.read_models.values())
    unlike = ", ".join(f"{name} {rows}" for name, rows in phase.read_models.items() if rows)

    return [
        Check("killed part serving again after restart", "yes",
              _seconds(phase.back_after) if phase.part else "-",
              phase.back_after is not None if phase.part else None),
        Check("processes that died on their own", "none", ", ".join(phase.died) or "none",
              not phase.died),
        # A phase whose load was all refused, or whose deadlines never fell due, proves nothing.
        Check("actions sent (acknowledged, retried)", "some acknowledged",
              f"{len(actions)} ({len(acked)}, {sum(1 for a in actions if a.tries > 1)})",
              bool(acked)),
        Check("acknowledged actions lost", "0", str(len(lost)), not lost),
        Check("actions applied twice", "0", str(len(twice)), not twice),
        Check("answers 500 / slowest answer", "-", f"{errors} / {slowest:.1f}s", None),
        Check("deadlines due", "some", str(len(due)), bool(due)),
        Check(f"recorded late (> {LATE:.0f}s), max lateness", "-",
              f"{len(late)}, max {max(lateness, default=0.0):.1f}s", None),
        Check("deadlines never recorded", "0", str(len(never)), not never),
        Check("misses recorded before due or twice", "0",
              str(len(early) + len(double_miss)), not early and not double_miss),
        Check("notifications per level per miss", "exactly 1",
              _levels(levels_judged, wrong_levels), not wrong_levels),
        Check("read models vs a full rebuild", "identical",
              phase.read_models_error or ("identical" if not differing
                                          else f"{differing} rows differ ({unlike})"),
              not differing and phase.read_models_error is None),
    ]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"


def _levels(judged: int, wrong: Counter[str]) -> str:
    if not wrong:
        return f"1 each ({judged} levels)"
    return f"{judged} levels: " + ", ".join(f"{n} {what}" for what, n in sorted(wrong.items()))


def table(phase: Phase, checks: list[Check]) -> str:
    """One fault's markdown table."""
    head = f"### {phase.title}"
    if phase.part:
        head += (f" (down {phase.down_for:.0f}s; API ready {_seconds(phase.ready_after)}"
                 " after the restart)")
    lines = [head, "", "| check | expected | measured | ok |", "|---|---|---|---|"]
    for check in checks:
        verdict = "" if check.ok is None else ("yes" if check.ok else "**NO**")
        lines.append(f"| {check.name} | {check.expected} | {check.measured} | {verdict} |")
    return "\n".join(lines)


class _UpTo(Worker):
    """A projection worker that stops at a given log position."""

    def __init__(self, model: ReadModel, app: Wardship, conn: psycopg.Connection[Any],
                 state: str, stop: int) -> None:
        super().__init__(model, app, conn, state)
        self.stop = stop

    def read(self, after: int, limit: int) -> tuple[int, list[Notification]]:
        if after >= self.stop:
            return after, []
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, stop=self.stop, inclusive_of_start=False)
        if not notifications:
            return after, []
        return notifications[-1].id, [n for n in notifications if n.topic in self.model.topics]


def compare_read_models(app: Wardship, database_url: str, generation: int) -> dict[str, int]:
    """Rows of each live read model unlike a rebuild from the log up to the live position.

    The rebuild goes into spare tables (`generation`) under its own state row, then is dropped:
    the live runner is not disturbed.
    """
    differing = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, model_class in MODELS.items():
            model = model_class()
            state = f"chaos-check:{name}"
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                position = position_of(conn, name)
                live = _rows(conn, model, None)
            create_tables(conn, model.tables, generation)
            conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (state,))
            conn.execute(f"INSERT INTO {STATE_TABLE} (name, generation, position)"
                         " VALUES (%s, %s, 0)", (state, generation))
            try:
                _UpTo(model, app, conn, state, position).catch_up()
                rebuilt = _rows(conn, model, generation)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (state,))
                    drop_tables(conn, model.tables, generation)
            differing[name] = sum(((live - rebuilt) + (rebuilt - live)).values())
    return differing


def _rows(conn: psycopg.Connection[Any], model: ReadModel,
          generation: int | None) -> Counter[str]:
    """Every row of the model's tables (the live views when `generation` is None)."""
    rows: Counter[str] = Counter()
    for table in model.tables:
        name = table.name if generation is None else table.physical(generation)
        for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name))):
            rows[f"{table.name}:{_plain(row)!r}"] += 1
    return rows


def _plain(value: Any) -> Any:
    # Timestamps as instants: the same moment read in two sessions may carry other offsets.
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value

"""The relay: follows the event store's notification log and signals each changed case's workflow.

Its position lives in a tracking table in the same database and moves only after Temporal
accepted every signal of a batch, so a restart resumes where it stopped. Signals are
idempotent (the workflow ignores versions it has seen), so a batch retried after a crash
between signalling and saving the position does no harm. Commands never wait on this.
Every worker replica runs a relay, but only the one holding the relay lease relays; the
others stand by and one takes over within a second or so when the holder goes away.
It also destroys the keys of each recorded erasure, so that one whose approving process died
first still ends with them destroyed. A case whose events cannot be decoded or applied is
parked (`projections.parked`), in the transaction that moves the position, and the relay goes
on with the other cases.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from deploy.outages import Backoff
from domain.child import ChildFile
from domain.erasure import PersonalDataErased
from domain.holders import HOLDER_EVENTS, NOTIFICATION_EVENTS
from projections import parked
from projections.parked import Decoder, Parking
from workflows.alarm_workflow import AlarmWorkflow, alarm_workflow_id
from workflows.case_workflow import SIGNAL, CaseWorkflow, workflow_id
from workflows.lease import Lease
from workflows.messages import AlarmInput, CaseState, CaseWorkflowInput, DeadlineTimer

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification
    from temporalio.client import Client

    from domain.application import Wardship
    from domain.holders import DeadlineHolder

log = structlog.get_logger("wardship.relay")
# What Temporal answers when a signal of one case can never be taken (a payload over its
# size limit); anything else (unavailable, timeouts, overload) is retried.
REFUSED_FOR_GOOD = frozenset({RPCStatusCode.INVALID_ARGUMENT})
# Pages (of `batch_size`) a relay that is behind reads before it signals.
CATCH_UP_PAGES = 20
# Cases whose last signalled timers the relay remembers (each a few hundred bytes).
TOLD_AT_MOST = 100_000
# How often a standby relay asks whether the lease has become free.
STANDBY_INTERVAL = 1.0

TRACKING_TABLE = "wardship_relay_tracking"
# Events the workflow's own activities record are quiet: they change no timer the workflow
# does not already know of, and re-signalling for them would double the load just when many
# fall due.
SIGNALLED_TOPICS = frozenset(get_topic(cls) for cls in HOLDER_EVENTS) - frozenset(
    get_topic(cls) for cls in NOTIFICATION_EVENTS)
# A pattern alarm on a child file starts the alarm's own workflow, which delivers it.
ALARM_TOPIC = get_topic(ChildFile.PatternMatched)
# A recorded erasure has its keys destroyed (again), in case the process that approved it
# died before it destroyed them.
ERASED_TOPIC = get_topic(PersonalDataErased)


def case_state(
    case: DeadlineHolder, escalation_delays: list[float], wake_early: float = 0.0
) -> CaseState:
    """What a case's (or another deadline holder's) workflow needs to know about it at its
    current version."""
    timers = [DeadlineTimer(d.id, d.kind, d.due_at) for d in case.open_deadlines()]
    timers += [DeadlineTimer(d.id, d.kind, d.due_at, missed=True)
               for d in case.deadlines.values() if d.awaits_escalation]
    return CaseState(
        case_id=str(case.id), version=case.version, stage=case.stage,
        closed=case.closed, deadlines=timers, escalation_delays=escalation_delays,
        wake_early=wake_early,
    )


def create_tracking_table(app: Wardship) -> None:
    """Create the relay's tracking table if missing: `wardship migrate` does, never the relay."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError("the relay needs the PostgreSQL event store")
    PostgresTrackingRecorder(
        datastore=recorder.datastore, tracking_table_name=TRACKING_TABLE).create_table()


class Relay:
    """Reads new case events in batches; one signal-with-start per case with its latest state."""

    def __init__(
        self, app: Wardship, client: Client, task_queue: str, *, batch_size: int = 1000,
        poll_interval: float = 0.1, concurrency: int = 64, name: str = "wardship",
        wake_early: float = 0.0, catch_up_pages: int = CATCH_UP_PAGES,
    ) -> None:
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError("the relay needs the PostgreSQL event store")
        self.app = app
        self.client = client
        self.task_queue = task_queue
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.name = name
        self.wake_early = wake_early
        self._recorder = recorder
        self._tracking = PostgresTrackingRecorder(
            datastore=recorder.datastore, tracking_table_name=TRACKING_TABLE
        )
        self._lease = Lease(recorder.datastore.pool, f"relay:{name}")
        self._limit = asyncio.Semaphore(concurrency)
        self._position: int | None = None
        self.consumer = parked.relay_consumer(name)
        self.catch_up_pages = catch_up_pages
        # What each recently signalled workflow was told, less the version: an event that
        # changes none of it (a note, say) needs no signal. Forgotten whenever Temporal or the
        # store fails, so that after an outage every changed case is signalled again.
        self._told: OrderedDict[str, tuple[Any, ...]] = OrderedDict()

    def position(self) -> int:
        """The last notification id whose signals Temporal accepted (0: none yet)."""
        if self._position is None:
            self._position = self._tracking.max_tracking_id(self.name) or 0
        return self._position

    async def run_once(self) -> int:
        """Relay one batch; returns how many notifications it covered (0: nothing new)."""
        position = await asyncio.to_thread(self.position)
        notifications = await asyncio.to_thread(self._backlog, position)
        if not notifications:
            return 0
        signalled = [n for n in notifications if n.topic in SIGNALLED_TOPICS]
        states, parkings = await asyncio.to_thread(self._states, signalled)
        alarms, unreadable = self._alarms([n for n in notifications if n.topic == ALARM_TOPIC])
        erasures = [n for n in notifications if n.topic == ERASED_TOPIC]
        if erasures:
            unreadable += await asyncio.to_thread(self._finish_erasures, erasures)
        refused = await asyncio.gather(*(self._signal_or_refused(*pair) for pair in states),
                                       *(self._start_alarm(alarm) for alarm in alarms))
        parkings += unreadable + [parking for parking in refused if parking is not None]
        last = notifications[-1].id
        await asyncio.to_thread(self._advance, last, parkings)
        self._position = last
        log.debug("relayed", events=len(notifications), cases=len(states), position=last)
        return len(notifications)

    def _backlog(self, position: int) -> list[Notification]:
        """The next page of the log; when it is full (the relay is behind, say after an
        outage), up to `catch_up_pages` pages, so that a case changed many times meanwhile is
        loaded and signalled once for all of its new events."""
        notifications: list[Notification] = []
        for _ in range(self.catch_up_pages):
            page = self._recorder.select_notifications(position + 1, self.batch_size)
            notifications += page
            if len(page) < self.batch_size:
                break
            position = page[-1].id
        return notifications

    @property
    def leading(self) -> bool:
        """Whether this relay holds the lease (and so is the one relaying)."""
        return self._lease.held

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set while holding the lease; stands by while another does.

        Waits and retries while Temporal or the store is down.
        """
        # Logged once when the store or Temporal stops answering and once when both do again.
        backoff = Backoff(log, "relay_dependency", first=self.poll_interval)
        try:
            while not stop.is_set():
                try:
                    relayed = await self._relay_if_leading()
                except Exception as error:
                    # Read the position again: another relay may have moved it meanwhile.
                    self._position = None
                    self._told.clear()
                    log.debug("relay_retrying", error=type(error).__name__)
                    await _sleep_unless(stop, backoff.failed(error))
                    continue
                backoff.succeeded()
                if relayed is None:
                    await _sleep_unless(stop, STANDBY_INTERVAL)
                elif relayed < self.batch_size:
                    await _sleep_unless(stop, self.poll_interval)
        finally:
            await asyncio.to_thread(self._lease.release)

    async def _relay_if_leading(self) -> int | None:
        """One batch if this relay holds the lease (None: another relay does)."""
        was_leading = self._lease.held
        if not await asyncio.to_thread(self._lease.hold):
            if was_leading:
                log.warning("relay_lease_lost")
            return None
        if not was_leading:
            self._position = None  # whoever relayed before moved it
            self._told.clear()  # and told the workflows what it saw
            log.info("relay_leading", position=await asyncio.to_thread(self.position))
        return await self.run_once()

    def _states(
        self, notifications: list[Notification]
    ) -> tuple[list[tuple[CaseState, Notification]], list[Parking]]:
        """The state of each case of `notifications` with the case's last notification, and
        parkings for the cases that cannot be loaded: their undecodable events, else (an
        event that does not apply) the last."""
        by_case: dict[UUID | str, list[Notification]] = {}
        for notification in notifications:
            by_case.setdefault(notification.originator_id, []).append(notification)
        states: list[tuple[CaseState, Notification]] = []
        parkings: list[Parking] = []
        for case_id, mine in by_case.items():
            try:
                states.append((self.state_of(UUID(str(case_id))), mine[-1]))
            except Exception as error:
                parked.raise_if_transient(error, self._ping)
                parkings += (Decoder(self.app.mapper).failures(self.consumer, mine)
                             or [Parking.of(self.consumer, mine[-1], "load", error)])
        return states, parkings

    def _alarms(self, notifications: list[Notification]) -> tuple[list[AlarmInput], list[Parking]]:
        """The pattern alarms recorded in `notifications`, and parkings for unreadable ones."""
        decode = Decoder(self.app.mapper)
        alarms = [AlarmInput(str(event.originator_id), event.notification_id)
                  for event in map(decode, notifications) if event is not None]
        return alarms, decode.failures(self.consumer, notifications)

    def _finish_erasures(self, notifications: list[Notification]) -> list[Parking]:
        """Destroy the keys each recorded erasure names (destroying twice does no harm);
        parkings for unreadable ones. A store that fails is raised: the batch is retried."""
        decode = Decoder(self.app.mapper)
        for event in map(decode, notifications):
            if event is not None:
                self.app.finish_erasure(cast("PersonalDataErased", event))
        return decode.failures(self.consumer, notifications)

    async def _start_alarm(self, alarm: AlarmInput) -> None:
        """Start the alarm's workflow; one already started (a batch relayed again) is left."""
        async with self._limit:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await self.client.start_workflow(
                    AlarmWorkflow.run, alarm, id=alarm_workflow_id(alarm.notification_id),
                    task_queue=self.task_queue, rpc_timeout=timedelta(seconds=10),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )

    def state_of(self, case_id: UUID) -> CaseState:
        """What the case's workflow is signalled: the case at its current version."""
        return current_state(self.app, case_id, self.wake_early)

    def _ping(self) -> None:
        with self._recorder.datastore.transaction() as curs:
            curs.execute("SELECT 1")

    def _advance(self, last: int, parkings: list[Parking]) -> None:
        """Move the position past `last`, with the batch's parkings in the same transaction."""
        with self._recorder.datastore.transaction(commit=True) as curs:
            for parking in parkings:
                parked.park(curs, parking)
            # The recorder's own statement (eventsourcing is pinned), on our transaction.
            self._tracking._insert_tracking(curs, Tracking(self.name, last))

    async def retell(self, originator_id: UUID, version: int | None, topic: str) -> None:
        """Tell Temporal again what a parked event was for (`wardship parked retry`): start
        a pattern alarm's workflow from its event, else signal the case with its state now."""
        if topic == ALARM_TOPIC and version is not None:
            events = await asyncio.to_thread(
                lambda: list(self.app.events.get(originator_id, gt=version - 1, lte=version)))
            if not events:
                raise LookupError(f"no event {version} of {originator_id}")
            alarm = cast("ChildFile.PatternMatched", events[0])
            await self._start_alarm(AlarmInput(str(originator_id), alarm.notification_id))
            return
        await self.signal(await asyncio.to_thread(self.state_of, originator_id))

    async def signal(self, state: CaseState) -> None:
        """Signal-with-start the case's workflow with `state` (`wardship parked retry` too)."""
        await self._signal(state)

    async def _signal_or_refused(self, state: CaseState, last: Notification) -> Parking | None:
        """Signal the case's workflow; a parking when Temporal refuses this case's signal for
        good (its state too large, say), so that one case does not stop every other case's
        deadlines. Temporal being away is raised: the batch is tried again."""
        try:
            await self._signal(state)
        except RPCError as error:
            if error.status not in REFUSED_FOR_GOOD:
                raise
            log.error("relay_signal_refused", case_id=state.case_id, status=error.status.name)
            return Parking.of(self.consumer, last, "signal", error)
        return None

    async def _signal(self, state: CaseState) -> None:
        told = _timers(state)
        if self._told.get(state.case_id) == told:
            self._told.move_to_end(state.case_id)
            return
        async with self._limit:
            await signal_case(self.client, self.task_queue, state)
        self._told[state.case_id] = told
        self._told.move_to_end(state.case_id)
        if len(self._told) > TOLD_AT_MOST:
            self._told.popitem(last=False)


def _timers(state: CaseState) -> tuple[Any, ...]:
    """Everything a workflow acts on in a state: all of it but the version."""
    return (state.stage, state.closed, tuple(state.deadlines),
            tuple(state.escalation_delays), state.wake_early)


def current_state(app: Wardship, case_id: UUID, wake_early: float = 0.0) -> CaseState:
    """The case's state at its latest version, with its policy's escalation delays."""
    case = app.get_deadline_holder(case_id)
    policy = app.policies.get(case.policy_version, app.policy)
    delays = [delay.total_seconds() for delay in policy.escalation_levels]
    return case_state(case, delays, wake_early)


async def signal_case(client: Client, task_queue: str, state: CaseState) -> None:
    """Signal the case's workflow with `state`, starting the workflow if it is not running."""
    await client.start_workflow(
        CaseWorkflow.run, CaseWorkflowInput(case_id=state.case_id),
        id=workflow_id(state.case_id), task_queue=task_queue,
        start_signal=SIGNAL, start_signal_args=[state],
        rpc_timeout=timedelta(seconds=10),
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

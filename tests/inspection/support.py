"""Helpers for inspection tests: the application on a migrated database and a long case."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from deploy.migrate import apply_migrations
from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.events import CaseEvent
from domain.keyring import Keyring, MemoryKeyTable, provider_from_env
from domain.storage import event_store_env
from domain.time_index import TimedStoredEvent

if TYPE_CHECKING:
    from collections.abc import Iterator

# An invented key: test data is encrypted at rest as in production.
CIPHER_KEY = base64.b64encode(b"k" * 32).decode()
CASEWORKER = Actor("cw-1", frozenset({Role.CASEWORKER}), "511102", "Invented Worker")
SUPERVISOR = Actor("sv-1", frozenset({Role.SUPERVISOR}), "511102", "Invented Supervisor")
CHILD = {"name": "Test Child A", "sex": "female", "birth_date": "2014-03-02",
         "id_number": "511102201403020023", "category": "left_behind",
         "address": "Invented Road 1", "phone": "000-0000"}
SOURCE = {"channel": "school", "reporter": {"name": "Teacher B", "organisation": "School",
                                             "phone": "000-1111", "mandatory": True}}
# The library's recorder without the time index: how the code before the index stored events.
WITHOUT_TIME_INDEX = {
    "APPLICATION_RECORDER_TOPIC": "eventsourcing.postgres:PostgresApplicationRecorder"}


@contextlib.contextmanager
def wardship_on(db_url: str, cipher_key: str | None = CIPHER_KEY) -> Iterator[Wardship]:
    """The Wardship application on a fresh database, with the project's migrations applied."""
    url = db_url
    app = Wardship(env=event_store_env(url, cipher_key))
    apply_migrations(url)
    try:
        yield app
    finally:
        app.close()


def open_case(app: Wardship, days_ago: int = 30) -> UUID:
    """A report about an invented child, filed days_ago (so its first deadlines are past)."""
    view = app.open_case(
        CASEWORKER, entry="report", jurisdiction="511102001", child=dict(CHILD),
        concern={"categories": ["neglect"], "summary": "left alone", "danger_now": False},
        source=dict(SOURCE), occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
    )
    from uuid import UUID as _UUID
    return _UUID(view["id"])


def long_case(app: Wardship, events: int) -> tuple[UUID, dict[int, dict[str, Any]]]:
    """A case of about `events` events; returns its id and the view after every event."""
    case_id = open_case(app)
    views = {1: app.get_case(case_id)}

    def step(action: str, **params: Any) -> None:
        view = app.perform(case_id, CASEWORKER, action, params)
        views[view["version"]] = app.get_case(case_id)

    # The intake deadline passed a month ago: the miss and the escalation are recorded.
    intake = next(d for d in views[1]["deadlines"] if d["kind"] == "intake")
    app.record_deadline_missed(case_id, intake["id"], datetime.now(UTC))
    views[2] = app.get_case(case_id)
    app.record_escalation(case_id, intake["id"], 1, datetime.now(UTC))
    views[3] = app.get_case(case_id)
    step("accept_report", grade="yellow", assignee="cw-1")
    step("record_assessment", guardianship_capacity="impaired", needs=["psychological"])
    step("complete_assessment", outcome="assistance")
    step("sign_care_agreement", caregiver="Aunt C", period_start="2026-01-01",
         period_end="2026-12-31")
    n = 0
    while max(views) < events:
        n += 1
        if n % 3:
            step("add_note", text=f"note {n}")
        else:
            step("record_visit", child_seen=True, findings=f"visit {n}")
    return case_id, views


class LegacyMapper(Mapper[UUID]):
    """How events were stored before per-child keys: the whole event under CIPHER_KEY only;
    case events without a seal, at the class version before it."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id, version = state.pop("originator_id"), state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if isinstance(domain_event, CaseEvent):
            assert state.pop("seal") is None
            class_version -= 1  # the seal was the latest version of every case event
        if class_version > 1:
            state["class_version"] = class_version
        stored = self.transcoder.encode(state)
        assert self.cipher is not None
        return TimedStoredEvent(originator_id, version, get_topic(type(domain_event)),
                                self.cipher.encrypt(stored), domain_event.timestamp)


class BeforeKeys(Wardship):
    """The service as it was before per-child keys (the same tables)."""

    name = "wardship"  # a subclass would otherwise be named for itself

    def construct_mapper(self) -> Mapper[UUID]:
        self.keyring = Keyring(MemoryKeyTable(), provider_from_env(self.env))
        return LegacyMapper(self.construct_transcoder(), cipher=self.factory.cipher())

    def construct_event_store(self) -> Any:
        return Application.construct_event_store(self)


@contextlib.contextmanager
def before_per_child_keys(db_url: str) -> Iterator[Wardship]:
    """The service as it was before per-child keys, on a database migrated as today."""
    with wardship_on(db_url):
        pass
    # Before chain version 2 no case event had a seal: its hash covered the plaintext.
    with mock.patch("domain.case.seal_of", return_value=None):
        app = BeforeKeys(env=event_store_env(db_url, CIPHER_KEY))
        try:
            yield app
        finally:
            app.close()

"""A steady action load through the HTTP API, and the ledger of what the service acknowledged.

Openers open reports of children in danger (each starts an intake deadline due in seconds);
writers add notes to those cases. Both send an Idempotency-Key and retry with the same key on
a 5xx, a 409 "in progress" or a dropped connection, as a careful client does.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api.support import case_body

# The town of the invented caseworker who does everything in the run.
TOWNSHIP = "511102001"
REQUEST_TIMEOUT = 10.0
# A client retrying longer than this gives up; the action counts as never acknowledged.
GIVE_UP_AFTER = 90.0


@dataclass
class Action:
    """One action the load meant to take, however many requests it took."""

    kind: str  # "open" or "note"
    marker: str  # the child's name (open) or the note's text and Idempotency-Key (note)
    first_sent: float  # wall clock (seconds since the epoch)
    case_id: str | None = None
    acknowledged_at: float | None = None
    outcome: str = "pending"  # acknowledged, refused <status>, unknown <error>, gave up
    tries: int = 0
    last_answer: float = 0.0  # wall clock of the last answer or transport error

    @property
    def settled(self) -> float:
        """When the action stopped being under way (its last answer)."""
        return max(self.first_sent, self.last_answer)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request of the load: when, how long, and its status or transport error."""

    sent: float
    seconds: float
    answer: str


@dataclass
class Ledger:
    """Every action attempted and every request made, shared by the load's threads."""

    actions: list[Action] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    open_cases: list[str] = field(default_factory=list)
    in_flight: int = 0  # requests sent and not yet answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, kind: str, marker: str, case_id: str | None = None) -> Action:
        action = Action(kind, marker, time.time(), case_id)
        with self.lock:
            self.actions.append(action)
        return action

    def sending(self) -> None:
        with self.lock:
            self.in_flight += 1

    def exchanged(self, sent: float, seconds: float, answer: str) -> None:
        with self.lock:
            self.in_flight -= 1
            self.exchanges.append(Exchange(sent, seconds, answer))

    def acknowledged(self, action: Action, case_id: str) -> None:
        action.acknowledged_at, action.case_id = time.time(), case_id
        action.outcome = "acknowledged"
        if action.kind == "open":
            with self.lock:
                self.open_cases.append(case_id)

    def some_case(self) -> str | None:
        with self.lock:
            return random.choice(self.open_cases) if self.open_cases else None


class Load:
    """Opener and writer threads against one API until `stop`."""

    def __init__(self, base_url: str, token: str, ledger: Ledger, *, writers: int = 4,
                 write_every: float = 0.25, open_every: float = 1.0) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ledger = ledger
        self.write_every = write_every
        self.open_every = open_every
        self._stop = threading.Event()
        self._numbers = itertools.count(1)
        self._threads = [threading.Thread(target=self._open_loop, name="chaos-opener")]
        self._threads += [threading.Thread(target=self._write_loop, name=f"chaos-writer-{n}")
                          for n in range(writers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Start no new action; wait for the ones under way to be answered or given up."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _open_loop(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers,
                          timeout=REQUEST_TIMEOUT) as client:
            while not self._stop.wait(self.open_every):
                self._open(client, f"Chaos Child {next(self._numbers)}")

    def _write_loop(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers,
                          timeout=REQUEST_TIMEOUT) as client:
            while not self._stop.wait(self.write_every):
                case_id = self.ledger.some_case()
                if case_id is not None:
                    self._note(client, case_id, f"chaos-{uuid.uuid4().hex}")

    def _open(self, client: httpx.Client, child: str) -> None:
        """Open a case; every retry sends the same Idempotency-Key, so it opens one case."""
        action = self.ledger.begin("open", child)
        body = case_body(TOWNSHIP, child={"name": child, "birth_date": "2015-03-01",
                                          "category": "other"},
                         concern={"categories": ["neglect"], "summary": "invented",
                                  "danger_now": True})
        del body["occurred_at"]  # now: the intake deadline counts from the request
        self._until_answered(client, action, "/v1/cases", body, f"open-{uuid.uuid4().hex}", 201)

    def _note(self, client: httpx.Client, case_id: str, text: str) -> None:
        """Add a note; every retry sends the same Idempotency-Key."""
        action = self.ledger.begin("note", text, case_id)
        body = {"action": "add_note", "text": text}
        self._until_answered(client, action, f"/v1/cases/{case_id}/actions", body, text, 200)

    def _until_answered(self, client: httpx.Client, action: Action, path: str,
                        body: dict[str, Any], key: str, success: int) -> None:
        """Send until answered: retried with the same key on a dropped connection, a 5xx or a
        409 (the first request still running), as a careful client does."""
        while time.time() - action.first_sent < GIVE_UP_AFTER:
            action.tries += 1
            try:
                response = self._send(client, action, path, body, {"Idempotency-Key": key})
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            if response.status_code == success:
                self.ledger.acknowledged(action, response.json()["id"])
                return
            if response.status_code >= 500 or response.status_code == 409:
                time.sleep(float(response.headers.get("Retry-After", "0.5")))
                continue
            action.outcome = f"refused {response.status_code}"
            return
        action.outcome = "gave up"

    def _send(self, client: httpx.Client, action: Action, path: str, body: object,
              headers: dict[str, str]) -> httpx.Response:
        sent, started = time.time(), time.monotonic()
        self.ledger.sending()
        try:
            response = client.post(path, json=body, headers=headers)
        except httpx.TransportError as error:
            self.ledger.exchanged(sent, time.monotonic() - started, type(error).__name__)
            raise
        finally:
            action.last_answer = time.time()
        self.ledger.exchanged(sent, time.monotonic() - started, str(response.status_code))
        return response

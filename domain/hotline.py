"""The 12345 minor-protection desk (未成年人保护专席): work orders, their tickets, the reply.

A work order opens a case or links to the child's open case; either way the case owes the
hotline platform a reply (办结回复) within the policy's `hotline_reply` time, sent once the
case leaves its first stage (discovery or report) with the outcome of intake.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.codes import Stage

REPLY_KIND = "hotline_reply"
# The stages of a case before intake decided on it; leaving them is the outcome replied.
FIRST_STAGES = frozenset({Stage.DISCOVERY.value, Stage.REPORT.value})
# What the platform is told the intake decided, by the event that left the first stage.
OUTCOMES = {
    "ReportAccepted": "accepted",
    "ReportScreenedOut": "screened_out",
    "CaseDismissed": "dismissed",
    "CaseEscalated": "escalated",
    "CaseClosed": "closed",
}
# Where a work order's reply stands on its case.
AWAITING, REPLIED, FAILED = "awaiting", "replied", "failed"
_TICKETS = UUID("0c5e4b7a-2f1d-4e8a-9b36-7d1a5f2c8e90")


def intake_outcome(event_name: str, stage: str) -> str:
    """The outcome code of the event that took a case out of its first stage."""
    return OUTCOMES.get(event_name, "closed" if stage == Stage.CLOSED else "accepted")


def order_command_id(ticket: str) -> str:
    """The command id of a work order: a repeat of the ticket is a retry of the command."""
    return f"hotline:{ticket}"


def ticket_id(ticket: str) -> UUID:
    """The id of a ticket's record: the ticket number names it, so a repeat finds it."""
    return uuid5(_TICKETS, ticket)


class HotlineTicket(Aggregate):
    """One 12345 work order and the case it opened or was linked to (no personal data)."""

    class Received(Aggregate.Created):
        """A work order was received and opened, or was linked to, a case."""

        ticket: str
        case_id: str
        opened: bool
        filed_by: str

        def apply(self, aggregate: Any) -> None:
            ticket: HotlineTicket = aggregate
            ticket.ticket = self.ticket
            ticket.case_id = self.case_id
            ticket.opened = self.opened
            ticket.filed_by = self.filed_by

    def __init__(self) -> None:
        self.ticket = ""
        self.case_id = ""
        self.opened = False
        self.filed_by = ""  # the client (token subject) that filed it

    @classmethod
    def receive(cls, ticket: str, case_id: UUID, *, opened: bool, filed_by: str
                ) -> HotlineTicket:
        """The ticket's record, naming the case that answers it."""
        return cls._create(cls.Received, id=ticket_id(ticket), ticket=ticket,
                           case_id=str(case_id), opened=opened, filed_by=filed_by)

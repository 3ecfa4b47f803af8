"""One notification contact as an event-sourced record: registered, perhaps later removed,
each change naming who made it. The directory (`domain.contact_directory`) is their sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.contacts import ContactEntry, channel_as_plain, channel_from_plain

if TYPE_CHECKING:
    from datetime import datetime


class ContactRegistered(Aggregate.Created):
    """A contact was put on duty for a jurisdiction's notifications (值班联系人登记)."""

    jurisdiction: str
    name: str
    role: str
    channels: list[dict[str, str]]
    recorded_by: str
    command_id: str | None

    def apply(self, aggregate: Any) -> None:
        contact: Contact = aggregate
        contact.jurisdiction = self.jurisdiction
        contact.name = self.name
        contact.role = self.role
        contact.channels = [dict(c) for c in self.channels]
        contact.recorded_by = self.recorded_by
        contact.recorded_at = self.timestamp
        contact.command_id = self.command_id

    def entry(self) -> ContactEntry:
        """The directory entry this event puts on duty."""
        return ContactEntry(str(self.originator_id), self.jurisdiction, self.name, self.role,
                            tuple(channel_from_plain(c) for c in self.channels),
                            self.recorded_by, self.timestamp)


class ContactRemoved(Aggregate.Event):
    """The contact was taken off duty; notifications no longer go to them."""

    removed_by: str

    def apply(self, aggregate: Any) -> None:
        contact: Contact = aggregate
        contact.removed_by = self.removed_by


class Contact(Aggregate):
    """A person on duty for one jurisdiction, and how to reach them."""

    def __init__(self) -> None:
        # Set by ContactRegistered.apply; defaults keep replays uniform.
        self.jurisdiction = ""
        self.name = ""
        self.role = ""
        self.channels: list[dict[str, str]] = []
        self.recorded_by = ""
        self.recorded_at: datetime | None = None
        self.command_id: str | None = None
        self.removed_by: str | None = None

    @classmethod
    def register(cls, entry: ContactEntry, *, recorded_by: str,
                 command_id: str | None = None) -> Contact:
        """Record a checked entry (`domain.contacts.parse_contact`) under its id."""
        return cls._create(ContactRegistered, id=UUID(entry.id),
                           jurisdiction=entry.jurisdiction, name=entry.name, role=entry.role,
                           channels=[channel_as_plain(c) for c in entry.channels],
                           recorded_by=recorded_by, command_id=command_id)

    @property
    def removed(self) -> bool:
        return self.removed_by is not None

    def remove(self, removed_by: str) -> bool:
        """Take the contact off duty; False (and nothing recorded) when already off."""
        if self.removed:
            return False
        self.trigger_event(ContactRemoved, removed_by=removed_by)
        return True

    def entry(self) -> ContactEntry:
        """The contact as a directory entry."""
        return ContactEntry(str(self.id), self.jurisdiction, self.name, self.role,
                            tuple(channel_from_plain(c) for c in self.channels),
                            self.recorded_by, self.recorded_at)


# The stored topics of the contact events (what the directory reads from the log).
CONTACT_EVENTS: tuple[type[Aggregate.Event], ...] = (ContactRegistered, ContactRemoved)

"""The notification contact directory: who is on duty for each jurisdiction, and how to reach
them, and the one routing rule (nearest covering jurisdiction with someone on duty).

Plain Python: the directory is rebuilt from the contact events in the log (see
`Wardship.contact_directory`) and asked by the worker which contacts a notice goes to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Who a contact is to the office (督导员, 儿童督导员, 个案负责人).
CONTACT_ROLES = ("supervisor", "child_supervisor", "caseworker_lead")
# How a contact is reached: mail, SMS, WeCom and DingTalk group robots, a signed webhook.
CHANNEL_TYPES = ("email", "sms", "wecom", "dingtalk", "webhook")
# Division code lengths from the narrowest to the widest (village to province).
_CODE_LENGTHS = (12, 9, 6, 4, 2)


@dataclass(frozen=True)
class ContactChannel:
    """One way to reach a contact: an e-mail address, an SMS number, or a robot/webhook URL
    (with the DingTalk robot's signing secret)."""

    type: str
    address: str
    secret: str | None = None


@dataclass(frozen=True)
class ContactEntry:
    """A person on duty for notifications of one jurisdiction."""

    id: str
    jurisdiction: str
    name: str
    role: str
    channels: tuple[ContactChannel, ...]

    def delivery_keys(self) -> list[str]:
        """The key each of this contact's channels records its deliveries under."""
        return [delivery_key(self.id, index, channel.type)
                for index, channel in enumerate(self.channels)]


def delivery_key(contact_id: str, index: int, channel_type: str) -> str:
    """How one delivery target is named in a case's record: `email:<contact id>:0`."""
    return f"{channel_type}:{contact_id}:{index}"


def parse_delivery_key(key: str) -> tuple[str, str, int] | None:
    """(channel type, contact id, channel index) of a delivery key, None if not one."""
    parts = key.split(":")
    if len(parts) != 3 or parts[0] not in CHANNEL_TYPES or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def covering_codes(code: str) -> list[str]:
    """The code itself and every division that covers it, narrowest first."""
    return [code[:length] for length in _CODE_LENGTHS if length <= len(code)]


@dataclass(frozen=True)
class Route:
    """Where a notice addressed to `jurisdiction` goes: the contacts of `covered_by`, the
    nearest covering code with someone on duty (None: nobody on duty all the way up)."""

    jurisdiction: str
    covered_by: str | None
    contacts: tuple[ContactEntry, ...] = ()

    @property
    def unattended(self) -> bool:
        """Nobody on duty for the jurisdiction itself (无人值守)."""
        return self.covered_by != self.jurisdiction


@dataclass
class Directory:
    """Every contact on duty, by id and by jurisdiction."""

    entries: dict[str, ContactEntry] = field(default_factory=dict)

    def add(self, entry: ContactEntry) -> None:
        self.entries[entry.id] = entry

    def remove(self, contact_id: str) -> None:
        self.entries.pop(contact_id, None)

    def get(self, contact_id: str) -> ContactEntry | None:
        return self.entries.get(contact_id)

    def at(self, code: str) -> list[ContactEntry]:
        """The contacts on duty for exactly this code."""
        return sorted((e for e in self.entries.values() if e.jurisdiction == code),
                      key=lambda e: e.id)

    def under(self, prefix: str) -> list[ContactEntry]:
        """Every contact whose jurisdiction lies in the area (an admin's listing)."""
        return sorted((e for e in self.entries.values() if e.jurisdiction.startswith(prefix)),
                      key=lambda e: (e.jurisdiction, e.id))

    def route(self, code: str) -> Route:
        """The nearest covering jurisdiction with someone on duty: never a sideways one, so
        staff of one area never receive another area's notices."""
        for covering in covering_codes(code):
            contacts = self.at(covering)
            if contacts:
                return Route(code, covering, tuple(contacts))
        return Route(code, None)

    def unattended(self, codes: Iterable[str]) -> list[Route]:
        """The routes of the given codes that have nobody on duty of their own."""
        return [route for route in map(self.route, sorted(set(codes))) if route.unattended]

"""The notification contact directory: who is on duty for each jurisdiction, and how to reach
them, and the one routing rule (nearest covering jurisdiction with someone on duty).

Plain Python: the directory is rebuilt from the contact events in the log (see
`Wardship.contact_directory`) and asked by the worker which contacts a notice goes to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from domain.codes import jurisdiction_is_valid
from domain.errors import InvalidCommand

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

# Who a contact is to the office (督导员, 儿童督导员, 个案负责人).
CONTACT_ROLES = ("supervisor", "child_supervisor", "caseworker_lead")
# How a contact is reached: mail, SMS, WeCom and DingTalk group robots, a signed webhook.
CHANNEL_TYPES = ("email", "sms", "wecom", "dingtalk", "webhook")
# Division code lengths from the narrowest to the widest (village to province).
_CODE_LENGTHS = (12, 9, 6, 4, 2)
# The request field holding each channel type's address (SPEC's contact shape).
ADDRESS_FIELDS = {"email": "address", "sms": "number", "wecom": "url", "dingtalk": "url",
                  "webhook": "url"}
MAX_NAME = 100
MAX_CHANNELS = 10
MAX_URL = 2000
# Hosts a plain-http robot URL may name: only this machine (tests' loopback receivers).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Mail addresses in ASCII (as the offices' mail systems use them).
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# Control characters (C0, DEL, C1): never in a name, an address or a URL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A DingTalk signing secret: printable ASCII ("SEC" and hex digits in practice).
_SECRET = re.compile(r"[!-~]{1,200}")
# A mainland mobile number, or any number in E.164 form.
_SMS = re.compile(r"1[0-9]{10}|\+[0-9]{8,15}", re.ASCII)


@dataclass(frozen=True)
class ContactChannel:
    """One way to reach a contact: an e-mail address, an SMS number, or a robot/webhook URL
    (with the DingTalk robot's signing secret)."""

    type: str
    # Kept out of reprs: addresses, numbers, robot URLs and secrets never reach a log line.
    address: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ContactEntry:
    """A person on duty for notifications of one jurisdiction."""

    id: str
    jurisdiction: str
    name: str
    role: str
    channels: tuple[ContactChannel, ...]
    # Who put the contact in the directory, and when (set from the event that did).
    recorded_by: str = ""
    recorded_at: datetime | None = None

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


# --- a contact's body: validation, stored form, public form ----------------------------------


def parse_contact(body: Mapping[str, Any], contact_id: str = "") -> ContactEntry:
    """The contact a request body describes (SPEC's shape), checked field by field; raises
    InvalidCommand naming the field and what to send instead."""
    _no_other_fields(body, ("jurisdiction", "name", "role", "channels"), "the contact")
    jurisdiction = body.get("jurisdiction")
    if not isinstance(jurisdiction, str) or not jurisdiction_is_valid(jurisdiction):
        raise InvalidCommand("'jurisdiction' must be a division code of 2, 4, 6, 9 or 12 "
                             "digits under a province, e.g. 511102001")
    raw_name = body.get("name")
    name = " ".join(raw_name.split()) if isinstance(raw_name, str) else ""
    if not name or len(name) > MAX_NAME or not _storable(name):
        raise InvalidCommand(f"'name' must be the contact's name, 1 to {MAX_NAME} characters")
    role = body.get("role")
    if role not in CONTACT_ROLES:
        raise InvalidCommand(f"'role' must be one of: {', '.join(CONTACT_ROLES)}")
    channels = body.get("channels")
    if not isinstance(channels, list) or not channels:
        raise InvalidCommand("'channels' must list at least one way to reach the contact, "
                             "e.g. [{\"type\": \"email\", \"address\": \"...\"}]")
    if len(channels) > MAX_CHANNELS:
        raise InvalidCommand(f"'channels' may list at most {MAX_CHANNELS} channels")
    return ContactEntry(contact_id, jurisdiction, name, str(role),
                        tuple(_channel(c, f"channels[{i}]") for i, c in enumerate(channels)))


def _channel(plain: object, where: str) -> ContactChannel:
    if not isinstance(plain, dict):
        raise InvalidCommand(f"'{where}' must be an object with a 'type'")
    kind = plain.get("type")
    if kind not in CHANNEL_TYPES:
        raise InvalidCommand(f"'{where}.type' must be one of: {', '.join(CHANNEL_TYPES)}")
    address_field = ADDRESS_FIELDS[kind]
    allowed = ("type", address_field, "secret") if kind == "dingtalk" else (
        "type", address_field)
    _no_other_fields(plain, allowed, f"the {kind} channel '{where}'")
    value = plain.get(address_field)
    text = value.strip() if isinstance(value, str) else ""
    field_name = f"'{where}.{address_field}'"
    if kind == "email":
        if len(text) > 254 or not _EMAIL.fullmatch(text):
            raise InvalidCommand(f"{field_name} must be a mail address, e.g. name@example.org")
    elif kind == "sms":
        if not _SMS.fullmatch(text):
            raise InvalidCommand(f"{field_name} must be a mainland mobile number of 11 digits "
                                 "starting with 1, or a number in E.164 form (+ and 8-15 "
                                 "digits)")
    else:
        _check_url(text, field_name)
    secret = None
    if kind == "dingtalk":
        raw = plain.get("secret")
        secret = raw.strip() if isinstance(raw, str) else ""
        if not _SECRET.fullmatch(secret):
            raise InvalidCommand(f"'{where}.secret' must be the DingTalk robot's signing "
                                 "secret (SEC...), from its security settings")
    return ContactChannel(str(kind), text, secret)


def _check_url(url: str, field_name: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        host = None
    if len(url) > MAX_URL or not _storable(url) or any(c.isspace() for c in url) or not host:
        raise InvalidCommand(f"{field_name} must be the robot's https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidCommand(f"{field_name} must not carry a user name or password")
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return
    raise InvalidCommand(f"{field_name} must use https:// (plain http only for this "
                         "machine's loopback address)")


def _storable(text: str) -> bool:
    """No control characters, and valid Unicode (no lone surrogates: not storable)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return _CONTROL.search(text) is None


def _no_other_fields(plain: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    other = sorted(str(key) for key in plain if key not in allowed)
    if other:
        raise InvalidCommand(f"{what} has no field {other[0]!r}; its fields are: "
                             f"{', '.join(allowed)}")


def channel_as_plain(channel: ContactChannel) -> dict[str, str]:
    """The channel in SPEC's request shape, secret included (what the event stores)."""
    plain = {"type": channel.type, ADDRESS_FIELDS[channel.type]: channel.address}
    if channel.secret is not None:
        plain["secret"] = channel.secret
    return plain


def channel_from_plain(plain: Mapping[str, Any]) -> ContactChannel:
    """The channel a stored event recorded (checked when it was recorded, not again)."""
    kind = str(plain["type"])
    secret = plain.get("secret")
    return ContactChannel(kind, str(plain[ADDRESS_FIELDS[kind]]),
                          None if secret is None else str(secret))


def public_channel(channel: ContactChannel) -> dict[str, Any]:
    """The channel as answers show it: no signing secret (only that one is set), and each
    URL query value masked, since robot keys and tokens travel in the query."""
    plain: dict[str, Any] = {"type": channel.type}
    if channel.type in ("email", "sms"):
        plain[ADDRESS_FIELDS[channel.type]] = channel.address
    else:
        plain["url"] = masked_url(channel.address)
    if channel.type == "dingtalk":
        plain["secret_set"] = bool(channel.secret)
    return plain


def masked_url(url: str) -> str:
    """The URL with every query value replaced by `***` (`?key=***`)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = urlencode([(key, "***") for key, _ in parse_qsl(parts.query,
                                                            keep_blank_values=True)],
                      safe="*")
    return urlunsplit(parts._replace(query=query))


def contact_view(entry: ContactEntry) -> dict[str, Any]:
    """A contact as the API and the CLI show it: no secrets."""
    return {"id": entry.id, "jurisdiction": entry.jurisdiction, "name": entry.name,
            "role": entry.role, "channels": [public_channel(c) for c in entry.channels],
            "recorded_by": entry.recorded_by, "recorded_at": entry.recorded_at}

"""Display labels for events, actions, deadline changes and the replay's words (codes stay
English); their Chinese is in the one message catalogue (`domain.i18n`)."""

from __future__ import annotations

import re

from domain.actions import ACTIONS as ACTION_RULES

# Stages and deadline kinds are labelled in the domain, for the notification texts too.
from domain.i18n import LANGUAGES as LANGUAGES
from domain.labels import DEADLINE_KINDS as DEADLINE_KINDS
from domain.labels import STAGES as STAGES
from domain.labels import Labels
from domain.labels import label as label

# Events recorded by the service rather than by an action of the table.
_SERVICE_EVENTS = {
    "CaseOpened": "case opened",
    "DeadlineMissed": "deadline missed",
    "EscalationRecorded": "supervisor notified",
    "NotificationDelivered": "notification delivered",
    "NotificationDeliveryFailed": "notification failed",
    "NotificationAcknowledged": "notification acknowledged",
    "HotlineOrderLinked": "12345 work order received",
    "HotlineReplied": "12345 work order replied",
    "HotlineReplyFailed": "12345 reply failed",
    "CaseHandedOver": "handed over to another province",
    "ReceivedFromPartition": "received from another province",
}


def _words(name: str) -> str:
    """'ReportFiled' -> 'report filed'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


# Each action by its name, and the event it records by the event's name: from the table.
ACTIONS = Labels("action", {rule.name: rule.name.replace("_", " ") for rule in ACTION_RULES})
EVENTS = Labels("event", {
    **_SERVICE_EVENTS,
    **{rule.event.__name__: _words(rule.event.__name__) for rule in ACTION_RULES},
})

DEADLINE_CHANGES = Labels("deadline change", {
    "open": "opens",
    "met": "met",
    "missed": "missed",
    "cancelled": "cancelled",
    "resolve": "resolved",
})

WORDS = Labels("word", {
    "case": "Case",
    "jurisdiction": "jurisdiction",
    "policy": "policy",
    "by": "by",
    "due": "due",
    "events": "events",
    "chain_ok": "hash chain intact",
    "chain_broken": "hash chain BROKEN at event",
})

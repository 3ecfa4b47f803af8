"""Display labels for stages, events, deadline kinds and statuses (codes stay English)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from domain.actions import ACTIONS as ACTION_RULES

# Stages and deadline kinds are labelled in the domain, for the notification texts too.
from domain.labels import DEADLINE_KINDS as DEADLINE_KINDS
from domain.labels import STAGES as STAGES
from domain.labels import label as label

if TYPE_CHECKING:
    from domain.labels import Labels

LANGUAGES = ("en", "zh")

# Events recorded by the service rather than by an action of the table.
_SERVICE_EVENTS: Labels = {
    "CaseOpened": {"en": "case opened", "zh": "立案"},
    "DeadlineMissed": {"en": "deadline missed", "zh": "超时未办"},
    "EscalationRecorded": {"en": "supervisor notified", "zh": "督办通知"},
    "NotificationDelivered": {"en": "notification delivered", "zh": "通知已送达"},
    "NotificationDeliveryFailed": {"en": "notification failed", "zh": "通知发送失败"},
    "NotificationAcknowledged": {"en": "notification acknowledged", "zh": "通知已确认"},
    "HotlineOrderLinked": {"en": "12345 work order received", "zh": "12345工单受理"},
    "HotlineReplied": {"en": "12345 work order replied", "zh": "12345工单办结回复"},
    "HotlineReplyFailed": {"en": "12345 reply failed", "zh": "12345工单回复失败"},
    "CaseHandedOver": {"en": "handed over to another province", "zh": "跨省移交"},
    "ReceivedFromPartition": {"en": "received from another province", "zh": "跨省接收"},
}


def _words(name: str) -> str:
    """'ReportFiled' -> 'report filed'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


# Each action by its name, and the event it records by the event's name: from the table.
ACTIONS: Labels = {
    rule.name: {"en": rule.name.replace("_", " "), "zh": rule.term} for rule in ACTION_RULES
}
EVENTS: Labels = {
    **_SERVICE_EVENTS,
    **{rule.event.__name__: {"en": _words(rule.event.__name__), "zh": rule.term}
       for rule in ACTION_RULES},
}

DEADLINE_CHANGES: Labels = {
    "open": {"en": "opens", "zh": "开始计时"},
    "met": {"en": "met", "zh": "按时办结"},
    "missed": {"en": "missed", "zh": "超时"},
    "cancelled": {"en": "cancelled", "zh": "取消"},
    "resolve": {"en": "resolved", "zh": "补办完毕"},
}

WORDS: Labels = {
    "case": {"en": "Case", "zh": "案件"},
    "jurisdiction": {"en": "jurisdiction", "zh": "辖区"},
    "policy": {"en": "policy", "zh": "时限规则"},
    "by": {"en": "by", "zh": "经办"},
    "due": {"en": "due", "zh": "截止"},
    "events": {"en": "events", "zh": "条记录"},
    "chain_ok": {"en": "hash chain intact", "zh": "哈希链完整"},
    "chain_broken": {"en": "hash chain BROKEN at event", "zh": "哈希链断裂，首个异常记录"},
}


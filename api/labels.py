"""Display labels for stages, events, deadline kinds and statuses (codes stay English)."""

from __future__ import annotations

import re

from domain.actions import ACTIONS as ACTION_RULES

Labels = dict[str, dict[str, str]]
LANGUAGES = ("en", "zh")

STAGES: Labels = {
    "discovery": {"en": "discovery", "zh": "发现"},
    "report": {"en": "report", "zh": "报告"},
    "emergency_response": {"en": "emergency response", "zh": "应急处置"},
    "assessment": {"en": "assessment", "zh": "评估"},
    "assistance": {"en": "assistance", "zh": "帮扶"},
    "guardianship_intervention": {"en": "guardianship intervention", "zh": "监护干预"},
    "closed": {"en": "closed", "zh": "结案"},
}

# Events recorded by the service rather than by an action of the table.
_SERVICE_EVENTS: Labels = {
    "CaseOpened": {"en": "case opened", "zh": "立案"},
    "DeadlineMissed": {"en": "deadline missed", "zh": "超时未办"},
    "EscalationRecorded": {"en": "supervisor notified", "zh": "督办通知"},
    "NotificationDelivered": {"en": "notification delivered", "zh": "通知已送达"},
    "NotificationDeliveryFailed": {"en": "notification failed", "zh": "通知发送失败"},
    "NotificationAcknowledged": {"en": "notification acknowledged", "zh": "通知已确认"},
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

DEADLINE_KINDS: Labels = {
    "report_filing": {"en": "report filing", "zh": "报告时限"},
    "intake": {"en": "intake", "zh": "受理时限"},
    "intake_danger": {"en": "intake (danger now)", "zh": "紧急受理时限"},
    "response_dispatch": {"en": "response dispatch", "zh": "派员时限"},
    "emergency_completion": {"en": "emergency completion", "zh": "应急处置时限"},
    "assessment": {"en": "assessment", "zh": "评估时限"},
    "plan_creation": {"en": "plan creation", "zh": "帮扶计划时限"},
    "home_visit": {"en": "home visit", "zh": "走访时限"},
    "referral_response": {"en": "referral response", "zh": "转介回复时限"},
    "guardianship_review": {"en": "guardianship review", "zh": "监护复核时限"},
    "case_review": {"en": "case review", "zh": "督导复核时限"},
    "approval": {"en": "approval", "zh": "审批时限"},
    "service_delivery": {"en": "service delivery", "zh": "服务提供时限"},
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


def label(table: Labels, code: str | None, lang: str = "en") -> str:
    """The label of code in lang; the code itself when the table does not know it."""
    if code is None:
        return "-"
    return table.get(code, {}).get(lang) or code

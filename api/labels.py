"""Display labels for stages, events, deadline kinds and statuses (codes stay English)."""

from __future__ import annotations

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

# One label per event type: what happened, i.e. the action that was taken.
EVENTS: Labels = {
    "CaseOpened": {"en": "case opened", "zh": "立案"},
    "ReportFiled": {"en": "report filed", "zh": "报告"},
    "CaseDismissed": {"en": "concern dismissed", "zh": "排除"},
    "ReportAccepted": {"en": "report accepted", "zh": "受理"},
    "ReportScreenedOut": {"en": "report screened out", "zh": "不予受理"},
    "ResponseDispatched": {"en": "response dispatched", "zh": "派员处置"},
    "ChildPlaced": {"en": "child placed", "zh": "临时安置"},
    "EmergencyCompleted": {"en": "emergency completed", "zh": "应急处置完成"},
    "AssessmentRecorded": {"en": "assessment recorded", "zh": "记录评估"},
    "AssessmentCompleted": {"en": "assessment completed", "zh": "评估完成"},
    "PlanCreated": {"en": "plan created", "zh": "制定帮扶计划"},
    "ServiceDelivered": {"en": "service delivered", "zh": "提供服务"},
    "VisitRecorded": {"en": "visit recorded", "zh": "走访记录"},
    "CareAgreementSigned": {"en": "care agreement signed", "zh": "签订委托照护协议"},
    "GuardianContactRecorded": {"en": "guardian contacted", "zh": "联系监护人"},
    "AssistanceCompleted": {"en": "assistance completed", "zh": "帮扶完成"},
    "GuardianAdmonished": {"en": "guardian admonished", "zh": "训诫监护人"},
    "FamilyEducationOrdered": {"en": "family education ordered", "zh": "责令接受家庭教育指导"},
    "TemporaryGuardianshipStarted": {"en": "temporary guardianship started", "zh": "临时监护"},
    "CourtPetitioned": {"en": "court petitioned", "zh": "向法院申请"},
    "CourtDecisionRecorded": {"en": "court decision recorded", "zh": "记录法院裁判"},
    "LongTermGuardianshipStarted": {"en": "long-term guardianship started", "zh": "长期监护"},
    "GuardianshipReviewed": {"en": "guardianship reviewed", "zh": "监护评估复核"},
    "InterventionEnded": {"en": "intervention ended", "zh": "监护干预结束"},
    "CaseAssigned": {"en": "case assigned", "zh": "指派承办人"},
    "NoteAdded": {"en": "note added", "zh": "添加备注"},
    "CaseReferred": {"en": "case referred", "zh": "转介"},
    "ReferralResponseRecorded": {"en": "referral answered", "zh": "转介回复"},
    "CaseEscalated": {"en": "case escalated", "zh": "升级处置"},
    "JurisdictionTransferred": {"en": "jurisdiction transferred", "zh": "移交辖区"},
    "CaseClosed": {"en": "case closed", "zh": "结案"},
    "CaseReviewed": {"en": "case reviewed", "zh": "督导复核"},
    "CaseReopened": {"en": "case reopened", "zh": "重新立案"},
    "ApprovalRequested": {"en": "approval requested", "zh": "提请审批"},
    "ApprovalGranted": {"en": "approval granted", "zh": "审批同意"},
    "ApprovalRejected": {"en": "approval rejected", "zh": "审批驳回"},
    "DeadlineMissed": {"en": "deadline missed", "zh": "超时未办"},
    "EscalationRecorded": {"en": "supervisor notified", "zh": "督办通知"},
    "NotificationDelivered": {"en": "notification delivered", "zh": "通知已送达"},
    "NotificationDeliveryFailed": {"en": "notification failed", "zh": "通知发送失败"},
    "NotificationAcknowledged": {"en": "notification acknowledged", "zh": "通知已确认"},
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

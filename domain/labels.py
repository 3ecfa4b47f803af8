"""Display labels of the domain's codes (stages, deadline kinds), shared by the API's views and
the notification texts so that no term is translated in two places."""

from __future__ import annotations

Labels = dict[str, dict[str, str]]

STAGES: Labels = {
    "discovery": {"en": "discovery", "zh": "发现"},
    "report": {"en": "report", "zh": "报告"},
    "emergency_response": {"en": "emergency response", "zh": "应急处置"},
    "assessment": {"en": "assessment", "zh": "评估"},
    "assistance": {"en": "assistance", "zh": "帮扶"},
    "guardianship_intervention": {"en": "guardianship intervention", "zh": "监护干预"},
    "closed": {"en": "closed", "zh": "结案"},
    # A monitoring record's two states (监测预防), for the notices of its deadlines.
    "monitoring": {"en": "monitoring", "zh": "监测中"},
    "ended": {"en": "monitoring ended", "zh": "监测结束"},
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
    "hotline_reply": {"en": "12345 reply", "zh": "12345工单回复时限"},
    "visit": {"en": "regular visit", "zh": "定期走访时限"},
    "child_file_review": {"en": "ledger review", "zh": "台账复核时限"},
    "care_agreement_renewal": {"en": "care agreement renewal", "zh": "照护协议续签时限"},
}

# Pattern rules of the shipped policy (`domain.patterns`); a rule without a label shows its code.
PATTERNS: Labels = {
    "repeat_report": {"en": "reported again soon", "zh": "短期内再次报告"},
    "report_after_closing": {"en": "reported again after closing", "zh": "结案后再次报告"},
    "risk_rising": {"en": "guardianship risk rising", "zh": "监护风险等级多次上升"},
}
SIGNALS: Labels = {
    "report": {"en": "report", "zh": "报告"},
    "case_closed": {"en": "case closed", "zh": "结案"},
    "risk_raised": {"en": "risk level raised", "zh": "风险等级上升"},
}


def label(table: Labels, code: str | None, lang: str = "en") -> str:
    """The label of code in lang; the code itself when the table does not know it."""
    if code is None:
        return "-"
    return table.get(code, {}).get(lang) or code

"""Display labels of the domain's codes (stages, deadline kinds), shared by the API's views,
the notification texts and the web pages. Each table maps a code to its English label; the
Chinese is in the one message catalogue (`domain.i18n`), under the table's context."""

from __future__ import annotations

from domain.i18n import translate


class Labels(dict[str, str]):
    """Code -> English label, translated under `context` in the catalogue."""

    def __init__(self, context: str, english: dict[str, str]) -> None:
        super().__init__(english)
        self.context = context


STAGES = Labels("stage", {
    "discovery": "discovery",
    "report": "report",
    "emergency_response": "emergency response",
    "assessment": "assessment",
    "assistance": "assistance",
    "guardianship_intervention": "guardianship intervention",
    "closed": "closed",
    # A monitoring record's two states (监测预防), for the notices of its deadlines.
    "monitoring": "monitoring",
    "ended": "monitoring ended",
})

DEADLINE_KINDS = Labels("deadline kind", {
    "report_filing": "report filing",
    "intake": "intake",
    "intake_danger": "intake (danger now)",
    "response_dispatch": "response dispatch",
    "emergency_completion": "emergency completion",
    "assessment": "assessment",
    "plan_creation": "plan creation",
    "home_visit": "home visit",
    "referral_response": "referral response",
    "guardianship_review": "guardianship review",
    "case_review": "case review",
    "approval": "approval",
    "service_delivery": "service delivery",
    "hotline_reply": "12345 reply",
    "visit": "regular visit",
    "child_file_review": "ledger review",
    "care_agreement_renewal": "care agreement renewal",
})

# Pattern rules of the shipped policy (`domain.patterns`); a rule without a label shows its code.
PATTERNS = Labels("pattern", {
    "repeat_report": "reported again soon",
    "report_after_closing": "reported again after closing",
    "risk_rising": "guardianship risk rising",
})
SIGNALS = Labels("signal", {
    "report": "report",
    "case_closed": "case closed",
    "risk_raised": "risk level raised",
})


def label(table: Labels, code: str | None, lang: str = "en") -> str:
    """The label of code in lang; the code itself when the table does not know it."""
    if code is None:
        return "-"
    english = table.get(code)
    if english is None:
        return code
    return translate(english, lang, table.context)

"""One message catalogue: every label of every table has its Chinese there, and nowhere else."""

from __future__ import annotations

from api.labels import ACTIONS, DEADLINE_CHANGES, EVENTS, WORDS
from domain.i18n import translate
from domain.labels import DEADLINE_KINDS, STAGES, label

TABLES = (STAGES, DEADLINE_KINDS, EVENTS, ACTIONS, DEADLINE_CHANGES, WORDS)


def test_every_label_has_its_chinese_in_the_catalogue() -> None:
    missing = [(table.context, english) for table in TABLES for english in table.values()
               if translate(english, "zh", table.context) == english]
    assert missing == []


def test_the_same_english_reads_differently_by_table() -> None:
    """'assessment' the stage is 评估, the deadline kind 评估时限: contexts keep them apart."""
    assert label(STAGES, "assessment", "zh") == "评估"
    assert label(DEADLINE_KINDS, "assessment", "zh") == "评估时限"
    assert label(STAGES, "assessment", "en") == "assessment"


def test_an_action_and_its_event_share_the_term() -> None:
    assert label(ACTIONS, "accept_report", "zh") == label(EVENTS, "ReportAccepted", "zh") == "受理"


def test_an_unknown_code_reads_as_itself() -> None:
    assert label(STAGES, "no_such_stage", "zh") == "no_such_stage"

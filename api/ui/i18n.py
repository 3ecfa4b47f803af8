"""The pages' language: zh-CN unless the browser chose English with the switch (a cookie);
one Jinja environment per language, translating through the one catalogue (`domain.i18n`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.labels import ACTIONS, DEADLINE_CHANGES, EVENTS
from domain.i18n import LANGUAGES, translate, translations
from domain.labels import DEADLINE_KINDS, STAGES, Labels, label

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fastapi import Request

LANG_COOKIE = "wardship_lang"
DEFAULT_LANG = "zh"
# Codes the pages show that no other table labels: grades, roles, delivery outcomes.
GRADES = Labels("grade", {"red": "red", "orange": "orange", "yellow": "yellow",
                          "blue": "blue"})
ROLES = Labels("role", {
    "reporter": "reporter", "caseworker": "caseworker", "supervisor": "supervisor",
    "inspector": "inspector", "admin": "administrator", "system": "the service",
    "child_director": "child director", "child_supervisor": "child supervisor",
    "hotline": "12345 platform",
})
DELIVERIES = Labels("delivery", {"delivered": "delivered", "failed": "failed",
                                 "pending": "pending", "held": "held for the digest"})
CATEGORIES = Labels("child category", {
    "orphan": "orphan", "de_facto_unsupported": "de facto unsupported",
    "left_behind": "left behind", "in_difficulty": "in difficulty",
    "street_child": "street child", "other": "other"})
APPROVALS = Labels("approval", {"closure": "closure",
                                 "long_term_guardianship": "long-term guardianship",
                                 "court_petition": "court petition"})
TABLES: dict[str, Labels] = {
    "approval": APPROVALS, "category": CATEGORIES,
    "stage": STAGES, "kind": DEADLINE_KINDS, "event": EVENTS, "action": ACTIONS,
    "change": DEADLINE_CHANGES, "grade": GRADES, "role": ROLES, "delivery": DELIVERIES,
}


def language(request: Request) -> str:
    """The page language of this browser."""
    chosen = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return chosen if chosen in LANGUAGES else DEFAULT_LANG


def _labeller(lang: str) -> Callable[[str, str | None], str]:
    def code_label(table: str, code: str | None) -> str:
        return label(TABLES[table], code, lang)

    return code_label


@functools.cache
def environment(lang: str, templates: Path) -> Environment:
    """The templates of `templates`, translating into `lang`."""
    env = Environment(loader=FileSystemLoader(templates), extensions=["jinja2.ext.i18n"],
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["label"] = _labeller(lang)
    env.globals["lang"] = lang
    env.globals["html_lang"] = "zh-CN" if lang == "zh" else "en"
    return env


def text(message: str, request: Request) -> str:
    """`message` (English) in the request's page language, for texts built outside templates."""
    return translate(message, language(request))

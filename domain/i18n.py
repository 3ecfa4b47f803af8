"""The one message catalogue: English message ids, their Chinese in a gettext .po file.

Labels of codes (stages, events, deadline kinds), the replay's words and the web pages all
read it, so that no text is translated in two places. The .po is compiled in memory when
first needed (Babel): no compiled .mo is kept beside it that could drift from it.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DOMAIN = "wardship"
LOCALE_DIR = Path(__file__).parent / "locale"
# The catalogue's locale for each language code the pages and the CLI accept.
_LOCALES = {"zh": "zh_CN"}


def catalogue_path(lang: str = "zh") -> Path:
    """Where the .po file of `lang` lives."""
    return LOCALE_DIR / _LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of `lang`; English (the message ids) translates to itself."""
    if lang not in _LOCALES:
        return NullTranslations()
    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=_LOCALES[lang], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def translate(message: str, lang: str, context: str | None = None) -> str:
    """`message` (English) in `lang`, under the catalogue's `context` when given."""
    table = translations(lang)
    if context is None:
        return table.gettext(message)
    translated = table.pgettext(context, message)
    return str(translated)

"""Query parameter types that take exactly the text their OpenAPI format allows.

Pydantic also reads unix times ("0.5") and times without seconds as datetimes; a client
that reads `format: date-time` would never send those, so the server does not accept them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator

_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = "[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"


def _written_as(pattern: str, example: str) -> BeforeValidator:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"write it as RFC 3339 does, e.g. {example}")
        return value

    return BeforeValidator(check)


# Text PostgreSQL can hold, i.e. without NUL. Lone surrogates are not Unicode text at all
# (RFC 8259 8.2), so no pattern names them: a class of surrogates is refused by ECMA-262 `u`
# and Rust validators, which then check nothing. Bodies refuse them with a 422.
NO_NUL_PATTERN = r"^[^\x00]*$"
# What `str.strip` takes away (all of it below U+3001), in escapes that every dialect reads.
_SPACES = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
# Text with some character that is neither NUL nor a space: what the domain finds not blank.
SOME_TEXT_PATTERN = rf"^[^\x00]*[^\x00{_SPACES}][^\x00]*$"

# A time with its UTC offset, e.g. 2026-11-20T09:00:00+08:00 (`format: date-time`).
Instant = Annotated[datetime, _written_as(f"{_DATE}[Tt]{_TIME}", "2026-11-20T09:00:00+08:00")]
# A calendar day, e.g. 2026-11-20 (`format: date`).
Day = Annotated[date, _written_as(_DATE, "2026-11-20")]

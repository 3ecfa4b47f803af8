"""A case's history as terminal lines (`wardship replay`), labelled in English or Chinese.

Shows what happened, when, by whom and to which deadlines; never personal fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from api.labels import DEADLINE_CHANGES, DEADLINE_KINDS, EVENTS, STAGES, WORDS, label

if TYPE_CHECKING:
    from collections.abc import Sequence


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M %z") if isinstance(value, datetime) else str(value)


def timeline_lines(
    entries: Sequence[dict[str, Any]], chain: dict[str, Any], lang: str = "en"
) -> list[str]:
    """Header, one line per event (plus its deadline changes), and the chain result."""
    if not entries:
        return []
    first = entries[0]
    jurisdiction = first["payload"].get("jurisdiction", "-")
    lines = [
        f"{label(WORDS, 'case', lang)} {first.get('case_id', '')}".rstrip()
        + f" · {label(WORDS, 'jurisdiction', lang)} {jurisdiction}"
        + f" · {label(WORDS, 'policy', lang)} {first['policy_version']}"
        + f" · {len(entries)} {label(WORDS, 'events', lang)}",
    ]
    kinds: dict[str, str] = {}
    for entry in entries:
        lines.append(
            f"{entry['version']:>5}  {_when(entry['occurred_at'])}  "
            f"{label(EVENTS, entry['type'], lang)} → {label(STAGES, entry['stage'], lang)}  "
            f"{label(WORDS, 'by', lang)} {entry['actor_id']} ({entry['actor_role']})"
        )
        for change in entry["deadline_changes"]:
            if change["op"] == "open":
                kinds[change["id"]] = change["kind"]
                lines.append(
                    f"{'':>7}+ {label(DEADLINE_KINDS, change['kind'], lang)} "
                    f"{label(WORDS, 'due', lang)} {_when(change['due_at'])}"
                )
            else:
                kind = kinds.get(change["id"], change["id"])
                lines.append(
                    f"{'':>7}· {label(DEADLINE_KINDS, kind, lang)} "
                    f"{label(DEADLINE_CHANGES, change['op'], lang)}"
                )
    if chain.get("valid"):
        lines.append(label(WORDS, "chain_ok", lang))
    else:
        lines.append(f"{label(WORDS, 'chain_broken', lang)} {chain.get('first_bad_version')}: "
                     f"{chain.get('problem')}")
    return lines

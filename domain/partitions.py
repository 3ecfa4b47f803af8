"""Which partition (one province's event store and Temporal namespace) holds a jurisdiction.

The pure rule: a division code's first two digits name its province, and each province is one
partition. Where a partition's store and namespace are is configuration (`api.settings`).
"""

from __future__ import annotations

from domain.codes import PROVINCES
from domain.errors import InvalidCommand

# Digits of a division code that name its province (GB/T 2260).
PROVINCE_DIGITS = 2


def partition_of(jurisdiction: str) -> str:
    """The partition holding cases of `jurisdiction`: its province code."""
    province = jurisdiction[:PROVINCE_DIGITS]
    if len(province) < PROVINCE_DIGITS or province not in PROVINCES:
        raise InvalidCommand(f"{jurisdiction!r} names no province: a partition is chosen by "
                             "the first two digits of a division code")
    return province


def is_partition_code(code: str) -> bool:
    """Whether `code` names a partition (a province's two digits)."""
    return code in PROVINCES

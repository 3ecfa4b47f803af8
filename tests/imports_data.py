"""Generated department lists for import tests and benchmarks: invented children, with bad
rows at known lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
HEADER = "record_id,id_number,name,sex,birth_date,division_code,category,dropped_out,school\n"
FIRST_BIRTH = date(2012, 1, 1)


def id_number(i: int, county: str = "511102") -> str:
    """A valid resident ID number for invented child `i` (unique for i < 3,000,000)."""
    born = FIRST_BIRTH + timedelta(days=i // 1000)
    body = f"{county}{born:%Y%m%d}{i % 1000:03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=False)) % 11]


@dataclass
class Roll:
    """A school roll's CSV text and what each of its lines is."""

    text: str
    good: list[str] = field(default_factory=list)  # ID numbers of the good rows
    bad_lines: dict[int, str] = field(default_factory=dict)  # line -> column at fault
    dropouts: list[str] = field(default_factory=list)  # ID numbers of good dropout rows


def school_roll(rows: int, *, bad: bool = True, county: str = "511102") -> Roll:
    """`rows` rows after the header; with `bad`, some with a wrong check digit, an unknown
    division code or no name. Every 20th good row is a dropout."""
    lines = [HEADER]
    roll = Roll("")
    for i in range(rows):
        line = i + 2
        number = id_number(i, county)
        village = f"{county}001{1 + i % 20:03d}"
        name = f"学生{i}"
        if bad and i % 97 == 5:
            number = number[:17] + ("0" if number[17] != "0" else "1")
            roll.bad_lines[line] = "id_number"
        elif bad and i % 101 == 7:
            village = "991102001001"
            roll.bad_lines[line] = "division_code"
        elif bad and i % 103 == 9:
            name = ""
            roll.bad_lines[line] = "name"
        dropped = i % 20 == 3
        if line not in roll.bad_lines:
            roll.good.append(number)
            if dropped:
                roll.dropouts.append(number)
        sex = "male" if int(number[16]) % 2 else "female"
        lines.append(f"S{i:07d},{number},{name},{sex},,{village},,{int(dropped)},第一小学\n")
    roll.text = "".join(lines)
    return roll

"""Census screening and data matching (摸底排查、数据比对): other departments' lists, row by row.

Each source has one column layout (`LAYOUTS`). A row is checked here without I/O and
becomes the details it adds to the child's file and the concerns its risk flags raise; a
rejected row is named by line, column and reason, never by what it held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from domain.child import UNKNOWN_NAMES, resident_id_is_valid
from domain.codes import ChildCategory, ConcernCategory, Sex, jurisdiction_is_valid

if TYPE_CHECKING:
    from collections.abc import Mapping

# Columns every source has; `record_id` is the source's own record number (学籍号, 户籍档案号,
# 残疾证号), the row key when given, else the ID number is.
COMMON = ("record_id", "id_number", "name", "sex", "birth_date", "division_code", "category",
          "address")
REQUIRED = ("id_number", "name", "division_code")


@dataclass(frozen=True)
class Layout:
    """One source's columns beyond the common ones: flags (yes/no), grades (1-4), text."""

    flags: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    default_category: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return COMMON + self.flags + self.grades + self.text


LAYOUTS: dict[str, Layout] = {
    # 学籍: the school roll with dropouts (控辍保学).
    "school_roll": Layout(flags=("dropped_out",), text=("school", "dropout_date")),
    # 户籍: the household register, with what is known of the parents.
    "household_register": Layout(flags=("parent_deceased", "parent_imprisoned",
                                        "parent_missing")),
    # 残疾人登记: the disability register; disabled children are 困境儿童 (in difficulty).
    "disability_register": Layout(grades=("disability_grade", "parent_disability_grade"),
                                  text=("disability_type",),
                                  default_category=ChildCategory.IN_DIFFICULTY),
}

# What each risk raises (SPEC's concern categories). Dropping out of compulsory education
# is the guardian's neglect of a statutory duty; a dead or missing parent leaves the child
# without that guardian; an imprisoned or severely disabled (grade 1-2) parent cannot
# exercise guardianship; a severely disabled child needs a check of care and support, which
# no narrower category names.
CONCERNS: dict[str, ConcernCategory] = {
    "dropped_out": ConcernCategory.NEGLECT,
    "parent_deceased": ConcernCategory.GUARDIAN_MISSING,
    "parent_missing": ConcernCategory.GUARDIAN_MISSING,
    "parent_imprisoned": ConcernCategory.GUARDIAN_INCAPABLE,
    "parent_disability_grade": ConcernCategory.GUARDIAN_INCAPABLE,
    "disability_grade": ConcernCategory.OTHER,
}
# Disability grades 1 and 2 are severe (重度残疾): the grades that flag a risk.
SEVERE_GRADES = frozenset({1, 2})
_YES = frozenset({"1", "y", "yes", "true", "t", "是", "有", "√"})
_NO = frozenset({"", "0", "n", "no", "false", "f", "否", "无"})
_SEX = {"female": Sex.FEMALE, "f": Sex.FEMALE, "女": Sex.FEMALE, "male": Sex.MALE,
        "m": Sex.MALE, "男": Sex.MALE}
ADULT_AGE = 18


@dataclass(frozen=True)
class Rejection:
    """Why a row was not imported: its line, the column at fault and a reason without the
    cell's value (rows hold personal data)."""

    line: int
    column: str
    reason: str

    def as_plain(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class CheckedRow:
    """A row that passed: the child's details, who they are, and the risks it flags."""

    line: int
    row_key: str
    id_number: str
    division_code: str
    category: str
    personal: dict[str, Any]
    risks: tuple[str, ...] = field(default=())

    @property
    def township(self) -> str:
        return self.division_code[:9]

    @property
    def concerns(self) -> list[str]:
        return sorted({CONCERNS[risk].value for risk in self.risks})


def unknown_columns(source: str, header: list[str]) -> tuple[list[str], list[str]]:
    """The header's columns this source does not have, and the required ones it lacks."""
    layout = LAYOUTS[source]
    return ([c for c in header if c not in layout.columns],
            [c for c in REQUIRED if c not in header])


def check_row(source: str, line: int, cells: Mapping[str, str], area: str, today: date
              ) -> CheckedRow | list[Rejection]:
    """The row as details and risks, or every reason it is rejected. `area` is the
    importer's division code: rows outside it are rejected."""
    layout = LAYOUTS[source]
    problems: list[Rejection] = []

    def reject(column: str, reason: str) -> None:
        problems.append(Rejection(line, column, reason))

    value = {k: " ".join(str(v or "").split()) for k, v in cells.items()}
    id_number = value.get("id_number", "").upper()
    born = None
    if not id_number:
        reject("id_number", "missing")
    elif not resident_id_is_valid(id_number):
        reject("id_number", "not an 18-character resident ID number, or its check digit "
                            "does not match")
    else:
        born = _date(id_number[6:14])
        if born is None:
            reject("id_number", "the birth date it holds is not a date")
        elif born > today or _age(born, today) >= ADULT_AGE:
            reject("id_number", f"the birth date it holds is not a minor's (under "
                                f"{ADULT_AGE}) on the day of import")
    name = value.get("name", "")
    if not name or name.lower() in UNKNOWN_NAMES:
        reject("name", "missing")
    code = value.get("division_code", "")
    if not code:
        reject("division_code", "missing")
    elif len(code) not in (9, 12) or not jurisdiction_is_valid(code):
        reject("division_code", "not a township (9-digit) or village (12-digit) division "
                                "code under a province that exists")
    elif not code.startswith(area):
        reject("division_code", "outside the importer's jurisdiction")
    birth_date = born.isoformat() if born else None
    if value.get("birth_date"):
        given = _date(value["birth_date"].replace("-", "").replace("/", ""))
        if given is None:
            reject("birth_date", "not a date (YYYY-MM-DD)")
        elif born is not None and given != born:
            reject("birth_date", "does not match the birth date in id_number")
    sex = _sex_of(id_number) if born else None
    if value.get("sex"):
        given_sex = _SEX.get(value["sex"].lower())
        if given_sex is None:
            reject("sex", "must be female or male (女/男)")
        elif sex is not None and given_sex != sex:
            reject("sex", "does not match the sex in id_number")
    category = value.get("category", "") or layout.default_category
    if category and category not in set(ChildCategory):
        reject("category", f"not one of {', '.join(ChildCategory)}")
    risks: list[str] = []
    extra: dict[str, Any] = {}
    for column in layout.flags:
        answer = value.get(column, "").lower()
        if answer in _YES:
            risks.append(column)
            extra[column] = True
        elif answer not in _NO:
            reject(column, "must be yes or no (1/0, 是/否), or empty for no")
    for column in layout.grades:
        grade = value.get(column, "")
        if not grade:
            continue
        if grade not in ("1", "2", "3", "4"):
            reject(column, "must be a disability grade from 1 (most severe) to 4, or empty")
            continue
        extra[column] = int(grade)
        if int(grade) in SEVERE_GRADES:
            risks.append(column)
    for column in layout.text:
        if value.get(column):
            extra[column] = value[column]
    if problems:
        return problems
    personal = {"name": name, "sex": str(sex), "birth_date": birth_date,
                "id_number": id_number, "address": value.get("address") or None, **extra}
    return CheckedRow(line, value.get("record_id") or id_number, id_number, code, category,
                      personal, tuple(risks))


def concern_summary(source: str, risks: tuple[str, ...]) -> str:
    """The discovery case's summary: which list flagged what (no personal data)."""
    return f"data match ({source}): {', '.join(risks)}"


def _date(digits: str) -> date | None:
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _sex_of(id_number: str) -> Sex:
    """GB 11643: the 17th digit is odd for men, even for women."""
    return Sex.MALE if int(id_number[16]) % 2 else Sex.FEMALE

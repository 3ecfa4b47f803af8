"""Checking one row of a department's list: what is rejected and why (without the value),
and which concerns its risk flags raise."""

from __future__ import annotations

from datetime import date

from domain.imports import CheckedRow, Rejection, check_row
from tests.imports_data import id_number

TODAY = date(2026, 12, 1)
AREA = "511102"


def row(**cells: str) -> dict[str, str]:
    return {"id_number": id_number(1), "name": "学生1", "division_code": "511102001001",
            **cells}


def rejected(source: str, cells: dict[str, str]) -> list[tuple[str, str]]:
    result = check_row(source, 7, cells, AREA, TODAY)
    assert isinstance(result, list)
    assert all(r.line == 7 for r in result)
    return [(r.column, r.reason) for r in result]


class TestRejections:
    def test_a_wrong_check_digit_is_named_without_the_number(self) -> None:
        number = id_number(1)
        bad = number[:17] + ("1" if number[17] == "0" else "0")
        ((column, reason),) = rejected("school_roll", row(id_number=bad))
        assert column == "id_number"
        assert "check digit does not match" in reason
        assert bad[:6] not in reason

    def test_division_codes_must_be_a_township_or_village_inside_the_area(self) -> None:
        for code in ("991102001001", "511102", "5111020010"):
            assert rejected("school_roll", row(division_code=code))[0][0] == "division_code"
        ((_, reason),) = rejected("school_roll", row(division_code="511103001001"))
        assert reason == "outside the importer's jurisdiction"

    def test_missing_names_wrong_dates_and_sexes_and_unknown_flags(self) -> None:
        problems = rejected("school_roll", row(name="不详", birth_date="2001-01-01",
                                               sex="女" if int(id_number(1)[16]) % 2 else "男",
                                               dropped_out="maybe"))
        assert [c for c, _ in problems] == ["name", "birth_date", "sex", "dropped_out"]

    def test_an_adult_is_not_a_child(self) -> None:
        body = "51110220000101001"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        adult = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights,
                                                                    strict=True)) % 11]
        assert rejected("school_roll", row(id_number=adult))[0][0] == "id_number"
        assert Rejection(1, "a", "b").as_plain() == {"line": 1, "column": "a", "reason": "b"}


class TestRisks:
    def test_flags_and_severe_grades_raise_concerns(self) -> None:
        school = check_row("school_roll", 2, row(dropped_out="是"), AREA, TODAY)
        assert isinstance(school, CheckedRow)
        assert (school.risks, school.concerns, school.township) == (
            ("dropped_out",), ["neglect"], "511102001")
        household = check_row("household_register", 2, row(
            parent_deceased="1", parent_imprisoned="yes", parent_missing=""), AREA, TODAY)
        assert isinstance(household, CheckedRow)
        assert household.concerns == ["guardian_incapable", "guardian_missing"]
        disability = check_row("disability_register", 2, row(
            disability_grade="3", parent_disability_grade="1"), AREA, TODAY)
        assert isinstance(disability, CheckedRow)
        assert (disability.concerns, disability.category) == (
            ["guardian_incapable"], "in_difficulty")
        assert disability.personal["disability_grade"] == 3

    def test_a_row_without_flags_raises_nothing_and_takes_birth_and_sex_from_the_id(
        self
    ) -> None:
        plain = check_row("school_roll", 2, row(record_id="S1"), AREA, TODAY)
        assert isinstance(plain, CheckedRow)
        assert (plain.risks, plain.row_key) == ((), "S1")
        assert plain.personal["birth_date"] == "2012-01-01"
        assert plain.personal["sex"] == ("male" if int(id_number(1)[16]) % 2 else "female")

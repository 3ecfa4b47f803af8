"""The access policy, role by role and level by level, on one case in township 511102001.

Each row says what a user of that role and division code may do with the case: see it, act
on it, approve for it, read its personal data, export it, inspect it, read the child's file.
"""

from __future__ import annotations

import pytest

from domain import access
from domain.actions import RULES
from domain.actors import Actor
from domain.codes import Role

CASE_CODE = "511102001"
OPENED_BY, ASSIGNEE = "rp-1", "cw-1"
SUBJECTS = {Role.REPORTER: "rp-2", Role.CASEWORKER: ASSIGNEE, Role.SUPERVISOR: "sv-1",
            Role.INSPECTOR: "in-1", Role.ADMIN: "ad-1"}
LEVELS = {"province": "51", "city": "5111", "county": "511102", "township": "511102001",
          "village": "511102001001", "elsewhere": "511103"}
COLUMNS = ("see", "act", "approve", "personal", "export", "inspect", "child file")

# One letter per column, in COLUMNS order: Y may, . may not.
TABLE: dict[Role, dict[str, str]] = {
    Role.REPORTER: {"province": ".......", "city": ".......", "county": ".......",
                    "township": ".......", "village": ".......", "elsewhere": "......."},
    Role.CASEWORKER: {"province": "YY...YY", "city": "YY...YY", "county": "YY...YY",
                      "township": "YY...YY", "village": ".......", "elsewhere": "......."},
    Role.SUPERVISOR: {"province": "YYYYYYY", "city": "YYYYYYY", "county": "YYYYYYY",
                      "township": "YYYYYYY", "village": ".......", "elsewhere": "......."},
    Role.INSPECTOR: {"province": "Y..YYYY", "city": "Y..YYYY", "county": "Y..YYYY",
                     "township": "Y..YYYY", "village": ".......", "elsewhere": "......."},
    Role.ADMIN: {"province": "YYY..YY", "city": "YYY..YY", "county": "YYY..YY",
                 "township": "YYY..YY", "village": ".......", "elsewhere": "......."},
}


def _may(user: Actor) -> str:
    """What the user may do with the case, as a row of the table."""
    sees = access.may_see_case(user, CASE_CODE, OPENED_BY)
    answers = (
        sees,
        sees and access.may_take(user, RULES["add_note"], CASE_CODE),
        sees and access.may_take(user, RULES["approve"], CASE_CODE),
        sees and access.sees_personal_data(user),
        sees and access.may_export(user),
        sees and access.may_inspect_cases(user) and access.may_inspect(user, ASSIGNEE,
                                                                         OPENED_BY),
        access.may_read_child_file(user, CASE_CODE, [CASE_CODE]),
    )
    return "".join("Y" if answer else "." for answer in answers)


@pytest.mark.parametrize("role", list(TABLE))
@pytest.mark.parametrize("level", list(LEVELS))
def test_each_role_at_each_level_may_what_the_table_says(role: Role, level: str) -> None:
    user = Actor(SUBJECTS[role], frozenset({role}), LEVELS[level])
    assert _may(user) == TABLE[role][level], f"columns: {', '.join(COLUMNS)}"


class TestWhatRolesAlone:
    def test_a_reporter_sees_the_report_they_made_and_nothing_else(self) -> None:
        reporter = Actor(OPENED_BY, frozenset({Role.REPORTER}), CASE_CODE)
        assert access.may_see_case(reporter, CASE_CODE, OPENED_BY)
        assert not access.may_take(reporter, RULES["add_note"], CASE_CODE)
        assert not access.may_inspect_cases(reporter)

    def test_a_caseworker_inspects_only_the_cases_they_lead_or_opened(self) -> None:
        other = Actor("cw-2", frozenset({Role.CASEWORKER}), CASE_CODE)
        assert not access.may_inspect(other, ASSIGNEE, OPENED_BY)
        assert access.may_inspect(other, "cw-2", OPENED_BY)

    def test_only_a_supervisor_of_the_exact_code_acknowledges_its_notifications(self) -> None:
        county = Actor("sv-1", frozenset({Role.SUPERVISOR}), "511102")
        assert access.may_acknowledge(county, "511102")
        assert not access.may_acknowledge(county, CASE_CODE)
        caseworker = Actor("cw-1", frozenset({Role.CASEWORKER}), "511102")
        assert not access.may_acknowledge(caseworker, "511102")

    def test_cases_are_opened_by_openers_in_their_own_area(self) -> None:
        inspector = Actor("in-1", frozenset({Role.INSPECTOR}), "51")
        reporter = Actor("rp-1", frozenset({Role.REPORTER}), CASE_CODE)
        assert not access.may_open_case(inspector, CASE_CODE)
        assert access.may_open_case(reporter, CASE_CODE)
        assert not access.may_open_case(reporter, "511103001")

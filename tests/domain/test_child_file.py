"""The child file (一人一档): reports about the same child land in one file, linking every case."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from tests.domain.builders import CASEWORKER_2, CHILD, open_case

if TYPE_CHECKING:
    from domain.application import Wardship

NO_ID = {"name": "Test Child B", "sex": "male", "birth_date": "2016-07-09",
         "category": "left_behind"}


class TestChildFile:
    def test_two_reports_with_the_same_id_number_share_one_file_linking_both_cases(
        self, app: Wardship
    ) -> None:
        first = open_case(app)
        second = open_case(app, child={**CHILD, "name": "Nickname A",
                                       "id_number": CHILD["id_number"].lower() + " "})
        assert first.view["child_id"] == second.view["child_id"]
        file = app.child_file(UUID(first.view["child_id"]))
        assert file["case_ids"] == [str(first.case_id), str(second.case_id)]
        assert file["personal"]["name"] == "Nickname A"  # newer details fill in the file

    def test_same_name_birth_date_and_jurisdiction_is_the_same_child(
        self, app: Wardship
    ) -> None:
        first = open_case(app, child=NO_ID)
        second = open_case(app, child={**NO_ID, "name": " Test  Child B "})
        assert first.view["child_id"] == second.view["child_id"]
        assert len(app.child_file(UUID(first.view["child_id"]))["case_ids"]) == 2

    @pytest.mark.parametrize(("other", "jurisdiction"), [
        ({**NO_ID, "birth_date": "2016-07-10"}, "511102001"),
        ({**NO_ID, "name": "Test Child C"}, "511102001"),
        (NO_ID, "511102002"),
        ({**CHILD, "id_number": "000000201403029999"}, "511102001"),
    ], ids=["birth-date", "name", "jurisdiction", "id-number"])
    def test_a_different_child_gets_a_different_file(
        self, app: Wardship, other: dict[str, Any], jurisdiction: str
    ) -> None:
        base = CHILD if "id_number" in other else NO_ID
        first = open_case(app, child=base)
        second = open_case(app, child=other, jurisdiction=jurisdiction, actor=CASEWORKER_2)
        assert first.view["child_id"] != second.view["child_id"]
        assert app.child_file(UUID(second.view["child_id"]))["case_ids"] == [
            str(second.case_id)]

    def test_the_file_id_does_not_reveal_the_id_number(self, memory_app: Wardship) -> None:
        child_id = open_case(memory_app).view["child_id"]
        assert CHILD["id_number"] not in child_id

"""The child file (一人一档): reports about the same child land in one file, linking every case."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.errors import InvalidCommand, OutsideJurisdiction
from tests.domain.builders import CASEWORKER, CASEWORKER_2, CHILD, OUTSIDER, open_case

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

    def test_same_name_and_birth_date_in_one_county_is_the_same_child(
        self, app: Wardship
    ) -> None:
        first = open_case(app, child=NO_ID)
        second = open_case(app, child={**NO_ID, "name": " Test  Child B "},
                           jurisdiction="511102002", actor=CASEWORKER_2)
        assert first.view["child_id"] == second.view["child_id"]
        assert len(app.child_file(UUID(first.view["child_id"]))["case_ids"]) == 2

    @pytest.mark.parametrize(("other", "jurisdiction"), [
        ({**NO_ID, "birth_date": "2016-07-10"}, "511102001"),
        ({**NO_ID, "name": "Test Child C"}, "511102001"),
        (NO_ID, "511103001"),
        ({**CHILD, "id_number": "511102201403020031"}, "511102001"),
    ], ids=["birth-date", "name", "county", "id-number"])
    def test_a_different_child_gets_a_different_file(
        self, app: Wardship, other: dict[str, Any], jurisdiction: str
    ) -> None:
        base = CHILD if "id_number" in other else NO_ID
        first = open_case(app, child=base)
        actor = CASEWORKER_2 if jurisdiction.startswith("511102") else OUTSIDER
        second = open_case(app, child=other, jurisdiction=jurisdiction, actor=actor)
        assert first.view["child_id"] != second.view["child_id"]
        assert app.child_file(UUID(second.view["child_id"]))["case_ids"] == [
            str(second.case_id)]

    def test_the_file_id_does_not_reveal_the_id_number(self, memory_app: Wardship) -> None:
        child_id = open_case(memory_app).view["child_id"]
        assert CHILD["id_number"] not in child_id


class TestLinkingOnlyWhatIsKnown:
    @pytest.mark.parametrize("number", ["511102201403020020", "51110220140302002", "abc"])
    def test_an_invalid_id_number_is_refused_naming_the_field(
        self, memory_app: Wardship, number: str
    ) -> None:
        with pytest.raises(InvalidCommand, match=r"child\.id_number"):
            open_case(memory_app, child={**CHILD, "id_number": number})

    @pytest.mark.parametrize("child", [
        {**NO_ID, "name": "不详"},
        {**NO_ID, "birth_date": None},
    ], ids=["unknown-name", "no-birth-date"])
    def test_a_child_known_by_less_than_name_and_birth_date_gets_a_file_of_their_own(
        self, memory_app: Wardship, child: dict[str, Any]
    ) -> None:
        first = open_case(memory_app, child=child)
        second = open_case(memory_app, child=child)
        assert first.view["child_id"] != second.view["child_id"]


class TestDetailsAreNeverOverwritten:
    def test_each_report_keeps_its_own_details_with_source_time_and_recorder(
        self, memory_app: Wardship
    ) -> None:
        first = open_case(memory_app, child={**CHILD, "address": "Invented Road 1"})
        second = open_case(memory_app, child={**CHILD, "address": "Invented Road 2"},
                           jurisdiction="511102002", actor=CASEWORKER_2)
        file = memory_app.child_file(UUID(first.view["child_id"]))
        assert [(d["case_id"], d["recorded_by"], d["values"]["address"])
                for d in file["details"]] == [
            (str(second.case_id), CASEWORKER_2.subject, "Invented Road 2"),
            (str(first.case_id), CASEWORKER.subject, "Invented Road 1"),
        ]


class TestMergingFiles:
    def test_two_files_found_to_be_one_child_are_merged_on_record(
        self, memory_app: Wardship
    ) -> None:
        first = open_case(memory_app, child={**NO_ID, "name": "不详"})
        second = open_case(memory_app, child=NO_ID)
        source, target = UUID(first.view["child_id"]), UUID(second.view["child_id"])
        merged = memory_app.merge_child_files(CASEWORKER, source, target, "same child, "
                                              "identified at school")
        assert merged["case_ids"] == [str(second.case_id), str(first.case_id)]
        assert memory_app.child_file(source)["merged_into"] == str(target)
        assert len(merged["details"]) == 2

    def test_merging_files_outside_ones_area_is_refused(self, memory_app: Wardship) -> None:
        first = open_case(memory_app, child=NO_ID)
        other = open_case(memory_app, child=NO_ID, jurisdiction="511103001", actor=OUTSIDER)
        with pytest.raises(OutsideJurisdiction):
            memory_app.merge_child_files(CASEWORKER, UUID(other.view["child_id"]),
                                         UUID(first.view["child_id"]), "same child")

    def test_a_file_is_merged_only_once(self, memory_app: Wardship) -> None:
        first = open_case(memory_app, child={**NO_ID, "name": "不详"})
        second = open_case(memory_app, child=NO_ID)
        source, target = UUID(first.view["child_id"]), UUID(second.view["child_id"])
        memory_app.merge_child_files(CASEWORKER, source, target, "same child")
        with pytest.raises(InvalidCommand):
            memory_app.merge_child_files(CASEWORKER, source, target, "again")

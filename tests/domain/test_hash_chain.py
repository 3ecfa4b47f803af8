"""The one chain check: it passes an intact chain and names the first event that was
changed, removed, moved or taken from another case (no database: links as decoded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from domain.hashchain import ChainLink, check_chain, event_hash
from domain.personal import ERASED, with_values
from tests.domain.builders import long_case

if TYPE_CHECKING:
    from domain.application import Wardship


def _links(app: Wardship) -> tuple[str, list[ChainLink]]:
    driver = long_case(app)
    links = [ChainLink(e.originator_version, get_topic(type(e)), dict(vars(e)))
             for e in app.case_events(driver.case_id)]
    return str(driver.case_id), links


class TestCheckChain:
    def test_an_intact_chain_passes_and_gives_its_head(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        check = check_chain(case_id, links)
        assert check.valid
        assert check.head_hash == links[-1].fields["hash"]  # type: ignore[index]

    def test_a_changed_field_is_named(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        changed = dict(links[6].fields or {}, actor_id="someone-else")
        links[6] = ChainLink(7, links[6].topic, changed)
        check = check_chain(case_id, links)
        assert (check.first_bad_version, check.problem) == (
            7, "content does not match its hash (event changed)")

    def test_a_removed_event_is_named(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        del links[4]
        assert check_chain(case_id, links).first_bad_version == 5

    def test_events_in_another_order_are_named(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        links[2], links[3] = links[3], links[2]
        assert check_chain(case_id, links).first_bad_version == 3

    def test_an_event_of_another_case_is_named(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        _, others = _links(memory_app)
        links[1] = others[1]
        check = check_chain(case_id, links)
        assert (check.first_bad_version, check.problem) == (2, "belongs to another case")

    def test_an_undecodable_event_is_named(self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        links[3] = ChainLink(4, links[3].topic, None)
        assert check_chain(case_id, links).problem == (
            "stored event cannot be decoded (changed bytes)")


class TestSealedFields:
    """Chain version 2: personal fields count by salted digests (domain.personal)."""

    def test_a_changed_personal_value_is_named_while_its_key_lives(
            self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        first = links[0].fields or {}
        assert first["seal"]["digests"]  # the child's details are sealed
        changed = dict(first, child={**first["child"], "name": "Someone Else"})
        links[0] = ChainLink(1, links[0].topic, changed)
        check = check_chain(case_id, links)
        assert (check.first_bad_version, check.problem) == (
            1, "a personal field does not match its sealed digest (event changed)")

    def test_the_chain_verifies_over_digests_once_the_values_are_gone(
            self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        assert sum(1 for link in links if (link.fields or {}).get("seal")) >= 2
        erased = []
        for link in links:
            fields = dict(link.fields or {})
            if fields.get("seal"):
                fields["seal"] = {**fields["seal"], "salt": None}
                fields = with_values(fields, dict.fromkeys(fields["seal"]["digests"], ERASED))
            erased.append(ChainLink(link.version, link.topic, fields))
        assert check_chain(case_id, erased).valid

    def test_events_recorded_before_seals_verify_by_the_old_rule(
            self, memory_app: Wardship) -> None:
        case_id, links = _links(memory_app)
        old = links[0].fields or {}
        # As an event stored before per-child keys reads: no seal, chained over plaintext.
        unsealed = {k: v for k, v in old.items() if k != "seal"}
        unsealed["hash"] = event_hash(links[0].topic, unsealed)
        assert unsealed["hash"] != old["hash"]
        assert check_chain(case_id, [ChainLink(1, links[0].topic, {**unsealed, "seal": None})]
                           ).valid

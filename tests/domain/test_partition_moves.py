"""A case moved between two province partitions keeps its whole history and one hash chain
that verifies on both sides; each partition holds only its own province's cases."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.errors import ActionNotAllowed, CaseNotFound, InvalidCommand, OutsideJurisdiction
from domain.events import CaseHandedOver, ReceivedFromPartition
from domain.handover import move_case
from domain.storage import event_store_env
from tests.domain.builders import CASEWORKER, CHILD, CIPHER_KEY, T0, long_case, open_case

if TYPE_CHECKING:
    from collections.abc import Iterator

# Invented actors: a supervisor in Sichuan hands cases over; a caseworker in Guangdong works
# them there; the service itself (no person's code covers two provinces).
SICHUAN_SUPERVISOR = Actor("sv-51", frozenset({Role.SUPERVISOR}), "5111", "City Supervisor")
NATIONAL = Actor("system", frozenset({Role.SYSTEM}), "", "The service")
GUANGDONG = "440103001"
GD_CASEWORKER = Actor("cw-44", frozenset({Role.CASEWORKER}), "4401", "Guangzhou Worker")


@pytest.fixture(params=["memory", "postgres"])
def provinces(request: pytest.FixtureRequest) -> Iterator[tuple[Wardship, Wardship]]:
    """Sichuan's (51) and Guangdong's (44) partitions, each in its own store."""
    from tests.conftest import new_database

    urls: list[str | None] = [None, None]
    stack = []
    if request.param == "postgres":
        database_url = request.getfixturevalue("database_url")
        for i in range(2):
            context = new_database(database_url, "partition")
            urls[i] = context.__enter__()
            stack.append(context)
    apps = [Wardship(env={**event_store_env(url, CIPHER_KEY), "PARTITION": code})
            for url, code in zip(urls, ("51", "44"), strict=True)]
    try:
        yield apps[0], apps[1]
    finally:
        for app in apps:
            app.close()
        for context in stack:
            context.__exit__(None, None, None)


def test_a_moved_case_keeps_its_history_and_its_chain_verifies_on_both_sides(
    provinces: tuple[Wardship, Wardship],
) -> None:
    sichuan, guangdong = provinces
    driver = long_case(sichuan)
    before = sichuan.case_events(driver.case_id)
    source_head = sichuan.verify_chain(driver.case_id)["head_hash"]

    moved = move_case(sichuan, guangdong, driver.case_id, SICHUAN_SUPERVISOR,
                      jurisdiction=GUANGDONG, now=driver.clock)

    left = sichuan.case_events(driver.case_id)
    arrived = guangdong.case_events(driver.case_id)
    assert isinstance(left[-1], CaseHandedOver)
    assert left[-1].prev_hash == source_head
    assert left[-1].to_partition == "44"
    # The target holds the source's events as they are, hashes included, then the arrival,
    # linked to the hand-over's hash.
    assert [(e.originator_version, e.hash) for e in arrived[:-1]] == \
        [(e.originator_version, e.hash) for e in left]
    assert [type(e) for e in arrived[:len(before)]] == [type(e) for e in before]
    assert isinstance(arrived[-1], ReceivedFromPartition)
    assert arrived[-1].prev_hash == left[-1].hash
    source_check = sichuan.verify_chain(driver.case_id)
    target_check = guangdong.verify_chain(driver.case_id)
    assert source_check["valid"]
    assert target_check["valid"]
    assert source_check["head_hash"] == arrived[-1].prev_hash
    assert moved["jurisdiction"] == GUANGDONG
    assert guangdong.case_as_of(driver.case_id, version=3)["version"] == 3


def test_the_source_case_is_frozen_and_the_target_works_it(
    provinces: tuple[Wardship, Wardship],
) -> None:
    sichuan, guangdong = provinces
    driver = open_case(sichuan)
    driver.do("accept_report", grade="yellow", assignee="cw-1")
    move_case(sichuan, guangdong, driver.case_id, SICHUAN_SUPERVISOR, jurisdiction=GUANGDONG,
              now=driver.clock)

    frozen = sichuan.get_case_aggregate(driver.case_id)
    assert frozen.allowed_actions() == []
    assert frozen.open_deadlines() == []
    with pytest.raises(ActionNotAllowed):
        sichuan.perform(driver.case_id, CASEWORKER, "add_note", {"text": "still here?"},
                        now=driver.clock)
    case = guangdong.get_case_aggregate(driver.case_id)
    # The deadlines the hand-over stopped run again in the new area.
    assert {d.id for d in case.open_deadlines()} == \
        {c["id"] for c in sichuan.case_events(driver.case_id)[-1].deadline_changes}
    # The child has a file in the new province, listing the case.
    assert str(driver.case_id) in guangdong.child_file(UUID(case.child_id))["case_ids"]
    view = guangdong.perform(driver.case_id, GD_CASEWORKER, "add_note", {"text": "arrived"},
                             now=driver.clock)
    assert view["jurisdiction"] == GUANGDONG
    assert guangdong.verify_chain(driver.case_id)["valid"]


def test_a_move_run_again_records_nothing_twice(provinces: tuple[Wardship, Wardship]) -> None:
    sichuan, guangdong = provinces
    driver = open_case(sichuan)
    # Cut off between the two saves: the hand-over is recorded, the arrival is not.
    history = sichuan.hand_over(driver.case_id, SICHUAN_SUPERVISOR, jurisdiction=GUANGDONG,
                                to_partition="44", now=driver.clock)
    move_case(sichuan, guangdong, driver.case_id, SICHUAN_SUPERVISOR, jurisdiction=GUANGDONG,
              now=driver.clock)
    move_case(sichuan, guangdong, driver.case_id, SICHUAN_SUPERVISOR, jurisdiction=GUANGDONG,
              now=driver.clock)
    assert len(sichuan.case_events(driver.case_id)) == len(history)
    assert len(guangdong.case_events(driver.case_id)) == len(history) + 1


def test_only_a_supervisor_over_the_case_hands_it_over(
    provinces: tuple[Wardship, Wardship],
) -> None:
    sichuan, guangdong = provinces
    driver = open_case(sichuan)
    for actor in (CASEWORKER, GD_CASEWORKER):
        with pytest.raises((OutsideJurisdiction, ActionNotAllowed)):
            move_case(sichuan, guangdong, driver.case_id, actor, jurisdiction=GUANGDONG,
                      now=driver.clock)
    assert len(sichuan.case_events(driver.case_id)) == 1
    with pytest.raises(CaseNotFound):
        guangdong.get_case(driver.case_id)


def test_a_partition_refuses_cases_of_another_province(
    provinces: tuple[Wardship, Wardship],
) -> None:
    sichuan, _ = provinces
    with pytest.raises(InvalidCommand, match="partition 44"):
        open_case(sichuan, jurisdiction=GUANGDONG, actor=NATIONAL)
    driver = open_case(sichuan)
    with pytest.raises(InvalidCommand, match="hand it over"):
        sichuan.perform(driver.case_id, NATIONAL, "transfer_jurisdiction",
                        {"jurisdiction": GUANGDONG}, now=driver.clock)


def test_a_partition_refuses_imports_and_work_orders_of_another_province(
    provinces: tuple[Wardship, Wardship],
) -> None:
    sichuan, _ = provinces
    with pytest.raises(InvalidCommand, match="partition 44"):
        sichuan.start_import(NATIONAL, source="school_roll", jurisdiction="440103",
                             digest="0" * 64, total_rows=1)
    desk = Actor("12345-44", frozenset({Role.HOTLINE}), "44", "Invented Desk")
    with pytest.raises(InvalidCommand, match="partition 44"):
        sichuan.receive_hotline_order(
            desk, ticket="T-1", received_at=T0, jurisdiction=GUANGDONG, urgent=False,
            content="invented", caller={}, child=dict(CHILD), now=T0)

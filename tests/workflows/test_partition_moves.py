"""A case moved to another province's partition is watched there: its running deadline falls
due in the new province's Temporal namespace and is escalated to the new area, while the old
partition records nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.handover import move_case
from domain.storage import event_store_env
from tests.conftest import new_database
from tests.workflows.support import (
    CIPHER_KEY,
    events_named,
    eventually,
    intake_deadline,
    open_red_report,
    seconds_policy,
)
from workflows.relay import Relay, create_tracking_table
from workflows.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from temporalio.testing import WorkflowEnvironment

# Invented: a supervisor over the Sichuan township the report is about hands the case over.
SUPERVISOR = Actor("sv-test-51", frozenset({Role.SUPERVISOR}), "511102", "Test Supervisor")
GUANGDONG_VILLAGE = "440103001001"


@contextlib.contextmanager
def partition(database_url: str, code: str) -> Iterator[Wardship]:
    """A province's application on a database of its own, with the seconds policy."""
    with new_database(database_url, f"p{code}") as url:
        app = Wardship(env={**event_store_env(url, CIPHER_KEY, pool_size=10), "PARTITION": code},
                       policy=seconds_policy())
        create_tracking_table(app)
        try:
            yield app
        finally:
            app.close()


async def namespace(env: WorkflowEnvironment, name: str) -> Client:
    """A new namespace on the dev server, and a client of it (each province has its own)."""
    await env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)))
    target = env.client.service_client.config.target_host
    for _ in range(100):  # a new namespace is usable within a moment
        try:
            client = await Client.connect(target, namespace=name)
            await client.count_workflows()
            return client
        except Exception:  # not usable everywhere yet
            await asyncio.sleep(0.1)
    raise AssertionError(f"namespace {name} never became usable")


async def test_a_moved_case_is_escalated_in_the_new_province_only(
    dev_server: WorkflowEnvironment, database_url: str,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    sichuan_ns = await namespace(dev_server, f"wardship-51-{suffix}")
    guangdong_ns = await namespace(dev_server, f"wardship-44-{suffix}")
    with partition(database_url, "51") as sichuan, partition(database_url, "44") as guangdong:
        source_relay = Relay(sichuan, sichuan_ns, "wardship-cases")
        target_relay = Relay(guangdong, guangdong_ns, "wardship-cases")
        async with build_worker(sichuan_ns, sichuan, {}, "wardship-cases"), \
                build_worker(guangdong_ns, guangdong, {}, "wardship-cases"):
            # A report of a child in danger, watched in Sichuan: intake is due in 10 s.
            case_id = open_red_report(sichuan)
            deadline_id, due_at = intake_deadline(sichuan, case_id)
            await source_relay.run_once()

            # Handed over to Guangdong before anyone accepted it.
            move_case(sichuan, guangdong, case_id, SUPERVISOR, jurisdiction=GUANGDONG_VILLAGE)
            await source_relay.run_once()
            await target_relay.run_once()
            assert intake_deadline(guangdong, case_id) == (deadline_id, due_at)

            # At the due time the miss is recorded in Guangdong, and the new area is told.
            [escalation] = await eventually(
                lambda: events_named(guangdong, case_id, "EscalationRecorded"), within=40)
            assert escalation.recipient_jurisdiction == GUANGDONG_VILLAGE[:9]
            assert escalation.case_jurisdiction == GUANGDONG_VILLAGE
            [missed] = events_named(guangdong, case_id, "DeadlineMissed")
            assert (missed.deadline_id, missed.occurred_at) == (deadline_id, due_at)

            # Sichuan's workflow stopped watching it: its copy ends with the hand-over.
            await dev_server.sleep(timedelta(seconds=2))
            assert type(sichuan.case_events(case_id)[-1]).__name__ == "CaseHandedOver"
        assert sichuan.verify_chain(case_id)["valid"]
        assert guangdong.verify_chain(case_id)["valid"]

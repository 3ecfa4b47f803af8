"""One action vocabulary: the domain's table, the aggregate's commands, the API's request
schemas (as OpenAPI publishes them) and the labels name the same actions, all of them.

Adding an action means a row in `domain/actions.py`, a command on `ProtectionCase` and a
request schema in the case routes' models; these tests fail until the three agree.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, get_args

from api.labels import ACTIONS as ACTION_LABELS
from api.labels import EVENTS as EVENT_LABELS
from api.main import create_app
from api.routes.case_models import Action
from api.settings import Settings
from domain.actions import RULES
from domain.case import ProtectionCase
from domain.events import (
    CASE_EVENTS,
    HOTLINE_EVENTS,
    NOTIFICATION_EVENTS,
    PARTITION_EVENTS,
    CaseOpened,
)

if TYPE_CHECKING:
    from pathlib import Path

# Commands that are nobody's case action: a supervisor acknowledging a notification, a
# 12345 work order arriving (through its own route), and a case's move between partitions.
NOT_ACTIONS = {"acknowledge_notification", "link_hotline_order", "hand_over", "receive"}


def _commands() -> dict[str, inspect.Signature]:
    """Public methods of the aggregate that take a command context: its commands."""
    found = {}
    for name, member in inspect.getmembers(ProtectionCase, inspect.isfunction):
        signature = inspect.signature(member)
        if not name.startswith("_") and "ctx" in signature.parameters:
            found[name] = signature
    return found


def _schemas() -> dict[str, type[Action]]:
    return {get_args(model.model_fields["action"].annotation)[0]: model
            for model in Action.__subclasses__()}


def _published_actions(tmp_path: Path) -> set[str]:
    """The action names the OpenAPI document offers for `POST /v1/cases/{id}/actions`."""
    document: dict[str, Any] = create_app(Settings(state_dir=tmp_path)).openapi()
    body = document["paths"]["/v1/cases/{case_id}/actions"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    return set(schema["discriminator"]["mapping"])


class TestOneVocabulary:
    def test_every_action_of_the_table_is_a_command_of_the_aggregate(self) -> None:
        assert set(_commands()) - NOT_ACTIONS == set(RULES)

    def test_every_action_of_the_table_has_a_request_schema(self) -> None:
        assert set(_schemas()) == set(RULES)

    def test_the_openapi_document_offers_every_action_and_no_other(
        self, tmp_path: Path
    ) -> None:
        assert _published_actions(tmp_path) == set(RULES)

    def test_every_action_and_every_event_has_a_label(self) -> None:
        assert set(ACTION_LABELS) == set(RULES)
        assert {cls.__name__ for cls in CASE_EVENTS} == set(EVENT_LABELS)

    def test_a_schema_sends_only_fields_its_command_takes(self) -> None:
        commands = _commands()
        for name, model in _schemas().items():
            sent = set(model.model_fields) - {"action", "occurred_at"}
            taken = set(commands[name].parameters) - {"self", "ctx"}
            assert sent <= taken, f"{name}: the command does not take {sent - taken}"

    def test_each_action_records_its_own_event(self) -> None:
        events = [rule.event for rule in RULES.values()]
        assert len(set(events)) == len(events)
        # Every case event is an action's, the opening's, the service's, the 12345 desk's or
        # a move's between partitions.
        assert set(CASE_EVENTS) == {*events, CaseOpened, *NOTIFICATION_EVENTS, *HOTLINE_EVENTS,
                                    *PARTITION_EVENTS}

"""The child file (一人一档): one record per child, linking every case about them."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from eventsourcing.domain import Aggregate

_NAMESPACE = uuid.UUID("6f1c2a52-9a43-4d0e-8f2e-3b1a7c1e5d10")


def child_identity(child: dict[str, Any], jurisdiction: str) -> str:
    """Same ID number, or the same name, birth date and jurisdiction, is the same child."""
    id_number = (child.get("id_number") or "").strip().upper()
    if id_number:
        return f"id:{id_number}"
    name = " ".join(str(child.get("name") or "").split())
    return f"nbj:{name}|{child.get('birth_date') or ''}|{jurisdiction}"


def child_file_id(identity: str, key: bytes) -> uuid.UUID:
    """A stable id that does not reveal the identity: ID numbers are guessable, so keyed."""
    digest = hmac.new(key, identity.encode("utf-8"), hashlib.sha256).hexdigest()
    return uuid.uuid5(_NAMESPACE, digest)


class ChildFile(Aggregate):
    """Everything the service knows about one child, across cases."""

    class Registered(Aggregate.Created):
        """A child's file was opened with their personal details."""

        jurisdiction: str
        category: str
        personal: dict[str, Any]
        case_id: str

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.jurisdiction = self.jurisdiction
            file.category = self.category
            file.personal = dict(self.personal)
            file.case_ids = [self.case_id]

    class CaseLinked(Aggregate.Event):
        """Another case about this child was opened; newer details fill in the file."""

        case_id: str
        category: str
        personal: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            file: ChildFile = aggregate
            file.case_ids = [*file.case_ids, self.case_id]
            file.category = self.category or file.category
            file.personal = {**file.personal, **{k: v for k, v in self.personal.items() if v}}

    def __init__(self) -> None:
        self.case_ids: list[str] = []
        self.category = ""
        self.jurisdiction = ""
        self.personal: dict[str, Any] = {}

    @classmethod
    def register(
        cls, file_id: uuid.UUID, *, jurisdiction: str, category: str,
        personal: dict[str, Any], case_id: str,
    ) -> ChildFile:
        return cls._create(cls.Registered, id=file_id, jurisdiction=jurisdiction,
                           category=category, personal=personal, case_id=case_id)

    def link_case(self, case_id: str, category: str, personal: dict[str, Any]) -> None:
        if case_id not in self.case_ids:
            self.trigger_event(self.CaseLinked, case_id=case_id, category=category,
                               personal=personal)

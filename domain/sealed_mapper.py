"""The event mapper that keeps each child's personal fields in a box under the child's own
data key (`domain.keyring`), inside the whole-event cipher, and reads them back, or as
`[已删除]` once the key is destroyed (docs/privacy.md).

A stored event's sealed fields hold None; its `seal` holds the key id, the paths, the
digests the hash chain covers (case events only) and the box. The box holds the salt and the
values as JSON (orjson: a tenth of the transcoder's cost; personal values are text, and a
date would come back as its ISO text, which the digests cover alike). The box is bound to the
event's place (originator id, version, topic, key, paths): copied anywhere else it does not
open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import orjson
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    EventStore,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from domain.keyring import KeyDestroyed, open_box, seal_box
from domain.personal import (
    ERASED,
    case_state_paths,
    get_path,
    own_key_fields,
    paths,
    with_values,
)
from domain.time_index import TimedStoredEvent

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence
    from uuid import UUID

    from eventsourcing.domain import DomainEventProtocol
    from eventsourcing.persistence import Cipher, Compressor, Recording, Transcoder

    from domain.keyring import Keyring


class SealingMapper(Mapper["UUID"]):
    """eventsourcing's mapper with each child's personal fields sealed under their key."""

    def __init__(self, transcoder: Transcoder, keyring: Keyring, case_topic: str,
                 compressor: Compressor | None = None, cipher: Cipher | None = None) -> None:
        super().__init__(transcoder, compressor, cipher)
        self.keyring = keyring
        self._case_topic = case_topic
        self._kinds: dict[str, _Kind] = {}

    def prepare(self, domain_events: Sequence[Any]) -> None:
        """Make ready, in one go, the keys a batch of new events will be sealed under."""
        key_ids = []
        for event in domain_events:
            seal = getattr(event, "seal", None)
            if isinstance(seal, dict):
                key_ids.append(str(seal["key"]))
            elif own_key_fields(type(event)) is not None:
                key_ids.append(str(event.originator_id))
        self.keyring.ensure(key_ids)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        event_state = self._seal(type(domain_event), topic, originator_id, originator_version,
                                 event_state)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        # The event's timestamp rides along to the recorder, for the time index.
        return TimedStoredEvent(originator_id, originator_version, topic, stored_state,
                                getattr(domain_event, "timestamp", None))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self._decode(stored_event, unseal=True)

    def to_sealed_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The domain event with the fields sealed under a child's key left as stored (None)
        and no key read: what read models are given, which keep no personal data."""
        return self._decode(stored_event, unseal=False)

    def _decode(self, stored_event: StoredEvent, unseal: bool) -> DomainEventProtocol[UUID]:
        topic = stored_event.topic
        kind = self._kinds.get(topic)
        if kind is None:
            kind = self._kinds[topic] = _Kind(resolve_topic(topic))
        stored_state = stored_event.state
        try:
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            event_state: dict[str, Any] = self.transcoder.decode(stored_state)
            if "seal" in event_state:
                event_state = self._open(stored_event, event_state, unseal)
        except KeyDestroyed:
            raise
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' and "
                f"originator_version {stored_event.originator_version}: {error}") from error
        cls = kind.cls
        convert = find_id_convertor(cls, cast("Hashable", type(stored_event.originator_id)))
        event_state["originator_id"] = convert(stored_event.originator_id)
        event_state["originator_version"] = stored_event.originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < kind.class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return cast("DomainEventProtocol[UUID]", domain_event)

    # --- sealing -------------------------------------------------------------------------

    def _seal(self, cls: type[Any], topic: str, originator_id: Any, version: int,
              state: dict[str, Any]) -> dict[str, Any]:
        seal = state.get("seal")
        digests: dict[str, str] | None = None
        salt: str | None = None
        if isinstance(seal, dict):
            # A case event: the case chose the paths, salt and digests, under its child's key.
            key_id, digests, salt = str(seal["key"]), seal["digests"], seal["salt"]
            found = sorted(digests)
        else:
            found, key_id = self._unsealed(cls, originator_id, state)
            if not found:
                return state
        values = {path: get_path(state, path) for path in found}
        plaintext = orjson.dumps({"salt": salt, "values": values})
        key = self.keyring.data_key(key_id, create=True)
        box = seal_box(key, plaintext, _place(originator_id, version, topic, key_id, found))
        sealed = with_values(state, dict.fromkeys(found))
        sealed["seal"] = {"key": key_id, "paths": found, "digests": digests, "box": box}
        return sealed

    def _unsealed(self, cls: type[Any], originator_id: Any, state: dict[str, Any]
                  ) -> tuple[list[str], str]:
        """Paths and key of an event the mapper seals itself: a child file's or monitoring
        record's event (its own key) or a case snapshot (its child's key)."""
        patterns = own_key_fields(cls)
        if patterns is not None:
            return paths(patterns, state), str(originator_id)
        if issubclass(cls, Snapshot) and state.get("topic") == self._case_topic:
            child_id = state["state"].get("child_id")
            if child_id:
                return case_state_paths(state), str(child_id)
        return [], ""

    def _open(self, stored: StoredEvent, state: dict[str, Any], unseal: bool
              ) -> dict[str, Any]:
        seal = state.get("seal")
        if not isinstance(seal, dict) or "box" not in seal:
            return state
        key_id, found = str(seal["key"]), list(seal["paths"])
        salt: str | None = None
        if not unseal:
            values: dict[str, Any] = {}  # the sealed fields stay None, as stored
        else:
            try:
                key = self.keyring.data_key(key_id)
            except KeyDestroyed:
                values = dict.fromkeys(found, ERASED)
            else:
                opened = orjson.loads(open_box(key, seal["box"], _place(
                    stored.originator_id, stored.originator_version, stored.topic, key_id,
                    found)))
                values, salt = opened["values"], opened["salt"]
            state = with_values(state, values)
        if "state" in state:
            del state["seal"]  # a snapshot's: not a field of it
        elif seal.get("digests") is None:
            # Sealed by the mapper, not a declared field: kept as a mark that the event's
            # personal data is under the key (erasure looks for events without it).
            state["seal"] = {"key": key_id}
        else:
            state["seal"] = {"key": key_id, "salt": salt, "digests": seal["digests"]}
        return state


class _Kind:
    """What decoding needs of an event class, found once per topic."""

    __slots__ = ("class_version", "cls")

    def __init__(self, cls: type[Any]) -> None:
        self.cls: Any = cls
        self.class_version: int = getattr(cls, "class_version", 1)


def _place(originator_id: Any, version: int, topic: str, key_id: str, found: list[str]
           ) -> bytes:
    """The associated data a box is bound to: where it was stored and what it holds (NUL
    never occurs in an id, topic or field name; joined by hand, it costs a tenth of JSON)."""
    return "\x00".join((str(originator_id), str(version), topic, key_id, *found)).encode()


class SealingEventStore(EventStore["UUID"]):
    """The event store that has the keys of a batch ready before sealing its events."""

    mapper: SealingMapper

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[UUID]]:
        self.mapper.prepare(domain_events)
        return super().put(domain_events, **kwargs)

"""Stored events read by the faster decoding (domain.codec) come out as the library's
decoding reads them, from the same bytes, old and new; the cipher's bytes are the library's."""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from eventsourcing.utils import Environment

from domain.codec import KeptAESCipher, OrjsonTranscoder
from tests.domain.builders import CIPHER_KEY, long_case
from tests.domain.test_stored_compatibility import FIXTURE

if TYPE_CHECKING:
    from domain.application import Wardship


def transcoders(app: Wardship) -> tuple[OrjsonTranscoder, JSONTranscoder]:
    """The application's transcoder and the library's, with the same transcodings."""
    library = JSONTranscoder()
    app.register_transcodings(library)
    assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
    return app.mapper.transcoder, library


def stored_states(app: Wardship) -> list[bytes]:
    """Every event and snapshot the application holds, as stored (no cipher in memory)."""
    states = [n.state for n in app.recorder.select_notifications(0, 10_000)]
    assert app.snapshots is not None
    for case_id in app.case_ids():
        states += [s.state for s in app.snapshots.recorder.select_events(case_id)]
    return states


def test_every_event_and_snapshot_decodes_as_the_library_decodes_it(
    memory_app: Wardship,
) -> None:
    long_case(memory_app, events=230)  # two snapshots, with deadlines and typed records
    ours, library = transcoders(memory_app)
    states = stored_states(memory_app) + [
        r["state"].encode() for r in FIXTURE["events"] + FIXTURE["snapshots"]]
    assert len(states) > 230
    for state in states:
        assert ours.decode(state) == library.decode(state)
    # The values the library turns back into objects are objects here too.
    snapshot = ours.decode(stored_states(memory_app)[-1])
    assert type(snapshot["timestamp"]).__name__ == "datetime"
    assert {type(d).__name__ for d in snapshot["state"]["deadlines"].values()} == {"Deadline"}


def test_what_orjson_refuses_is_read_as_before(memory_app: Wardship) -> None:
    ours, library = transcoders(memory_app)
    state = library.encode({"big": 2**70, "odd": math.inf, "when": [{"at": 1}]})
    assert ours.decode(state) == library.decode(state) == {
        "big": 2**70, "odd": math.inf, "when": [{"at": 1}]}


def test_a_value_of_an_unknown_type_is_refused(memory_app: Wardship) -> None:
    ours, _ = transcoders(memory_app)
    with pytest.raises(TranscodingNotRegisteredError):
        ours.decode(b'{"a":[{"_type_":"no_such_type","_data_":"x"}]}')


def test_the_cipher_reads_and_writes_the_library_bytes() -> None:
    env = Environment(env={"CIPHER_KEY": CIPHER_KEY})
    ours, library = KeptAESCipher(env), AESCipher(env)
    assert library.decrypt(ours.encrypt(b"state")) == b"state"
    assert ours.decrypt(library.encrypt(b"state")) == b"state"
    damaged = bytearray(library.encrypt(b"state"))
    damaged[-1] ^= 1
    with pytest.raises(ValueError, match="Invalid cipher tag"):
        ours.decrypt(bytes(damaged))
    other = KeptAESCipher(Environment(env={"CIPHER_KEY": base64.b64encode(b"k" * 32).decode()}))
    with pytest.raises(ValueError, match="Invalid cipher tag"):
        other.decrypt(ours.encrypt(b"state"))

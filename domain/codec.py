"""Decoding stored events in less time, the stored bytes unchanged: JSON read by orjson, and
the whole-event AES cipher with its key schedule made once (docs/performance.md).

Events are still written by the library's encoder and cipher, byte for byte as before; only
reading differs, and it gives the same objects as the library's decoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

if TYPE_CHECKING:
    from eventsourcing.utils import Environment

# How a transcoded value's marker key looks in the stored bytes: an event without it holds
# no datetime, UUID or other transcoded value, and needs no second walk.
_MARKER = b'"_type_"'


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON transcoder, decoding with orjson and then turning each
    `{"_type_", "_data_"}` object into its value, innermost first, as the library's
    per-object hook does (which costs more than the parsing itself)."""

    def decode(self, data: bytes) -> Any:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            # What orjson refuses and the library's encoder can write (NaN, integers beyond
            # 64 bits) is read as before.
            return super().decode(data)
        if _MARKER not in data:
            return value
        if type(value) is dict:
            return self._value(value)
        return self._revive_list(value) if type(value) is list else value

    # A transcoded value is decoded where its container meets it, which saves a call for
    # each of them (two or three datetimes an event).

    def _value(self, value: dict[str, Any]) -> Any:
        """The dict, or the value it stands for if it is a transcoded one."""
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return self._transcoded(value)
        return self._revive_dict(value)

    def _revive_dict(self, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                value[key] = self._value(item)
            elif kind is list:
                self._revive_list(item)
        return value

    def _revive_list(self, value: list[Any]) -> list[Any]:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict:
                value[index] = self._value(item)
            elif kind is list:
                self._revive_list(item)
        return value

    def _transcoded(self, value: dict[str, Any]) -> Any:
        name, data = value["_type_"], value["_data_"]
        transcoding = self.names.get(name)
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Data serialized with name '{name}' is not deserializable. Please register "
                "a custom transcoding for this type.")
        kind = type(data)
        if kind is dict:
            data = self._value(data)
        elif kind is list:
            self._revive_list(data)
        return transcoding.decode(data)


class KeptAESCipher(AESCipher):
    """The library's AES-GCM cipher (same key, same bytes), keeping one AESGCM for its key
    instead of making one per event."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = AESCipher.random_bytes(12)
        sealed = self._aesgcm.encrypt(nonce, plaintext, None)
        # The tag first, as the library stores it.
        return nonce + sealed[-16:] + sealed[:-16]

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < 28:
            raise ValueError("Damaged cipher text: invalid nonce or tag length")
        try:
            return self._aesgcm.decrypt(ciphertext[:12], ciphertext[28:] + ciphertext[12:28],
                                        None)
        except InvalidTag as error:
            raise ValueError("Invalid cipher tag") from error

"""The service's Ed25519 key that signs exported case files, and checking such signatures.

The private key is `WARDSHIP_EXPORT_SIGNING_KEY` (base64 of a 32-byte seed), or in development
a key generated once into the state dir. Its public half is embedded in every export and
published at `GET /v1/inspection/signing-key`, so an inspector can check which key signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

if TYPE_CHECKING:
    from api.settings import Settings

ALGORITHM = "Ed25519"


class SigningKeyError(ValueError):
    """The configured signing key cannot be used."""


def service_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured (or development) private key that signs case files."""
    try:
        seed = base64.b64decode(settings.effective_export_signing_key(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (binascii.Error, ValueError) as error:
        raise SigningKeyError(
            "WARDSHIP_EXPORT_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed"
        ) from error


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(public_key: str) -> str:
    """A short fingerprint of a public key, to compare by eye with the published one."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, message: bytes) -> dict[str, str]:
    """The signature block for message: algorithm, public key, its id and the signature."""
    public = public_key_text(key.public_key())
    return {
        "algorithm": ALGORITHM,
        "public_key": public,
        "key_id": key_id(public),
        "value": base64.b64encode(key.sign(message)).decode(),
    }


def signature_is_valid(public_key: str, signature: str, message: bytes) -> bool:
    """Whether signature (base64) is public_key's (base64 raw) Ed25519 signature of message."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True

"""Master keys in a hardware security module, reached over PKCS#11 (python-pkcs11): the
children's data keys are wrapped and unwrapped inside the token, and the master keys never
leave it (docs/privacy.md). SoftHSM2 stands in for an HSM in development and tests.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import pkcs11
from cryptography.exceptions import InvalidTag
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

NONCE_BYTES = 12  # AES-GCM's 96-bit nonce, random per wrap, stored before the ciphertext
# Calls into a module are serialised: python-pkcs11 initialises it with C_Initialize(NULL),
# which promises the module that no two threads call it at once (SoftHSM then turns its own
# locks off). A wrap or unwrap costs ~0.1 ms of CPU (docs/performance.md) and the Keyring
# calls only on a cache miss, so threads hardly wait here.
_CALLS = threading.Lock()
# One logged-in session per token and process, shared by every provider (an API process has
# one application per partition): a PKCS#11 login belongs to the whole process, and closing
# any logged-in session would log every other session out.
_SESSIONS: dict[tuple[str, str], Any] = {}
# Errors after which the session is opened again, once (the token restarted or was lost).
_LOST = (p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved,
         p11.TokenNotPresent, p11.UserNotLoggedIn, p11.KeyHandleInvalid,
         p11.ObjectHandleInvalid)
# What an AES-GCM tag check that failed looks like: ENCRYPTED_DATA_INVALID from HSMs,
# GENERAL_ERROR from SoftHSM 2.6.
_NOT_OURS = (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.GeneralError)


class KeyProviderError(RuntimeError):
    """The token cannot serve the master keys as configured: what to fix (never the PIN)."""


class Pkcs11KeyProvider:
    """Master keys as AES-256 secret keys in a PKCS#11 token, found by label and never
    extractable: the first label is current, the others still unwrap keys not yet rotated.
    A wrap is AES-GCM inside the token with the context as associated data."""

    def __init__(self, module: str, token_label: str, pin: str,
                 key_labels: Sequence[str]) -> None:
        if not key_labels:
            raise KeyProviderError("name the master keys' labels in the token, current first "
                                   "(WARDSHIP_PKCS11_KEYS)")
        self._where = (module, token_label)
        self._pin = pin  # to log in again after the token was lost; never shown
        self._labels = list(key_labels)
        self._session: Any = None
        with _CALLS:
            try:
                self._connect()
            except _LOST:  # a session the token has forgotten (restarted)
                self._connect()

    @property
    def master_key_id(self) -> str:
        return self._labels[0]

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._call(self.master_key_id, lambda key: key.encrypt(
            data_key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)))
        return nonce + sealed

    def unwrap(self, wrapped: bytes, master_key_id: str, context: bytes) -> bytes:
        if master_key_id not in self._labels:
            raise LookupError(f"master key {master_key_id!r} is not configured (retired?)")
        params = GCMParams(wrapped[:NONCE_BYTES], context)
        try:
            return self._call(master_key_id, lambda key: key.decrypt(
                wrapped[NONCE_BYTES:], mechanism=Mechanism.AES_GCM, mechanism_param=params))
        except _NOT_OURS:
            # As LocalKeyProvider: a wrapped key copied from another row does not unwrap.
            raise InvalidTag from None

    def _call(self, label: str, use: Callable[[Any], bytes]) -> bytes:
        with _CALLS:
            try:
                return use(self._keys[label])
            except _LOST:
                self._connect()
                return use(self._keys[label])

    def _connect(self) -> None:
        """Find the keys through the process's session, after dropping a session that was
        lost (another provider of the process may have opened a new one already)."""
        if self._session is not None and _SESSIONS.get(self._where) is self._session:
            del _SESSIONS[self._where]
        self._session = self._open()
        self._keys = self._find_keys()

    def _open(self) -> Any:
        """The process's session with the token, logging in when there is none yet."""
        session = _SESSIONS.get(self._where)
        if session is not None:
            return session
        module, token_label = self._where
        try:
            token = pkcs11.lib(module).get_token(token_label=token_label)
        except p11.NoSuchToken:
            raise KeyProviderError(f"no PKCS#11 token labelled {token_label!r} in {module} "
                                   "(WARDSHIP_PKCS11_TOKEN)") from None
        except p11.PKCS11Error as error:
            raise KeyProviderError(f"the PKCS#11 module {module} could not be loaded "
                                   f"(WARDSHIP_PKCS11_MODULE): {type(error).__name__}"
                                   ) from None
        try:
            session = token.open(user_pin=self._pin)
        except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid):
            raise KeyProviderError(f"the PKCS#11 token {token_label!r} refused the PIN: check "
                                   "WARDSHIP_PKCS11_PIN or WARDSHIP_PKCS11_PIN_FILE (the token "
                                   "locks after a few wrong PINs)") from None
        except p11.PinLocked:
            raise KeyProviderError(f"the PKCS#11 token {token_label!r} is locked after wrong "
                                   "PINs: its security officer must unlock it") from None
        except p11.UserAlreadyLoggedIn:
            session = token.open()  # this process logged in already, outside this module
        _SESSIONS[self._where] = session
        return session

    def _find_keys(self) -> dict[str, Any]:
        """Each label's key, checked to be a usable, non-extractable AES-256 key."""
        keys = {}
        for label in self._labels:
            try:
                key = self._session.get_key(object_class=ObjectClass.SECRET_KEY,
                                            key_type=KeyType.AES, label=label)
            except p11.NoSuchKey:
                raise KeyProviderError(f"no AES key labelled {label!r} in the PKCS#11 token "
                                       f"{self._where[1]!r} (WARDSHIP_PKCS11_KEYS)") from None
            except p11.MultipleObjectsReturned:
                raise KeyProviderError(f"more than one AES key labelled {label!r} in the "
                                       f"PKCS#11 token {self._where[1]!r}: labels must be "
                                       "unique") from None
            if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
                raise KeyProviderError(f"master key {label!r} can leave the token: make it "
                                       "with CKA_EXTRACTABLE false and CKA_SENSITIVE true")
            if key[Attribute.VALUE_LEN] != 32:
                raise KeyProviderError(f"master key {label!r} must be AES-256 (32 bytes)")
            if not (key[Attribute.ENCRYPT] and key[Attribute.DECRYPT]):
                raise KeyProviderError(f"master key {label!r} must allow encrypt and decrypt")
            keys[label] = key
        return keys

"""Account secrets encrypted at rest with AES-256-GCM under ENCRYPTION_KEY.

Each secret gets a random 96-bit nonce. The account's kind and name are bound
in as associated data, so a ciphertext copied onto another account row does
not decrypt. Stored form: "v1." + urlsafe-base64(nonce || ciphertext+tag).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import string
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidEncryptionKey, SecretDecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_PREFIX = "v1."


def parse_encryption_key(text: str | bytes) -> bytes:
    """ENCRYPTION_KEY as 32 bytes: 64 hex digits, urlsafe base64 of 32 bytes, or 32 ASCII chars.

    The error message states the accepted forms and the length seen, never the key.
    """
    if isinstance(text, bytes):
        if len(text) == KEY_BYTES:
            return text
        text = text.decode("ascii", errors="replace")
    text = text.strip()
    if len(text) == 2 * KEY_BYTES and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    if len(text) in (43, 44):
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == KEY_BYTES:
            return decoded
    if len(text) == KEY_BYTES and text.isascii():
        return text.encode("ascii")
    raise InvalidEncryptionKey(
        "ENCRYPTION_KEY must be 32 bytes written as 32 ASCII characters, 64 hex digits "
        f"or urlsafe base64 of 32 bytes (got {len(text)} characters)"
    )


class Secret:
    """A decrypted secret value that does not show itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self):  # keep it out of pickles (e.g. multiprocessing) by accident
        raise TypeError("Secret cannot be pickled")


class SecretBox:
    """Encrypts and decrypts JSON-serialisable secrets with one key."""

    __slots__ = ("_aead",)

    def __init__(self, key: str | bytes) -> None:
        self._aead = AESGCM(parse_encryption_key(key))

    def __repr__(self) -> str:
        return "SecretBox(key='***')"

    def encrypt(self, value: Any, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":")).encode("utf-8")
        sealed = self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, context: str) -> Secret:
        if not token.startswith(TOKEN_PREFIX):
            raise SecretDecryptionError(f"secret of {context} is not in a known stored format")
        try:
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX):])
            plaintext = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretDecryptionError(
                f"cannot decrypt the secret of {context}: wrong ENCRYPTION_KEY or tampered data"
            ) from None
        return Secret(json.loads(plaintext))

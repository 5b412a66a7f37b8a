"""Platform chat ids encrypted at rest (AES-GCM): a copy of the database alone does not say which
Telegram or Zalo account each student is; notalone needs the ids only to deliver replies."""

from __future__ import annotations

import base64
import os
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The stored form: "v1:" + urlsafe base64 of nonce + ciphertext (with its tag). A value without a
# prefix is a chat id stored in clear before encryption (read as is, encrypted when next written).
PREFIX = "v1:"
# Sets this key apart from the other uses of the same secret (pseudonyms, fingerprints).
INFO = b"notalone users.chat_id v1"
NONCE_BYTES = 12


class ChatIdKeyError(Exception):
    """A stored chat id does not decrypt: the database was written with another key."""


class ChatIdCipher:
    """Encrypts chat ids for one user row each (the user id is authenticated with it, so a value
    copied to another row does not decrypt)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derive(cls, secret: bytes) -> Self:
        """A cipher keyed from notalone's pseudonym key, so no other secret must be configured."""
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret)
        return cls(key)

    @staticmethod
    def encrypted(stored: str) -> bool:
        """The stored value is in the encrypted form (not a chat id kept in clear before)."""
        return stored.startswith(PREFIX)

    def encrypt(self, user_id: str, chat_id: str) -> str:
        """The stored form of a user's chat id (a new nonce each time)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, chat_id.encode(), user_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, user_id: str, stored: str) -> str:
        """The chat id from its stored form; one stored in clear comes back as it is."""
        if not self.encrypted(stored):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], user_id.encode())
        except (InvalidTag, ValueError):
            raise ChatIdKeyError(
                "a stored chat id does not decrypt: the database was written with another pseudonym key"
            ) from None
        return plain.decode()

"""Encryption at rest of check-in notes, with the operator's ``DATA_KEY``.

A note is sealed with AES-256-GCM (authenticated: a changed byte or a wrong key is detected, never
read as garbage). The associated data binds each sealed note to its place (server, member, day),
so a sealed note copied onto another row does not open. Sealed form: one version byte, the
12-byte random nonce, then the ciphertext and its 16-byte tag.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "NoteCipher", "NotesLocked", "generate_key", "parse_key"]

KEY_BYTES = 32
_VERSION = 1
_NONCE_BYTES = 12


class NotesLocked(Exception):
    """A sealed note cannot be opened: no key is configured, or it is not the key that sealed it."""


def generate_key() -> str:
    """A new random key, in the form ``DATA_KEY`` takes (URL-safe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The 32 key bytes of a ``DATA_KEY`` value; ``ValueError`` if it is not one."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raise ValueError("not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"decodes to {len(key)} bytes, not {KEY_BYTES}")
    return key


class NoteCipher:
    """Seals and opens notes with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, note: str, place: bytes) -> bytes:
        """The sealed form of ``note`` for the row identified by ``place``."""
        nonce = os.urandom(_NONCE_BYTES)
        return bytes([_VERSION]) + nonce + self._aead.encrypt(nonce, note.encode(), place)

    def open(self, sealed: bytes, place: bytes) -> str:
        """The note sealed for ``place``; :class:`NotesLocked` if this key did not seal it there."""
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[0] != _VERSION:
            raise NotesLocked("this is not a note sealed by SoberPeers")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, place).decode()
        except InvalidTag:
            raise NotesLocked("the note was sealed with another DATA_KEY") from None

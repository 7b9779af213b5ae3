"""Message nonces that are the same on every attempt of the same logical message.

Discord's Create Message takes a ``nonce`` (at most 25 characters) and ``enforce_nonce``: if the
same author already created a message with that nonce in that channel in the past few minutes,
Discord returns that message and creates no other. discord.py sets ``enforce_nonce`` whenever
``send(nonce=...)`` is given, and otherwise draws a random nonce per call: that covers its own
retries of one call (a 500 or 502 after Discord did create the message), but not a second call,
such as a feature's next chance after a failure it saw. A nonce derived from what the message *is*
(which member, which step, which day) covers that too, within Discord's window.

The parts are hashed, so a nonce carries no ids in the clear.
"""

from __future__ import annotations

import hashlib

__all__ = ["NONCE_LENGTH", "message_nonce"]

NONCE_LENGTH = 24
"""Characters in a nonce (Discord accepts at most 25)."""


def message_nonce(kind: str, *parts: int | str) -> str:
    """The nonce of one logical message: ``kind`` (what it is) and the ids that single it out."""
    key = "\x1f".join([kind, *(str(part) for part in parts)]).encode()
    return hashlib.blake2s(key, digest_size=NONCE_LENGTH // 2).hexdigest()

"""Tests of sealing check-in notes at rest."""

from __future__ import annotations

import pytest

from bot.crypto import KEY_BYTES, NoteCipher, NotesLocked, generate_key, parse_key

PLACE = b"checkin-note:1:2:20000"


def test_generated_keys_parse_and_differ() -> None:
    """keygen's keys are 32 random bytes in URL-safe base64."""
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(parse_key(first)) == KEY_BYTES


@pytest.mark.parametrize("text", ["", "short", "!!!not base64!!!", generate_key()[:-4]])
def test_bad_keys_are_refused(text: str) -> None:
    """Anything but 32 bytes of URL-safe base64 is not a key."""
    with pytest.raises(ValueError):
        parse_key(text)


def test_seal_and_open_round_trip_without_plaintext() -> None:
    """A sealed note opens to the same text and does not contain it."""
    cipher = NoteCipher(parse_key(generate_key()))
    note = "Rough day. Called my sponsor — it helped. 🙏"
    sealed = cipher.seal(note, PLACE)
    assert note.encode() not in sealed
    assert cipher.open(sealed, PLACE) == note
    assert cipher.seal(note, PLACE) != sealed  # a fresh nonce each time


def test_wrong_key_wrong_place_or_tampering_is_detected() -> None:
    """Another key, another row, or a changed byte never yields text."""
    cipher = NoteCipher(parse_key(generate_key()))
    sealed = cipher.seal("private", PLACE)
    with pytest.raises(NotesLocked, match="another DATA_KEY"):
        NoteCipher(parse_key(generate_key())).open(sealed, PLACE)
    with pytest.raises(NotesLocked):
        cipher.open(sealed, b"checkin-note:1:3:20000")
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(NotesLocked):
        cipher.open(bytes(tampered), PLACE)
    with pytest.raises(NotesLocked):
        cipher.open(b"\x01short", PLACE)

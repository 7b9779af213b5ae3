"""Tests of check-in notes encrypted at rest through the check-in service."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.crypto import NoteCipher, generate_key, parse_key
from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.services.checkins import CheckinService
from bot.services.guidance import GuidanceLibrary

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GUIDANCE = GuidanceLibrary.load()
NOTE = "Went to a meeting, felt better after"


def service(db: Database, cipher: NoteCipher | None) -> CheckinService:
    """A check-in service at a fixed time, with or without a key."""
    return CheckinService(db, lambda: NOW, GUIDANCE, cipher=cipher)


def raw_notes(path: Path) -> list[object]:
    """The note column as stored on disk."""
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT note FROM checkins")]
    finally:
        conn.close()


async def test_with_a_key_notes_are_sealed_on_disk_and_read_back(db: Database, tmp_path: Path) -> None:
    """With DATA_KEY the stored note is ciphertext, and the member still reads their note."""
    cipher = NoteCipher(parse_key(generate_key()))
    result = await service(db, cipher).record_checkin(1, 2, 3, 2, True, NOTE)
    assert result.checkin.note == NOTE
    (stored,) = raw_notes(tmp_path / "test.sqlite3")
    assert isinstance(stored, bytes) and NOTE.encode() not in stored
    again = await service(db, cipher).checkin_on(1, 2, result.checkin.day)
    assert again is not None and again.note == NOTE and not again.note_locked


async def test_without_the_key_sealed_notes_are_refused_not_garbled(db: Database) -> None:
    """Without a key, or with another one, the note is reported locked and nothing else is lost."""
    cipher = NoteCipher(parse_key(generate_key()))
    result = await service(db, cipher).record_checkin(1, 2, 4, 1, True, NOTE)
    for other in (None, NoteCipher(parse_key(generate_key()))):
        seen = await service(db, other).checkin_on(1, 2, result.checkin.day)
        assert seen is not None
        assert seen.note is None and seen.note_locked
        assert (seen.mood, seen.craving, seen.sober) == (4, 1, True)


async def test_without_a_key_notes_stay_plain(db: Database, tmp_path: Path) -> None:
    """Without DATA_KEY notes are stored as text (the README recommends a key)."""
    await service(db, None).record_checkin(1, 2, 3, 2, True, NOTE)
    assert raw_notes(tmp_path / "test.sqlite3") == [NOTE]


async def test_completing_a_quick_checkin_seals_its_note(db: Database, tmp_path: Path) -> None:
    """The note added by the reminder's modal is sealed too."""
    cipher = NoteCipher(parse_key(generate_key()))
    checkins = service(db, cipher)
    quick = await checkins.record_quick_checkin(1, 2, 3)
    done = await checkins.complete_checkin(1, 2, quick.checkin.day, 5, True, NOTE)
    assert done.checkin.note == NOTE
    (stored,) = raw_notes(tmp_path / "test.sqlite3")
    assert isinstance(stored, bytes)


async def test_migration_keeps_existing_checkins(tmp_path: Path) -> None:
    """Rebuilding the check-ins table for sealed notes keeps every earlier row."""
    async with await Database.open(tmp_path / "old.sqlite3") as old:
        await migrate(old, target=4)
        stamp = int(NOW.timestamp())
        day = stamp // 86_400

        def write(conn: sqlite3.Connection) -> None:
            """A check-in as the code of version 4 wrote it (today's service writes later tables too)."""
            conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, ?)", (stamp,))
            conn.execute(
                "INSERT INTO checkins (guild_id, user_id, day, mood, craving, sober, note, recorded_offset) "
                "VALUES (1, 2, ?, 3, 2, 1, ?, ?)",
                (day, NOTE, stamp - day * 86_400),
            )

        await old.transaction(write)
        await migrate(old)
        seen = await service(old, None).checkin_on(1, 2, (await service(old, None).history(1, 2, 7)).days[-1].day)
        assert seen is not None and seen.note == NOTE

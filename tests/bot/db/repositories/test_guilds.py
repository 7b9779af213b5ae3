"""Tests of the per-server settings storage."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.connection import Database
from bot.db.repositories import guilds

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_settings_are_per_server(db: Database) -> None:
    """A setting of one server is never seen by another, and can be reset."""
    await db.transaction(lambda c: guilds.set_setting(c, 10, "checkin_channel", "111", NOW, 7))
    await db.transaction(lambda c: guilds.set_setting(c, 20, "checkin_channel", "222", NOW, 8))
    await db.transaction(lambda c: guilds.set_setting(c, 10, "checkin_channel", "333", NOW, 7))
    assert await db.read(lambda c: guilds.get_settings(c, 10)) == {"checkin_channel": "333"}
    assert await db.read(lambda c: guilds.get_settings(c, 20)) == {"checkin_channel": "222"}
    await db.transaction(lambda c: guilds.delete_setting(c, 10, "checkin_channel"))
    assert await db.read(lambda c: guilds.get_settings(c, 10)) == {}
    assert await db.read(lambda c: guilds.get_settings(c, 20)) == {"checkin_channel": "222"}

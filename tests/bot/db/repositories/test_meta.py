"""Tests of the command-sync bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.connection import Database
from bot.db.repositories import meta

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_hash_round_trip_per_application_and_scope(db: Database) -> None:
    """A stored hash is read back for its application and scope only, and can be replaced."""
    assert await db.read(lambda c: meta.get_command_hash(c, 1, "global")) is None
    await db.transaction(lambda c: meta.set_command_hash(c, 1, "global", "aaa", NOW))
    await db.transaction(lambda c: meta.set_command_hash(c, 1, "guild:5", "bbb", NOW))
    await db.transaction(lambda c: meta.set_command_hash(c, 2, "global", "ccc", NOW))
    assert await db.read(lambda c: meta.get_command_hash(c, 1, "global")) == "aaa"
    assert await db.read(lambda c: meta.get_command_hash(c, 1, "guild:5")) == "bbb"
    await db.transaction(lambda c: meta.set_command_hash(c, 1, "global", "ddd", NOW))
    assert await db.read(lambda c: meta.get_command_hash(c, 1, "global")) == "ddd"
    assert await db.read(lambda c: meta.get_command_hash(c, 2, "global")) == "ccc"

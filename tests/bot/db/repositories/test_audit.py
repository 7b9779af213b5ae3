"""Tests of the moderators' audit log."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.db.connection import Database
from bot.db.repositories import audit, guilds

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_record_and_read_back(db: Database) -> None:
    """An entry comes back with its actor, action, JSON detail and aware time."""
    entry_id = await db.transaction(
        lambda c: audit.record(c, 10, 7, "buddy.pair", {"member": 1, "buddy": 2, "note": "café"}, NOW)
    )
    (entry,) = await db.read(lambda c: audit.latest(c, 10))
    assert entry.id == entry_id
    assert (entry.guild_id, entry.actor_id, entry.action) == (10, 7, "buddy.pair")
    assert entry.detail == {"member": 1, "buddy": 2, "note": "café"}
    assert entry.at == NOW and entry.at.tzinfo is not None


async def test_latest_is_newest_first_and_paged(db: Database) -> None:
    """Entries come newest first; same-second entries in reverse order of recording; offset pages."""

    def fill(conn: sqlite3.Connection) -> None:
        for i in range(5):
            audit.record(conn, 10, 7, f"a{i}", {}, NOW + timedelta(minutes=i))
        audit.record(conn, 10, 7, "same-second", {}, NOW + timedelta(minutes=4))

    await db.transaction(fill)
    first = await db.read(lambda c: audit.latest(c, 10, limit=3))
    assert [e.action for e in first] == ["same-second", "a4", "a3"]
    second = await db.read(lambda c: audit.latest(c, 10, limit=3, offset=3))
    assert [e.action for e in second] == ["a2", "a1", "a0"]
    assert await db.read(lambda c: audit.latest(c, 10, limit=3, offset=6)) == []
    assert await db.read(lambda c: audit.count(c, 10)) == 6


async def test_servers_never_see_each_other(db: Database) -> None:
    """One server's entries are invisible to another."""
    await db.transaction(lambda c: audit.record(c, 10, 7, "x", {}, NOW))
    await db.transaction(lambda c: audit.record(c, 20, 8, "y", {}, NOW))
    assert [e.action for e in await db.read(lambda c: audit.latest(c, 10))] == ["x"]
    assert [e.action for e in await db.read(lambda c: audit.latest(c, 20))] == ["y"]
    assert await db.read(lambda c: audit.count(c, 30)) == 0


async def test_recorded_with_the_action_or_not_at_all(db: Database) -> None:
    """An entry recorded in a unit of work that then fails is rolled back with it."""

    def failing(conn: sqlite3.Connection) -> None:
        audit.record(conn, 10, 7, "buddy.unpair", {}, NOW)
        raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        await db.transaction(failing)
    assert await db.read(lambda c: audit.latest(c, 10)) == []


async def test_erasing_the_server_erases_its_log(db: Database) -> None:
    """Deleting the server's row (erase-server-data) cascades to its audit entries."""
    await db.transaction(lambda c: audit.record(c, 10, 7, "x", {}, NOW))
    await db.transaction(lambda c: c.execute("DELETE FROM guilds WHERE guild_id = 10"))
    assert await db.read(lambda c: audit.count(c, 10)) == 0


async def test_bot_actions_have_no_actor_and_detail_must_be_an_object(db: Database) -> None:
    """A None actor is the bot itself; the schema refuses non-object detail."""
    await db.transaction(lambda c: audit.record(c, 10, None, "buddy.match", {"made": 3}, NOW))
    (entry,) = await db.read(lambda c: audit.latest(c, 10))
    assert entry.actor_id is None and entry.detail == {"made": 3}
    await db.transaction(lambda c: guilds.ensure_guild(c, 10, NOW))
    with pytest.raises(sqlite3.IntegrityError):
        await db.transaction(
            lambda c: c.execute("INSERT INTO audit_log (guild_id, action, detail, at) VALUES (10, 'x', '[1]', 0)")
        )


async def test_negative_paging_is_refused(db: Database) -> None:
    """A negative limit or offset is a programming error, not an empty page."""
    with pytest.raises(ValueError, match="negative"):
        await db.read(lambda c: audit.latest(c, 10, limit=-1))

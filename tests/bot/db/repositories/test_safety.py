"""Tests of the ``/sos`` alerts' storage (migration 0007)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.db.connection import Database
from bot.db.repositories import safety

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
G1, G2 = 10, 20
ALICE, BETH = 1, 2


async def test_an_alert_is_stored_per_server_member_and_kind(db: Database) -> None:
    """The time comes back aware; other kinds, members and servers see nothing."""
    await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "buddy", NOW))
    assert await db.read(lambda c: safety.get_alert(c, G1, ALICE, "buddy")) == NOW
    assert await db.read(lambda c: safety.get_alert(c, G1, ALICE, "moderators")) is None
    assert await db.read(lambda c: safety.get_alert(c, G1, BETH, "buddy")) is None
    assert await db.read(lambda c: safety.get_alert(c, G2, ALICE, "buddy")) is None
    assert await db.read(lambda c: safety.member_alerts(c, G1, ALICE)) == {"buddy": NOW}
    assert await db.read(lambda c: safety.member_alerts(c, G2, ALICE)) == {}


async def test_a_new_alert_replaces_the_previous_one(db: Database) -> None:
    """Only the latest time of each kind is kept."""
    later = NOW + timedelta(minutes=11)
    await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "moderators", NOW))
    await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "moderators", later))
    assert await db.read(lambda c: safety.member_alerts(c, G1, ALICE)) == {"moderators": later}
    count = await db.read(lambda c: c.execute("SELECT count(*) FROM sos_alerts").fetchone()[0])
    assert count == 1


async def test_release_only_forgets_the_alert_it_claimed(db: Database) -> None:
    """Releasing at another time (the alert was replaced meanwhile) keeps the stored one."""
    await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "buddy", NOW))
    assert not await db.transaction(lambda c: safety.release_alert(c, G1, ALICE, "buddy", NOW - timedelta(seconds=5)))
    assert await db.read(lambda c: safety.get_alert(c, G1, ALICE, "buddy")) == NOW
    assert await db.transaction(lambda c: safety.release_alert(c, G1, ALICE, "buddy", NOW))
    assert await db.read(lambda c: safety.get_alert(c, G1, ALICE, "buddy")) is None


async def test_prune_forgets_old_alerts_everywhere(db: Database) -> None:
    """Alerts at or before the cut-off go, in every server; later ones stay."""

    def fill(conn: sqlite3.Connection) -> None:
        safety.set_alert(conn, G1, ALICE, "buddy", NOW - timedelta(minutes=20))
        safety.set_alert(conn, G2, BETH, "moderators", NOW - timedelta(minutes=10))
        safety.set_alert(conn, G1, BETH, "buddy", NOW - timedelta(minutes=5))

    await db.transaction(fill)
    assert await db.transaction(lambda c: safety.prune_alerts(c, NOW - timedelta(minutes=10))) == 2
    assert await db.read(lambda c: safety.member_alerts(c, G1, BETH)) == {"buddy": NOW - timedelta(minutes=5)}
    assert await db.read(lambda c: safety.member_alerts(c, G2, BETH)) == {}


async def test_a_members_alerts_are_deleted_in_one_server_only(db: Database) -> None:
    """Erasing a member's data in one server leaves their alerts elsewhere."""

    def fill(conn: sqlite3.Connection) -> None:
        for guild in (G1, G2):
            safety.set_alert(conn, guild, ALICE, "buddy", NOW)
            safety.set_alert(conn, guild, ALICE, "moderators", NOW)

    await db.transaction(fill)
    assert await db.transaction(lambda c: safety.delete_member_alerts(c, G1, ALICE)) == 2
    assert await db.read(lambda c: safety.member_alerts(c, G1, ALICE)) == {}
    assert set(await db.read(lambda c: safety.member_alerts(c, G2, ALICE))) == {"buddy", "moderators"}


async def test_erasing_a_server_cascades_to_its_alerts(db: Database) -> None:
    """Deleting the server's row (the server's data erased) removes its alerts."""
    await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "buddy", NOW))
    await db.transaction(lambda c: c.execute("DELETE FROM guilds WHERE guild_id = ?", (G1,)))
    assert await db.read(lambda c: safety.member_alerts(c, G1, ALICE)) == {}


async def test_unknown_kinds_are_refused(db: Database) -> None:
    """Only the two kinds exist, in the code and in the table."""
    with pytest.raises(ValueError, match="unknown alert kind"):
        await db.transaction(lambda c: safety.set_alert(c, G1, ALICE, "everyone", NOW))

    def bad_row(conn: sqlite3.Connection) -> None:
        safety.set_alert(conn, G1, ALICE, "buddy", NOW)
        conn.execute("UPDATE sos_alerts SET kind = 'everyone' WHERE guild_id = ?", (G1,))

    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.transaction(bad_row)

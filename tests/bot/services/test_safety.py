"""Tests of the safety service: crisis resources, ``/sos`` alerts with their 10-minute limit (also
across a restart), and the audit log's pages."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.db.repositories import audit, guilds
from bot.db.repositories import buddies as buddies_repo
from bot.errors import UserError
from bot.services.safety import (
    ALERT_INTERVAL,
    DEFAULT_CRISIS_RESOURCES,
    AlertKind,
    AlertStatus,
    SafetyService,
    crisis_resources_text,
    read_crisis_resources,
)
from bot.services.server_settings import SETTINGS_CHANGED, ServerSettings
from tests.e2e import FakeClock

G1, G2 = 10, 20
ALICE, BETH, CARL, DAN, MOD = 1, 2, 3, 4, 9
WOMEN, MEN = 501, 502


@pytest.fixture
def service(db: Database, clock: FakeClock) -> SafetyService:
    return SafetyService(db, clock)


async def pair(db: Database, clock: FakeClock, member: int, buddy: int, role: int, *, guild: int = G1) -> int:
    """An active pairing: ``buddy`` supports ``member``."""

    def work(conn: sqlite3.Connection) -> int:
        now = clock()
        guilds.ensure_guild(conn, guild, now)
        buddies_repo.add_group(conn, guild, role, now, MOD)
        for user in (member, buddy):
            buddies_repo.upsert_member(conn, guild, user, now - timedelta(days=30), now)
            buddies_repo.set_member_groups(conn, guild, user, [role])
        return buddies_repo.insert_pair(conn, guild, member, buddy, role, status="active", now=now)

    return await db.transaction(work)


# --------------------------------------------------------------------------- crisis resources


async def test_the_default_text_names_the_issues_resources(service: SafetyService) -> None:
    """Emergency number, 988, SAMHSA's helpline, findahelpline.com."""
    text = await service.crisis_resources(G1)
    assert text == DEFAULT_CRISIS_RESOURCES
    for needed in ("emergency number", "988", "1-800-662-4357", "24/7", "findahelpline.com"):
        assert needed in text
    assert await service.crisis_resources(None) == DEFAULT_CRISIS_RESOURCES
    assert await service.custom_crisis_resources(G1) is None


async def test_a_server_sets_its_own_text_and_resets_it(service: SafetyService, db: Database) -> None:
    """Set, read by every reader (service, in a transaction, from stored settings), reset; other servers
    keep the default; each change is in the audit log."""
    shown = await service.set_crisis_resources(G1, "  Call Jo at the house: 555-0100  ", MOD)
    assert shown == "Call Jo at the house: 555-0100"
    assert await service.crisis_resources(G1) == shown
    assert await service.custom_crisis_resources(G1) == shown
    assert await db.read(lambda c: read_crisis_resources(c, G1)) == shown
    assert crisis_resources_text(await db.read(lambda c: guilds.get_settings(c, G1))) == shown
    assert await service.crisis_resources(G2) == DEFAULT_CRISIS_RESOURCES
    assert await service.set_crisis_resources(G1, "   ", MOD) == DEFAULT_CRISIS_RESOURCES
    assert await service.custom_crisis_resources(G1) is None
    entries = await db.read(lambda c: audit.latest(c, G1))
    assert [(e.actor_id, e.action) for e in entries] == [(MOD, SETTINGS_CHANGED)] * 2
    assert entries[0].detail == {"crisis_resources": [shown, None]}
    assert entries[1].detail == {"crisis_resources": [None, shown]}


async def test_text_over_1500_characters_is_refused(service: SafetyService) -> None:
    """At most 1500 characters; nothing is saved otherwise."""
    assert await service.set_crisis_resources(G1, "x" * 1500, MOD) == "x" * 1500
    with pytest.raises(UserError, match="at most 1500"):
        await service.set_crisis_resources(G1, "y" * 1501, MOD)
    assert await service.crisis_resources(G1) == "x" * 1500


# --------------------------------------------------------------------------- alerts


async def test_buddy_alert_goes_to_active_buddies_once_per_ten_minutes(
    service: SafetyService, db: Database, clock: FakeClock
) -> None:
    """alice's own buddy first, then whom she supports; a second claim within the limit is refused,
    after it allowed again."""
    await pair(db, clock, ALICE, BETH, WOMEN)
    await pair(db, clock, CARL, ALICE, WOMEN)
    ready = await service.check_alert(G1, ALICE, AlertKind.BUDDY)
    assert ready.status is AlertStatus.READY and ready.buddy_ids == (BETH, CARL)
    claimed = await service.claim_alert(G1, ALICE, AlertKind.BUDDY)
    assert claimed.status is AlertStatus.CLAIMED and claimed.sent_at == clock() and claimed.buddy_ids == (BETH, CARL)
    await service.settle_alert(claimed, delivered=True)

    clock.advance(minutes=9, seconds=59)
    again = await service.claim_alert(G1, ALICE, AlertKind.BUDDY)
    assert again.status is AlertStatus.ALREADY_SENT
    assert again.sent_at == claimed.sent_at and again.again_at == claimed.sent_at + ALERT_INTERVAL
    assert (await service.check_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.ALREADY_SENT

    clock.advance(seconds=1)
    assert (await service.claim_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.CLAIMED


async def test_the_kinds_members_and_servers_are_limited_separately(
    service: SafetyService, db: Database, clock: FakeClock
) -> None:
    """A buddy alert does not hold back the moderators' one, nor another member's, nor another server's."""
    await ServerSettings(db, clock).set(G1, "moderator_channel", 777, MOD)
    await ServerSettings(db, clock).set(G2, "moderator_channel", 888, MOD)
    await pair(db, clock, ALICE, BETH, WOMEN)
    await pair(db, clock, ALICE, BETH, WOMEN, guild=G2)
    assert (await service.claim_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.CLAIMED
    mods = await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)
    assert mods.status is AlertStatus.CLAIMED and mods.channel_id == 777
    assert (await service.claim_alert(G1, BETH, AlertKind.BUDDY)).buddy_ids == (ALICE,)
    other = await service.claim_alert(G2, ALICE, AlertKind.MODERATORS)
    assert other.status is AlertStatus.CLAIMED and other.channel_id == 888
    assert (await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)).status is AlertStatus.ALREADY_SENT


async def test_an_alert_that_reached_nobody_is_released(service: SafetyService, db: Database, clock: FakeClock) -> None:
    """Nothing delivered: the member can try again at once."""
    await pair(db, clock, DAN, CARL, MEN)
    claimed = await service.claim_alert(G1, DAN, AlertKind.BUDDY)
    await service.settle_alert(claimed, delivered=False)
    clock.advance(seconds=5)
    assert (await service.claim_alert(G1, DAN, AlertKind.BUDDY)).status is AlertStatus.CLAIMED
    with pytest.raises(ValueError, match="claimed"):
        await service.settle_alert(await service.check_alert(G1, DAN, AlertKind.BUDDY), delivered=False)


async def test_no_buddy_and_no_channel(service: SafetyService, db: Database, clock: FakeClock) -> None:
    """Without an active buddy, or a moderators' channel, nothing is claimed."""
    assert (await service.claim_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.NO_BUDDY
    assert (await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)).status is AlertStatus.NO_CHANNEL
    pair_id = await pair(db, clock, ALICE, BETH, WOMEN)
    await db.transaction(lambda c: buddies_repo.close_pair(c, G1, pair_id, "ended", clock(), ALICE, "member_ended"))
    assert (await service.claim_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.NO_BUDDY
    count = await db.read(lambda c: c.execute("SELECT count(*) FROM sos_alerts").fetchone()[0])
    assert count == 0


async def test_a_proposed_pair_is_not_a_buddy_yet(service: SafetyService, db: Database, clock: FakeClock) -> None:
    """A pair awaiting approval does not receive alerts."""

    def proposed(conn: sqlite3.Connection) -> None:
        now = clock()
        guilds.ensure_guild(conn, G1, now)
        buddies_repo.add_group(conn, G1, WOMEN, now, MOD)
        for user in (ALICE, BETH):
            buddies_repo.upsert_member(conn, G1, user, now, now)
            buddies_repo.set_member_groups(conn, G1, user, [WOMEN])
        buddies_repo.insert_pair(conn, G1, ALICE, BETH, WOMEN, status="proposed", now=now)

    await db.transaction(proposed)
    assert (await service.check_alert(G1, ALICE, AlertKind.BUDDY)).status is AlertStatus.NO_BUDDY


async def test_the_limit_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    """A new process (database reopened, new service) still knows the alert of five minutes ago."""
    path = tmp_path / "restart.sqlite3"
    async with await Database.open(path) as db:
        await migrate(db)
        await ServerSettings(db, clock).set(G1, "moderator_channel", 777, MOD)
        claimed = await SafetyService(db, clock).claim_alert(G1, ALICE, AlertKind.MODERATORS)
        assert claimed.status is AlertStatus.CLAIMED
    clock.advance(minutes=5)
    async with await Database.open(path) as db:
        service = SafetyService(db, clock)
        again = await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)
        assert again.status is AlertStatus.ALREADY_SENT and again.sent_at == claimed.sent_at
        clock.advance(minutes=5)
        assert (await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)).status is AlertStatus.CLAIMED


async def test_old_alerts_are_forgotten(service: SafetyService, db: Database, clock: FakeClock) -> None:
    """Only what the limit needs is kept: a claim forgets alerts older than ten minutes."""
    await ServerSettings(db, clock).set(G1, "moderator_channel", 777, MOD)
    await service.claim_alert(G1, ALICE, AlertKind.MODERATORS)
    clock.advance(minutes=11)
    await service.claim_alert(G1, BETH, AlertKind.MODERATORS)
    rows = await db.read(lambda c: c.execute("SELECT user_id FROM sos_alerts").fetchall())
    assert [tuple(r) for r in rows] == [(BETH,)]


def test_the_interval_must_be_positive(db: Database, clock: FakeClock) -> None:
    """A zero interval would be no limit at all."""
    with pytest.raises(ValueError, match="positive"):
        SafetyService(db, clock, interval=timedelta(0))


# --------------------------------------------------------------------------- the audit log


async def test_audit_pages_newest_first_and_clamped(service: SafetyService, db: Database, clock: FakeClock) -> None:
    """23 entries: three pages of 10, 10, 3; a page past the end shows the last; another server's
    entries are never counted."""

    def fill(conn: sqlite3.Connection) -> None:
        for i in range(23):
            audit.record(conn, G1, MOD, f"a{i}", {}, clock() + timedelta(seconds=i))
        audit.record(conn, G2, MOD, "elsewhere", {}, clock())

    await db.transaction(fill)
    first = await service.audit_page(G1, 0)
    assert (first.page, first.pages, first.total) == (0, 3, 23)
    assert [e.action for e in first.entries] == [f"a{i}" for i in range(22, 12, -1)]
    last = await service.audit_page(G1, 9)
    assert last.page == 2 and [e.action for e in last.entries] == ["a2", "a1", "a0"]
    assert (await service.audit_page(G1, -1)).page == 0
    empty = await service.audit_page(30)
    assert (empty.entries, empty.pages, empty.total) == ((), 1, 0)
    with pytest.raises(ValueError):
        await service.audit_page(G1, 0, per_page=0)

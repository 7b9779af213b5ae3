"""Tests of the privacy service: export, delete, retention with a fake clock, erasing a server, and two
servers holding the same members never mixing, on a real migrated database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.crypto import NoteCipher
from bot.db.connection import Database
from bot.db.repositories import audit
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import checkins as checkins_repo
from bot.db.repositories import nudges as nudges_repo
from bot.db.repositories import privacy as privacy_repo
from bot.db.repositories import safety as safety_repo
from bot.db.repositories.guilds import ERASED_USER_ID
from bot.services.activity import ActivityBatch, ActivityBuffer, ActivityFlusher
from bot.services.buddies import Actor, BuddyService, EndReason, MemberFacts, NotifyPairEnded, SettingsUpdate
from bot.services.checkins import CheckinService
from bot.services.guidance import GuidanceLibrary
from bot.services.localtime import epoch_day
from bot.services.nudges import NudgeService
from bot.services.privacy import DEPARTED_KEEP, ERASE_SERVER_ACTION, EXPORT_FORMAT, SERVER_KEEP, PrivacyService
from bot.services.reminders import ReminderService
from bot.services.server_settings import ServerSettings
from bot.services.sobriety import SobrietyService
from bot.timeutil import to_timestamp

START = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
G1, G2 = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
ALICE, BOB, CARL, MOD = (900_000_000_000_000_001, 900_000_000_000_000_002, 900_000_000_000_000_003, 900_000_000_000_009)
WOMEN = 700_000_000_000_000_001
KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class World:
    """The services of the bot on one database, with a clock the test moves."""

    def __init__(self, db: Database, cipher: NoteCipher | None = None) -> None:
        self.db = db
        self.clock = Clock()
        guidance = GuidanceLibrary.load()
        self.buddies = BuddyService(db, self.clock, guidance)
        self.checkins = CheckinService(db, self.clock, guidance, cipher=cipher)
        self.reminders = ReminderService(db, self.clock)
        self.sobriety = SobrietyService(db, self.clock)
        self.nudges = NudgeService(db, self.clock, guidance)
        self.settings = ServerSettings(db, self.clock)
        self.privacy = PrivacyService(db, self.clock, self.buddies, cipher=cipher)

    def with_cipher(self, cipher: NoteCipher | None) -> PrivacyService:
        """A privacy service of the same world with another key (or none)."""
        return PrivacyService(self.db, self.clock, self.buddies, cipher=cipher)

    async def member(self, guild_id: int, user_id: int, note: str, *, joined_days: int = 60) -> None:
        """A member who uses everything: check-in with a note, timezone, reminder, sobriety date with a
        milestone, a matching group, nudges turned on, activity."""
        await self.checkins.set_timezone(guild_id, user_id, "Europe/Paris")
        await self.checkins.record_checkin(guild_id, user_id, 4, 2, True, note)
        await self.reminders.set_reminder(guild_id, user_id, "20:30")
        await self.sobriety.set_date(guild_id, user_id, date(2026, 11, 20), announce=True)
        await self.db.transaction(
            lambda conn: checkins_repo.insert_celebration(
                conn, guild_id, user_id, epoch_day(date(2026, 11, 20)), 7, START
            )
        )
        facts = MemberFacts(user_id, frozenset({WOMEN}), START - timedelta(days=joined_days))
        await self.buddies.member_joined(guild_id, facts)
        await self.nudges.set_opt(guild_id, user_id, True)
        await self.nudges.record_activity(ActivityBatch({(guild_id, user_id): START}))

    async def server(self, guild_id: int) -> None:
        """A server with the women's house as a matching group (members join the queue by asking)."""
        mod = Actor(MOD, is_moderator=True)
        await self.buddies.add_group(guild_id, mod, WOMEN)
        await self.buddies.update_settings(guild_id, mod, SettingsUpdate(auto_match=False))

    async def pair(self, guild_id: int, member: int, buddy: int) -> None:
        """``buddy`` volunteers and ``member`` asks: they are matched."""
        await self.buddies.volunteer(guild_id, MemberFacts(buddy, frozenset({WOMEN}), START - timedelta(days=60)), True)
        result = await self.buddies.request(guild_id, MemberFacts(member, frozenset({WOMEN}), START))
        assert result.outcome == "matched", result


@pytest.fixture
async def world(db: Database) -> World:
    """Alice and Bob in two servers; in G1 Bob supports Alice; every note says where it was written."""
    w = World(db, NoteCipher(KEY_A))
    for guild_id in (G1, G2):
        await w.server(guild_id)
        await w.member(guild_id, ALICE, f"alice's note in {guild_id}")
        await w.member(guild_id, BOB, f"bob's note in {guild_id}")
    await w.pair(G1, ALICE, BOB)
    return w


def _rows(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> dict[str, int]:
    """How many rows each table holds matching ``where`` (tables that have its columns)."""
    counts: dict[str, int] = {}
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    for table in tables:
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
        needed = {word for word in ("guild_id", "user_id", "member_id", "buddy_id") if word in where}
        if needed <= columns:
            counts[table] = int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])
    return counts


async def member_rows(db: Database, guild_id: int, user_id: int) -> int:
    """Rows anywhere that belong to the member in the server (by user, member or buddy column)."""

    def work(conn: sqlite3.Connection) -> int:
        by_user = _rows(conn, "guild_id = ? AND user_id = ?", (guild_id, user_id))
        by_pair = _rows(conn, "guild_id = ? AND (member_id = ? OR buddy_id = ?)", (guild_id, user_id, user_id))
        return sum(by_user.values()) + sum(by_pair.values())

    return await db.read(work)


async def guild_rows(db: Database, guild_id: int) -> dict[str, int]:
    return await db.read(lambda conn: {t: n for t, n in _rows(conn, "guild_id = ?", (guild_id,)).items() if n})


# --------------------------------------------------------------------------- export


async def test_export_holds_everything_of_the_member_in_this_server_and_nothing_of_anyone_else(world: World) -> None:
    """Check-ins with the note opened, timezone, reminder, sobriety and milestones, buddy state and the
    pairing (Bob's id only), nudges and last activity; not Bob's note, not the other server's rows."""
    export = await world.privacy.export(G1, ALICE)
    doc = export.document
    assert doc["format"] == EXPORT_FORMAT and doc["server_id"] == str(G1) and doc["member_id"] == str(ALICE)
    assert not export.empty and export.checkins == 1 and export.locked_notes == 0
    (checkin,) = doc["checkins"]
    assert checkin["note"] == f"alice's note in {G1}" and checkin["note_status"] == "decrypted"
    assert (checkin["mood"], checkin["craving"], checkin["sober"]) == (4, 2, True)
    assert doc["timezone"]["timezone"] == "Europe/Paris"
    assert doc["streaks_kept"] == {
        "latest_run_from": "2026-11-27",
        "latest_run_to": "2026-11-27",
        "longest_run_days": 1,
    }
    assert doc["reminder"]["time"] == "20:30"
    assert doc["sobriety"]["since"] == "2026-11-20" and doc["sobriety"]["announce_milestones"] is True
    assert doc["milestones_celebrated"] == [
        {"sobriety_date": "2026-11-20", "days": 7, "celebrated_at": START.isoformat()}
    ]
    (pair,) = doc["buddies"]["pairs"]
    assert pair["other_member_id"] == str(BOB) and pair["you_are"] == "supported" and pair["status"] == "active"
    assert doc["buddies"]["group_role_ids"] == [str(WOMEN)]
    assert doc["nudges"]["settings"]["choice"] == "on"
    assert doc["last_active_at"] == START.isoformat()
    text = export.to_json().decode()
    json.loads(text)
    assert "bob's note" not in text
    assert str(G2) not in text
    assert f"alice's note in {G2}" not in text


async def test_sealed_notes_open_with_the_key_and_say_why_when_they_cannot(world: World) -> None:
    """Without a key, or with another key, the note is listed as locked with the reason (never dropped)."""
    for cipher, why in ((None, "no DATA_KEY"), (NoteCipher(KEY_B), "another DATA_KEY")):
        export = await world.with_cipher(cipher).export(G1, ALICE)
        (checkin,) = export.document["checkins"]
        assert checkin["note"] is None and checkin["note_status"] == "locked"
        assert why in checkin["note_unreadable_because"]
        assert export.locked_notes == 1 and export.locked_reason is not None and why in export.locked_reason
        assert export.document["notes_locked"]["count"] == 1
    plain = World(world.db)
    await plain.checkins.record_checkin(G1, CARL, 3, 1, True, "plain words")
    export = await plain.privacy.export(G1, CARL)
    assert export.document["checkins"][0]["note_status"] == "plain"
    assert export.document["notes_locked"] is None


async def test_info_counts_without_content(world: World) -> None:
    """``/privacy info``: counts and the server's retention, never a note."""
    info = await world.privacy.info(G1, ALICE)
    assert (info.checkins, info.notes, info.live_pairs, info.note_retention_days) == (1, 1, 1, 90)
    assert info.reminder_set and info.sobriety_set and info.timezone_set and info.nudges_row and info.notes_sealed
    assert not info.empty
    assert (await world.privacy.info(G1, CARL)).empty


# --------------------------------------------------------------------------- delete


async def test_delete_erases_everything_then_export_is_empty_and_the_buddy_is_told_kindly(world: World) -> None:
    """One transaction: Bob (her buddy) is told as with /buddy end; nothing of Alice is left in G1; her
    G2 data and Bob's own data stay."""
    before_g2 = await member_rows(world.db, G2, ALICE)
    result = await world.privacy.delete_member(G1, ALICE)
    assert result.erased and result.reminder_removed
    assert result.effects == (NotifyPairEnded(BOB, ALICE, 1, EndReason.ENDED_BY_MEMBER, False),)
    assert await member_rows(world.db, G1, ALICE) == 0
    export = await world.privacy.export(G1, ALICE)
    assert export.empty and export.document["checkins"] == [] and export.document["buddies"]["pairs"] == []
    assert await member_rows(world.db, G2, ALICE) == before_g2
    bob = (await world.privacy.export(G1, BOB)).document
    assert bob["checkins"][0]["note"] == f"bob's note in {G1}" and bob["buddies"]["pairs"] == []
    again = await world.privacy.delete_member(G1, ALICE)
    assert not again.erased and again.effects == ()


async def test_deleting_the_buddy_puts_the_supported_member_back_first_in_line(world: World) -> None:
    """When the buddy erases their data, the member they supported is queued again, first in line."""
    result = await world.privacy.delete_member(G1, BOB)
    assert result.effects == (NotifyPairEnded(ALICE, BOB, 1, EndReason.ENDED_BY_MEMBER, True),)
    queue = (await world.privacy.export(G1, ALICE)).document["buddies"]["queue"]
    assert queue is not None and queue["first_in_line"] is True


async def test_delete_forgets_buffered_activity_and_a_write_already_taken_runs_before_it(world: World) -> None:
    """Activity noted before the delete is never written after it: the buffer forgets the member, and
    a flush already under way was queued on the database first."""
    buffer = ActivityBuffer(world.clock)
    flusher = ActivityFlusher(buffer, world.nudges.record_activity)
    world.clock.advance(minutes=5)
    buffer.note(G1, ALICE)
    in_flight = asyncio.create_task(flusher.flush())
    await asyncio.sleep(0)  # the flush took the batch and queued its write
    buffer.note(G1, ALICE)
    buffer.note(G1, BOB)
    await world.privacy.delete_member(G1, ALICE, activity=buffer)
    await in_flight
    assert await flusher.flush() == 1  # only Bob's
    assert (await world.privacy.export(G1, ALICE)).empty


async def test_a_moderators_records_stay_without_their_id(world: World) -> None:
    """What a moderator did stays in the audit log (by an erased member); a member named in an entry is
    replaced there too; their settings changes and hand-made pairs keep no id."""
    mod = Actor(MOD, is_moderator=True)
    await world.settings.set(G1, "note_retention_days", 30, MOD)
    await world.buddies.pair(
        G1,
        mod,
        MemberFacts(CARL, frozenset({WOMEN}), START),
        MemberFacts(BOB, frozenset({WOMEN}), START - timedelta(days=60)),
    )
    mine = (await world.privacy.export(G1, MOD)).document["moderation"]
    assert {e["action"] for e in mine["audit_log"]} >= {"buddy.group_add", "buddy.pair"}
    assert "note_retention_days" in {s["setting"] for s in mine["settings_you_last_changed"]}
    assert mine["pairings_you_handled"] and mine["matching_groups_you_added"] == [str(WOMEN)]
    await world.privacy.delete_member(G1, MOD)
    await world.privacy.delete_member(G1, CARL)
    assert (await world.privacy.export(G1, MOD)).empty

    def check(conn: sqlite3.Connection) -> None:
        entries = audit.latest(conn, G1, 50)
        assert entries and all(e.actor_id in (ERASED_USER_ID, None) for e in entries)
        made = next(e for e in entries if e.action == "buddy.pair")
        assert made.detail["member_id"] == ERASED_USER_ID and made.detail["buddy_id"] == BOB
        assert not audit.entries_naming(conn, G1, MOD) and not audit.entries_naming(conn, G1, CARL)
        for table, column in (("guild_settings", "updated_by"), ("buddy_groups", "added_by")):
            sql = f"SELECT count(*) FROM {table} WHERE guild_id = ? AND {column} = ?"
            assert conn.execute(sql, (G1, MOD)).fetchone()[0] == 0
            assert conn.execute(sql, (G2, MOD)).fetchone()[0] > 0  # the other server is not touched

    await world.db.read(check)
    assert (await world.settings.get(G1)).integer("note_retention_days") == 30


# --------------------------------------------------------------------------- retention


async def test_notes_are_erased_after_the_servers_retention_days_and_the_numbers_stay(world: World) -> None:
    """G1 keeps notes 30 days, G2 the default 90: after 31 days only G1's old note is gone."""
    await world.settings.set(G1, "note_retention_days", 30, MOD)
    world.clock.advance(days=20)
    await world.checkins.record_checkin(G1, ALICE, 2, 7, True, "a newer note")
    world.clock.advance(days=11)
    report = await world.privacy.run_retention()
    assert report.notes_erased == 2  # Alice's and Bob's first notes in G1
    g1 = (await world.privacy.export(G1, ALICE)).document["checkins"]
    assert [(c["mood"], c["note"]) for c in g1] == [(4, None), (2, "a newer note")]
    g2 = (await world.privacy.export(G2, ALICE)).document["checkins"]
    assert g2[0]["note"] == f"alice's note in {G2}"
    assert (await world.privacy.run_retention()).notes_erased == 0
    world.clock.advance(days=60)
    assert (await world.privacy.run_retention()).notes_erased == 3  # G1's newer note, both of G2's


async def test_a_departed_member_is_erased_after_30_days_unless_back(world: World) -> None:
    """Alice left and stays gone: erased (Bob told) after 30 days, not before; Bob left and came back;
    Carl's departure is found wrong (still a member); a member whose presence cannot be told is kept."""
    await world.member(G1, CARL, "carl's note")
    dan = 900_000_000_000_000_004
    await world.member(G1, dan, "dan's note")
    for user in (ALICE, BOB, CARL, dan):
        assert await world.privacy.member_left(G1, user)
    assert not await world.privacy.member_left(G1, ALICE)  # the first departure counts
    assert not await world.privacy.member_left(999, ALICE)  # a server with nothing stored
    world.clock.advance(days=10)
    assert await world.privacy.member_returned(G1, BOB)
    answers = {ALICE: False, BOB: False, CARL: True, dan: None}

    async def present(guild_id: int, user_id: int) -> bool | None:
        assert guild_id == G1
        return answers[user_id]

    world.clock.advance(days=19)
    early = await world.privacy.run_retention(member_present=present)
    assert early.members_erased == 0 and (await world.privacy.export(G1, ALICE)).document["left_server"] is not None
    world.clock.now = START + DEPARTED_KEEP + timedelta(minutes=1)
    report = await world.privacy.run_retention(member_present=present)
    assert (report.members_erased, report.members_returned, report.members_unknown) == (1, 1, 1)
    assert report.reminders_removed
    assert report.effects == [(G1, (NotifyPairEnded(BOB, ALICE, 1, EndReason.MEMBER_LEFT, False),))]
    assert await member_rows(world.db, G1, ALICE) == 0
    for kept in (BOB, CARL, dan):
        assert (await world.privacy.export(G1, kept)).document["checkins"], kept
    assert await world.db.read(lambda conn: privacy_repo.departed_ids(conn, G1)) == {dan}
    assert await member_rows(world.db, G2, ALICE) > 0


async def test_a_server_that_removed_the_bot_is_erased_after_30_days(world: World) -> None:
    """G2 removed the bot: erased after 30 days, every table; G1, which took the bot back, is kept."""
    assert await world.privacy.bot_left(G1)
    assert await world.privacy.bot_left(G2)
    assert not await world.privacy.bot_left(999)
    world.clock.advance(days=29)
    assert (await world.privacy.run_retention()).servers_erased == 0
    world.clock.advance(days=2)
    report = await world.privacy.run_retention(bot_present=lambda guild_id: guild_id == G1)
    assert (report.servers_erased, report.servers_returned) == (1, 1)
    assert await guild_rows(world.db, G2) == {}
    assert (await world.privacy.export(G1, ALICE)).document["checkins"]
    world.clock.advance(days=SERVER_KEEP.days + 1)
    assert (await world.privacy.run_retention()).servers_erased == 0


async def test_erase_server_now_erases_every_table_of_that_server_only(world: World) -> None:
    """The owner's erase: one transaction, the cascade reaches every table; the other server is intact."""
    before = await guild_rows(world.db, G2)
    assert await world.privacy.server_members_with_data(G1) == 2
    buffer = ActivityBuffer(world.clock)
    buffer.note(G1, ALICE)
    buffer.note(G2, ALICE)
    assert await world.privacy.erase_server(G1, activity=buffer)
    assert await guild_rows(world.db, G1) == {}
    assert await guild_rows(world.db, G2) == before
    assert len(buffer) == 1
    assert not await world.privacy.erase_server(G1)


async def test_the_owners_erasure_is_the_one_entry_left_in_the_audit_log(world: World) -> None:
    """Who erased the server's data and when stays on record (moderator accountability)."""
    assert await world.privacy.erase_server(G1, MOD)
    assert await guild_rows(world.db, G1) == {"guilds": 1, "audit_log": 1}
    (entry,) = await world.db.read(lambda conn: audit.latest(conn, G1))
    assert (entry.actor_id, entry.action, entry.at) == (MOD, ERASE_SERVER_ACTION, START)


async def test_reconcile_marks_what_happened_while_the_bot_was_away(world: World) -> None:
    """After connecting: a server no longer there is marked left, one back is cleared; members with data
    who are gone get a departure, and returning ones lose theirs; an incomplete member list marks nobody."""
    assert await world.privacy.bot_left(G1)
    assert await world.privacy.member_left(G1, BOB)
    report = await world.privacy.reconcile({G1: [ALICE, BOB]})
    assert report.servers_back == (G1,) and report.servers_left == (G2,)
    assert (report.members_left, report.members_back) == (0, 1)
    report = await world.privacy.reconcile({G1: [BOB], G2: None})
    assert report.servers_back == (G2,) and (report.members_left, report.members_back) == (1, 0)
    assert await world.db.read(lambda conn: privacy_repo.departed_ids(conn, G1)) == {ALICE}
    assert await world.db.read(lambda conn: privacy_repo.departed_ids(conn, G2)) == set()


async def test_two_servers_with_the_same_members_never_mix(world: World) -> None:
    """Exports of one server name nothing of the other; deleting in one leaves the other whole."""
    for guild_id, other in ((G1, G2), (G2, G1)):
        text = (await world.privacy.export(guild_id, ALICE)).to_json().decode()
        assert f"in {guild_id}" in text and f"in {other}" not in text and str(other) not in text
    g2_before = await guild_rows(world.db, G2)
    await world.privacy.delete_member(G1, ALICE)
    await world.privacy.delete_member(G1, BOB)
    assert await guild_rows(world.db, G2) == g2_before


async def test_nudge_steps_and_notes_received_are_exported_then_erased(world: World) -> None:
    """A step of Alice's quiet spell is hers; a buddy's note Bob received about Alice is counted for Bob
    and keeps no id of his once he is erased."""

    def claim(conn: sqlite3.Connection) -> None:
        spell = to_timestamp(START)
        nudges_repo.claim_step(conn, G1, ALICE, spell, 1, target_id=ALICE, run_id="r", now=START, outcome="sent")
        nudges_repo.claim_step(conn, G1, ALICE, spell, 2, target_id=BOB, run_id="r", now=START, outcome="sent")

    await world.db.transaction(claim)
    steps = (await world.privacy.export(G1, ALICE)).document["nudges"]["steps"]
    assert [s["step"] for s in steps] == ["a private message to you", "a note to your buddy"]
    assert str(BOB) not in json.dumps(steps)
    assert (await world.privacy.export(G1, BOB)).document["nudges"]["buddy_notes_received"] == 1
    await world.privacy.delete_member(G1, BOB)
    targets = await world.db.read(
        lambda conn: [r[0] for r in conn.execute("SELECT target_id FROM nudge_steps WHERE step = 2").fetchall()]
    )
    assert targets == [ERASED_USER_ID]


async def test_sos_alert_times_are_exported_then_erased(world: World) -> None:
    """The time of a member's latest /sos alert (kept for the 10-minute limit) is theirs too."""
    await world.db.transaction(lambda conn: safety_repo.set_alert(conn, G1, ALICE, "buddy", START))
    doc = (await world.privacy.export(G1, ALICE)).document
    assert doc["sos_alerts_last_sent"] == {"buddy": START.isoformat()}
    assert (await world.privacy.info(G1, ALICE)).sos_alerts == 1
    await world.privacy.delete_member(G1, ALICE)
    assert await world.db.read(lambda conn: safety_repo.member_alerts(conn, G1, ALICE)) == {}


async def test_sos_alert_times_are_forgotten_by_the_daily_job_once_past_their_limit(world: World) -> None:
    """Kept for the 10-minute limit only: the daily job forgets them even if no other alert comes."""
    await world.db.transaction(lambda conn: safety_repo.set_alert(conn, G1, BOB, "moderators", START))
    world.clock.advance(minutes=9)
    assert (await world.privacy.run_retention()).sos_alerts_forgotten == 0
    world.clock.advance(minutes=2)
    assert (await world.privacy.run_retention()).sos_alerts_forgotten == 1
    assert (await world.privacy.export(G1, BOB)).document["sos_alerts_last_sent"] == {}


async def test_buddy_rows_of_a_deleted_member_are_all_gone(world: World) -> None:
    """Queue, volunteering, roles and pairs: nothing of Bob is left in the buddy tables of G1."""
    await world.privacy.delete_member(G1, BOB)
    data = await world.db.read(lambda conn: buddies_repo.member_data(conn, G1, BOB))
    assert data.empty

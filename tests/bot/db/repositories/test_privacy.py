"""Tests of the repositories' privacy functions: a member's data read and erased per server, departures,
servers the bot left, old notes, and the query plans of the retention jobs (indexed, no scans)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.db.connection import Database
from bot.db.repositories import audit, guilds
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import checkins as checkins_repo
from bot.db.repositories import nudges as nudges_repo
from bot.db.repositories import privacy as repo
from bot.timeutil import to_timestamp

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T = to_timestamp(NOW)
DAY = 86_400
TODAY = T // DAY
G1, G2 = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
U1, U2, U3 = 900_000_000_000_000_001, 900_000_000_000_000_002, 900_000_000_000_000_003
ROLE = 700_000_000_000_000_001


def _guilds(conn: sqlite3.Connection) -> None:
    guilds.ensure_guild(conn, G1, NOW)
    guilds.ensure_guild(conn, G2, NOW)


def _checkin(conn: sqlite3.Connection, guild_id: int, user_id: int, day: int, note: str | bytes | None) -> None:
    row = checkins_repo.CheckinRow(guild_id, user_id, day, 3, 2, True, note, datetime.fromtimestamp(day * DAY, UTC))
    checkins_repo.upsert_checkin(conn, row)


def _plans(conn: sqlite3.Connection, call: Callable[[sqlite3.Connection], Any]) -> list[str]:
    """The query plans of every statement a repository function runs (captured as it runs)."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call(conn)
    finally:
        conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans.append(" | ".join(str(row[3]) for row in rows))
    return plans


# --------------------------------------------------------------------------- departures


async def test_departures_keep_the_first_time_and_are_found_by_time(db: Database) -> None:
    """A second departure keeps the first time; a return clears it; the due ones come earliest first."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        assert repo.record_departure(conn, G1, U1, NOW - timedelta(days=40))
        assert not repo.record_departure(conn, G1, U1, NOW)
        assert repo.record_departures(conn, G1, [U2, U3], NOW - timedelta(days=35)) == 2
        assert repo.record_departure(conn, G2, U1, NOW - timedelta(days=1))
        assert repo.departure_of(conn, G1, U1) == NOW - timedelta(days=40)
        due = repo.departed_before(conn, NOW - timedelta(days=30), 10)
        assert [(g, u) for g, u, _ in due] == [(G1, U1), (G1, U2), (G1, U3)]
        assert repo.clear_departure(conn, G1, U2) and not repo.clear_departure(conn, G1, U2)
        assert repo.clear_departures(conn, G1, [U3, U1]) == 2
        assert repo.departed_ids(conn, G1) == set() and repo.departed_ids(conn, G2) == {U1}

    await db.transaction(work)


async def test_known_members_are_everyone_with_a_row_in_the_server(db: Database) -> None:
    """Check-ins, pairs (either side), nudges: every member with data, of this server only."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        _checkin(conn, G1, U1, TODAY, None)
        buddies_repo.upsert_member(conn, G1, U2, NOW, NOW)
        buddies_repo.upsert_member(conn, G1, U3, NOW, NOW)
        buddies_repo.add_group(conn, G1, ROLE, NOW, None)
        buddies_repo.insert_pair(conn, G1, U2, U3, ROLE, status="active", now=NOW)
        nudges_repo.apply_activity(conn, G2, [(U3, T)], None, NOW)
        assert repo.known_members(conn, G1) == {U1, U2, U3}
        assert repo.known_members(conn, G2) == {U3}

    await db.transaction(work)


# --------------------------------------------------------------------------- servers


async def test_a_server_left_keeps_its_first_time_until_the_bot_returns(db: Database) -> None:
    """mark_bot_left keeps the earliest time; ensure_guild (the bot is back) clears it; delete cascades."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        _checkin(conn, G1, U1, TODAY, "note")
        assert guilds.mark_bot_left(conn, G1, NOW - timedelta(days=31))
        assert guilds.mark_bot_left(conn, G1, NOW)
        assert not guilds.mark_bot_left(conn, 42, NOW)
        assert guilds.guild_states(conn) == {G1: NOW - timedelta(days=31), G2: None}
        assert guilds.left_before(conn, NOW - timedelta(days=30)) == [(G1, NOW - timedelta(days=31))]
        guilds.ensure_guild(conn, G1, NOW)
        assert guilds.left_before(conn, NOW) == []
        assert guilds.delete_guild(conn, G1) and not guilds.delete_guild(conn, G1)
        assert checkins_repo.member_data(conn, G1, U1).empty

    await db.transaction(work)


async def test_settings_changed_by_a_member_lose_their_id(db: Database) -> None:
    """The setter of a setting is theirs to export, and replaced when they are erased (this server only)."""

    def work(conn: sqlite3.Connection) -> None:
        guilds.set_setting(conn, G1, "quiet_days", "4", NOW, U1)
        guilds.set_setting(conn, G2, "quiet_days", "5", NOW, U1)
        assert guilds.settings_set_by(conn, G1, U1) == [("quiet_days", NOW)]
        assert guilds.erase_setter(conn, G1, U1) == 1
        assert guilds.settings_set_by(conn, G1, U1) == []
        assert guilds.settings_set_by(conn, G1, guilds.ERASED_USER_ID) == [("quiet_days", NOW)]
        assert guilds.settings_set_by(conn, G2, U1) == [("quiet_days", NOW)]

    await db.transaction(work)


# --------------------------------------------------------------------------- check-ins


async def test_checkin_data_of_a_member_is_read_and_erased_in_one_server(db: Database) -> None:
    """member_data reads every check-in table of the member; delete_member_data erases them; the same
    member in another server keeps theirs."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        for guild_id in (G1, G2):
            checkins_repo.set_timezone(conn, guild_id, U1, "Europe/Paris")
            _checkin(conn, guild_id, U1, TODAY - 1, "yesterday")
            _checkin(conn, guild_id, U1, TODAY, None)
            checkins_repo.upsert_reminder(conn, guild_id, U1, 600, NOW + timedelta(hours=2), NOW)
            checkins_repo.set_sobriety(conn, guild_id, U1, since_day=TODAY - 10, announce=False, next_milestone=30,
                                       now=NOW)  # fmt: skip
            checkins_repo.insert_celebration(conn, guild_id, U1, TODAY - 10, 7, NOW)
        _checkin(conn, G1, U2, TODAY, "someone else's")
        data = checkins_repo.member_data(conn, G1, U1)
        assert [c.day for c in data.checkins] == [TODAY - 1, TODAY] and data.checkins[0].note == "yesterday"
        assert data.member is not None and data.reminder is not None and data.sobriety is not None
        assert [(m.since_day, m.milestone) for m in data.milestones] == [(TODAY - 10, 7)]
        assert checkins_repo.delete_member_data(conn, G1, U1) == 6
        assert checkins_repo.member_data(conn, G1, U1).empty
        assert not checkins_repo.member_data(conn, G2, U1).empty
        assert len(checkins_repo.member_data(conn, G1, U2).checkins) == 1

    await db.transaction(work)


async def test_old_notes_are_erased_and_the_numbers_stay(db: Database) -> None:
    """erase_notes_before clears the notes of older days of one server, nothing else."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        for day in (TODAY - 100, TODAY - 91, TODAY - 90, TODAY):
            _checkin(conn, G1, U1, day, f"day {day}")
            _checkin(conn, G2, U1, day, b"\x01" + bytes(40))
        assert checkins_repo.erase_notes_before(conn, G1, TODAY - 90) == 2
        rows = checkins_repo.member_data(conn, G1, U1).checkins
        assert [(r.day, r.note, r.mood) for r in rows] == [
            (TODAY - 100, None, 3),
            (TODAY - 91, None, 3),
            (TODAY - 90, f"day {TODAY - 90}", 3),
            (TODAY, f"day {TODAY}", 3),
        ]
        assert all(r.note is not None for r in checkins_repo.member_data(conn, G2, U1).checkins)
        assert checkins_repo.erase_notes_before(conn, G1, TODAY - 90) == 0

    await db.transaction(work)


# --------------------------------------------------------------------------- buddies, nudges, audit


async def test_buddy_data_of_a_member_is_read_and_erased(db: Database) -> None:
    """Pairs either side, queue, volunteering, roles; a pairing of two others made by the member as a
    moderator is listed by id and keeps no id of theirs once erased."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        buddies_repo.add_group(conn, G1, ROLE, NOW, U1)
        for user in (U1, U2, U3, 77):
            buddies_repo.upsert_member(conn, G1, user, NOW, NOW)
        buddies_repo.set_member_groups(conn, G1, U1, [ROLE])
        buddies_repo.enqueue(conn, G1, U1, NOW, "request")
        buddies_repo.set_volunteer(conn, G1, U1, True, 2, NOW)
        mine = buddies_repo.insert_pair(conn, G1, U2, U1, ROLE, status="active", now=NOW)
        handled = buddies_repo.insert_pair(conn, G1, U3, 77, ROLE, status="active", now=NOW, created_by=U1)
        data = buddies_repo.member_data(conn, G1, U1)
        assert [p.pair_id for p in data.pairs] == [mine] and data.handled_pairs == [handled]
        assert data.group_roles == {ROLE} and data.queue is not None and data.volunteer is not None
        assert data.groups_added == [ROLE]
        buddies_repo.close_pair(conn, G1, mine, "ended", NOW, U1, "ended_by_member")
        assert buddies_repo.delete_member_data(conn, G1, U1, guilds.ERASED_USER_ID) > 0
        assert buddies_repo.member_data(conn, G1, U1).empty
        other = buddies_repo.get_pair(conn, G1, handled)
        assert other is not None and other.created_by == guilds.ERASED_USER_ID
        assert buddies_repo.get_member(conn, G1, U2) is not None

    await db.transaction(work)


async def test_nudge_data_of_a_member_is_read_and_erased(db: Database) -> None:
    """Their row and steps go; a note sent to them as someone's buddy keeps no id of theirs."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        nudges_repo.apply_activity(conn, G1, [(U1, T), (U2, T)], DAY, NOW)
        nudges_repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="r", now=NOW)
        nudges_repo.claim_step(conn, G1, U2, T, 2, target_id=U1, run_id="r", now=NOW)
        data = nudges_repo.member_data(conn, G1, U1)
        assert data.member is not None and [s.step for s in data.steps] == [1] and data.notes_received == 1
        assert nudges_repo.delete_member_data(conn, G1, U1, guilds.ERASED_USER_ID) == 3
        assert nudges_repo.member_data(conn, G1, U1).empty
        (kept,) = nudges_repo.spell_steps(conn, G1, U2, T)
        assert kept.target_id == guilds.ERASED_USER_ID

    await db.transaction(work)


async def test_audit_entries_naming_a_member_keep_the_action_without_them(db: Database) -> None:
    """As actor or anywhere in the detail (nested too): the id is replaced, the entry stays; another
    server's entries are not touched."""

    def work(conn: sqlite3.Connection) -> None:
        audit.record(conn, G1, U1, "buddy.pair", {"member_id": U2, "buddy_id": U3}, NOW)
        audit.record(conn, G1, U3, "x.nested", {"who": [{"user": U1}], "count": 2}, NOW)
        audit.record(conn, G1, U3, "x.other", {"member_id": U2}, NOW)
        audit.record(conn, G2, U1, "buddy.pair", {"member_id": U2}, NOW)
        assert [e.action for e in audit.entries_naming(conn, G1, U1)] == ["buddy.pair", "x.nested"]
        assert audit.erase_member(conn, G1, U1, guilds.ERASED_USER_ID) == 2
        assert audit.entries_naming(conn, G1, U1) == []
        entries = {e.action: e for e in audit.latest(conn, G1)}
        assert entries["buddy.pair"].actor_id == guilds.ERASED_USER_ID
        assert entries["buddy.pair"].detail == {"member_id": U2, "buddy_id": U3}
        assert entries["x.nested"].detail == {"who": [{"user": guilds.ERASED_USER_ID}], "count": 2}
        assert [e.actor_id for e in audit.latest(conn, G2)] == [U1]

    await db.transaction(work)


# --------------------------------------------------------------------------- query plans


async def test_retention_queries_use_their_indexes(db: Database) -> None:
    """Old notes, departures due and servers left are found through their indexes, and a member's data
    through primary keys: no scan of a whole table (EXPLAIN QUERY PLAN on 2000 members' check-ins)."""

    def work(conn: sqlite3.Connection) -> dict[str, list[str]]:
        _guilds(conn)
        for user in range(1000, 3000):
            _checkin(conn, G1, user, TODAY - 200, None)
            _checkin(conn, G2, user, TODAY, "a note" if user % 50 == 0 else None)
        repo.record_departure(conn, G1, U1, NOW)
        conn.execute("ANALYZE")
        return {
            "notes": _plans(conn, lambda c: checkins_repo.erase_notes_before(c, G2, TODAY - 90)),
            "departed": _plans(conn, lambda c: repo.departed_before(c, NOW, 10)),
            "servers": _plans(conn, lambda c: guilds.left_before(c, NOW, 10)),
            "checkins": _plans(conn, lambda c: checkins_repo.member_data(c, G1, U1)),
            "delete": _plans(conn, lambda c: checkins_repo.delete_member_data(c, G1, U1)),
            "buddies": _plans(conn, lambda c: buddies_repo.delete_member_data(c, G1, U1, 0)),
            "nudges": _plans(conn, lambda c: nudges_repo.member_data(c, G1, U1)),
        }

    plans = await db.transaction(work)
    assert "checkins_noted" in plans["notes"][0], plans["notes"]
    assert "departed_members_by_time" in plans["departed"][0], plans["departed"]
    assert "guilds_left" in plans["servers"][0], plans["servers"]
    for name in ("checkins", "delete", "buddies", "nudges"):
        for plan in plans[name]:
            assert "SCAN" not in plan.replace("USING INDEX", "").replace("USING PRIMARY KEY", ""), (name, plan)

"""Tests of the check-ins repository: round trips, isolation between servers, indexes, row size."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
G1, G2 = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
U1, U2 = 900_000_000_000_000_001, 900_000_000_000_000_002
DAY = 19844  # 2024-05-01


def _guilds(conn: sqlite3.Connection) -> None:
    ensure_guild(conn, G1, NOW)
    ensure_guild(conn, G2, NOW)


def _row(guild: int, user: int, day: int, mood: int = 3, note: str | None = None) -> repo.CheckinRow:
    recorded = datetime.fromtimestamp(day * 86_400 + 21 * 3600 + 30 * 60 + 15, UTC)  # 21:30:15 UTC that day
    return repo.CheckinRow(guild, user, day, mood, 4, True, note, recorded)


async def test_checkin_round_trip_and_replacement(db: Database) -> None:
    """A check-in reads back exactly (the instant too); a second one the same day replaces it."""

    def work(conn: sqlite3.Connection) -> tuple[bool, bool, repo.CheckinRow | None, int]:
        _guilds(conn)
        first = repo.upsert_checkin(conn, _row(G1, U1, DAY, mood=2, note="rough morning"))
        second = repo.upsert_checkin(conn, _row(G1, U1, DAY, mood=4))
        count = conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
        return first, second, repo.get_checkin(conn, G1, U1, DAY), count

    first, second, stored, count = await db.transaction(work)
    assert (first, second, count) == (False, True, 1)
    assert stored == _row(G1, U1, DAY, mood=4)
    assert stored.recorded_at == datetime(2024, 5, 1, 21, 30, 15, tzinfo=UTC)


async def test_recorded_instant_survives_far_timezones(db: Database) -> None:
    """The instant is stored relative to the local day, even 14 hours ahead of or behind UTC."""
    early = repo.CheckinRow(G1, U1, DAY + 1, 3, 0, True, None, datetime(2024, 5, 1, 10, 5, 7, tzinfo=UTC))
    late = repo.CheckinRow(G1, U1, DAY - 1, 3, 0, True, None, datetime(2024, 5, 1, 11, 59, 59, tzinfo=UTC))

    def work(conn: sqlite3.Connection) -> list[repo.CheckinRow]:
        _guilds(conn)
        repo.upsert_checkin(conn, early)  # Kiribati (UTC+14): already 2 May
        repo.upsert_checkin(conn, late)  # Baker Island (UTC-12): still 30 April
        return repo.checkins_between(conn, G1, U1, DAY - 5, DAY + 5)

    assert await db.transaction(work) == [late, early]


async def test_servers_and_members_never_see_each_others_checkins(db: Database) -> None:
    """Every read is scoped by server and member."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[int], list[int], bool]:
        _guilds(conn)
        repo.upsert_checkin(conn, _row(G1, U1, DAY))
        repo.upsert_checkin(conn, _row(G1, U1, DAY + 1))
        repo.upsert_checkin(conn, _row(G2, U1, DAY + 2))
        repo.upsert_checkin(conn, _row(G1, U2, DAY + 3))
        return (
            repo.checkin_days(conn, G1, U1),
            repo.checkin_days(conn, G2, U1),
            repo.checkin_days(conn, G1, U1, newest_first=True),
            repo.has_checkin(conn, G2, U1, DAY),
        )

    g1, g2, newest, leaked = await db.transaction(work)
    assert g1 == [DAY, DAY + 1]
    assert g2 == [DAY + 2]
    assert newest == [DAY + 1, DAY]
    assert leaked is False


async def test_constraints_reject_out_of_range_values(db: Database) -> None:
    """The table itself refuses moods, cravings and notes outside their ranges."""
    await db.transaction(_guilds)
    for bad in (
        repo.CheckinRow(G1, U1, DAY, 6, 0, True, None, NOW),
        repo.CheckinRow(G1, U1, DAY, 3, 11, True, None, NOW),
        repo.CheckinRow(G1, U1, DAY, 3, 0, True, "x" * 1001, NOW),
    ):
        with pytest.raises(sqlite3.IntegrityError):
            await db.transaction(lambda conn, b=bad: repo.upsert_checkin(conn, b))  # type: ignore[misc]


async def test_erasing_a_server_cascades_to_all_its_rows(db: Database) -> None:
    """Deleting the guild removes its check-ins, members, reminders and sobriety rows, not others'."""

    def work(conn: sqlite3.Connection) -> dict[str, int]:
        _guilds(conn)
        for guild in (G1, G2):
            repo.upsert_checkin(conn, _row(guild, U1, DAY))
            repo.set_timezone(conn, guild, U1, "Europe/Berlin")
            repo.upsert_reminder(conn, guild, U1, 600, NOW, NOW)
            repo.set_sobriety(conn, guild, U1, since_day=DAY - 10, announce=False, next_milestone=30, now=NOW)
            repo.insert_celebration(conn, guild, U1, DAY - 10, 7, NOW)
        conn.execute("DELETE FROM guilds WHERE guild_id = ?", (G1,))
        tables = ("checkins", "checkin_members", "checkin_reminders", "sobriety", "sobriety_milestones")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    assert set((await db.transaction(work)).values()) == {1}


async def test_reminder_schedule_pause_and_notice(db: Database) -> None:
    """Reminders come due in order, pause with a notice told once, and un-pause when set again."""
    t1, t2 = datetime(2024, 5, 1, 18, 0, tzinfo=UTC), datetime(2024, 5, 1, 19, 0, tzinfo=UTC)

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.set_timezone(conn, G1, U2, "Asia/Tokyo")
        repo.upsert_reminder(conn, G1, U1, 18 * 60, t1, NOW)
        repo.upsert_reminder(conn, G1, U2, 4 * 60, t2, NOW)
        assert repo.next_reminder_due_at(conn) == t1
        due = repo.due_reminders(conn, t2, 10)
        assert [(r.user_id, r.timezone) for r in due] == [(U1, None), (U2, "Asia/Tokyo")]
        assert repo.due_reminders(conn, t1, 10)[0].user_id == U1 and len(repo.due_reminders(conn, t1, 10)) == 1
        repo.advance_reminder(conn, G1, U1, datetime(2024, 5, 2, 18, 0, tzinfo=UTC), DAY)
        assert repo.next_reminder_due_at(conn) == t2
        assert repo.pause_reminder(conn, G1, U2, "DMs closed", NOW)
        paused = repo.get_reminder(conn, G1, U2)
        assert paused is not None and paused.next_due_at is None and paused.paused_reason == "DMs closed"
        assert repo.next_reminder_due_at(conn) == datetime(2024, 5, 2, 18, 0, tzinfo=UTC)
        repo.set_reminder_schedule(conn, G1, U2, t2)  # a paused reminder is not rescheduled
        assert repo.get_reminder(conn, G1, U2).next_due_at is None  # type: ignore[union-attr]
        assert repo.take_reminder_notice(conn, G1, U2) == "DMs closed"
        assert repo.take_reminder_notice(conn, G1, U2) is None
        repo.upsert_reminder(conn, G1, U2, 5 * 60, t2, NOW)
        again = repo.get_reminder(conn, G1, U2)
        assert again is not None and again.paused_reason is None and again.next_due_at == t2
        kept = repo.get_reminder(conn, G1, U1)
        assert kept is not None and kept.last_day == DAY
        assert repo.delete_reminder(conn, G1, U1) and not repo.delete_reminder(conn, G1, U1)
        assert not repo.pause_reminder(conn, G1, U1, "gone", NOW)

    await db.transaction(work)


async def test_next_due_reminder_query_uses_the_index(db: Database) -> None:
    """The dispatcher's queries read the next_due_at index, not the whole table."""

    def plans(conn: sqlite3.Connection) -> list[str]:
        out = []
        for sql, params in (
            (
                "SELECT next_due_at FROM checkin_reminders WHERE next_due_at IS NOT NULL ORDER BY next_due_at LIMIT 1",
                (),
            ),
            (
                "SELECT guild_id FROM checkin_reminders AS r WHERE r.next_due_at IS NOT NULL "
                "AND r.next_due_at <= ? ORDER BY r.next_due_at LIMIT 5",
                (0,),
            ),
            ("SELECT guild_id FROM sobriety AS s WHERE s.next_milestone_day <= ?", (0,)),
        ):
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            out.append(" ".join(str(row[3]) for row in rows))
        return out

    reminder_next, reminder_due, sobriety_due = await db.read(plans)
    assert "checkin_reminders_next_due" in reminder_next
    assert "checkin_reminders_next_due" in reminder_due
    assert "sobriety_next_milestone_day" in sobriety_due


async def test_sobriety_rows_candidates_and_celebrations(db: Database) -> None:
    """Sobriety dates store the next milestone's day; celebrations are unique per date and milestone."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.set_timezone(conn, G1, U1, "Pacific/Auckland")
        repo.set_sobriety(conn, G1, U1, since_day=DAY - 6, announce=True, next_milestone=7, now=NOW)
        repo.set_sobriety(conn, G2, U1, since_day=DAY - 100, announce=False, next_milestone=180, now=NOW)
        row = repo.get_sobriety(conn, G1, U1)
        assert row is not None and row.next_milestone_day == DAY + 1 and row.timezone == "Pacific/Auckland"
        assert [r.guild_id for r in repo.sobriety_candidates(conn, DAY + 1)] == [G1]
        assert repo.insert_celebration(conn, G1, U1, DAY - 6, 7, NOW)
        assert not repo.insert_celebration(conn, G1, U1, DAY - 6, 7, NOW)
        repo.advance_milestone(conn, G1, U1, 30)
        assert repo.get_sobriety(conn, G1, U1).next_milestone_day == DAY - 6 + 30  # type: ignore[union-attr]
        assert repo.celebrated_milestones(conn, G1, U1, DAY - 6) == [7]
        repo.delete_celebrations(conn, G1, U1, keep_since_day=DAY - 6)
        assert repo.celebrated_milestones(conn, G1, U1, DAY - 6) == [7]
        assert repo.delete_celebration(conn, G1, U1, DAY - 6, 7)
        assert repo.delete_sobriety(conn, G1, U1) and repo.get_sobriety(conn, G1, U1) is None
        assert repo.get_sobriety(conn, G2, U1) is not None

    await db.transaction(work)


async def test_a_checkin_row_costs_at_most_40_bytes(db: Database) -> None:
    """10,000 check-ins without a note, stored in a realistic order, take at most 40 bytes each on disk."""
    members = [U1 + 7_919 * i for i in range(200)]

    def fill(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        for day in range(DAY - 50, DAY):  # a day at a time, every member: the order of real use
            for n, user in enumerate(members):
                offset = 3_600 + 60 * (n % 1440)  # seconds after 00:00 UTC of the day
                conn.execute(
                    "INSERT INTO checkins (guild_id, user_id, day, mood, craving, sober, note, recorded_offset) "
                    "VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                    (G1, user, day, 1 + (day + n) % 5, (day * n) % 11, int(n % 9 != 0), offset),
                )

    await db.transaction(fill)

    def measure(conn: sqlite3.Connection) -> tuple[int, int]:
        rows = conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
        try:
            size = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'checkins'").fetchone()[0]
        except sqlite3.OperationalError:  # SQLite built without dbstat: the whole file is an upper bound
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            size = page_size * conn.execute("PRAGMA page_count").fetchone()[0]
        return rows, size

    rows, size = await db.read(measure)
    assert rows == 10_000
    assert size / rows <= 40, f"{size / rows:.1f} bytes per check-in"

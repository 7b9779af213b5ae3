"""Tests of the numbered migrations."""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

import pytest

from bot.db.connection import Database
from bot.db.migrations import (
    Migration,
    MigrationError,
    load_migrations,
    migrate,
    read_schema_version,
    schema_version,
    split_statements,
)
from bot.db.repositories.checkins import StreakRow
from bot.services.checkins import compute_streak_row


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()]


def test_shipped_migrations_are_numbered_without_gaps() -> None:
    """The shipped files load, numbered 1..N."""
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


async def test_fresh_database_reaches_latest(tmp_path: Path) -> None:
    """A new file is migrated to the latest version, and a second run applies nothing."""
    latest = load_migrations()[-1].version
    async with await Database.open(tmp_path / "db.sqlite3") as database:
        result = await migrate(database)
        assert (result.before, result.after) == (0, latest)
        assert len(result.applied) == latest
        again = await migrate(database)
        assert again.applied == () and again.after == latest
    assert read_schema_version(tmp_path / "db.sqlite3") == latest


@pytest.mark.parametrize("start", range(len(load_migrations())))
async def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    """From each earlier version the upgrade reaches the same schema as a fresh database."""
    async with await Database.open(tmp_path / "fresh.sqlite3") as fresh:
        await migrate(fresh)
        expected = await fresh.read(_schema)
    async with await Database.open(tmp_path / "old.sqlite3") as old:
        await migrate(old, target=start)
        assert await schema_version(old) == start
        result = await migrate(old)
        assert result.before == start
        assert await old.read(_schema) == expected


async def test_failing_migration_leaves_database_as_it_was(tmp_path: Path) -> None:
    """A migration that fails half-way is rolled back whole, and the version stays."""
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n")
    bad = Migration(
        2, "bad", "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (2);\nINSERT INTO nowhere VALUES (1);\n"
    )
    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database, [good])
        before = await database.read(_schema)
        with pytest.raises(MigrationError) as info:
            await migrate(database, [good, bad])
        assert "0002_bad" in str(info.value)
        assert "schema version 1" in str(info.value)
        assert await schema_version(database) == 1
        assert await database.read(_schema) == before
        assert await database.read(lambda c: c.execute("SELECT count(*) FROM a").fetchone()[0]) == 1


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    """A database migrated by a newer version of the code is refused with a clear message."""
    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await database.run_outside_transaction(lambda c: c.execute("PRAGMA user_version = 999"))
        with pytest.raises(MigrationError, match="newer"):
            await migrate(database)
        assert await schema_version(database) == 999


def test_gaps_in_numbering_are_refused(tmp_path: Path) -> None:
    """A missing number in the migration files is an error."""
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="0002"):
        load_migrations(tmp_path)


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    """A migration file must be named NNNN_name.sql."""
    (tmp_path / "1_a.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(tmp_path)


def test_split_keeps_triggers_whole_and_skips_comments() -> None:
    """Statements are split at their ends; a trigger body stays one statement."""
    sql = (
        "-- a comment\nCREATE TABLE a (x);\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\n  UPDATE a SET x = 2;\nEND;\n"
        "-- trailing comment\n"
    )
    statements = split_statements(sql)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_incomplete_statement_is_refused() -> None:
    """A script that ends mid-statement is an error."""
    with pytest.raises(MigrationError, match="incomplete"):
        split_statements("CREATE TABLE a (x);\nCREATE TABLE b (")


def test_schema_version_of_missing_file_is_zero(tmp_path: Path) -> None:
    """A database that does not exist yet is at version 0, and is not created by looking."""
    assert read_schema_version(tmp_path / "none.sqlite3") == 0
    assert not (tmp_path / "none.sqlite3").exists()


async def test_0008_backfills_every_members_streaks_from_their_checkins(tmp_path: Path) -> None:
    """Upgrading a database with check-ins (version 7) stores each member's streaks (latest run, longest
    run) as computed from their days, per server; a member without a check-in gets no row."""
    rng = random.Random(8)
    patterns: dict[tuple[int, int], list[int]] = {
        (1, 10): [100],
        (1, 11): [90, 91, 92, 93, 95, 96, 100],  # longest before the latest run
        (1, 12): [95, 96, 97, 98],
        (2, 11): [50, 52, 54],  # the same member in another server
    }
    for user in range(20, 60):
        patterns[(1, user)] = sorted(rng.sample(range(1_000, 1_400), rng.randrange(1, 300)))
    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database, target=7)

        def fill(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO guilds (guild_id, joined_at) VALUES (?, 0)", [(1,), (2,)])
            conn.execute("INSERT INTO checkin_members (guild_id, user_id, timezone) VALUES (1, 13, 'UTC')")
            conn.executemany(
                "INSERT INTO checkins (guild_id, user_id, day, mood, recorded_offset) VALUES (?, ?, ?, 3, 0)",
                [(guild, user, day) for (guild, user), days in patterns.items() for day in days],
            )

        await database.transaction(fill)
        await migrate(database)
        stored = await database.read(
            lambda conn: {
                (int(r[0]), int(r[1])): StreakRow(int(r[2]), int(r[3]), int(r[4]))
                for r in conn.execute("SELECT guild_id, user_id, run_start, run_end, longest FROM checkin_streaks")
            }
        )
    assert stored == {key: compute_streak_row(days) for key, days in patterns.items()}
    assert stored[(1, 11)] == StreakRow(100, 100, 4) and (1, 13) not in stored


async def test_0010_backfills_the_group_copies_and_drops_departed_waiters(tmp_path: Path) -> None:
    """Upgrading to 0010 copies each member's group into their queue entry and offer, and takes out
    members who had left while waiting; matching then reads the queue alone."""
    from bot.db.repositories import buddies

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0)")
        conn.execute("INSERT INTO buddy_groups (guild_id, role_id, added_at) VALUES (1, 50, 0), (1, 60, 0)")
        conn.executemany(
            "INSERT INTO buddy_members (guild_id, user_id, group_count, group_role_id, left_at, updated_at) "
            "VALUES (1, ?, ?, ?, ?, 0)",
            [(10, 1, 50, None), (11, 1, 60, None), (12, 0, None, None), (13, 2, None, None), (14, 1, 50, 99)],
        )
        conn.executemany(
            "INSERT INTO buddy_queue (guild_id, user_id, queued_at, first_in_line, origin) VALUES (1, ?, ?, 0, 'auto')",
            [(10, 5), (11, 4), (12, 3), (13, 2), (14, 1)],
        )
        conn.executemany(
            "INSERT INTO buddy_volunteers (guild_id, user_id, available, since, updated_at) VALUES (1, ?, 1, 0, 0)",
            [(11,), (12,)],
        )

    def read(conn: sqlite3.Connection) -> tuple[list[tuple[int, int | None]], list[tuple[int, int, int]]]:
        rows = conn.execute(
            "SELECT user_id, group_role_id FROM buddy_queue UNION ALL "
            "SELECT -user_id, group_role_id FROM buddy_volunteers ORDER BY 1"
        ).fetchall()
        waiting = [*buddies.waiting_in_group(conn, 1, 50), *buddies.waiting_in_group(conn, 1, 60)]
        return [(int(r[0]), r[1]) for r in rows], waiting

    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database, target=9)
        await database.transaction(fill)
        result = await migrate(database)
        assert result.before == 9
        queue, waiting = await database.read(read)
    assert queue == [(-12, None), (-11, 60), (10, 50), (11, 60), (12, None), (13, None)]  # offers negated
    assert waiting == [(10, 5, 0), (11, 4, 0)]  # group 50's, then 60's


async def test_0011_copies_join_times_into_offers_and_keeps_them_in_step(tmp_path: Path) -> None:
    """Upgrading to 0011 copies each volunteer's join time into their offer and withdraws the offers of
    members who had left; afterwards new offers and a member's new join time are copied by the triggers,
    and the whole queue's order index is gone (matching reads each group's own)."""
    from datetime import UTC, datetime

    from bot.db.repositories import buddies

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0)")
        conn.execute("INSERT INTO buddy_groups (guild_id, role_id, added_at) VALUES (1, 50, 0)")
        conn.executemany(
            "INSERT INTO buddy_members (guild_id, user_id, joined_at, group_count, group_role_id, left_at, updated_at) "
            "VALUES (1, ?, ?, 1, 50, ?, 0)",
            [(10, 100, None), (11, 200, None), (12, 300, 400), (13, None, None)],
        )
        conn.executemany(
            "INSERT INTO buddy_volunteers (guild_id, user_id, available, since, updated_at, group_role_id) "
            "VALUES (1, ?, 1, 0, 0, 50)",
            [(10,), (12,), (13,)],
        )

    def read(conn: sqlite3.Connection) -> list[tuple[int, int | None, int]]:
        rows = conn.execute("SELECT user_id, joined_at, available FROM buddy_volunteers ORDER BY user_id").fetchall()
        return [(int(r[0]), r[1], int(r[2])) for r in rows]

    def later(conn: sqlite3.Connection) -> tuple[list[tuple[int, int | None, int]], bool]:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        buddies.set_volunteer(conn, 1, 11, True, None, now)  # a new offer: its join time copied
        buddies.upsert_member(conn, 1, 10, datetime.fromtimestamp(150, UTC), now)  # came back: moved
        index = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'buddy_queue_order'").fetchone()
        eligible = {uid for uid, _, _ in buddies.matching_volunteers(conn, 1, now)}
        return [r for r in read(conn) if r[0] in eligible], index is not None

    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database, target=10)
        await database.transaction(fill)
        result = await migrate(database)
        assert result.before == 10
        upgraded = await database.read(read)
        volunteers, order_index = await database.transaction(later)
    # 12 had left: offer withdrawn; 13 has no known join time (never eligible, as before).
    assert upgraded == [(10, 100, 1), (12, 300, 0), (13, None, 1)]
    assert volunteers == [(10, 150, 1), (11, 200, 1)]  # the eligible offers, with the copied join times
    assert not order_index


async def test_0012_keeps_the_queue_and_its_link_to_members_without_a_foreign_key(tmp_path: Path) -> None:
    """Upgrading to 0012 keeps every waiting member; the queue's link to its member is then held by
    triggers (a queue row needs its member, leaving takes it away, a waiting member's key stays), even
    with foreign keys off, and deleting from the queue checks no member row."""

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0), (2, 0)")
        conn.execute("INSERT INTO buddy_groups (guild_id, role_id, added_at) VALUES (1, 50, 0)")
        conn.executemany(
            "INSERT INTO buddy_members (guild_id, user_id, group_count, group_role_id, updated_at) "
            "VALUES (?, ?, ?, ?, 0)",
            [(1, 10, 1, 50), (1, 11, 0, None), (1, 12, 0, None), (2, 20, 0, None)],
        )
        conn.executemany(
            "INSERT INTO buddy_queue (guild_id, user_id, queued_at, first_in_line, origin, group_role_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(1, 10, 5, 1, "auto", 50), (1, 11, 4, 0, "request", None), (2, 20, 3, 0, "requeue", None)],
        )

    def queue(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
        return [tuple(r) for r in conn.execute("SELECT * FROM buddy_queue ORDER BY guild_id, user_id").fetchall()]

    def refused(conn: sqlite3.Connection, sql: str) -> str:
        with pytest.raises(sqlite3.IntegrityError) as caught:
            conn.execute(sql)
        return str(caught.value)

    path = tmp_path / "db.sqlite3"
    async with await Database.open(path) as database:
        await migrate(database, target=11)
        await database.transaction(fill)
        before = await database.read(queue)
        result = await migrate(database)
        assert result.before == 11
        after = await database.read(queue)
    assert after == before
    assert after == [(1, 10, 5, 1, "auto", 50), (1, 11, 4, 0, "request", None), (2, 20, 3, 0, "requeue", None)]

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # the triggers hold either way
        assert conn.execute("PRAGMA foreign_key_list(buddy_queue)").fetchall() == []
        assert "buddy_members row" in refused(
            conn, "INSERT INTO buddy_queue (guild_id, user_id, queued_at, origin) VALUES (1, 99, 0, 'auto')"
        )
        assert "buddy_members row" in refused(conn, "UPDATE buddy_queue SET user_id = 98 WHERE user_id = 11")
        assert "key cannot change" in refused(conn, "UPDATE buddy_members SET user_id = 97 WHERE user_id = 11")
        conn.execute("UPDATE buddy_members SET user_id = 96 WHERE user_id = 12")  # not waiting: may change
        conn.execute("UPDATE buddy_members SET updated_at = 1 WHERE user_id = 10")  # other columns: no check
        conn.execute("INSERT INTO buddy_queue (guild_id, user_id, queued_at, origin) VALUES (1, 96, 0, 'auto')")
        conn.execute("DELETE FROM buddy_members WHERE guild_id = 1 AND user_id = 10")  # leaving takes the entry
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM guilds WHERE guild_id = 2")  # the server's members cascade, then their entries
        assert [tuple(r) for r in conn.execute("SELECT guild_id, user_id FROM buddy_queue ORDER BY 1, 2")] == [
            (1, 11),
            (1, 96),
        ]
    finally:
        conn.close()


async def test_0013_rebuilds_pairs_and_nudge_members_with_the_same_rows_and_rules(tmp_path: Path) -> None:
    """Upgrading to 0013 keeps every pair, nudge member and nudge step, and the rewritten checks accept
    and refuse exactly the values the IN lists did."""

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0)")
        conn.executemany(
            "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, started_at, "
            "ended_at) VALUES (1, ?, ?, 50, ?, 0, ?, ?)",
            [(10, 11, "proposed", None, None), (12, 13, "active", 1, None), (14, 15, "ended", 1, 2)],
        )
        conn.executemany(
            "INSERT INTO nudge_members (guild_id, user_id, last_active_at, opt, participant, updated_at) "
            "VALUES (1, ?, 5, ?, ?, 0)",
            [(10, "auto", None), (11, "on", 1), (12, "off", 0)],
        )
        conn.executemany(
            "INSERT INTO nudge_steps (guild_id, user_id, spell, step, outcome, run_id, claimed_at) "
            "VALUES (1, 10, 1, ?, ?, 'r', 0)",
            [(1, "sent"), (2, "pending"), (3, "dropped")],
        )

    def rows(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        pairs = conn.execute("SELECT * FROM buddy_pairs ORDER BY pair_id").fetchall()
        members = conn.execute("SELECT * FROM nudge_members ORDER BY user_id").fetchall()
        steps = conn.execute("SELECT * FROM nudge_steps ORDER BY step").fetchall()
        return [tuple(r) for r in pairs], [tuple(r) for r in members] + [tuple(r) for r in steps]

    path = tmp_path / "db.sqlite3"
    async with await Database.open(path) as database:
        await migrate(database, target=12)
        await database.transaction(fill)
        before = await database.read(rows)
        assert (await migrate(database)).before == 12
        after = await database.read(rows)
    assert after == before
    assert [r[5] for r in after[0]] == ["proposed", "active", "ended"]

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for status in ("proposed", "active", "ended", "rejected", "withdrawn", "Active", "paused", ""):
            started = 1 if status in ("active", "ended") else None
            ended = 2 if status == "ended" else None
            insert = (
                "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, "
                "started_at, ended_at) VALUES (1, 20, 21, 50, ?, 0, ?, ?)"
            )
            if status in ("proposed", "active", "ended", "rejected", "withdrawn"):
                conn.execute("BEGIN")
                conn.execute(insert, (status, started, ended))
                conn.execute("ROLLBACK")
            else:
                with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                    conn.execute(insert, (status, started, ended))
        for opt in ("auto", "on", "off", "OFF", "maybe", ""):
            insert = (
                "INSERT INTO nudge_members (guild_id, user_id, last_active_at, opt, updated_at) VALUES (1, 30, 0, ?, 0)"
            )
            if opt in ("auto", "on", "off"):
                conn.execute("BEGIN")
                conn.execute(insert, (opt,))
                conn.execute("ROLLBACK")
            else:
                with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                    conn.execute(insert, (opt,))
        outcomes = ("pending", "sent", "dm_closed", "no_buddy", "no_channel", "gone", "failed", "unknown", "dropped")
        claim = (
            "INSERT INTO nudge_steps (guild_id, user_id, spell, step, outcome, run_id, claimed_at) "
            "VALUES (1, 30, 1, ?, ?, 'r', 0)"
        )
        for step, outcome in [(1, o) for o in outcomes] + [(2, "sent"), (3, "sent")]:
            conn.execute("BEGIN")
            conn.execute(claim, (step, outcome))
            conn.execute("ROLLBACK")
        for step, outcome in [(0, "sent"), (4, "sent"), (1, "Sent"), (1, "done")]:
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                conn.execute(claim, (step, outcome))
        conn.execute("INSERT INTO buddy_members (guild_id, user_id, updated_at) VALUES (1, 40, 0)")
        enqueue = "INSERT INTO buddy_queue (guild_id, user_id, queued_at, origin) VALUES (1, 40, 0, ?)"
        for origin in ("request", "auto", "requeue"):
            conn.execute("BEGIN")
            conn.execute(enqueue, (origin,))
            conn.execute("ROLLBACK")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(enqueue, ("other",))
    finally:
        conn.close()


async def test_0014_leads_two_pair_indexes_with_the_members_and_keeps_their_rules(tmp_path: Path) -> None:
    """After 0014 a buddy's pairs and the live pair of two members are found by the members' ids
    first, one live pair per two members still holds either way round, and the server's pairs are
    still read as one range (of buddy_pairs_by_member), never a scan of the table."""

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0), (2, 0)")
        conn.executemany(
            "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, started_at, "
            "ended_at) VALUES (?, ?, ?, 50, ?, 0, ?, ?)",
            [(1, 10, 11, "active", 1, None), (1, 12, 11, "ended", 1, 2), (2, 10, 11, "active", 1, None)],
        )

    def read(conn: sqlite3.Connection) -> dict[str, object]:
        def plan(sql: str, *params: object) -> str:
            return " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))

        return {
            "by_buddy": [r[2] for r in conn.execute("PRAGMA index_info(buddy_pairs_by_buddy)")],
            "one_live": [r[2] for r in conn.execute("PRAGMA index_info(buddy_pairs_one_live)")],
            "by_member": [r[2] for r in conn.execute("PRAGMA index_info(buddy_pairs_by_member)")],
            "load": plan(
                "SELECT count(*) FROM buddy_pairs WHERE guild_id = ? AND buddy_id = ? "
                "AND status IN ('proposed', 'active')",
                1,
                11,
            ),
            "between": plan(
                "SELECT pair_id FROM buddy_pairs WHERE guild_id = ? AND min(member_id, buddy_id) = ? "
                "AND max(member_id, buddy_id) = ? AND status IN ('proposed', 'active')",
                1,
                10,
                11,
            ),
            "server": plan("SELECT count(*) FROM buddy_pairs WHERE guild_id = ?", 1),
            "server_live": plan("SELECT count(*) FROM buddy_pairs WHERE guild_id = ? AND status = 'active'", 1),
            "rows": [tuple(r) for r in conn.execute("SELECT * FROM buddy_pairs ORDER BY pair_id")],
        }

    path = tmp_path / "db.sqlite3"
    async with await Database.open(path) as database:
        await migrate(database, target=13)
        await database.transaction(fill)
        before = await database.read(read)
        assert (await migrate(database)).before == 13
        after = await database.read(read)
    assert after["rows"] == before["rows"]
    assert before["by_buddy"] == ["guild_id", "buddy_id", "status"]
    assert after["by_buddy"] == ["buddy_id", "guild_id", "status"]
    assert after["one_live"] == [None, None, "guild_id"]  # min(...), max(...): expressions
    assert after["by_member"] == ["guild_id", "member_id", "status"]
    assert "buddy_pairs_by_buddy (buddy_id=? AND guild_id=? AND status=?)" in str(after["load"])
    assert "buddy_pairs_one_live (<expr>=? AND <expr>=? AND guild_id=?)" in str(after["between"])
    for key in ("server", "server_live"):
        assert "buddy_pairs_by_member (guild_id=?)" in str(after[key]) and "SCAN" not in str(after[key])

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        insert = (
            "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, started_at) "
            "VALUES (?, ?, ?, 50, ?, 0, 1)"
        )
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(insert, (1, 11, 10, "active"))  # the live pair of 10 and 11, the other way round
        conn.execute("BEGIN")
        conn.execute(insert, (1, 12, 11, "active"))  # 12 and 11 ended before: a new live pair may follow
        conn.execute(insert, (2, 12, 11, "active"))  # another server's pair of the same members
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def test_0015_reads_a_groups_volunteers_in_rank_order_from_the_index_alone(tmp_path: Path) -> None:
    """After 0015 the matcher's read of the volunteers is one range of buddy_volunteers_by_group, which
    covers it (no row of the table read) and gives its order (no sort); the offers are unchanged."""

    def plan(conn: sqlite3.Connection) -> tuple[str, list[tuple[object, ...]]]:
        sql = (
            "SELECT user_id, group_role_id, max_buddies FROM buddy_volunteers WHERE guild_id = ? AND available = 1 "
            "AND joined_at <= ? AND group_role_id IS NOT NULL ORDER BY group_role_id, joined_at, user_id"
        )
        rows = conn.execute("SELECT * FROM buddy_volunteers ORDER BY user_id").fetchall()
        return " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (1, 0))), [
            tuple(r) for r in rows
        ]

    def fill(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (1, 0)")
        conn.execute(
            "INSERT INTO buddy_members (guild_id, user_id, joined_at, group_count, group_role_id, updated_at) "
            "VALUES (1, 10, 5, 1, 50, 0)"
        )
        conn.execute(
            "INSERT INTO buddy_volunteers (guild_id, user_id, available, since, updated_at, group_role_id) "
            "VALUES (1, 10, 1, 0, 0, 50)"
        )

    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database, target=14)
        await database.transaction(fill)
        before_plan, before = await database.read(plan)
        assert (await migrate(database)).before == 14
        after_plan, after = await database.read(plan)
    assert after == before and before[0][-1] == 5  # the join time copied by 0011's trigger
    assert "TEMP B-TREE" in before_plan or "COVERING" not in before_plan
    assert "COVERING INDEX buddy_volunteers_by_group" in after_plan and "TEMP B-TREE" not in after_plan


async def test_no_check_of_the_latest_schema_uses_a_long_in_list(tmp_path: Path) -> None:
    """Every CHECK in the latest schema tests a column against at most two constants with IN (SQLite
    builds a temporary index for a longer list again for every row written: migration 0013)."""
    async with await Database.open(tmp_path / "db.sqlite3") as database:
        await migrate(database)
        schema = await database.read(_schema)
    long_lists = [
        (name, check)
        for name, sql in schema
        if sql
        for check in re.findall(r"CHECK \(((?:[^()]|\([^()]*\))*)\)", sql)
        if any(item.count(",") >= 2 for item in re.findall(r"\bIN\s*\(([^()]*)\)", check))
    ]
    assert long_lists == []

"""Tests of the nudges repository: activity, the due query and its index, steps claimed at most once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.db.repositories import nudges as repo
from bot.db.repositories.guilds import ensure_guild
from bot.timeutil import to_timestamp

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = to_timestamp(NOW)
G1, G2 = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
U1, U2, U3 = 900_000_000_000_000_001, 900_000_000_000_000_002, 900_000_000_000_000_003
DAY = 86_400
QUIET = 3 * DAY


def _guilds(conn: sqlite3.Connection) -> None:
    ensure_guild(conn, G1, NOW)
    ensure_guild(conn, G2, NOW)


def _check_in(conn: sqlite3.Connection, guild: int, user: int, day: int, recorded: datetime) -> None:
    """A check-in stored as the check-in service stores it: the row and the member's streaks."""
    from bot.db.repositories import checkins
    from bot.services.checkins import track_day

    checkins.upsert_checkin(conn, checkins.CheckinRow(guild, user, day, 3, 1, True, None, recorded))
    track_day(conn, guild, user, day)


def _member(conn: sqlite3.Connection, guild: int, user: int) -> repo.MemberRow:
    row = repo.get_member(conn, guild, user)
    assert row is not None
    return row


async def test_activity_creates_then_moves_the_spell_forward_only(db: Database) -> None:
    """The first activity creates the row with its first check; a later one starts a new spell (step
    and hurry reset); an older one changes nothing."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(U1, T)], QUIET, NOW)
        first = _member(conn, G1, U1)
        assert (first.spell, first.step, first.hurry, first.opt, first.present) == (T, 0, False, "auto", True)
        assert first.next_check_at == NOW + timedelta(days=3)
        repo.update_ladder(conn, G1, U1, T, step=2, hurry=True, next_check_at=NOW)
        repo.apply_activity(conn, G1, [(U1, T - 100)], QUIET, NOW)
        assert _member(conn, G1, U1).step == 2
        repo.apply_activity(conn, G1, [(U1, T + 100)], QUIET, NOW)
        later = _member(conn, G1, U1)
        assert (later.spell, later.step, later.hurry) == (T + 100, 0, False)
        assert repo.get_member(conn, G2, U1) is None

    await db.transaction(work)


async def test_activity_of_an_opted_out_member_or_a_disabled_server_schedules_nothing(db: Database) -> None:
    """``/nudges off`` and a server with nudges off leave no next check."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.set_opt(conn, G1, U1, "off", NOW, None)
        repo.apply_activity(conn, G1, [(U1, T + 10)], QUIET, NOW)
        assert _member(conn, G1, U1).next_check_at is None
        repo.apply_activity(conn, G2, [(U2, T)], None, NOW)
        assert _member(conn, G2, U2).next_check_at is None

    await db.transaction(work)


async def test_leaving_stops_checks_and_coming_back_is_activity(db: Database) -> None:
    """A member who left has no check; their join is activity and arms them again."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(U1, T)], QUIET, NOW)
        repo.mark_absent(conn, G1, [U1], NOW)
        gone = _member(conn, G1, U1)
        assert (gone.present, gone.next_check_at) == (False, None)
        repo.apply_activity(conn, G1, [(U1, T + DAY)], QUIET, NOW)
        back = _member(conn, G1, U1)
        assert back.present and back.next_check_at is not None

    await db.transaction(work)


def _rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute("SELECT * FROM nudge_members ORDER BY guild_id, user_id").fetchall()]


@pytest.mark.parametrize("scan_from", [repo.SCAN_UNSCHEDULED_FROM, 1], ids=["per-entry", "one-pass"])
async def test_activity_leaves_a_scheduled_check_alone_and_gives_one_to_members_without(
    db: Database, scan_from: int
) -> None:
    """Activity starts a new spell but keeps the next check ("no earlier than"); a member with none
    (new, back after leaving, at the end of a ladder) gets one a quiet period after the activity;
    an opted-out member none; an older activity changes nothing. Both ways write the same rows."""
    members = [U1, U2, U3, 1001, 1002, 1003]

    def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(u, T - 5 * DAY) for u in members[:5]], QUIET, NOW)
        repo.schedule(conn, G1, U1, NOW - timedelta(hours=1))  # scheduled (due now)
        repo.mark_absent(conn, G1, [U2], NOW)  # left: no check
        repo.update_ladder(conn, G1, U3, T - 5 * DAY, step=3, hurry=False, next_check_at=None)  # ladder done
        repo.set_opt(conn, G1, 1001, "off", NOW, None)
        repo.schedule(conn, G1, 1002, NOW + timedelta(days=9))
        activity = [(U1, T), (U2, T), (U3, T), (1001, T), (1002, T - 6 * DAY), (1003, T)]
        repo.apply_activity(conn, G1, activity, QUIET, NOW, scan_from=scan_from)
        checks = {u: _member(conn, G1, u) for u in members}
        assert checks[U1].next_check_at == NOW - timedelta(hours=1)
        assert (checks[U1].spell, checks[U1].step) == (T, 0)
        assert checks[U2].present and checks[U2].next_check == T + QUIET
        assert (checks[U3].step, checks[U3].next_check) == (0, T + QUIET)
        assert checks[1001].next_check_at is None and checks[1001].spell == T
        assert (checks[1002].spell, checks[1002].next_check_at) == (T - 5 * DAY, NOW + timedelta(days=9))
        assert checks[1003].next_check == T + QUIET
        return _rows(conn)

    rows = await db.transaction(work)
    assert len(rows) == len(members)


async def test_both_ways_of_applying_activity_write_the_same_rows(tmp_path: Path) -> None:
    """The per-entry statement and the one pass over the server give the same rows for a mixed batch."""
    results = []
    for scan_from in (10**9, 1):
        db = await Database.open(tmp_path / f"{scan_from}.sqlite3")
        try:
            await migrate(db)

            def work(conn: sqlite3.Connection, scan_from: int = scan_from) -> list[tuple[Any, ...]]:
                _guilds(conn)
                repo.apply_activity(conn, G1, [(2000 + n, T - n * 3600) for n in range(200)], QUIET, NOW)
                repo.mark_absent(conn, G1, range(2000, 2200, 7), NOW)
                for n in range(2001, 2200, 11):
                    repo.update_ladder(conn, G1, n, T - (n - 2000) * 3600, step=3, hurry=False, next_check_at=None)
                for n in range(2002, 2200, 13):
                    repo.set_opt(conn, G1, n, "off", NOW, None)
                batch = [(2000 + n, T + n) for n in range(0, 260, 2)] + [(2001, T - 400 * 3600)]
                repo.apply_activity(conn, G1, batch, QUIET, NOW, scan_from=scan_from)
                return _rows(conn)

            results.append(await db.transaction(work))
        finally:
            await db.close()
    assert results[0] == results[1]


async def test_due_members_earliest_first_and_limited(db: Database) -> None:
    """Only members due at ``now`` come back, earliest first, at most ``limit``."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(U1, T - 5 * DAY), (U2, T - 4 * DAY), (U3, T)], QUIET, NOW)
        repo.apply_activity(conn, G2, [(U1, T - 10 * DAY)], QUIET, NOW)
        due = repo.due_members(conn, NOW, 10)
        assert [(r.guild_id, r.user_id) for r in due] == [(G2, U1), (G1, U1), (G1, U2)]
        assert [(r.guild_id, r.user_id) for r in repo.due_members(conn, NOW, 1)] == [(G2, U1)]
        assert repo.earliest_check(conn) == NOW - timedelta(days=7)
        repo.schedule(conn, G2, U1, None, participant=False)
        assert _member(conn, G2, U1).participant is False
        assert repo.earliest_check(conn) == NOW - timedelta(days=2)

    await db.transaction(work)


def _plans(conn: sqlite3.Connection, call: Callable[[sqlite3.Connection], Any]) -> list[str]:
    """The query plans of every SELECT a repository function runs (captured as it runs)."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call(conn)
    finally:
        conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans.append(" | ".join(str(row[3]) for row in rows))
    return plans


async def test_the_sweep_reads_only_due_members_through_the_index(db: Database) -> None:
    """The due query, the earliest check, the quiet list and stale claims use their indexes: no scan of
    every member (checked with EXPLAIN QUERY PLAN on a server of 3000 members, 3 of them due)."""

    def work(conn: sqlite3.Connection) -> tuple[list[str], ...]:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(1000 + n, T - n) for n in range(3000)], QUIET, NOW)
        repo.apply_activity(conn, G1, [(U1, T - 9 * DAY), (U2, T - 8 * DAY), (U3, T - 7 * DAY)], QUIET, NOW)
        conn.execute("ANALYZE")
        due = _plans(conn, lambda c: repo.due_members(c, NOW, 100))
        earliest = _plans(conn, repo.earliest_check)
        quiet = _plans(conn, lambda c: repo.quiet_members(c, G1, NOW - timedelta(days=3), 10))
        count = _plans(conn, lambda c: repo.count_quiet_members(c, G1, NOW - timedelta(days=3)))
        stale = _plans(conn, lambda c: repo.stale_pending_steps(c, "run", 10))
        assert len(repo.due_members(conn, NOW, 100)) == 3
        return due, earliest, quiet, count, stale

    due, earliest, quiet, count, stale = await db.transaction(work)
    assert len(due) == 1 and "USING INDEX nudge_members_due" in due[0], due
    assert "SCAN nudge_members" not in due[0].replace("USING INDEX", "")
    assert "nudge_members_due" in earliest[0], earliest
    assert "nudge_members_quiet" in quiet[0], quiet
    assert "nudge_members_quiet" in count[0], count
    assert "nudge_steps_pending" in stale[0], stale


async def test_a_step_is_claimed_once_per_spell(db: Database) -> None:
    """A second claim of the same step of the same spell fails; the next spell may claim it again."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        assert repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="a", now=NOW)
        assert not repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="b", now=NOW)
        assert repo.claim_step(conn, G1, U1, T + 1, 1, target_id=U1, run_id="b", now=NOW)
        assert repo.claim_step(conn, G1, U1, T, 2, target_id=None, run_id="a", now=NOW, outcome="no_buddy")
        steps = repo.spell_steps(conn, G1, U1, T)
        assert [(s.step, s.outcome, s.done_at is None) for s in steps] == [(1, "pending", True), (2, "no_buddy", False)]
        assert repo.finish_step(conn, G1, U1, T, 1, "sent", NOW)
        assert not repo.finish_step(conn, G1, U1, T, 1, "failed", NOW)
        assert repo.spell_steps(conn, G1, U1, T)[0].outcome == "sent"

    await db.transaction(work)


async def test_stale_claims_are_those_of_other_runs_and_are_taken_over_once(db: Database) -> None:
    """A pending claim of an earlier run is stale for this one; taking it over succeeds once."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="old", now=NOW)
        repo.claim_step(conn, G1, U2, T, 1, target_id=U2, run_id="new", now=NOW)
        repo.claim_step(conn, G1, U3, T, 1, target_id=U3, run_id="old", now=NOW, outcome="sent")
        stale = repo.stale_pending_steps(conn, "new", 10)
        assert [(s.user_id, s.run_id) for s in stale] == [(U1, "old")]
        assert repo.take_over_step(conn, G1, U1, T, 1, "old", "new")
        assert not repo.take_over_step(conn, G1, U1, T, 1, "old", "new")
        assert repo.stale_pending_steps(conn, "new", 10) == []

    await db.transaction(work)


async def test_choices_pause_rearm_and_settings_changes(db: Database) -> None:
    """Opting, pausing, re-arming a server turned back on, pulling checks forward after a change."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.set_pause(conn, G1, U1, NOW + timedelta(days=7), NOW)
        paused = _member(conn, G1, U1)
        assert paused.paused_until == paused.next_check_at == NOW + timedelta(days=7)
        repo.set_opt(conn, G1, U1, "on", NOW, NOW + timedelta(days=3))
        on = _member(conn, G1, U1)
        assert (on.opt, on.paused_until, on.next_check_at) == ("on", None, NOW + timedelta(days=3))
        repo.apply_activity(conn, G1, [(U2, T)], None, NOW)  # nudges were off in the server
        assert repo.rearm_guild(conn, G1, QUIET) == 1
        assert _member(conn, G1, U2).next_check_at == NOW + timedelta(days=3)
        repo.update_ladder(conn, G1, U2, T, step=1, hurry=False, next_check_at=NOW + timedelta(days=5))
        repo.pull_checks_forward(conn, G1, 2 * DAY, 4 * DAY, 6 * DAY)
        assert _member(conn, G1, U2).next_check_at == NOW + timedelta(days=4)
        repo.pull_checks_forward(conn, G1, 5 * DAY, 9 * DAY, 12 * DAY)  # later days: left as is
        assert _member(conn, G1, U2).next_check_at == NOW + timedelta(days=4)

    await db.transaction(work)


async def test_quiet_members_lists_present_participants_not_opted_out(db: Database) -> None:
    """The moderators' list: participants, present, not opted out, quietest first, paged."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(U1, T - 9 * DAY), (U2, T - 6 * DAY), (U3, T - 5 * DAY)], QUIET, NOW)
        repo.apply_activity(conn, G1, [(1, T - 8 * DAY), (2, T)], QUIET, NOW)
        for user in (U1, U2, U3, 2):
            repo.schedule(conn, G1, user, None, participant=True)
        repo.schedule(conn, G1, 1, None, participant=False)
        repo.set_opt(conn, G1, U3, "off", NOW, None)
        since = NOW - timedelta(days=3)
        assert [r.user_id for r in repo.quiet_members(conn, G1, since, 10)] == [U1, U2]
        assert [r.user_id for r in repo.quiet_members(conn, G1, since, 1, 1)] == [U2]
        assert repo.count_quiet_members(conn, G1, since) == 2
        repo.mark_absent(conn, G1, [U1], NOW)
        assert repo.count_quiet_members(conn, G1, since) == 1

    await db.transaction(work)


async def test_watching_since_is_set_once_and_data_goes_with_the_server(db: Database) -> None:
    """The server's watch start never moves; erasing the server erases its nudge data."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        assert repo.ensure_watching(conn, G1, NOW) == NOW
        assert repo.ensure_watching(conn, G1, NOW + timedelta(days=1)) == NOW
        repo.apply_activity(conn, G1, [(U1, T)], QUIET, NOW)
        repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="a", now=NOW)
        conn.execute("DELETE FROM guilds WHERE guild_id = ?", (G1,))
        assert repo.get_member(conn, G1, U1) is None
        assert repo.spell_steps(conn, G1, U1, T) == []
        assert conn.execute("SELECT count(*) FROM nudge_guilds").fetchone()[0] == 0

    await db.transaction(work)


async def test_old_finished_steps_are_pruned_but_pending_ones_kept(db: Database) -> None:
    """Pruning forgets finished steps older than the cut, never a pending claim."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        old = NOW - timedelta(days=200)
        repo.claim_step(conn, G1, U1, T, 1, target_id=U1, run_id="a", now=old, outcome="sent")
        repo.claim_step(conn, G1, U2, T, 1, target_id=U2, run_id="a", now=old)
        repo.claim_step(conn, G1, U3, T, 1, target_id=U3, run_id="a", now=NOW, outcome="sent")
        assert repo.prune_steps(conn, NOW - timedelta(days=180)) == 1
        assert repo.spell_steps(conn, G1, U1, T) == []

    await db.transaction(work)


async def test_participation_of_a_batch_in_one_statement(db: Database) -> None:
    """A buddy on either side of an active pair, a check-in since the cut-off (its time), a sobriety
    date; nothing for a member with none; every part through a key or an index."""
    from bot.db.repositories import buddies, checkins

    def work(conn: sqlite3.Connection) -> tuple[dict[tuple[int, int], repo.Participation], str]:
        _guilds(conn)
        buddies.insert_pair(conn, G1, U1, U2, 77, status="active", now=NOW)
        day = T // DAY
        _check_in(conn, G1, U3, day - 40, NOW - timedelta(days=40))
        _check_in(conn, G2, U3, day - 2, NOW - timedelta(days=2))
        checkins.set_sobriety(conn, G2, U1, since_day=day - 10, announce=False, next_milestone=30, now=NOW)
        found = repo.participation(
            conn, [(G1, U1), (G1, U2), (G1, U3), (G2, U3), (G2, U1), (G2, U2)], NOW - timedelta(days=30)
        )
        plan = _plans(conn, lambda c: repo.participation(c, [(G1, U1)], NOW - timedelta(days=30)))
        return found, plan[0]

    found, plan = await db.transaction(work)
    none = repo.Participation(buddy=False, latest_checkin=None, sobriety=False)
    assert found[(G1, U1)] == found[(G1, U2)] == repo.Participation(buddy=True, latest_checkin=None, sobriety=False)
    assert found[(G1, U3)] == none  # a check-in 40 days ago does not count
    assert found[(G2, U3)] == repo.Participation(buddy=False, latest_checkin=NOW - timedelta(days=2), sobriety=False)
    assert found[(G2, U1)] == repo.Participation(buddy=False, latest_checkin=None, sobriety=True)
    assert found[(G2, U2)] == none
    assert "SCAN" not in plan.replace("SCAN json_each", ""), plan


async def test_participation_is_one_statement_per_server(db: Database) -> None:
    """Many members of one server: one statement; members of two servers: one each, and every
    member gets an answer, the same as asked one at a time."""
    from bot.db.repositories import buddies

    def work(conn: sqlite3.Connection) -> tuple[list[str], list[str], dict[tuple[int, int], repo.Participation]]:
        _guilds(conn)
        buddies.insert_pair(conn, G2, U2, U3, 77, status="active", now=NOW)
        since = NOW - timedelta(days=30)
        keys = [(G1, U1), (G1, U2), (G1, U3)]
        mixed = [*keys, (G2, U2), (G2, U3)]
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            repo.participation(conn, keys, since)
            one = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            statements.clear()
            found = repo.participation(conn, mixed, since)
            two = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        finally:
            conn.set_trace_callback(None)
        singles = {key: repo.participation(conn, [key], since)[key] for key in mixed}
        assert found == singles
        return one, two, found

    one, two, found = await db.transaction(work)
    assert len(one) == 1
    assert len(two) == 2
    assert found[(G2, U2)].buddy and found[(G2, U3)].buddy
    assert not found[(G1, U2)].buddy


async def test_schedule_many_sets_checks_and_the_flag_only_when_given(db: Database) -> None:
    """Next checks for many members at once; the participant flag changes only where given."""

    def work(conn: sqlite3.Connection) -> None:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(U1, T), (U2, T)], QUIET, NOW)
        repo.schedule(conn, G1, U2, None, participant=True)
        repo.schedule_many(conn, [(T + 5, None, G1, U1), (None, False, G1, U2)])
        first, second = _member(conn, G1, U1), _member(conn, G1, U2)
        assert (first.next_check, first.participant) == (T + 5, None)
        assert (second.next_check, second.participant) == (None, False)

    await db.transaction(work)


async def test_schedule_many_writes_a_shared_check_in_one_statement(db: Database) -> None:
    """Members given the same check and flag in one server are written together; the rest one by one."""
    same = [1000 + n for n in range(6)]

    def work(conn: sqlite3.Connection) -> list[str]:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(u, T) for u in [*same, U1, U2, U3]], QUIET, NOW)
        repo.apply_activity(conn, G2, [(u, T) for u in same[:2]], QUIET, NOW)
        repo.schedule(conn, G1, U3, NOW + timedelta(seconds=1), participant=True)
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            repo.schedule_many(
                conn,
                [(T + DAY, None, G1, u) for u in same[:4]]
                + [(T + DAY, False, G1, u) for u in same[4:]]
                + [(T + DAY, None, G2, same[0]), (T + 7, None, G1, U1), (None, True, G1, U2)],
            )
        finally:
            conn.set_trace_callback(None)
        checks = {u: (_member(conn, G1, u).next_check, _member(conn, G1, u).participant) for u in [*same, U1, U2, U3]}
        assert checks == {
            **{u: (T + DAY, None) for u in same[:4]},
            **{u: (T + DAY, False) for u in same[4:]},
            U1: (T + 7, None),
            U2: (None, True),
            U3: (T + 1, True),  # not in the batch: left alone
        }
        assert _member(conn, G2, same[0]).next_check == T + DAY
        assert _member(conn, G2, same[1]).next_check == T + QUIET  # not in the batch in this server: left alone
        return [s for s in statements if s.startswith("UPDATE")]

    updates = await db.transaction(work)
    # One statement for the four, one for the two with the flag, and one per member left.
    assert len(updates) == 5
    assert sum("json_each" in s for s in updates) == 2


async def test_due_members_with_their_participation_in_one_statement(db: Database) -> None:
    """The sweep's read: the due members (as :func:`due_members`), each with what
    :func:`participation` says of them, through the due index and keys only."""
    from bot.db.repositories import buddies, checkins

    def work(conn: sqlite3.Connection) -> tuple[list[tuple[repo.MemberRow, repo.Participation]], list[str]]:
        _guilds(conn)
        repo.apply_activity(conn, G1, [(1000 + n, T) for n in range(50)], QUIET, NOW)
        repo.apply_activity(conn, G1, [(U1, T - 9 * DAY), (U2, T - 8 * DAY), (U3, T - 7 * DAY)], QUIET, NOW)
        repo.apply_activity(conn, G2, [(U1, T - 6 * DAY), (U2, T - 5 * DAY)], QUIET, NOW)
        buddies.insert_pair(conn, G1, U3, U1, 77, status="active", now=NOW)
        day = T // DAY
        _check_in(conn, G2, U1, day - 2, NOW - timedelta(days=2))
        checkins.set_sobriety(conn, G2, U2, since_day=day - 10, announce=False, next_milestone=30, now=NOW)
        conn.execute("ANALYZE")
        since = NOW - timedelta(days=30)
        found = repo.due_with_participation(conn, NOW, 4, since)
        assert [row for row, _ in found] == repo.due_members(conn, NOW, 4)
        expected = repo.participation(conn, [(r.guild_id, r.user_id) for r, _ in found], since)
        assert {(r.guild_id, r.user_id): f for r, f in found} == expected
        return found, _plans(conn, lambda c: repo.due_with_participation(c, NOW, 4, since))

    found, plans = await db.transaction(work)
    assert [(r.guild_id, r.user_id) for r, _ in found] == [(G1, U1), (G1, U2), (G1, U3), (G2, U1)]
    facts = [f for _, f in found]
    assert [f.buddy for f in facts] == [True, False, True, False]
    assert facts[3].latest_checkin == NOW - timedelta(days=2)
    assert not any(f.sobriety for f in facts)
    assert len(plans) == 1 and "USING INDEX nudge_members_due" in plans[0], plans
    assert "SCAN" not in plans[0].replace("USING INDEX", ""), plans

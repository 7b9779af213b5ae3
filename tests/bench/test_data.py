"""The benchmark's data generators: who is who, and the rows they write (quick sizes)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench.data import GUILD_ID, KINDS, NOW, Spec, check_dataset, dataset, plan
from bot.db.connection import Database
from bot.db.repositories.checkins import checkin_days, get_streak
from bot.services.checkins import compute_streak_row


def test_the_plan_has_the_documented_shares() -> None:
    p = plan(Spec(10_000))
    assert len(p.user_ids) == 10_000
    assert len(p.participants) == 2_000  # 20 %
    assert len(p.quiet) == 20  # 1 % of the participants
    assert set(p.quiet) <= set(p.participants)
    assert len(p.quiet_due) == 20 and len(p.due) == 1_000  # 20 quiet participants + 980 re-checks
    assert not set(p.due_other) & set(p.participants)
    assert not set(p.due_other) & set(p.group_of)  # no buddy: a non-participant for the sweep
    assert len(p.waiting) == 1_000 and len(p.volunteers) == 300  # 10 % and 3 %
    assert len(set(p.group_of.values())) == 50
    assert all(p.group_of[m] == p.group_of[b] == g for m, b, g in p.active_pairs + p.past_pairs)


def test_the_plan_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    assert plan(Spec(2_000)).participants == plan(Spec(2_000)).participants
    assert plan(Spec(2_000)).participants != plan(Spec(2_000, seed=10)).participants


def test_a_quick_server_matches_one_pair_per_free_place() -> None:
    p = plan(Spec.quick(1_000))
    # 5 groups of 20 waiting and 6 volunteers; a group's volunteers offer 12 places (group 0: maxima
    # 1, 3, 2, 1, 3, 2; the others: the default 2 each), 2 of them taken by active pairs.
    assert p.spare_capacity() == dict.fromkeys(p.group_roles, 10)
    assert p.expected_matches() == 50
    assert p.nudged_now() == 2  # the 2 quiet participants due, well under 10 DMs a minute


async def test_a_built_data_set_holds_what_its_plan_says(tmp_path: Path) -> None:
    spec = Spec.quick(1_000)
    path, p = await dataset(tmp_path, spec)
    db = await Database.open(path)
    try:
        counts = await db.read(lambda conn: check_dataset(conn, p))
        assert counts["nudge_members"] == 1_000
        assert counts["due"] == 25
        assert counts["checkin_members"] == 200
        # About 6 days a week for two months, for each of 200 participants.
        assert 200 * 60 * 0.8 < counts["checkins"] < 200 * 61
        assert counts["buddy_queue"] == 100 and counts["buddy_volunteers"] == 30
        assert counts["buddy_pairs"] == 10 + 20  # active + past
        late = await db.read(
            lambda conn: conn.execute(
                "SELECT count(*) FROM checkins WHERE day * 86400 + recorded_offset > ?", (int(NOW.timestamp()),)
            ).fetchone()[0]
        )
        assert late == 0  # nothing after "now"
    finally:
        await db.close()


async def test_the_stored_streaks_are_those_of_the_checkins_and_checked(tmp_path: Path) -> None:
    """Each participant's ``checkin_streaks`` row is what the bot computes from their days in the
    database; a wrong row fails :func:`check_dataset`."""
    path, p = await dataset(tmp_path, Spec.quick(500))
    db = await Database.open(path)
    try:

        def compare(conn: sqlite3.Connection) -> int:
            for uid in p.participants:
                assert get_streak(conn, GUILD_ID, uid) == compute_streak_row(checkin_days(conn, GUILD_ID, uid))
            return len(p.participants)

        assert await db.read(compare) == 100
        await db.transaction(
            lambda conn: conn.execute(
                "UPDATE checkin_streaks SET longest = longest + 1 WHERE user_id = ?", (p.participants[0],)
            )
        )
        with pytest.raises(AssertionError, match="streaks_differing"):
            await db.read(lambda conn: check_dataset(conn, p))
    finally:
        await db.close()


async def test_data_sets_are_cached_and_rebuilt_for_another_spec(tmp_path: Path) -> None:
    first, _ = await dataset(tmp_path, Spec.quick(500))
    again, _ = await dataset(tmp_path, Spec.quick(500))
    other, _ = await dataset(tmp_path, Spec.quick(500, seed=3))
    assert first == again and first != other
    assert not _leftovers(tmp_path)


def _leftovers(folder: Path) -> list[Path]:
    return list(folder.glob("*.building-*"))


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_kind_of_data_set_checks(tmp_path: Path, kind: str) -> None:
    path, p = await dataset(tmp_path, Spec.quick(500), kind)
    db = await Database.open(path)
    try:
        await db.read(lambda conn: check_dataset(conn, p, KINDS[kind]))
    finally:
        await db.close()


async def test_the_matched_server_has_its_waiting_members_paired(tmp_path: Path) -> None:
    path, p = await dataset(tmp_path, Spec.quick(1_000), matched=True)
    db = await Database.open(path)
    try:
        waiting, active = await db.read(
            lambda conn: (
                conn.execute("SELECT count(*) FROM buddy_queue").fetchone()[0],
                conn.execute("SELECT count(*) FROM buddy_pairs WHERE status = 'active'").fetchone()[0],
            )
        )
    finally:
        await db.close()
    assert waiting == len(p.waiting) - p.expected_matches()
    assert active == len(p.active_pairs) + p.expected_matches()

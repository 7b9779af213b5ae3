"""Stored streaks (migration 0008): the pure rules, and that what is stored always equals the streaks
computed from every day, whatever sequence of check-ins, timezone moves and erasures happened."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.errors import UserError
from bot.services.buddies import BuddyService
from bot.services.checkins import (
    CheckinResult,
    CheckinService,
    Streaks,
    add_day,
    compute_streak_row,
    compute_streaks,
    streaks_of,
    track_day,
)
from bot.services.guidance import GuidanceLibrary
from bot.services.membertime import member_time
from bot.services.privacy import PrivacyService
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, FakeClock, at

Row = repo.StreakRow


def _runs(days: list[int]) -> list[list[int]]:
    """Ascending days split into runs of consecutive days (the plain definition)."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


# --------------------------------------------------------------------------- the pure rules


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], None),
        ([100], Row(100, 100, 1)),
        ([98, 99, 100], Row(98, 100, 3)),
        ([90, 91, 92, 93, 95, 96, 100], Row(100, 100, 4)),
        ([90, 91, 95, 96, 97], Row(95, 97, 3)),
    ],
)
def test_compute_streak_row(days: list[int], expected: Row | None) -> None:
    """The latest run's first and last day, and the longest run."""
    assert compute_streak_row(days) == expected


@given(st.sets(st.integers(0, 60), max_size=40))
def test_compute_streak_row_matches_the_definition(days: set[int]) -> None:
    """Over random day sets: the latest run and the longest run, as splitting into runs gives them."""
    ordered = sorted(days)
    runs = _runs(ordered)
    expected = Row(runs[-1][0], runs[-1][-1], max(len(r) for r in runs)) if runs else None
    assert compute_streak_row(ordered) == expected


@pytest.mark.parametrize(
    ("before", "day", "after"),
    [
        (None, 50, Row(50, 50, 1)),  # the first day
        (Row(40, 50, 11), 50, Row(40, 50, 11)),  # the same day again (a replacement)
        (Row(40, 50, 11), 45, Row(40, 50, 11)),  # a day of the latest run: already counted
        (Row(48, 50, 11), 51, Row(48, 51, 11)),  # extends the latest run
        (Row(40, 50, 11), 51, Row(40, 51, 12)),  # extends it past the longest
        (Row(40, 50, 11), 53, Row(53, 53, 11)),  # a gap: a new run
        (Row(40, 50, 11), 39, None),  # before the latest run (moved west): every day is needed
        (Row(40, 50, 11), 20, None),
    ],
)
def test_add_day(before: Row | None, day: int, after: Row | None) -> None:
    """A new day extends the latest run, starts a new one, or needs a recompute when it lies before it."""
    assert add_day(before, day) == after


@given(st.lists(st.integers(0, 60), max_size=40))
def test_adding_days_one_by_one_equals_the_recompute(days: list[int]) -> None:
    """Days added in any order (recomputing when :func:`add_day` cannot tell) end where the recompute does."""
    seen: set[int] = set()
    streak: Row | None = None
    for day in days:
        seen.add(day)
        streak = add_day(streak, day) or compute_streak_row(sorted(seen))
        assert streak == compute_streak_row(sorted(seen))


@pytest.mark.parametrize(
    ("streak", "today", "expected"),
    [
        (None, 100, Streaks(0, 0)),
        (Row(98, 100, 5), 100, Streaks(3, 5)),  # ends today
        (Row(98, 99, 5), 100, Streaks(2, 5)),  # ends yesterday: still current
        (Row(97, 98, 5), 100, Streaks(0, 5)),  # a whole day missed: ended
        (Row(99, 101, 3), 100, Streaks(3, 3)),  # a day "after today" (just moved west) counts
    ],
)
def test_streaks_of_judges_the_current_run_against_today(streak: Row | None, today: int, expected: Streaks) -> None:
    """The current streak is the latest run while it ends today or yesterday, else 0."""
    assert streaks_of(streak, today) == expected


@given(st.sets(st.integers(0, 60), max_size=40), st.integers(0, 70))
def test_streaks_of_the_stored_row_equal_compute_streaks(days: set[int], today: int) -> None:
    """For any days and any today at or after the latest day less one: the same numbers as from every day."""
    ordered = sorted(days)
    assert streaks_of(compute_streak_row(ordered), today) == compute_streaks(ordered, today)


# --------------------------------------------------------------------------- in the database


async def test_track_day_reads_every_day_only_when_needed(db: Database) -> None:
    """A missing row is rebuilt from the days; a day before the latest run recomputes; others fold in."""

    def work(conn: Any) -> list[Row | None]:
        conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (?, 0)", (G1,))
        for day in (10, 11, 12, 20):  # written behind the streaks' back: no row
            conn.execute(
                "INSERT INTO checkins (guild_id, user_id, day, mood, recorded_offset) VALUES (?, ?, ?, 3, 0)",
                (G1, U1, day),
            )
        seen = [repo.get_streak(conn, G1, U1), track_day(conn, G1, U1, None)]
        conn.execute(
            "INSERT INTO checkins (guild_id, user_id, day, mood, recorded_offset) VALUES (?, ?, 21, 3, 0)", (G1, U1)
        )
        seen.append(track_day(conn, G1, U1, 21))
        for day in (13, 14, 15, 16, 17, 18, 19):  # fills the gap before the latest run
            conn.execute(
                "INSERT INTO checkins (guild_id, user_id, day, mood, recorded_offset) VALUES (?, ?, ?, 3, 0)",
                (G1, U1, day),
            )
        seen.append(track_day(conn, G1, U1, 19))
        seen.append(repo.get_streak(conn, G1, U1))
        return seen

    assert await db.transaction(work) == [None, Row(20, 20, 3), Row(20, 21, 3), Row(10, 21, 12), Row(10, 21, 12)]


async def test_a_members_streaks_go_with_their_data_and_with_the_server(db: Database) -> None:
    """Erasing a member's check-in data removes their streaks row; erasing the server cascades to it."""
    service = CheckinService(db, FakeClock(at("UTC", 2024, 5, 1)), GuidanceLibrary.load())
    for guild_id, user_id in ((G1, U1), (G1, U2), (G2, U1)):
        await service.record_checkin(guild_id, user_id, 4, 2, True)

    def erase(conn: Any) -> None:
        repo.delete_member_data(conn, G1, U1)
        conn.execute("DELETE FROM guilds WHERE guild_id = ?", (G2,))

    await db.transaction(erase)
    rows = await db.read(lambda conn: [tuple(r) for r in conn.execute("SELECT guild_id, user_id FROM checkin_streaks")])
    assert rows == [(G1, U2)]


# --------------------------------------------------------------------------- any sequence of operations


ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Tokyo", "America/Los_Angeles")
"""From UTC+14 to UTC-11: moving west can make today a day or two earlier than the latest check-in."""
MEMBERS = ((G1, U1), (G1, U2), (G2, U1))

member_st = st.sampled_from(MEMBERS)
ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "checkin": st.tuples(member_st),
    "advance": st.tuples(st.sampled_from((1, 6, 12, 20, 24, 24, 24, 26, 30, 48))),
    "zone": st.tuples(member_st, st.sampled_from(ZONES)),
    "quick": st.tuples(member_st),
    "complete": st.tuples(member_st),
    "delete": st.tuples(member_st),
    "retention": st.tuples(member_st),
    "erase": st.tuples(st.sampled_from((G1, G2))),
    "west": st.tuples(member_st),
}
# Weighted by repetition: mostly check-ins and days passing (so that runs grow), timezone moves often
# enough to reach a day before the latest run, and now and then an erasure.
KINDS = ["checkin"] * 6 + ["advance"] * 6 + ["zone"] * 2 + ["quick", "complete", "delete", "retention", "erase", "west"]
operation = st.sampled_from(KINDS).flatmap(lambda kind: ARGUMENTS[kind].map(lambda args: (kind, *args)))


@dataclass
class Scenario:
    """The services of one example, on its own copy of the database."""

    db: Database
    clock: FakeClock
    checkins: CheckinService
    privacy: PrivacyService

    async def days(self, guild_id: int, user_id: int) -> list[int]:
        return await self.db.read(lambda conn: repo.checkin_days(conn, guild_id, user_id))

    async def stored(self, guild_id: int, user_id: int) -> repo.StreakRow | None:
        return await self.db.read(lambda conn: repo.get_streak(conn, guild_id, user_id))

    async def today(self, guild_id: int, user_id: int) -> int:
        now = self.clock()
        return await self.db.read(lambda conn: member_time(conn, guild_id, user_id, now, take_notice=False).today_day)

    async def expect_result(self, result: CheckinResult, guild_id: int, user_id: int) -> None:
        """A check-in's reply shows the streaks computed from every day."""
        expected = compute_streaks(await self.days(guild_id, user_id), await self.today(guild_id, user_id))
        assert (result.streak, result.longest_streak) == (expected.current, expected.longest)

    async def expect_consistent(self) -> None:
        """For every member: the stored row is the recompute over every day, and the streaks (and the
        history's) equal :func:`compute_streaks` as of the member's today."""
        for guild_id, user_id in MEMBERS:
            days = await self.days(guild_id, user_id)
            stored = await self.stored(guild_id, user_id)
            assert stored == compute_streak_row(days), (guild_id, user_id, days)
            expected = compute_streaks(days, await self.today(guild_id, user_id))
            assert await self.checkins.streaks(guild_id, user_id) == expected
            history = await self.checkins.history(guild_id, user_id, 7)
            assert (history.summary.current_streak, history.summary.longest_streak) == (
                expected.current,
                expected.longest,
            )

    async def run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "advance":
            self.clock.advance(hours=op[1])
        elif kind == "zone":
            (guild_id, user_id), zone = op[1], op[2]
            await self.checkins.set_timezone(guild_id, user_id, zone)
        elif kind == "checkin":
            guild_id, user_id = op[1]
            await self.expect_result(await self.checkins.record_checkin(guild_id, user_id, 3, 2, True), *op[1])
        elif kind == "quick":
            guild_id, user_id = op[1]
            await self.expect_result(await self.checkins.record_quick_checkin(guild_id, user_id, 2), *op[1])
        elif kind == "complete":
            guild_id, user_id = op[1]
            today = await self.db.read(
                lambda conn: member_time(conn, guild_id, user_id, self.clock(), take_notice=False).today
            )
            try:
                result = await self.checkins.complete_checkin(guild_id, user_id, today, 5, True)
            except UserError:
                return  # no check-in today to complete
            await self.expect_result(result, guild_id, user_id)
        elif kind == "delete":
            await self.privacy.delete_member(*op[1])
        elif kind == "retention":
            guild_id, user_id = op[1]
            if await self.privacy.member_left(guild_id, user_id):
                self.clock.advance(days=31)

                async def gone(g: int, u: int) -> bool:
                    return False

                await self.privacy.run_retention(member_present=gone)
        elif kind == "erase":
            await self.privacy.erase_server(op[1])
        elif kind == "west":  # check in at UTC+14, fly to UTC-11 and check in again: a day or two earlier
            guild_id, user_id = op[1]
            for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
                await self.checkins.set_timezone(guild_id, user_id, zone)
                await self.expect_result(await self.checkins.record_checkin(guild_id, user_id, 3, 2, True), *op[1])


async def _play(path: Path, ops: list[tuple[Any, ...]]) -> None:
    db = await Database.open(path)
    try:
        clock = FakeClock(at("UTC", 2024, 5, 1, 12))
        guidance = GuidanceLibrary.load()
        scenario = Scenario(
            db,
            clock,
            CheckinService(db, clock, guidance),
            PrivacyService(db, clock, BuddyService(db, clock, guidance)),
        )
        for op in ops:
            await scenario.run(op)
            await scenario.expect_consistent()
    finally:
        await db.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=40))
def test_stored_streaks_equal_compute_streaks_after_any_operations(
    template: Path, tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]
) -> None:
    """Check-ins, quick check-ins and their completion, timezone moves either way (a check-in dated before
    the latest run too), the clock moving on, /privacy delete, retention erasing a departed member,
    erasing a server: after every step the stored
    streaks are the recompute over every day, and every streak shown equals compute_streaks."""
    path = tmp_path_factory.mktemp("example") / "db.sqlite3"
    shutil.copyfile(template, path)
    asyncio.run(_play(path, ops))


async def test_a_checkin_before_the_latest_run_after_moving_west_joins_the_runs(db: Database) -> None:
    """29 and 30 April in UTC; 2 May in UTC+14; then, moved to UTC-11, 1 May: one run of four days."""
    clock = FakeClock(at("UTC", 2024, 4, 29, 12))
    service = CheckinService(db, clock, GuidanceLibrary.load())
    await service.record_checkin(G1, U1, 4, 2, True)
    clock.advance(days=1)
    await service.record_checkin(G1, U1, 4, 2, True)
    clock.advance(hours=23)  # 1 May, 11:00 UTC
    await service.set_timezone(G1, U1, "Pacific/Kiritimati")  # 2 May, 01:00
    second_run = await service.record_checkin(G1, U1, 4, 2, True)
    assert (second_run.day.isoformat(), second_run.streak, second_run.longest_streak) == ("2024-05-02", 1, 2)
    await service.set_timezone(G1, U1, "Pacific/Pago_Pago")  # 1 May, 00:00
    joined = await service.record_checkin(G1, U1, 4, 2, True)
    assert (joined.day.isoformat(), joined.replaced, joined.streak, joined.longest_streak) == (
        "2024-05-01",
        False,
        4,
        4,
    )
    stored = await db.read(lambda conn: repo.get_streak(conn, G1, U1))
    assert stored == compute_streak_row(await db.read(lambda conn: repo.checkin_days(conn, G1, U1)))
    assert stored is not None and stored.run_end - stored.run_start == 3

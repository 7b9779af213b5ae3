"""The numbers ``/checkin history`` answers from one aggregate row equal those computed from its days."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild
from bot.services.checkins import CheckinService, History, HistorySummary, track_day
from bot.services.guidance import GuidanceLibrary
from bot.services.membertime import member_time
from bot.services.reminders import ReminderService
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, FakeClock, at

ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata")

# A check-in: (days before today, mood, craving and sober, or None for a quick check-in's mood only).
checkin = st.tuples(
    st.integers(-1, 100),
    st.integers(1, 5),
    st.one_of(st.none(), st.tuples(st.integers(0, 10), st.booleans())),
)


def _numbers(summary: HistorySummary) -> tuple[object, ...]:
    """What the answer shows (the notices are once-only, so compared apart)."""
    return (
        summary.first_day,
        summary.last_day,
        summary.day_count,
        summary.checkins,
        summary.not_sober_days,
        summary.average_mood,
        summary.average_craving,
        f"{summary.average_mood:.1f}" if summary.average_mood is not None else None,
        f"{summary.average_craving:.1f}" if summary.average_craving is not None else None,
        summary.empty,
    )


def _from_days(history: History) -> tuple[object, ...]:
    """The same numbers computed plainly from the history's days."""
    made = [d.checkin for d in history.days if d.checkin is not None]
    moods = [c.mood for c in made]
    cravings = [c.craving for c in made if c.craving is not None]
    mood = sum(moods) / len(moods) if moods else None
    craving = sum(cravings) / len(cravings) if cravings else None
    return (
        history.days[0].day,
        history.days[-1].day,
        len(history.days),
        len(made),
        sum(1 for c in made if c.sober is False),
        mood,
        craving,
        f"{mood:.1f}" if mood is not None else None,
        f"{craving:.1f}" if craving is not None else None,
        not made,
    )


async def _compare(
    path: Path, zone: str, length: int, mine: list[tuple[int, int, tuple[int, bool] | None]], other: int
) -> None:
    db = await Database.open(path)
    try:
        clock = FakeClock(at("UTC", 2024, 5, 1, 12))
        service = CheckinService(db, clock, GuidanceLibrary.load())
        await service.set_timezone(G1, U1, zone)
        now = clock()

        def write(conn: sqlite3.Connection) -> None:
            ensure_guild(conn, G1, now)
            ensure_guild(conn, G2, now)
            today = member_time(conn, G1, U1, now, take_notice=False).today_day
            for ago, mood, rest in mine:
                recorded = now - timedelta(days=ago)
                if rest is None:
                    repo.upsert_mood(conn, G1, U1, today - ago, mood, recorded)
                else:
                    row = repo.CheckinRow(G1, U1, today - ago, mood, rest[0], rest[1], "private", recorded)
                    repo.upsert_checkin(conn, row)
            for ago in range(other):  # another member, and the same member elsewhere: never counted
                for guild_id, user_id in ((G1, U2), (G2, U1)):
                    recorded = now - timedelta(days=ago)
                    repo.upsert_checkin(
                        conn, repo.CheckinRow(guild_id, user_id, today - ago, 1, 10, False, None, recorded)
                    )
            track_day(conn, G1, U1, None)

        await db.transaction(write)
        summary = await service.history_summary(G1, U1, length)
        charted = await service.history_days(G1, U1, summary)
        assert charted.summary is summary
        assert _numbers(summary) == _from_days(charted)
        history = await service.history(G1, U1, length)  # numbers and days in one transaction
        assert _numbers(history.summary) == _numbers(summary) and history.days == charted.days
    finally:
        await db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    length=st.integers(7, 90),
    mine=st.lists(checkin, max_size=60),
    other=st.integers(0, 5),
)
def test_the_summary_numbers_equal_those_computed_from_the_days(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    zone: str,
    length: int,
    mine: list[tuple[int, int, tuple[int, bool] | None]],
    other: int,
) -> None:
    """Over random check-ins (quick ones with craving and sober unknown among them, some outside the
    period, other members' around), the aggregate numbers (as shown, rounded) equal those computed
    from the period's days, and the chart's days read later are the history's days."""
    path = tmp_path_factory.mktemp("example") / "db.sqlite3"
    shutil.copyfile(template, path)
    asyncio.run(_compare(path, zone, length, mine, other))


async def test_the_summary_takes_the_notices_once(db: Database) -> None:
    """The summary takes the once-only notices (the timezone's; a paused reminder's) like the history did,
    and an empty period is empty with no averages."""
    service_clock = FakeClock(at("UTC", 2024, 5, 1, 12))
    service = CheckinService(db, service_clock, GuidanceLibrary.load())
    first = await service.history_summary(G1, U1, 7)
    assert first.timezone_notice and first.empty and first.checkins == 0
    assert first.average_mood is None and first.average_craving is None and first.not_sober_days == 0
    assert not (await service.history_summary(G1, U1, 7)).timezone_notice
    await service.record_checkin(G1, U1, 3, 2, True)
    reminders = ReminderService(db, service_clock)
    await reminders.set_reminder(G1, U1, "20:00")
    await reminders.pause_reminder(G1, U1, "DMs are closed")
    assert (await service.history_summary(G1, U1, 7)).reminder_notice == "DMs are closed"
    assert (await service.history_summary(G1, U1, 7)).reminder_notice is None

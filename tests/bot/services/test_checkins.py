"""Tests of the check-in service: local days, streaks, replacement, history, timezone and support."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.db.connection import Database
from bot.db.repositories.guilds import set_setting
from bot.errors import UserError
from bot.services.checkins import (
    DEFAULT_CRISIS_RESOURCES,
    CheckinService,
    Streaks,
    compute_streaks,
)
from bot.services.guidance import GuidanceLibrary
from bot.services.localtime import epoch_day
from bot.services.reminders import ReminderService
from bot.services.sobriety import SobrietyService
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, FakeClock, at

NY = "America/New_York"


@pytest.fixture
def clock() -> FakeClock:
    """A clock at noon UTC on 1 May 2024."""
    return FakeClock(at("UTC", 2024, 5, 1, 12))


@pytest.fixture
def service(db: Database, clock: FakeClock) -> CheckinService:
    """A check-in service on the test database, the fake clock and the shipped guidance."""
    return CheckinService(db, clock, GuidanceLibrary.load())


async def _count(db: Database) -> int:
    return int(await db.read(lambda conn: conn.execute("SELECT count(*) FROM checkins").fetchone()[0]))


# --------------------------------------------------------------------------- streaks (pure)


@pytest.mark.parametrize(
    ("days", "today", "expected"),
    [
        ([], 100, Streaks(0, 0)),
        ([100], 100, Streaks(1, 1)),
        ([98, 99], 100, Streaks(2, 2)),  # ends yesterday: still current today
        ([97, 98], 100, Streaks(0, 2)),  # a whole day missed: ended
        ([90, 91, 92, 93, 95, 96, 100], 100, Streaks(1, 4)),
        ([99, 100, 101], 100, Streaks(3, 3)),  # a day "after today" after moving west counts
    ],
)
def test_compute_streaks(days: list[int], today: int, expected: Streaks) -> None:
    """Current streak ends today or yesterday; the longest is the longest run ever."""
    assert compute_streaks(days, today) == expected


def _reference_streaks(days: list[int], today: int) -> Streaks:
    """The plain definition: split the days into runs of consecutive days."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    longest = max((len(run) for run in runs), default=0)
    current = len(runs[-1]) if runs and runs[-1][-1] >= today - 1 else 0
    return Streaks(current=current, longest=longest)


@given(st.sets(st.integers(min_value=0, max_value=120), max_size=80), st.integers(min_value=-2, max_value=125))
def test_compute_streaks_matches_the_definition(days: set[int], today: int) -> None:
    """Any set of days (runs, gaps, single days, days after "today"): the same as splitting into runs."""
    ordered = sorted(days)
    assert compute_streaks(ordered, today) == _reference_streaks(ordered, today)


# --------------------------------------------------------------------------- recording


async def test_same_local_day_replaces_and_says_so(service: CheckinService, clock: FakeClock, db: Database) -> None:
    """A second check-in the same local day replaces the first, and the result says it did."""
    first = await service.record_checkin(G1, U1, mood=2, craving=3, sober=True, note="  long day  ")
    assert (first.day, first.replaced, first.streak) == (date(2024, 5, 1), False, 1)
    assert first.checkin.note == "long day"
    clock.advance(hours=5)
    second = await service.record_checkin(G1, U1, mood=4, craving=1, sober=True)
    assert (second.day, second.replaced, second.streak) == (date(2024, 5, 1), True, 1)
    stored = await service.checkin_on(G1, U1, date(2024, 5, 1))
    assert stored is not None and (stored.mood, stored.craving, stored.note) == (4, 1, None)
    assert stored.recorded_at == clock.now
    assert await _count(db) == 1


async def test_2359_and_0001_local_are_two_days(service: CheckinService, clock: FakeClock) -> None:
    """Check-ins two minutes apart either side of local midnight count for two days."""
    await service.set_timezone(G1, U1, NY)
    clock.now = at(NY, 2024, 5, 1, 23, 59)
    first = await service.record_checkin(G1, U1, 3, 2, True)
    clock.now = at(NY, 2024, 5, 2, 0, 1)
    second = await service.record_checkin(G1, U1, 4, 2, True)
    assert (first.day, second.day) == (date(2024, 5, 1), date(2024, 5, 2))
    assert not second.replaced
    assert second.streak == 2


async def test_the_days_are_the_members_not_utcs(service: CheckinService, clock: FakeClock) -> None:
    """In Tokyo, 08:30 and 23:00 the same local day are one day, though they straddle UTC midnight."""
    await service.set_timezone(G1, U1, "Asia/Tokyo")
    await service.set_timezone(G1, U2, "UTC")
    for moment in (at("UTC", 2024, 5, 1, 23, 30), at("UTC", 2024, 5, 2, 14, 0)):
        clock.now = moment
        tokyo = await service.record_checkin(G1, U1, 3, 0, True)
        utc = await service.record_checkin(G1, U2, 3, 0, True)
    assert (tokyo.day, tokyo.replaced, tokyo.streak) == (date(2024, 5, 2), True, 1)
    assert (utc.day, utc.replaced, utc.streak) == (date(2024, 5, 2), False, 2)


async def test_streak_across_spring_forward_and_fall_back(service: CheckinService, clock: FakeClock) -> None:
    """Nightly check-ins through both DST changes in New York make one unbroken streak."""
    await service.set_timezone(G1, U1, NY)
    days = [date(2024, 3, 8) + timedelta(days=i) for i in range(5)] + [
        date(2024, 11, 1) + timedelta(days=i) for i in range(5)
    ]
    results = []
    for day in days[:5]:
        clock.now = at(NY, day.year, day.month, day.day, 23, 45)
        results.append(await service.record_checkin(G1, U1, 3, 2, True))
    assert [r.day for r in results] == days[:5]
    assert [r.streak for r in results] == [1, 2, 3, 4, 5]
    # Early on the 23-hour day, just after the clocks jumped: the same local day, not the next.
    clock.now = at(NY, 2024, 3, 12, 3, 5)
    early = await service.record_checkin(G1, U1, 3, 2, True)
    assert early.day == date(2024, 3, 12) and early.replaced
    for day in days[5:]:
        clock.now = at(NY, day.year, day.month, day.day, 0, 15)
        result = await service.record_checkin(G1, U1, 3, 2, True)
        assert result.day == day
    clock.now = at(NY, 2024, 11, 3, 1, 30)  # the hour that happens twice: still 3 November
    assert (await service.record_checkin(G1, U1, 3, 2, True)).replaced
    assert (result.streak, result.longest_streak) == (5, 5)


async def test_streak_stays_current_until_a_whole_day_is_missed(service: CheckinService, clock: FakeClock) -> None:
    """Yesterday's check-in keeps the streak current all of today; at the next midnight it ends."""
    await service.set_timezone(G1, U1, NY)
    for day in (1, 2, 3):
        clock.now = at(NY, 2024, 5, day, 20)
        await service.record_checkin(G1, U1, 3, 2, True)
    clock.now = at(NY, 2024, 5, 4, 23, 59)
    assert await service.streaks(G1, U1) == Streaks(3, 3)
    clock.now = at(NY, 2024, 5, 5, 0, 0)
    assert await service.streaks(G1, U1) == Streaks(0, 3)
    result = await service.record_checkin(G1, U1, 3, 2, True)
    assert (result.streak, result.longest_streak) == (1, 3)


async def test_timezone_change_never_creates_or_loses_checkins(
    service: CheckinService, clock: FakeClock, db: Database
) -> None:
    """Days recorded in one zone stay those days after moving to another; nothing appears or vanishes."""
    for day in (1, 2, 3):
        clock.now = at("UTC", 2024, 5, day, 23, 0)
        await service.record_checkin(G1, U1, day, 2, True)
    before = await service.history(G1, U1, 7)
    result = await service.set_timezone(G1, U1, "Pacific/Kiritimati")  # UTC+14: already 4 May there
    assert result.timezone == "Pacific/Kiritimati" and result.today == date(2024, 5, 4)
    assert await _count(db) == 3
    after = await service.history(G1, U1, 7)
    recorded = [(d.day, d.checkin.mood) for d in after.days if d.checkin is not None]
    assert recorded == [(date(2024, 5, 1), 1), (date(2024, 5, 2), 2), (date(2024, 5, 3), 3)]
    assert after.summary.checkins == before.summary.checkins == 3
    assert after.summary.current_streak == 3  # the last was "yesterday" in the new zone
    new = await service.record_checkin(G1, U1, 5, 0, True)
    assert (new.day, new.replaced, new.streak) == (date(2024, 5, 4), False, 4)
    await service.set_timezone(G1, U1, "Pacific/Pago_Pago")  # UTC-11: back to 3 May there
    assert await _count(db) == 4
    assert (await service.history(G1, U1, 7)).summary.current_streak == 4


async def test_servers_keep_separate_checkins(service: CheckinService) -> None:
    """A check-in in one server is not in another server's history or streak."""
    await service.record_checkin(G1, U1, 3, 2, True)
    other = await service.history(G2, U1, 7)
    assert other.summary.empty and other.summary.current_streak == 0
    assert (await service.record_checkin(G2, U1, 4, 2, True)).replaced is False


# --------------------------------------------------------------------------- support and notices


async def test_high_craving_gets_a_passage_and_crisis_resources(service: CheckinService) -> None:
    """Craving 7 or more flags support, with a guidance passage and the default crisis resources."""
    calm = await service.record_checkin(G1, U1, 3, 6, True)
    assert not calm.needs_support and calm.passage is None and calm.crisis_resources is None
    hard = await service.record_checkin(G1, U1, 3, 7, True)
    assert hard.needs_support and hard.passage is not None
    assert hard.passage.id == "filling-the-void"
    assert hard.crisis_resources == DEFAULT_CRISIS_RESOURCES and "988" in hard.crisis_resources


async def test_not_sober_gets_a_kind_passage_and_server_resources(service: CheckinService, db: Database) -> None:
    """A day not sober flags support; the server's own crisis resources are used when set."""
    await db.transaction(
        lambda c: set_setting(c, G1, "crisis_resources", "Call Jo: 555-0100", at("UTC", 2024, 5, 1), None)
    )
    result = await service.record_checkin(G1, U1, 2, 0, False)
    assert result.needs_support and result.passage is not None and result.passage.id == "what-it-is"
    assert result.crisis_resources == "Call Jo: 555-0100"
    assert await service.crisis_resources(G2) == DEFAULT_CRISIS_RESOURCES


def test_support_passage_falls_back_when_the_chosen_one_is_missing() -> None:
    """With a guidance file lacking the preferred ids, a passage of a related topic is chosen."""
    full = GuidanceLibrary.load()
    kept = [p for p in full.passages if p.id not in {"what-it-is", "filling-the-void"}]
    service = CheckinService(None, FakeClock(at("UTC", 2024, 5, 1)), GuidanceLibrary("t", kept))  # type: ignore[arg-type]
    passage = service.support_passage(9, True)
    assert passage is not None and passage.topic == "what-it-is"


async def test_timezone_notice_is_given_once(service: CheckinService) -> None:
    """Until a timezone is set, the first reply says so, and later ones do not."""
    first = await service.record_checkin(G1, U1, 3, 2, True)
    assert first.timezone == "UTC" and first.timezone_notice
    assert not (await service.record_checkin(G1, U1, 3, 2, True)).timezone_notice
    assert not (await service.history(G1, U1)).summary.timezone_notice
    fresh = await service.history(G1, U2)
    assert fresh.summary.timezone_notice
    await service.set_timezone(G2, U1, "Europe/Paris")
    set_already = await service.record_checkin(G2, U1, 3, 2, True)
    assert not set_already.timezone_notice and set_already.timezone == "Europe/Paris"


async def test_result_carries_sober_days_share_channel_and_reminder_notice(
    service: CheckinService, db: Database, clock: FakeClock
) -> None:
    """Sober days (if set), the server's check-in channel and a paused-reminder notice (once) come back."""
    plain = await service.record_checkin(G1, U1, 3, 2, True)
    assert plain.sober_days is None and plain.share_channel_id is None and plain.reminder_notice is None
    await SobrietyService(db, clock).set_date(G1, U1, "2024-04-21")
    await db.transaction(lambda c: set_setting(c, G1, "checkin_channel", "1234567890", clock.now, None))
    reminders = ReminderService(db, clock)
    await reminders.set_reminder(G1, U1, "20:00")
    await reminders.pause_reminder(G1, U1, "DMs are closed")
    result = await service.record_checkin(G1, U1, 3, 2, True)
    assert result.sober_days == 10
    assert result.share_channel_id == 1234567890
    assert result.reminder_notice == "DMs are closed"
    assert (await service.record_checkin(G1, U1, 3, 2, True)).reminder_notice is None


async def test_history_carries_a_paused_reminder_notice_once(
    service: CheckinService, db: Database, clock: FakeClock
) -> None:
    """The history tells a paused reminder's reason once, in its own transaction (no second one)."""
    await service.record_checkin(G1, U1, 3, 2, True)
    assert (await service.history(G1, U1, 7)).summary.reminder_notice is None
    reminders = ReminderService(db, clock)
    await reminders.set_reminder(G1, U1, "20:00")
    await reminders.pause_reminder(G1, U1, "DMs are closed")
    assert (await service.history(G1, U1, 7)).summary.reminder_notice == "DMs are closed"
    assert (await service.history(G1, U1, 7)).summary.reminder_notice is None
    assert await reminders.take_notice(G1, U1) is None


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("mood", "craving", "note", "message"),
    [
        (0, 3, None, "Mood"),
        (6, 3, None, "Mood"),
        (True, 3, None, "Mood"),
        (3, -1, None, "Craving"),
        (3, 11, None, "Craving"),
        (3, 2.5, None, "Craving"),
        (3, 3, "x" * 1001, "1001 characters"),
    ],
)
async def test_invalid_checkins_are_refused_and_nothing_is_saved(
    service: CheckinService, db: Database, mood: int, craving: int, note: str | None, message: str
) -> None:
    """Out-of-range values and over-long notes are UserErrors, and no row is written."""
    with pytest.raises(UserError, match=message):
        await service.record_checkin(G1, U1, mood, craving, True, note)
    assert await _count(db) == 0


async def test_note_limits(service: CheckinService) -> None:
    """A note of exactly 1000 characters is kept; a blank one is no note."""
    long = await service.record_checkin(G1, U1, 3, 3, True, "é" * 1000)
    assert long.checkin.note == "é" * 1000
    blank = await service.record_checkin(G1, U1, 3, 3, True, "   ")
    assert blank.checkin.note is None


@pytest.mark.parametrize("days", [6, 91, 0, -30])
async def test_history_length_is_validated(service: CheckinService, days: int) -> None:
    """History lengths outside 7–90 are a UserError naming the range."""
    with pytest.raises(UserError, match="7 to 90"):
        await service.history(G1, U1, days)


async def test_bad_timezone_is_refused(service: CheckinService) -> None:
    """An unknown zone name is a UserError and nothing is stored."""
    with pytest.raises(UserError, match="Region/City"):
        await service.set_timezone(G1, U1, "Moon/Tranquility")
    assert await service.get_timezone(G1, U1) is None
    assert (await service.set_timezone(G1, U1, "europe/london")).timezone == "Europe/London"
    assert await service.get_timezone(G1, U1) == "Europe/London"
    assert CheckinService.timezone_suggestions("london") == ["Europe/London"]


# --------------------------------------------------------------------------- history


async def test_empty_history(service: CheckinService) -> None:
    """A member with no check-ins gets the days, all gaps, and no averages."""
    history = await service.history(G1, U1)
    assert len(history.days) == 30 and history.summary.empty
    assert history.summary.first_day == date(2024, 4, 2) and history.summary.last_day == date(2024, 5, 1)
    assert all(d.checkin is None for d in history.days)
    assert (history.summary.checkins, history.summary.current_streak, history.summary.longest_streak) == (0, 0, 0)
    assert history.summary.average_mood is None and history.summary.average_craving is None


async def test_history_with_gaps_and_numbers(service: CheckinService, clock: FakeClock) -> None:
    """Gaps stay gaps; counts and averages cover the period; the longest streak covers all time."""
    start = date(2024, 3, 1)
    plan = {start + timedelta(days=i): (1 + i % 5, i % 11, i % 4 != 0) for i in range(12)}  # 12-day run
    plan |= {date(2024, 4, 25): (5, 0, True), date(2024, 4, 26): (4, 8, False), date(2024, 4, 30): (3, 1, True)}
    for day, (mood, craving, sober) in plan.items():
        clock.now = at("UTC", day.year, day.month, day.day, 9)
        await service.record_checkin(G1, U1, mood, craving, sober)
    clock.now = at("UTC", 2024, 5, 1, 9)
    history = await service.history(G1, U1, 7)
    assert [d.day for d in history.days] == [date(2024, 4, 25) + timedelta(days=i) for i in range(7)]
    assert [d.checkin is not None for d in history.days] == [True, True, False, False, False, True, False]
    assert (history.summary.checkins, history.summary.not_sober_days) == (3, 1)
    assert history.summary.average_mood == pytest.approx(4.0)
    assert history.summary.average_craving == pytest.approx(3.0)
    assert (history.summary.current_streak, history.summary.longest_streak) == (1, 12)
    assert not history.summary.empty


async def test_checked_in_today(service: CheckinService, clock: FakeClock) -> None:
    """Whether the member checked in on their local today."""
    await service.set_timezone(G1, U1, NY)
    clock.now = at(NY, 2024, 5, 1, 22)
    assert not await service.checked_in_today(G1, U1)
    await service.record_checkin(G1, U1, 3, 2, True)
    assert await service.checked_in_today(G1, U1)
    clock.now = at(NY, 2024, 5, 2, 0, 30)
    assert not await service.checked_in_today(G1, U1)
    assert epoch_day(date(2024, 5, 2)) == 19845


async def test_timezone_change_moves_the_reminder_and_wakes(db: Database, clock: FakeClock) -> None:
    """Setting a timezone re-times an active reminder and calls the change hook; none, no call."""
    reminders = ReminderService(db, clock)
    woken: list[bool] = []
    service = CheckinService(db, clock, GuidanceLibrary.load(), on_reminders_changed=lambda: woken.append(True))
    await service.set_timezone(G1, U2, "Asia/Tokyo")
    assert woken == []
    await reminders.set_reminder(G1, U1, "20:00")
    result = await service.set_timezone(G1, U1, NY)
    assert result.reminder_next_due_at == at(NY, 2024, 5, 1, 20)
    assert woken == [True]
    info = await reminders.get_reminder(G1, U1)
    assert info is not None and info.next_due_at == at(NY, 2024, 5, 1, 20) and info.timezone == NY


# --------------------------------------------------------------------------- quick check-ins from the reminder DM


async def test_quick_checkin_then_completion_across_midnight(service: CheckinService, clock: FakeClock) -> None:
    """A mood button records today at once; the modal completes that day even after midnight."""
    await service.set_timezone(G1, U1, NY)
    clock.now = at(NY, 2024, 5, 1, 23, 58)
    quick = await service.record_quick_checkin(G1, U1, 2)
    assert (quick.day, quick.replaced, quick.streak) == (date(2024, 5, 1), False, 1)
    assert not quick.checkin.complete and quick.checkin.craving is None and quick.checkin.sober is None
    assert not quick.needs_support and quick.passage is None
    clock.now = at(NY, 2024, 5, 2, 0, 3)
    done = await service.complete_checkin(G1, U1, quick.day, craving=8, sober=True, note="hard night")
    assert done.day == date(2024, 5, 1) and done.replaced and done.checkin.complete
    assert (done.checkin.mood, done.checkin.craving, done.checkin.note) == (2, 8, "hard night")
    assert done.needs_support and done.passage is not None and done.crisis_resources is not None
    assert not (await service.checked_in_today(G1, U1))


async def test_quick_checkin_keeps_what_was_already_told(service: CheckinService) -> None:
    """A mood button pressed after a full check-in changes only the mood."""
    await service.record_checkin(G1, U1, 4, 3, False, "slipped")
    quick = await service.record_quick_checkin(G1, U1, 1)
    assert quick.replaced
    assert (quick.checkin.mood, quick.checkin.craving, quick.checkin.sober, quick.checkin.note) == (
        1,
        3,
        False,
        "slipped",
    )
    assert quick.needs_support


async def test_incomplete_checkins_in_history_numbers(service: CheckinService, clock: FakeClock) -> None:
    """An uncompleted quick check-in counts as a check-in and a mood, not as a craving or a sober day."""
    await service.record_checkin(G1, U1, 4, 6, True)
    clock.advance(days=1)
    await service.record_quick_checkin(G1, U1, 2)
    history = await service.history(G1, U1, 7)
    assert (history.summary.checkins, history.summary.not_sober_days, history.summary.current_streak) == (2, 0, 2)
    assert history.summary.average_mood == pytest.approx(3.0)
    assert history.summary.average_craving == pytest.approx(6.0)


async def test_completion_is_refused_for_missing_or_old_days(service: CheckinService, clock: FakeClock) -> None:
    """Completing a day without a check-in, or older than yesterday, is a UserError; bad values too."""
    with pytest.raises(UserError, match="couldn't find"):
        await service.complete_checkin(G1, U1, date(2024, 5, 1), 3, True)
    quick = await service.record_quick_checkin(G1, U1, 3)
    with pytest.raises(UserError, match="Craving"):
        await service.complete_checkin(G1, U1, quick.day, 12, True)
    with pytest.raises(UserError, match="1001 characters"):
        await service.complete_checkin(G1, U1, quick.day, 2, True, "n" * 1001)
    with pytest.raises(UserError, match="Mood"):
        await service.record_quick_checkin(G1, U1, 9)
    clock.advance(days=2)
    with pytest.raises(UserError, match="more than a day ago"):
        await service.complete_checkin(G1, U1, quick.day, 3, True)
    stored = await service.checkin_on(G1, U1, quick.day)
    assert stored is not None and not stored.complete


async def test_history_reads_no_note(service: CheckinService) -> None:
    """A history's check-ins carry no note (it never shows one); the day's check-in itself still has it."""
    await service.record_checkin(G1, U1, 4, 2, True, "private words")
    history = await service.history(G1, U1, 7)
    today = history.days[-1]
    assert today.checkin is not None and (today.checkin.mood, today.checkin.note) == (4, None)
    kept = await service.checkin_on(G1, U1, today.day)
    assert kept is not None and kept.note == "private words"

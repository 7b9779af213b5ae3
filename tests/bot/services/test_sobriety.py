"""Tests of the sobriety counter: milestones, validation, relapse, and celebrating each milestone once."""

from __future__ import annotations

import asyncio
from datetime import date
from itertools import islice

import pytest

from bot.db.connection import Database
from bot.db.repositories.guilds import set_setting
from bot.errors import UserError
from bot.services.checkins import CheckinService
from bot.services.guidance import GuidanceLibrary
from bot.services.retry import FIRST_RETRY
from bot.services.sobriety import (
    DueMilestone,
    SobrietyService,
    anniversary,
    days_sober,
    milestone_after,
    milestone_on_or_after,
    milestone_reached,
    milestones,
)
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, FakeClock, at


@pytest.fixture
def clock() -> FakeClock:
    """A clock at noon UTC on 1 May 2024."""
    return FakeClock(at("UTC", 2024, 5, 1, 12))


@pytest.fixture
def service(db: Database, clock: FakeClock) -> SobrietyService:
    """A sobriety service on the test database and the fake clock."""
    return SobrietyService(db, clock)


async def _set_timezone(db: Database, clock: FakeClock, user: int, zone: str, guild: int = G1) -> None:
    await CheckinService(db, clock, GuidanceLibrary.load()).set_timezone(guild, user, zone)


# --------------------------------------------------------------------------- milestones (pure)


def test_milestones_are_fixed_days_then_calendar_years() -> None:
    """1, 7, 30, 60, 90, 180 days, then each anniversary (366 days across a leap day)."""
    first = list(islice(milestones(date(2020, 1, 1)), 9))
    assert [m.days for m in first] == [1, 7, 30, 60, 90, 180, 366, 731, 1096]
    assert [m.label for m in first] == [
        "1 day",
        "7 days",
        "30 days",
        "60 days",
        "90 days",
        "180 days",
        "1 year",
        "2 years",
        "3 years",
    ]


def test_leap_day_anniversary_falls_on_28_february() -> None:
    """A date of 29 February has its anniversary on 28 February in common years."""
    assert anniversary(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert anniversary(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_milestone_lookups() -> None:
    """Next after, on-or-after, and highest reached, around the boundaries."""
    since = date(2024, 1, 1)
    assert milestone_on_or_after(since, 0).days == 1
    assert milestone_on_or_after(since, 30).days == 30
    assert milestone_after(since, 30).days == 60
    assert milestone_after(since, 180).label == "1 year"
    assert milestone_reached(since, 0) is None
    assert milestone_reached(since, 6).days == 1  # type: ignore[union-attr]
    assert milestone_reached(since, 400).label == "1 year"  # type: ignore[union-attr]
    assert days_sober(since, date(2024, 1, 1)) == 0
    assert days_sober(since, date(2024, 1, 31)) == 30
    assert days_sober(since, date(2023, 12, 31)) == 0


def test_milestones_end_at_year_9999() -> None:
    """The endless milestone list stops cleanly at the end of the calendar."""
    assert list(milestones(date(9990, 1, 1)))[-1].label == "9 years"


# --------------------------------------------------------------------------- set, show, clear


async def test_set_show_and_clear(service: SobrietyService) -> None:
    """Setting gives days sober and the next milestone; show repeats it; clear removes it."""
    result = await service.set_date(G1, U1, "2024-04-11")
    status = result.status
    assert (status.since, status.days) == (date(2024, 4, 11), 20)
    assert (status.next_milestone.days, status.days_until_next) == (30, 10)
    assert status.next_milestone_date == date(2024, 5, 11)
    assert status.last_milestone is not None and status.last_milestone.days == 7
    assert result.previous is None and not result.after_relapse
    assert status.timezone == "UTC" and status.timezone_notice
    shown = await service.show(G1, U1)
    assert shown is not None and shown.days == 20 and not shown.timezone_notice
    assert await service.show(G2, U1) is None
    assert await service.clear(G1, U1)
    assert not await service.clear(G1, U1)
    assert await service.show(G1, U1) is None


async def test_setting_today_is_day_zero(service: SobrietyService) -> None:
    """A date of today is 0 days, with 1 day the next milestone."""
    status = (await service.set_date(G1, U1, date(2024, 5, 1))).status
    assert (status.days, status.next_milestone.days, status.days_until_next) == (0, 1, 1)
    assert status.last_milestone is None


async def test_later_date_after_relapse_is_flagged_kindly(service: SobrietyService) -> None:
    """A later date than before is a new start (flagged); an earlier one is a correction."""
    await service.set_date(G1, U1, "2024-01-01")
    relapse = await service.set_date(G1, U1, "2024-04-30")
    assert relapse.after_relapse and relapse.previous == date(2024, 1, 1) and relapse.status.days == 1
    correction = await service.set_date(G1, U1, "2024-04-01")
    assert not correction.after_relapse and correction.previous == date(2024, 4, 30)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-05-02", "future"),
        ("1899-12-31", "1900-01-01"),
        ("01/05/2024", "YYYY-MM-DD"),
        ("2024-13-01", "real calendar date"),
    ],
)
async def test_invalid_dates_are_refused(service: SobrietyService, text: str, message: str) -> None:
    """Future, too old and malformed dates are UserErrors, and nothing is stored."""
    with pytest.raises(UserError, match=message):
        await service.set_date(G1, U1, text)
    assert await service.show(G1, U1) is None


async def test_future_means_future_for_the_member(service: SobrietyService, db: Database, clock: FakeClock) -> None:
    """At noon UTC on 1 May it is already 2 May in Kiritimati, so 2 May is allowed there only."""
    with pytest.raises(UserError, match="today is 2024-05-01"):
        await service.set_date(G1, U2, "2024-05-02")
    await _set_timezone(db, clock, U1, "Pacific/Kiritimati")
    status = (await service.set_date(G1, U1, "2024-05-02")).status
    assert status.days == 0 and status.timezone == "Pacific/Kiritimati"


# --------------------------------------------------------------------------- milestones due, once


async def test_a_milestone_is_due_once_and_stays_celebrated_across_restarts(
    db: Database, clock: FakeClock, service: SobrietyService
) -> None:
    """Day 7 becomes due at local midnight, is claimed once, and a new service does not repeat it."""
    await service.set_date(G1, U1, "2024-04-25", announce=True)  # day 6 today
    assert await service.due_milestones() == []
    clock.now = at("UTC", 2024, 5, 2, 0, 0)
    (due,) = await service.due_milestones()
    assert (due.guild_id, due.user_id, due.milestone.label, due.days) == (G1, U1, "7 days", 7)
    assert due.announce and due.celebrations_channel_id is None
    assert await service.mark_celebrated(due)
    assert not await service.mark_celebrated(due)
    assert await service.due_milestones() == []
    restarted = SobrietyService(db, clock)
    assert await restarted.due_milestones() == []
    assert not await restarted.mark_celebrated(due)
    clock.now = at("UTC", 2024, 5, 25, 0, 0)  # day 30
    (next_due,) = await restarted.due_milestones()
    assert next_due.milestone.days == 30


async def test_milestone_missed_while_down_is_still_celebrated(service: SobrietyService, clock: FakeClock) -> None:
    """A milestone reached while the bot was down is due when it is back, not lost."""
    await service.set_date(G1, U1, "2024-04-25")
    clock.now = at("UTC", 2024, 5, 5, 9)  # day 10: the bot was down on day 7
    (due,) = await service.due_milestones()
    assert due.milestone.days == 7 and due.days == 10


async def test_downtime_over_several_milestones_celebrates_only_the_highest(
    service: SobrietyService, clock: FakeClock
) -> None:
    """No burst: after missing 30 and 60 days, only 60 is celebrated, then 90 is next."""
    await service.set_date(G1, U1, "2024-04-25")
    clock.now = at("UTC", 2024, 6, 26, 9)  # day 62
    (due,) = await service.due_milestones()
    assert due.milestone.days == 60
    assert await service.mark_celebrated(due)
    assert await service.due_milestones() == []
    clock.now = at("UTC", 2024, 7, 24, 9)  # day 90
    assert [d.milestone.days for d in await service.due_milestones()] == [90]


async def test_past_milestones_are_not_celebrated_when_setting_a_date(
    service: SobrietyService, clock: FakeClock
) -> None:
    """Milestones behind the member when they set the date are not celebrated; one reached that day is."""
    await service.set_date(G1, U1, "2024-03-02")  # day 60 today: celebrated
    await service.set_date(G1, U2, "2024-02-26")  # day 65: 60 is behind, 90 is next
    assert [(d.user_id, d.milestone.days) for d in await service.due_milestones()] == [(U1, 60)]


async def test_milestones_come_in_each_members_timezone(
    service: SobrietyService, db: Database, clock: FakeClock
) -> None:
    """At 12:00 UTC it is already the next day in Auckland: that member's milestone is due first."""
    await _set_timezone(db, clock, U1, "Pacific/Auckland")
    await _set_timezone(db, clock, U2, "America/Los_Angeles")
    for user in (U1, U2):
        await service.set_date(G1, user, "2024-04-25")
    clock.now = at("Pacific/Auckland", 2024, 5, 2, 0, 0)  # 1 May, 12:00 UTC
    assert [d.user_id for d in await service.due_milestones()] == [U1]
    clock.now = at("America/Los_Angeles", 2024, 5, 2, 0, 0)
    assert sorted(d.user_id for d in await service.due_milestones()) == [U1, U2]


async def test_announce_carries_the_celebrations_channel(
    service: SobrietyService, db: Database, clock: FakeClock
) -> None:
    """Announced milestones carry the server's celebrations channel; unannounced ones do not."""
    await db.transaction(lambda c: set_setting(c, G1, "celebrations_channel", "555", clock.now, None))
    await service.set_date(G1, U1, "2024-04-30", announce=True)
    await service.set_date(G1, U2, "2024-04-30", announce=False)
    clock.now = at("UTC", 2024, 5, 2, 9)
    due = {d.user_id: d for d in await service.due_milestones()}
    assert due[U1].celebrations_channel_id == 555
    assert due[U2].celebrations_channel_id is None


async def test_release_makes_a_milestone_due_again(service: SobrietyService, clock: FakeClock) -> None:
    """If the congratulation could not be sent, releasing the claim makes it due again."""
    await service.set_date(G1, U1, "2024-04-30")
    clock.now = at("UTC", 2024, 5, 2, 9)
    (due,) = await service.due_milestones()
    assert await service.mark_celebrated(due)
    await service.release_celebration(due)
    assert await service.due_milestones() == [due]
    assert await service.mark_celebrated(due)


async def test_a_first_failure_in_passing_asks_for_an_early_check_then_backs_off(
    service: SobrietyService, clock: FakeClock
) -> None:
    """The milestone DM's first failure in passing asks for a check FIRST_RETRY later (the same milestone,
    so the same nonce); a second failure of it waits for the next regular check."""
    await service.set_date(G1, U1, "2024-04-30")
    clock.now = at("UTC", 2024, 5, 2, 9)
    (due,) = await service.due_milestones()
    assert await service.mark_celebrated(due)
    early = at("UTC", 2024, 5, 2, 9) + FIRST_RETRY
    assert await service.release_celebration(due, transient=True) == early
    assert service.next_retry_at() == early
    clock.now = early
    assert service.next_retry_at() is None  # its time has come: the check now sends it
    assert await service.due_milestones() == [due]
    assert await service.mark_celebrated(due)
    assert await service.release_celebration(due, transient=True) is None
    assert service.next_retry_at() is None
    assert await service.due_milestones() == [due]  # still released: the next regular check sends it


async def test_a_refusal_asks_for_no_early_check(service: SobrietyService, clock: FakeClock) -> None:
    """A refusal (nothing was made) is released for the next regular check, with no early one."""
    await service.set_date(G1, U1, "2024-04-30")
    clock.now = at("UTC", 2024, 5, 2, 9)
    (due,) = await service.due_milestones()
    assert await service.mark_celebrated(due)
    assert await service.release_celebration(due) is None
    assert service.next_retry_at() is None
    assert await service.due_milestones() == [due]


async def test_early_checks_are_per_milestone_and_the_earliest_comes_first(
    service: SobrietyService, clock: FakeClock
) -> None:
    """Two members' DMs failing in passing a little apart: each gets its early check; the earliest is next."""
    await service.set_date(G1, U1, "2024-04-30")
    await service.set_date(G1, U2, "2024-04-30")
    clock.now = at("UTC", 2024, 5, 2, 9)
    first, second = sorted(await service.due_milestones(), key=lambda d: d.user_id)
    assert await service.mark_celebrated(first) and await service.mark_celebrated(second)
    one = await service.release_celebration(first, transient=True)
    clock.advance(seconds=20)
    two = await service.release_celebration(second, transient=True)
    assert one is not None and two is not None and one < two
    assert service.next_retry_at() == one
    clock.now = one
    assert service.next_retry_at() == two


async def test_a_changed_date_invalidates_an_old_claim(service: SobrietyService, clock: FakeClock) -> None:
    """A milestone found for an old date cannot be claimed after the date changed or was cleared."""
    await service.set_date(G1, U1, "2024-04-24")
    clock.now = at("UTC", 2024, 5, 1, 9)
    (stale,) = await service.due_milestones()
    await service.set_date(G1, U1, "2024-04-30")
    assert not await service.mark_celebrated(stale)
    await service.release_celebration(stale)  # harmless
    await service.clear(G1, U1)
    assert not await service.mark_celebrated(stale)


async def test_concurrent_claims_celebrate_once(service: SobrietyService, clock: FakeClock) -> None:
    """Many tasks claiming the same milestone at once: exactly one wins."""
    await service.set_date(G1, U1, "2024-04-30")
    clock.now = at("UTC", 2024, 5, 2, 9)
    (due,) = await service.due_milestones()
    results = await asyncio.gather(*(service.mark_celebrated(due) for _ in range(20)))
    assert results.count(True) == 1


async def test_same_date_again_keeps_celebrations(service: SobrietyService, clock: FakeClock) -> None:
    """Setting the same date again (to change `announce`) does not make a celebrated milestone due again."""
    await service.set_date(G1, U1, "2024-04-24")
    (due,) = await service.due_milestones()
    assert await service.mark_celebrated(due)
    again = await service.set_date(G1, U1, "2024-04-24", announce=True)
    assert not again.after_relapse and again.status.announce
    assert await service.due_milestones() == []


def test_due_milestone_is_a_plain_value() -> None:
    """Due milestones compare by value (the cog can keep and compare them)."""
    m = milestone_on_or_after(date(2024, 1, 1), 7)
    assert DueMilestone(G1, U1, date(2024, 1, 1), m, 7, False, None) == DueMilestone(
        G1, U1, date(2024, 1, 1), m, 7, False, None
    )

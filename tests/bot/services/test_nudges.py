"""Tests of the nudge ladder on an injectable clock: participants, every step, reset by activity,
opt-out and pause, quiet hours across timezones, the throttle, closed DMs, settings, and at-most-once
across a simulated crash between claiming, sending and recording."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from random import Random

import pytest

from bot.db.connection import Database
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import checkins as checkins_repo
from bot.db.repositories import nudges as repo
from bot.db.repositories.guilds import ensure_guild, set_setting
from bot.errors import UserError
from bot.services.activity import ActivityBatch
from bot.services.checkins import track_day
from bot.services.guidance import GuidanceLibrary
from bot.services.localtime import epoch_day
from bot.services.nudges import (
    DmThrottle,
    NudgeAction,
    NudgeService,
    NudgeSweeper,
    SweepReport,
    in_daytime,
    next_daytime,
)
from bot.timeutil import to_timestamp
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, U3, FakeClock, at

START = at("UTC", 2024, 5, 1, 12, 0)
BUDDY = 900_000_000_000_000_777
ROLE = 555


class Crash(BaseException):
    """The process dies here (not an ``Exception``: nothing in the bot catches it)."""


class Discord:
    """Where the steps go, as a fake Messenger: messages "on Discord", closed DMs, crashes."""

    def __init__(self) -> None:
        self.delivered: list[NudgeAction] = []
        self.closed: set[int] = set()
        self.gone: set[int] = set()
        self.crash_before_send = False
        self.crash_after_send = False
        self.unverifiable = False
        self.no_channel = False

    async def deliver(self, action: NudgeAction) -> str:
        if self.crash_before_send:
            raise Crash
        if action.target_id in self.gone:
            return "gone"
        if action.step < 3 and action.target_id in self.closed:
            return "dm_closed"
        self.delivered.append(action)
        if self.crash_after_send:
            raise Crash
        return "sent"

    async def find_delivered(self, action: NudgeAction) -> bool | None:
        if self.unverifiable:
            return None
        return any(a.ref == action.ref for a in self.delivered)

    def log(self) -> list[tuple[int, int, int]]:
        """(step, member, recipient) of every message."""
        return [(a.step, a.user_id, a.target_id) for a in self.delivered]


class World:
    """A service and its sweeper on a fake clock, with helpers to set members up."""

    def __init__(self, db: Database, clock: FakeClock, discord: Discord, throttle: DmThrottle | None = None) -> None:
        self.db = db
        self.clock = clock
        self.discord = discord
        self.service = NudgeService(db, clock, GuidanceLibrary.load(), throttle=throttle, rng=Random(7))
        self.sweeper = NudgeSweeper(self.service, discord)

    def restart(self) -> None:
        """A new run of the bot on the same database (a new run id, nothing in memory)."""
        self.service = NudgeService(self.db, self.clock, GuidanceLibrary.load(), rng=Random(8))
        self.sweeper = NudgeSweeper(self.service, self.discord)

    async def sweep(self, **delta: float) -> SweepReport:
        if delta:
            self.clock.advance(**delta)
        return await self.sweeper.run_once()

    async def active(self, guild: int, user: int, moment: datetime | None = None) -> None:
        await self.service.record_activity(ActivityBatch({(guild, user): moment or self.clock()}))

    async def run(self, work: Callable[[sqlite3.Connection], object]) -> None:
        await self.db.transaction(work)

    async def sober(self, guild: int, user: int) -> None:
        """Give the member a sobriety date (they participate)."""
        day = epoch_day(START.date()) - 40
        now = self.clock()

        def work(conn: sqlite3.Connection) -> None:
            ensure_guild(conn, guild, now)
            checkins_repo.set_sobriety(conn, guild, user, since_day=day, announce=False, next_milestone=60, now=now)

        await self.run(work)

    async def pair(self, guild: int, member: int, buddy: int) -> None:
        now = self.clock()

        def work(conn: sqlite3.Connection) -> None:
            ensure_guild(conn, guild, now)
            buddies_repo.insert_pair(conn, guild, member, buddy, ROLE, status="active", now=now)

        await self.run(work)

    async def timezone(self, guild: int, user: int, zone: str) -> None:
        now = self.clock()

        def work(conn: sqlite3.Connection) -> None:
            ensure_guild(conn, guild, now)
            checkins_repo.set_timezone(conn, guild, user, zone)

        await self.run(work)

    async def setting(self, guild: int, key: str, value: str) -> None:
        now = self.clock()
        await self.run(lambda c: set_setting(c, guild, key, value, now, None))

    async def member(self, guild: int, user: int) -> repo.MemberRow:
        row = await self.db.read(lambda c: repo.get_member(c, guild, user))
        assert row is not None
        return row

    async def steps(self, guild: int, user: int) -> list[tuple[int, str]]:
        row = await self.member(guild, user)
        found = await self.db.read(lambda c: repo.spell_steps(c, guild, user, row.spell))
        return [(s.step, s.outcome) for s in found]


@pytest.fixture
def discord() -> Discord:
    return Discord()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def world(db: Database, clock: FakeClock, discord: Discord) -> World:
    w = World(db, clock, discord)
    await w.setting(G1, "moderator_channel", "4242")
    return w


# --------------------------------------------------------------------------- who is nudged


async def test_a_non_participant_is_never_nudged_and_looked_at_again_daily(world: World) -> None:
    """A quiet member with no buddy, check-in, sobriety date or /nudges on gets nothing, ever."""
    await world.active(G1, U1)
    for _ in range(12):
        await world.sweep(days=1)
    assert world.discord.delivered == []
    row = await world.member(G1, U1)
    assert row.participant is False and row.step == 0
    assert row.next_check_at == world.clock() + timedelta(days=1)


async def test_the_whole_ladder_once_per_spell(world: World) -> None:
    """Day 3: the member's DM with a passage; day 5: the buddy's note; day 7: the moderators' notice,
    listing the steps taken. Nothing more after that, however long the silence."""
    await world.active(G1, U1)
    await world.pair(G1, U1, BUDDY)
    await world.sweep(days=2, hours=23)
    assert world.discord.delivered == []
    await world.sweep(hours=1)
    (dm,) = world.discord.delivered
    assert (dm.step, dm.target_id, dm.quiet_days) == (1, U1, 3)
    assert dm.passage is not None and dm.passage.topic == "why"
    await world.sweep()  # the same moment again: nothing twice
    await world.sweep(days=2)
    assert world.discord.log() == [(1, U1, U1), (2, U1, BUDDY)]
    assert world.discord.delivered[1].quiet_days == 5
    await world.sweep(days=2)
    notice = world.discord.delivered[2]
    assert (notice.step, notice.target_id, notice.quiet_days) == (3, 4242, 7)
    assert [(s.step, s.outcome) for s in notice.steps] == [(1, "sent"), (2, "sent")]
    for _ in range(5):
        await world.sweep(days=3)
    assert len(world.discord.delivered) == 3
    assert await world.steps(G1, U1) == [(1, "sent"), (2, "sent"), (3, "sent")]
    assert (await world.member(G1, U1)).next_check_at is None


async def test_activity_ends_the_spell_and_the_ladder_starts_over(world: World) -> None:
    """After the DM the member posts: no buddy note; three quiet days later a new spell's DM."""
    await world.active(G1, U1)
    await world.pair(G1, U1, BUDDY)
    await world.sweep(days=3)
    await world.active(G1, U1, world.clock() + timedelta(hours=1))
    await world.sweep(days=2)
    assert world.discord.log() == [(1, U1, U1)]
    await world.sweep(days=2, hours=1)
    assert world.discord.log() == [(1, U1, U1), (1, U1, U1)]
    assert world.discord.delivered[0].spell != world.discord.delivered[1].spell


async def test_activity_keeps_the_check_and_the_sweep_moves_it_to_the_new_spell(world: World) -> None:
    """Activity does not move the next check (a "no earlier than"): the sweep finds the new spell
    with no step taken and looks again on its first step's day, when the DM goes out."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    first = START + timedelta(days=3)
    assert (await world.member(G1, U1)).next_check_at == first
    await world.active(G1, U1, START + timedelta(days=2))
    assert (await world.member(G1, U1)).next_check_at == first
    await world.sweep(days=3)
    row = await world.member(G1, U1)
    assert world.discord.delivered == [] and row.step == 0
    assert row.next_check_at == START + timedelta(days=5)
    await world.sweep(days=2)
    (dm,) = world.discord.delivered
    assert (dm.step, dm.spell) == (1, to_timestamp(START + timedelta(days=2)))


async def test_a_member_active_every_day_is_never_nudged(world: World) -> None:
    """Activity every day: every sweep finds a new spell, however stale the check it was due at."""
    await world.sober(G1, U1)
    for _ in range(12):
        await world.active(G1, U1)
        await world.sweep(days=1)
    assert world.discord.delivered == []
    assert (await world.member(G1, U1)).step == 0


async def test_a_non_participant_is_looked_at_no_sooner_than_their_next_steps_day(world: World) -> None:
    """A quiet non-participant is looked at again a day later; one active meanwhile not before the
    first step's day of their new spell (nothing could be due for them before it)."""
    await world.active(G1, U1)
    await world.sweep(days=3)
    assert (await world.member(G1, U1)).next_check_at == world.clock() + timedelta(days=1)
    active = world.clock() + timedelta(hours=3)
    await world.active(G1, U1, active)
    await world.sweep(days=1)
    row = await world.member(G1, U1)
    assert row.participant is False and row.next_check_at == active + timedelta(days=3)
    await world.pair(G1, U1, BUDDY)  # now a participant: the DM comes on the spell's day
    await world.sweep(days=2, hours=3)
    assert world.discord.log() == [(1, U1, U1)]


async def test_a_check_in_makes_a_participant_and_counts_as_activity(world: World) -> None:
    """A check-in in the last 30 days makes the member participate; a newer one than their last seen
    activity (e.g. from a DM button) ends the quiet spell."""
    await world.active(G1, U1)
    now = world.clock()
    day = epoch_day(now.date())
    row = checkins_repo.CheckinRow(G1, U1, day, 3, 2, True, "private words", now)
    await world.run(lambda c: (checkins_repo.upsert_checkin(c, row), track_day(c, G1, U1, day)))
    await world.sweep(days=3)
    assert world.discord.log() == [(1, U1, U1)]
    later = world.clock() + timedelta(hours=2)
    row2 = checkins_repo.CheckinRow(G1, U1, day + 3, 4, 1, True, None, later)
    await world.run(lambda c: (checkins_repo.upsert_checkin(c, row2), track_day(c, G1, U1, day + 3)))
    await world.sweep(days=2, hours=3)  # day 5: a buddy step would be due, but the spell ended
    assert world.discord.log() == [(1, U1, U1)]
    assert (await world.member(G1, U1)).last_active_at == later


# --------------------------------------------------------------------------- choices


async def test_nudges_off_stops_everything_at_once_and_on_makes_a_participant(world: World) -> None:
    """/nudges on makes anyone a participant; /nudges off mid-ladder stops it; nothing reaches the buddy."""
    await world.active(G1, U1)
    status = await world.service.set_opt(G1, U1, on=True)
    assert status.participating and status.reasons == ("asked",)
    await world.pair(G1, U1, BUDDY)
    await world.sweep(days=3)
    assert world.discord.log() == [(1, U1, U1)]
    status = await world.service.set_opt(G1, U1, on=False)
    assert not status.participating and status.opt == "off"
    for _ in range(6):
        await world.sweep(days=1)
    assert world.discord.log() == [(1, U1, U1)]
    assert (await world.member(G1, U1)).next_check_at is None


async def test_pause_holds_the_ladder_until_it_ends(world: World) -> None:
    """A 5-day pause: nothing while it lasts; at its end the ladder goes on."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    status = await world.service.pause(G1, U1, 5)
    assert status.paused_until == world.clock() + timedelta(days=5)
    for _ in range(4):
        await world.sweep(days=1)
    assert world.discord.delivered == []
    await world.sweep(days=1)
    assert world.discord.log() == [(1, U1, U1)]
    with pytest.raises(UserError):
        await world.service.pause(G1, U1, 31)
    with pytest.raises(UserError):
        await world.service.pause(G1, U1, 0)


async def test_status_tells_why_a_member_participates(world: World) -> None:
    """The reasons: asked, buddy, check-in, sobriety."""
    await world.sober(G1, U1)
    await world.pair(G1, U1, BUDDY)
    status = await world.service.status(G1, U1)
    assert status.reasons == ("buddy", "sobriety") and status.opt == "auto" and status.participating
    assert (await world.service.status(G1, U2)).reasons == ()
    assert (await world.service.status(G1, BUDDY)).reasons == ("buddy",)


async def test_a_check_in_through_the_check_in_service_makes_a_participant(world: World) -> None:
    """A check-in as members make them (the check-in service, which keeps the stored streaks the
    participation query looks at first) counts; a quick one a month later no longer does."""
    from bot.services.checkins import CheckinService

    checkins = CheckinService(world.db, world.clock, GuidanceLibrary.load())
    await checkins.record_checkin(G1, U1, 4, 1, True, "private words")
    assert (await world.service.status(G1, U1)).reasons == ("checkin",)
    world.clock.advance(days=31)
    assert (await world.service.status(G1, U1)).reasons == ()
    await checkins.record_quick_checkin(G1, U1, 3)
    assert (await world.service.status(G1, U1)).reasons == ("checkin",)


# --------------------------------------------------------------------------- quiet hours, throttle


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", at("UTC", 2024, 5, 4, 12, 0)),  # 12:00 there: at once
        ("America/Los_Angeles", at("America/Los_Angeles", 2024, 5, 4, 9, 0)),  # 05:00 there: at 09:00
        ("Asia/Tokyo", at("Asia/Tokyo", 2024, 5, 5, 9, 0)),  # 21:00 there: the next morning
        ("Pacific/Kiritimati", at("Pacific/Kiritimati", 2024, 5, 5, 9, 0)),  # 02:00 there (UTC+14)
    ],
)
async def test_dms_wait_for_daytime_in_the_members_timezone(world: World, zone: str, expected: datetime) -> None:
    """The member's DM is sent between 09:00 and 21:00 their time only."""
    await world.sober(G1, U1)
    await world.timezone(G1, U1, zone)
    await world.active(G1, U1)
    await world.sweep(days=3)
    if expected == world.clock():
        assert world.discord.log() == [(1, U1, U1)]
        return
    assert world.discord.delivered == []
    assert (await world.member(G1, U1)).next_check_at == expected
    world.clock.now = expected - timedelta(minutes=1)
    await world.sweep()
    assert world.discord.delivered == []
    await world.sweep(minutes=1)
    assert world.discord.log() == [(1, U1, U1)]


async def test_the_buddys_note_waits_for_daytime_in_the_buddys_timezone(world: World) -> None:
    """The note goes out in the recipient's daytime."""
    await world.pair(G1, U1, BUDDY)
    await world.timezone(G1, BUDDY, "Asia/Tokyo")
    await world.active(G1, U1)
    await world.sweep(days=3)
    await world.sweep(days=2)  # 12:00 UTC = 21:00 in Tokyo
    assert world.discord.log() == [(1, U1, U1)]
    assert (await world.member(G1, U1)).next_check_at == at("Asia/Tokyo", 2024, 5, 7, 9, 0)


def test_daytime_bounds() -> None:
    """09:00 is in, 21:00 is out; the next daytime is 09:00 local, across DST."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    assert in_daytime(at("America/New_York", 2024, 3, 10, 9, 0), ny)
    assert not in_daytime(at("America/New_York", 2024, 3, 10, 21, 0), ny)
    assert not in_daytime(at("America/New_York", 2024, 3, 10, 8, 59), ny)
    assert next_daytime(at("America/New_York", 2024, 3, 9, 23, 0), ny) == at("America/New_York", 2024, 3, 10, 9, 0)
    noon = at("America/New_York", 2024, 3, 10, 12, 0)
    assert next_daytime(noon, ny) == noon


async def test_throttle_spreads_a_large_batch_and_drops_nothing(
    db: Database, clock: FakeClock, discord: Discord
) -> None:
    """25 members due at once in one server: 10 DMs a minute, all 25 within three minutes; another
    server is not held up by the first one's batch."""
    world = World(db, clock, discord)
    members = [800 + n for n in range(25)]
    for user in members:
        await world.service.set_opt(G1, user, on=True)
    await world.service.set_opt(G2, U1, on=True)
    await world.sweep(days=3)
    assert len(discord.delivered) == 11
    assert sum(1 for a in discord.delivered if a.guild_id == G2) == 1
    assert world.service.throttle.used(G1, clock()) == 10
    await world.sweep(seconds=30)
    assert len(discord.delivered) == 11
    await world.sweep(seconds=30)
    assert len(discord.delivered) == 21
    await world.sweep(minutes=1)
    assert sorted(a.user_id for a in discord.delivered if a.guild_id == G1) == members


async def test_many_due_members_are_looked_at_in_few_transactions(world: World) -> None:
    """250 quiet non-participants: one claim transaction looks at all of them (100 at a time); with a
    cap of 200 rows it says more are due, and the next one finishes."""
    await world.service.seed_members(G1, [(5000 + n, None) for n in range(250)])
    world.clock.advance(days=3)
    capped = await world.service.claim_due(100, max_rows=200)
    assert capped.actions == [] and capped.more
    rest = await world.service.claim_due(100, max_rows=200)
    assert rest.actions == [] and not rest.more
    assert await world.service.next_check_at() == world.clock() + timedelta(days=1)


def test_throttle_window() -> None:
    """A slot frees one window after it was taken; a member's own request counts but is never refused."""
    throttle = DmThrottle(limit=2)
    assert throttle.try_take(G1, START) is None
    assert throttle.try_take(G1, START + timedelta(seconds=10)) is None
    assert throttle.try_take(G1, START + timedelta(seconds=20)) == START + timedelta(minutes=1)
    assert throttle.try_take(G2, START) is None
    assert throttle.try_take(G1, START + timedelta(minutes=1)) is None
    throttle.record(G1, START + timedelta(minutes=1))
    assert throttle.used(G1, START + timedelta(minutes=1)) == 3


# --------------------------------------------------------------------------- closed DMs, no buddy


async def test_a_closed_dm_skips_to_the_buddy_at_once_and_is_noted_for_moderators(world: World) -> None:
    """The member's DMs are closed: the buddy is told in the same sweep; the moderators' notice
    (day 7) says the DM could not be delivered. Nothing is posted publicly."""
    await world.pair(G1, U1, BUDDY)
    world.discord.closed.add(U1)
    await world.active(G1, U1)
    report = await world.sweep(days=3)
    assert world.discord.log() == [(2, U1, BUDDY)]
    assert report.outcomes == {"dm_closed": 1, "sent": 1}
    await world.sweep(days=4)
    notice = world.discord.delivered[-1]
    assert notice.step == 3 and [(s.step, s.outcome) for s in notice.steps] == [(1, "dm_closed"), (2, "sent")]


async def test_no_buddy_and_closed_dms_go_straight_to_the_moderators(world: World) -> None:
    """No buddy to tell and the DM bounced: the moderators hear at once."""
    await world.sober(G1, U1)
    world.discord.closed.add(U1)
    await world.active(G1, U1)
    await world.sweep(days=3)
    (notice,) = world.discord.delivered
    assert notice.step == 3 and [(s.step, s.outcome) for s in notice.steps] == [(1, "dm_closed"), (2, "no_buddy")]


async def test_without_a_buddy_the_moderators_hear_on_their_day(world: World) -> None:
    """No buddy: step 2 is recorded as such, and the notice comes at moderator_after_days."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    await world.sweep(days=3)
    await world.sweep(days=2)
    assert world.discord.log() == [(1, U1, U1)]
    assert await world.steps(G1, U1) == [(1, "sent"), (2, "no_buddy")]
    await world.sweep(days=2)
    assert world.discord.log() == [(1, U1, U1), (3, U1, 4242)]


async def test_without_a_moderators_channel_nothing_is_posted_anywhere(
    db: Database, clock: FakeClock, discord: Discord
) -> None:
    """No channel set: the notice is recorded as impossible, and no message goes anywhere instead."""
    world = World(db, clock, discord)
    await world.sober(G1, U1)
    await world.active(G1, U1)
    await world.sweep(days=3)
    await world.sweep(days=4)
    assert world.discord.log() == [(1, U1, U1)]
    assert await world.steps(G1, U1) == [(1, "sent"), (2, "no_buddy"), (3, "no_channel")]


async def test_a_member_who_left_is_not_chased(world: World) -> None:
    """The DM finds the member gone: they are marked absent, and nothing more happens."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    world.discord.gone.add(U1)
    await world.sweep(days=3)
    for _ in range(5):
        await world.sweep(days=1)
    assert world.discord.delivered == []
    row = await world.member(G1, U1)
    assert not row.present and row.next_check_at is None


# --------------------------------------------------------------------------- "Ask my buddy to reach out"


async def test_asking_for_the_buddy_tells_them_once_per_spell(world: World) -> None:
    """The button claims the buddy's note for the spell; a second press, or the sweep, sends no other."""
    await world.pair(G1, U1, BUDDY)
    await world.active(G1, U1)
    await world.sweep(days=3)
    dm = world.discord.delivered[0]
    action = await world.service.request_buddy(G1, U1, dm.spell)
    assert (action.step, action.target_id, action.requested) == (2, BUDDY, True)
    with pytest.raises(UserError, match="already"):
        await world.service.request_buddy(G1, U1, dm.spell)
    await world.sweep(days=2)
    assert world.discord.log() == [(1, U1, U1)]  # the sweep skipped step 2: claimed by the button


async def test_asking_without_a_buddy_says_so(world: World) -> None:
    """No buddy: a clear answer, nothing claimed."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    with pytest.raises(UserError, match="don't have a buddy"):
        await world.service.request_buddy(G1, U1, 123)


# --------------------------------------------------------------------------- at most once across crashes


async def test_crash_after_sending_before_recording_never_sends_twice(world: World) -> None:
    """The DM reached Discord, then the process died before recording it: the next run finds the
    message and records it as sent, without sending it again."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    world.discord.crash_after_send = True
    with pytest.raises(Crash):
        await world.sweep(days=3)
    assert await world.steps(G1, U1) == [(1, "pending")]
    world.discord.crash_after_send = False
    world.restart()
    report = await world.sweep(minutes=5)
    assert report.recovered == 1
    assert world.discord.log() == [(1, U1, U1)]
    assert await world.steps(G1, U1) == [(1, "sent")]
    await world.sweep(days=1)
    assert world.discord.log() == [(1, U1, U1)]


async def test_crash_after_claiming_before_sending_sends_exactly_once(world: World) -> None:
    """The step was claimed, then the process died before sending: the next run sees no message
    and sends it, once."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    world.discord.crash_before_send = True
    with pytest.raises(Crash):
        await world.sweep(days=3)
    world.discord.crash_before_send = False
    world.restart()
    await world.sweep(minutes=5)
    await world.sweep(minutes=5)
    assert world.discord.log() == [(1, U1, U1)]
    assert await world.steps(G1, U1) == [(1, "sent")]


async def test_when_it_cannot_be_told_a_claim_is_not_repeated(world: World) -> None:
    """After a crash, if Discord cannot say whether the message is there, it is not sent again."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    world.discord.crash_before_send = True
    with pytest.raises(Crash):
        await world.sweep(days=3)
    world.discord.crash_before_send = False
    world.discord.unverifiable = True
    world.restart()
    await world.sweep(minutes=5)
    assert world.discord.delivered == []
    assert await world.steps(G1, U1) == [(1, "unknown")]


async def test_a_claim_left_by_a_crash_is_dropped_if_the_member_came_back(world: World) -> None:
    """Not sent before the crash, and the member has been active since: it is not sent late."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    world.discord.crash_before_send = True
    with pytest.raises(Crash):
        await world.sweep(days=3)
    world.discord.crash_before_send = False
    row = await world.member(G1, U1)
    await world.active(G1, U1, world.clock() + timedelta(minutes=1))
    world.restart()
    await world.sweep(minutes=5)
    assert world.discord.delivered == []
    found = await world.db.read(lambda c: repo.spell_steps(c, G1, U1, row.spell))
    assert [(s.step, s.outcome) for s in found] == [(1, "dropped")]


async def test_a_sweep_due_while_the_bot_was_down_runs_when_it_is_back(world: World) -> None:
    """Down from day 2 to day 6: the first sweep after the restart sends the DM. The buddy's day
    (5) has passed too, but the member still gets the two days between the steps to answer."""
    await world.pair(G1, U1, BUDDY)
    await world.active(G1, U1)
    await world.sweep(days=2)
    world.restart()
    await world.sweep(days=4)
    assert world.discord.log() == [(1, U1, U1)]
    await world.sweep(days=1, hours=23)
    assert world.discord.log() == [(1, U1, U1)]
    await world.sweep(hours=1)
    assert world.discord.log() == [(1, U1, U1), (2, U1, BUDDY)]


# --------------------------------------------------------------------------- settings and lists


async def test_settings_must_grow_step_by_step(world: World) -> None:
    """quiet < buddy < moderator, checked on the merged values; bounds per setting."""
    config = await world.service.configure(G1, U3, quiet_days=2, buddy_after_days=4, moderator_after_days=6)
    assert (config.quiet_days, config.buddy_after_days, config.moderator_after_days) == (2, 4, 6)
    with pytest.raises(UserError, match="quiet_days < buddy_after_days < moderator_after_days"):
        await world.service.configure(G1, U3, quiet_days=4)
    with pytest.raises(UserError, match="at most 60"):
        await world.service.configure(G1, U3, quiet_days=61)
    assert (await world.service.get_config(G1)).quiet_days == 2


async def test_shorter_days_take_effect_for_members_already_waiting(world: World) -> None:
    """A member scheduled at day 3 is nudged at day 2 once the moderators shorten quiet_days."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    await world.sweep(days=2)
    assert world.discord.delivered == []
    await world.service.configure(G1, U3, quiet_days=2)
    await world.sweep()
    assert world.discord.log() == [(1, U1, U1)]


async def test_turning_nudges_off_and_on_for_the_server(world: World) -> None:
    """Off: nothing for anyone; back on: waiting members are nudged again."""
    await world.sober(G1, U1)
    await world.active(G1, U1)
    await world.service.configure(G1, U3, enabled=False)
    await world.sweep(days=4)
    assert world.discord.delivered == []
    assert (await world.member(G1, U1)).next_check_at is None
    await world.service.configure(G1, U3, enabled=True)
    await world.sweep()
    assert world.discord.log() == [(1, U1, U1)]


async def test_quiet_members_page(world: World) -> None:
    """Participants quiet longer than quiet_days, the quietest first, with the step reached."""
    for user in (U1, U2, U3):
        await world.sober(G1, user)
    await world.active(G1, U1)
    await world.active(G1, U2, world.clock() + timedelta(days=1))
    await world.active(G1, U3, world.clock() + timedelta(days=4))
    await world.sweep(days=3)
    await world.sweep(days=2)
    page = await world.service.quiet_members(G1, per_page=1)
    assert (page.total, page.pages, page.quiet_days) == (2, 2, 3)
    (first,) = page.members
    assert (first.user_id, first.quiet_days, first.step) == (U1, 5, 2)
    assert [(s.step, s.outcome) for s in first.steps] == [(1, "sent"), (2, "no_buddy")]
    second = await world.service.quiet_members(G1, page=5, per_page=1)
    assert second.page == 1 and second.members[0].user_id == U2


async def test_members_seen_first_count_from_their_join_or_from_when_watching_began(world: World) -> None:
    """Old members count from when the bot started watching; newer ones from their join."""
    now = world.clock()
    await world.service.seed_members(G1, [(U1, now - timedelta(days=300)), (U2, now + timedelta(hours=1))])
    assert (await world.member(G1, U1)).last_active_at == now
    assert (await world.member(G1, U2)).last_active_at == now + timedelta(hours=1)
    world.clock.advance(days=1)
    await world.service.seed_members(G1, [(U1, now - timedelta(days=300))])
    assert (await world.member(G1, U1)).last_active_at == now  # seen already: unchanged
    assert await world.service.watching_since(G1) == now
    assert to_timestamp(now) == (await world.member(G1, U1)).spell

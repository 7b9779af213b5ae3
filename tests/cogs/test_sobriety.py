"""``/sobriety`` end to end through the stand-in, the milestone celebrations, the watcher and the renderers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.services.sobriety import DueMilestone, Milestone, SobrietySet, SobrietyStatus
from bot.standin.interactions import InvocationRefused
from bot.standin.model import Member
from bot.standin.server import StandIn
from cogs.sobriety import (
    MilestoneWatcher,
    Sobriety,
    announcement_text,
    milestone_dm_text,
    seconds_until_next_check,
    sobriety_set_reply,
    status_lines,
)
from tests.e2e import FakeClock, Scene, build_scene, running_bot


def cog_of(scene: Scene) -> Sobriety:
    """The loaded sobriety cog (the extension loader re-imports the module: no isinstance)."""
    cog = scene.bot.get_cog("Sobriety")
    assert cog is not None
    return cast(Sobriety, cog)


async def settled(cog: Sobriety) -> None:
    """Wait until the milestone watcher has checked and sleeps again."""
    async with asyncio.timeout(3):
        while not cog.watcher.idle:  # noqa: ASYNC110 - the watcher exposes a state, not an event
            await asyncio.sleep(0.005)


async def next_day(scene: Scene, days: int = 1) -> None:
    """Move the clock on and let the watcher look, as it does at each quarter hour."""
    cog = cog_of(scene)
    await settled(cog)
    scene.clock.advance(days=days)
    cog.watcher.wake()
    await settled(cog)


async def set_date(scene: Scene, member: Member, when: str, *, announce: bool = False) -> str:
    """``/sobriety set``; the private answer's text."""
    answer = await scene.standin.invoke(member, "sobriety set", {"date": when, "announce": announce})
    assert answer.ephemeral
    return answer.content


def celebrations(scene: Scene) -> list[str]:
    """What the bot posted in the celebrations channel."""
    return [m.content for m in scene.celebrations.bot_messages() if not m.ephemeral]


# --------------------------------------------------------------------------- commands


async def test_set_show_and_clear(scene: Scene) -> None:
    """Set a date, see days and the next milestone, clear it."""
    text = await set_date(scene, scene.alice, "2026-10-28")
    assert "Your sobriety date is set: 28 October 2026." in text
    assert "**30 days**" in text
    assert "Last milestone reached: 30 days." in text
    assert "Next milestone: 60 days, on 27 December 2026 (30 days to go)." in text
    assert "privately" in text

    shown = await scene.standin.invoke(scene.alice, "sobriety show")
    assert shown.ephemeral
    assert "Sober since 28 October 2026: **30 days**." in shown.content
    assert "haven't set your timezone" not in shown.content  # told once, when setting

    cleared = await scene.standin.invoke(scene.alice, "sobriety clear")
    assert cleared.ephemeral and "removed" in cleared.content
    empty = await scene.standin.invoke(scene.alice, "sobriety show")
    assert "haven't set a sobriety date" in empty.content
    again = await scene.standin.invoke(scene.alice, "sobriety clear")
    assert "no sobriety date" in again.content


async def test_day_one_and_the_timezone_notice(scene: Scene) -> None:
    """A date of today is day one; the first answer says the timezone is not set."""
    text = await set_date(scene, scene.beth, "2026-11-27")
    assert "today is day one" in text
    assert "Next milestone: 1 day, on 28 November 2026 (1 day to go)." in text
    assert "haven't set your timezone" in text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-28", "still in the future"),
        ("1899-12-31", "from 1900-01-01 onwards"),
        ("28/11/2026", "isn't a date I can read"),
        ("2026-02-30", "isn't a real calendar date"),
    ],
)
async def test_bad_dates_get_clear_private_errors(scene: Scene, given: str, expected: str) -> None:
    """A future date, a date before 1900 or a bad format: a clear ephemeral answer, nothing stored."""
    answer = await scene.standin.invoke(scene.alice, "sobriety set", {"date": given})
    assert answer.ephemeral
    assert expected in answer.content
    assert await cog_of(scene).sobriety.show(scene.guild.id, scene.alice.id) is None


async def test_a_later_date_after_a_relapse_is_answered_kindly(scene: Scene) -> None:
    """Moving the date later (a new start) gets kind words; moving it earlier is a plain correction."""
    await set_date(scene, scene.carl, "2025-01-01")
    text = await set_date(scene, scene.carl, "2026-11-20")
    assert text.startswith("💛 A new start takes courage")
    assert "**7 days**" in text
    corrected = await set_date(scene, scene.carl, "2026-11-19")
    assert corrected.startswith("Your sobriety date is changed to 19 November 2026.")


async def test_announce_without_a_celebrations_channel_says_so(scene: Scene) -> None:
    """announce with no channel set: the answer says only a DM will come."""
    text = await set_date(scene, scene.alice, "2026-11-01", announce=True)
    assert "no celebrations channel yet" in text


async def test_sobriety_is_guild_only(scene: Scene) -> None:
    """/sobriety is not offered in DMs."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice.user, "sobriety show")


# --------------------------------------------------------------------------- milestones


async def test_milestone_dm_and_announcement_once(scene: Scene) -> None:
    """Reaching 7 days: a DM, and (announce) a post in the celebrations channel; once only."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    text = await set_date(scene, scene.alice, "2026-11-21", announce=True)
    assert f"post a short note in <#{scene.celebrations.id}>" in text
    await settled(cog_of(scene))
    assert scene.alice.dms_from_bot() == []  # 6 days: nothing to celebrate yet

    await next_day(scene)
    (dm,) = scene.alice.dms_from_bot()
    assert "**7 days sober** today" in dm.content and "Serenity House" in dm.content
    assert celebrations(scene) == [f"🎉 <@{scene.alice.id}> reached **7 days sober** today. Congratulations!"]
    (post,) = [r for r in scene.standin.requests_to("POST", f"/channels/{scene.celebrations.id}/messages")]
    assert post.body["allowed_mentions"]["parse"] == []

    assert await cog_of(scene).celebrate_due() == 0
    await next_day(scene)
    assert len(scene.alice.dms_from_bot()) == 1
    assert len(celebrations(scene)) == 1


async def test_a_milestone_reached_the_day_the_date_is_set_is_celebrated_at_once(scene: Scene) -> None:
    """Setting yesterday as the date: the 1-day milestone is today, celebrated privately without waiting."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    await set_date(scene, scene.beth, "2026-11-26")
    dm = await scene.standin.wait_for(lambda: scene.beth.dms_from_bot())
    assert "**1 day sober**" in dm[0].content
    assert celebrations(scene) == []  # not announced: private


async def test_milestones_already_behind_are_not_celebrated(scene: Scene) -> None:
    """A date 100 days ago: the 90-day milestone is past and is not celebrated now."""
    await set_date(scene, scene.carl, "2026-08-19")
    await settled(cog_of(scene))
    assert scene.carl.dms_from_bot() == []


async def test_closed_dms_skip_the_dm_quietly_but_still_announce(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    """Dan's DMs are closed: no DM and no error, logged; the post he chose still goes out."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    await set_date(scene, scene.dan, "2026-10-29", announce=True)
    with caplog.at_level(logging.INFO, logger="cogs.sobriety"):
        await next_day(scene)
    assert scene.dan.dms_from_bot() == []
    assert celebrations(scene) == [f"🎉 <@{scene.dan.id}> reached **30 days sober** today. Congratulations!"]
    assert any("DMs are closed" in record.getMessage() for record in caplog.records)


async def test_a_member_who_left_is_not_celebrated(scene: Scene) -> None:
    """A member who left: no DM, no post, and the milestone is not due again."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    await set_date(scene, scene.carl, "2026-11-21", announce=True)
    await scene.carl.leave()
    await next_day(scene)
    assert scene.carl.dms_from_bot() == []
    assert celebrations(scene) == []
    assert await cog_of(scene).sobriety.due_milestones() == []


async def test_a_failed_dm_is_released_and_celebrated_later(scene: Scene) -> None:
    """A DM that fails for a passing reason is not lost: the milestone is celebrated at the next check."""
    await set_date(scene, scene.alice, "2026-11-21")
    await settled(cog_of(scene))
    scene.standin.fail_next("POST", "/channels/{channel_id}/messages", 503)
    await next_day(scene)
    assert scene.alice.dms_from_bot() == []
    assert await cog_of(scene).celebrate_due() == 1
    assert "**7 days sober**" in scene.alice.dms_from_bot()[0].content


async def test_each_milestone_is_celebrated_once_across_restarts(standin: StandIn, tmp_path: Path) -> None:
    """A milestone celebrated before a restart is not celebrated again after it."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await set_date(scene, scene.alice, "2026-11-26")
        await scene.standin.wait_for(lambda: scene.alice.dms_from_bot())
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await settled(cog_of(scene))
        assert await cog_of(scene).celebrate_due() == 0
        assert len(scene.alice.dms_from_bot()) == 1
        await next_day(scene, days=6)  # 7 days: the next milestone, after the restart
        assert len(scene.alice.dms_from_bot()) == 2
        cog = cog_of(scene)
    assert not cog.watcher.running  # stopped with the bot


# --------------------------------------------------------------------------- the watcher


class ManualSleep:
    """A sleep that returns only when the test says so, recording what was asked."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.release.wait()
        self.release = asyncio.Event()


async def test_watcher_checks_at_start_on_wake_and_survives_errors() -> None:
    """The watcher checks at once, sleeps to the next quarter hour, checks when woken, and outlives a failure."""
    clock = FakeClock(datetime(2026, 5, 1, 10, 5, tzinfo=UTC))
    calls: list[datetime] = []
    checked = asyncio.Event()

    async def check() -> int:
        calls.append(clock())
        checked.set()
        if len(calls) == 2:
            raise RuntimeError("boom")
        return 0

    sleep = ManualSleep()
    watcher = MilestoneWatcher(check, clock, sleep=sleep)
    watcher.start()
    try:
        await asyncio.wait_for(checked.wait(), 1)
        await asyncio.sleep(0)
        assert sleep.asked == [600.0]  # 10:05 → 10:15
        for expected in (2, 3):
            checked.clear()
            if expected == 2:
                watcher.wake()
            else:
                clock.advance(minutes=10)
                sleep.release.set()
            await asyncio.wait_for(checked.wait(), 1)
            assert len(calls) == expected
        assert watcher.running
    finally:
        await watcher.stop()
    assert not watcher.running


async def test_watcher_looks_again_at_an_early_retry_before_the_quarter_hour() -> None:
    """An early retry asked for (a DM failed in passing) is looked at then, not at the quarter hour;
    one after the quarter hour changes nothing."""
    clock = FakeClock(datetime(2026, 5, 1, 10, 5, tzinfo=UTC))
    retry_at: list[datetime | None] = [clock() + timedelta(minutes=1)]

    async def check() -> int:
        return 0

    sleep = ManualSleep()
    watcher = MilestoneWatcher(check, clock, sleep=sleep, next_retry=lambda: retry_at[0])
    watcher.start()
    try:
        async with asyncio.timeout(5):
            while not sleep.asked:  # noqa: ASYNC110 - the sleep records its calls, no event
                await asyncio.sleep(0)
        assert sleep.asked == [60.0]
        retry_at[0] = clock() + timedelta(minutes=30)
        clock.advance(minutes=1)
        sleep.release.set()
        async with asyncio.timeout(5):
            while len(sleep.asked) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0)
        assert sleep.asked[1] == 540.0  # 10:06 → 10:15
    finally:
        await watcher.stop()


def test_seconds_until_next_check_is_the_next_utc_quarter_hour() -> None:
    """Local midnights fall on UTC quarter hours: 23:59:30 → 30 s; exactly on one → a whole quarter."""
    assert seconds_until_next_check(datetime(2026, 1, 1, 23, 59, 30, tzinfo=UTC)) == 30.0
    assert seconds_until_next_check(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == 900.0
    assert seconds_until_next_check(datetime(2026, 1, 1, 12, 44, tzinfo=UTC)) == 60.0


# --------------------------------------------------------------------------- pure rendering


def _status(days: int = 45, *, announce: bool = False, notice: bool = False) -> SobrietyStatus:
    since = date(2026, 1, 1)
    return SobrietyStatus(
        since=since,
        days=days,
        next_milestone=Milestone(60, "60 days"),
        next_milestone_date=since + timedelta(days=60),
        days_until_next=60 - days,
        last_milestone=Milestone(30, "30 days") if days >= 30 else None,
        announce=announce,
        timezone="UTC",
        timezone_notice=notice,
    )


def test_status_lines() -> None:
    """Days, last and next milestone, and how they are celebrated."""
    assert status_lines(_status(), None) == [
        "🌱 Sober since 1 January 2026: **45 days**.",
        "🏅 Last milestone reached: 30 days.",
        "🎯 Next milestone: 60 days, on 2 March 2026 (15 days to go).",
        "🎉 Milestones are celebrated privately: I'll send you a DM.",
    ]
    announced = status_lines(_status(announce=True), 42)
    assert announced[-1] == "🎉 At each milestone I'll send you a DM and post a short note in <#42>."
    noticed = status_lines(_status(days=0, notice=True), None)
    assert noticed[0] == "🌱 Sober since 1 January 2026: today is day one."
    assert "Thursday 1 January" in noticed[-1]


def test_set_reply_is_kind_after_a_relapse() -> None:
    """After a relapse the reply starts with kind words; otherwise it is plain."""
    status = _status()
    relapse = sobriety_set_reply(SobrietySet(status, date(2025, 6, 1), after_relapse=True), None)
    assert relapse.startswith("💛 A new start takes courage, and it counts.")
    assert "Your peers are with you." in relapse
    first = sobriety_set_reply(SobrietySet(status, None, after_relapse=False), None)
    assert first.startswith("Your sobriety date is set: 1 January 2026.")


def test_celebration_texts() -> None:
    """The DM names the server (markdown escaped); the post names the member by mention."""
    due = DueMilestone(1, 2, date(2025, 1, 1), Milestone(365, "1 year"), 365, True, 3)
    assert "**1 year sober**" in milestone_dm_text("Sober *House*", due)
    assert "Sober \\*House\\*" in milestone_dm_text("Sober *House*", due)
    assert announcement_text("<@2>", due) == "🎉 <@2> reached **1 year sober** today. Congratulations!"

"""The bot as a real process, stopped the hard way: SIGKILL while check-ins are written and nudges sent
(then restarted on the same database), and SIGTERM (a clean shutdown that writes the activity buffer)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.services.checkins import CheckinService
from bot.services.guidance import GuidanceLibrary
from bot.services.nudges import NudgeService
from bot.standin.interactions import InteractionNotAnswered
from bot.standin.model import Member, Message
from bot.standin.server import StandIn
from bot.timeutil import utc_now
from cogs.buddies import Buddies
from tests.e2e import FakeClock, Scene, build_scene, running_bot
from tests.reliability.support import checkin_days, database_is_sound, lock_holder, query, start_bot, write_lock

QUIET = 8
"""Members due a nudge when the bot starts (under the ten DMs a minute per server: one sweep sends all)."""
WRITERS = 12
"""Members checking in while the bot is killed."""


def nudges_of(member: Member) -> list[Message]:
    """The member's nudge DMs."""
    return [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Thinking of you"]


def daytime_zone(now: datetime) -> str:
    """A timezone where it is 13:00 now (nudge DMs go out from 09:00 to 21:00 local time)."""
    offset = 13 - now.hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # the Etc zones' signs are inverted


async def quiet_for_ten_days(db_path: Path, guild_id: int, members: list[Member], now: datetime) -> None:
    """Before the bot starts: these members turned nudges on ten days ago and have been quiet since."""
    db = await Database.open(db_path)
    try:
        await migrate(db)
        past = FakeClock(now - timedelta(days=10))
        guidance = GuidanceLibrary.load()
        nudges = NudgeService(db, past, guidance)
        checkins = CheckinService(db, past, guidance)
        for member in members:
            await checkins.set_timezone(guild_id, member.id, daytime_zone(now))
            await nudges.set_opt(guild_id, member.id, on=True)
        await nudges.watching_since(guild_id)  # the bot has known the server for ten days
    finally:
        await db.close()


async def keep_checking_in(standin: StandIn, writers: list[Member], confirmed: list[Member]) -> None:
    """Each writer checks in, one after another, until the bot stops answering; ``confirmed`` gets those
    who saw "Check-in saved"."""
    for member in writers:
        options = {"mood": 3, "craving": 2, "sober": True, "note": f"note of {member.name}"}
        try:
            answer = await standin.invoke(member, "checkin today", options, answer_timeout=15)
        except InteractionNotAnswered:
            return
        if "Check-in saved" in answer.content:
            confirmed.append(member)
        await asyncio.sleep(0.1)


async def test_a_killed_bot_loses_no_confirmed_checkin_and_sends_no_nudge_twice(
    standin: StandIn, tmp_path: Path
) -> None:
    """SIGKILL while members check in and eight nudges go out (each DM slowed by a 500 and discord.py's
    1 s back-off; one DM sent, its record waiting on a lock): after a restart every confirmed check-in
    is there, every nudge went out exactly once, and the database is sound."""
    now = utc_now()
    world = build_scene(standin, tmp_path / "unused.sqlite3", FakeClock(now))
    long_ago = now - timedelta(days=90)
    quiet = [world.guild.add_member(f"quiet{i}", joined_at=long_ago) for i in range(QUIET)]
    writers = [world.guild.add_member(f"writer{i}", joined_at=long_ago) for i in range(WRITERS)]
    db_path = tmp_path / "bot.sqlite3"
    await quiet_for_ten_days(db_path, world.guild.id, quiet, now)
    for member in quiet:
        standin.fail_next("POST", f"/channels/{member.user.dm_channel().id}/messages", 500)
    confirmed: list[Member] = []
    bot = await start_bot(standin, tmp_path, db_path, "first")
    try:
        writing = asyncio.create_task(keep_checking_in(standin, writers, confirmed))
        await standin.wait_for(lambda: sum(len(nudges_of(m)) for m in quiet) >= 3, timeout=30)
        async with write_lock(db_path):
            await asyncio.sleep(1.5)  # the DM in flight goes out; recording it waits for the lock
            await bot.kill()
        await asyncio.wait_for(writing, 20)
    finally:
        await bot.kill()
    database_is_sound(db_path)
    pending = query(db_path, "SELECT user_id FROM nudge_steps WHERE outcome = 'pending'")
    assert any(nudges_of(m) for m in quiet if (m.id,) in pending), "a DM was sent but not recorded"
    assert any(not nudges_of(m) for m in quiet if (m.id,) in pending), "claims were left unsent"
    assert confirmed, "some check-ins were confirmed before the kill"

    again = await start_bot(standin, tmp_path, db_path, "second")
    try:
        await standin.wait_for(lambda: all(nudges_of(m) for m in quiet), timeout=30)
        async with asyncio.timeout(10):
            while query(db_path, "SELECT count(*) FROM nudge_steps WHERE outcome = 'pending'") != [(0,)]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await again.stop() == 0
    finally:
        await again.kill()
    assert [len(nudges_of(m)) for m in quiet] == [1] * QUIET
    outcomes = query(db_path, "SELECT outcome, count(*) FROM nudge_steps GROUP BY outcome")
    assert outcomes == [("sent", QUIET)]
    for member in confirmed:
        assert len(checkin_days(db_path, world.guild, member)) == 1, member.name
        notes = query(db_path, "SELECT note FROM checkins WHERE user_id = ?", member.id)
        assert notes == [(f"note of {member.name}",)]
    database_is_sound(db_path)


async def test_sigterm_stops_within_ten_seconds_and_writes_the_activity(standin: StandIn, tmp_path: Path) -> None:
    """SIGTERM: exit 0 within 10 s, the database closed, and the activity still in memory written."""
    world = build_scene(standin, tmp_path / "unused.sqlite3", FakeClock(utc_now()))
    db_path = tmp_path / "bot.sqlite3"
    bot = await start_bot(standin, tmp_path, db_path)
    try:
        await asyncio.sleep(1.1)  # the activity below is a second later than anything written at start
        posted = int(time.time())
        await world.alice.post_message(world.general, "good morning")
        await world.carl.react(world.general.messages[-1], "👍")
        assert await bot.stop(signal.SIGTERM, timeout=10) == 0
    finally:
        await bot.kill()
    log = bot.text()
    assert "Database closed" in log and "Stopped cleanly" in log
    for member in (world.alice, world.carl):
        (row,) = query(
            db_path,
            "SELECT last_active_at FROM nudge_members WHERE guild_id = ? AND user_id = ?",
            world.guild.id,
            member.id,
        )
        assert int(row[0]) >= posted, member.name
    database_is_sound(db_path)


async def test_an_introduction_interrupted_by_a_kill_is_not_made_twice(standin: StandIn, tmp_path: Path) -> None:
    """Killed after the introduction thread opened but before that was recorded: after a restart the
    sweep finds the thread it made and records it, instead of opening a second one."""
    clock = FakeClock(utc_now())
    scene = build_scene(standin, tmp_path / "bot.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as first:
        scene.bot = first
        await set_up_buddies(scene)
    bot = await start_bot(standin, tmp_path, scene.db_path)
    try:
        async with lock_holder(scene.db_path) as lock:
            # Adding the first member to the new thread meets a 500: discord.py waits 1 s, and meanwhile
            # the lock is taken, so the introduction, once made, cannot be recorded before the kill.
            standin.fail_next("PUT", "/channels/{channel_id}/thread-members/{user_id}", 500)
            asked = await standin.invoke(scene.beth, "buddy request", wait=False)
            await standin.wait_for(lambda: standin.threads_created, timeout=10)
            await lock.take()
            await standin.wait_for(lambda: standin.threads_created[0].bot_messages(), timeout=10)
            await asyncio.sleep(0.3)
            await bot.kill()
        with contextlib.suppress(InteractionNotAnswered):
            await standin.wait_answered(asked, answer_timeout=0.1)
    finally:
        await bot.kill()
    database_is_sound(scene.db_path)
    (thread,) = standin.threads_created
    async with running_bot(standin, scene.db_path, clock) as second:
        scene.bot = second
        buddies = cast(Buddies, second.get_cog("Buddies"))
        await asyncio.wait_for(buddies.started.wait(), 5)
        await buddies.run_sweep_now()
    assert standin.threads_created == [thread]
    assert len(thread.bot_messages()) == 1
    assert scene.alice.dms_from_bot() == [] and scene.beth.dms_from_bot() == []
    introduced = query(scene.db_path, "SELECT intro_thread_id FROM buddy_pairs WHERE status = 'active'")
    assert introduced == [(thread.id,)]


async def set_up_buddies(scene: Scene) -> None:
    """Both houses are matching groups with introductions in #buddy-intros; alice volunteers."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})

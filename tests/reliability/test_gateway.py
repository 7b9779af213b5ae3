"""The gateway drops in the middle of a burst of events, or stays down a while: discord.py resumes and
the missed events are replayed, so no activity, join, departure or interaction is lost."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from bot.standin.interactions import Interaction
from bot.standin.model import Member
from cogs.nudges import Nudges
from tests.e2e import Scene
from tests.reliability.support import checkin_days, cog, post_now, query

SAVED = "Check-in saved"


async def matching_groups(scene: Scene) -> None:
    """Both houses are matching groups, introductions go by DM, and alice volunteers."""
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})


def last_active(scene: Scene, member: Member) -> int | None:
    """The member's latest activity as the nudges stored it (Unix seconds)."""
    rows = query(
        scene.db_path,
        "SELECT last_active_at FROM nudge_members WHERE guild_id = ? AND user_id = ?",
        scene.guild.id,
        member.id,
    )
    return int(rows[0][0]) if rows else None


def replayed(scene: Scene) -> int:
    """How many missed events the stand-in replayed on RESUME."""
    counts = [re.search(r"\((\d+) missed events replayed\)", e.text) for e in scene.standin.transcript]
    return sum(int(found.group(1)) for found in counts if found is not None)


def queued(scene: Scene, member: Member) -> bool:
    """Whether the member waits in the buddy queue."""
    rows = query(
        scene.db_path, "SELECT count(*) FROM buddy_queue WHERE guild_id = ? AND user_id = ?", scene.guild.id, member.id
    )
    return bool(rows[0][0])


async def answered(scene: Scene, inter: Interaction) -> Interaction:
    """Wait for an interaction sent without waiting (Discord's 3 seconds still apply)."""
    return await scene.standin.wait_answered(inter)


async def test_a_disconnect_in_the_middle_of_a_burst_loses_nothing(scene: Scene) -> None:
    """Check-ins in flight, messages before and after the drop, and a newcomer joining: after the resume
    every check-in is answered and stored, every member's activity is recorded, and the newcomer is
    matched with a buddy."""
    await matching_groups(scene)
    nudges = cog(scene, "Nudges", Nudges)
    await nudges.flusher.flush()
    scene.clock.advance(hours=2)
    posters = [scene.mod, scene.carl, scene.dan, scene.beth]
    options = {"mood": 3, "craving": 4, "sober": True}
    asked = [await scene.standin.invoke(m, "checkin today", options, wait=False) for m in (scene.alice, scene.beth)]
    for number, member in enumerate(posters):
        post_now(scene.standin, member, scene.general, f"message {number}")
    await scene.standin.disconnect()
    for number, member in enumerate(posters):
        post_now(scene.standin, member, scene.general, f"after the drop {number}")
    erin = scene.guild.add_member("erin", roles=[scene.womens_house], joined_at=scene.clock())
    await scene.standin.gateway.wait_connected()
    late = await scene.standin.invoke(scene.carl, "checkin today", options, wait=False)
    for inter in [*asked, late]:
        assert SAVED in (await answered(scene, inter)).content
    await scene.standin.sync()
    assert scene.standin.gateway.resumes == 1 and scene.standin.gateway.identifies == 1
    assert replayed(scene) >= len(posters), "events sent while the bot was away came again on RESUME"
    for member in (scene.alice, scene.beth, scene.carl):
        assert len(checkin_days(scene.db_path, scene.guild, member)) == 1
    await nudges.flusher.flush()
    now = int(scene.clock().timestamp())
    for member in [*posters, scene.alice]:
        assert last_active(scene, member) == now, member.name
    assert last_active(scene, erin) == now
    await scene.standin.wait_for(lambda: any("Meet your buddy" in m.content for m in erin.dms_from_bot()), timeout=5)


async def test_events_during_an_outage_are_replayed_when_the_bot_is_back(scene: Scene) -> None:
    """The gateway stays down while members post, one joins, one leaves and one changes house: all of
    it reaches the bot when it resumes."""
    await matching_groups(scene)
    await scene.standin.invoke(scene.carl, "checkin reminder", {"time": "20:00"})
    await scene.standin.invoke(scene.dan, "buddy request")
    assert queued(scene, scene.dan)
    nudges = cog(scene, "Nudges", Nudges)
    await nudges.flusher.flush()
    scene.clock.advance(hours=1)
    async with scene.standin.outage():
        assert not scene.standin.gateway.connected
        post_now(scene.standin, scene.beth, scene.general, "anyone around?")
        fay = scene.guild.add_member("fay", roles=[scene.womens_house], joined_at=scene.clock() - timedelta(minutes=1))
        await scene.carl.leave()
        await scene.dan.remove_role(scene.mens_house)
        await asyncio.sleep(0.2)
    await scene.standin.sync()
    assert scene.standin.gateway.resumes == 1 and scene.standin.gateway.identifies == 1
    assert replayed(scene) >= 4
    guild = scene.bot.get_guild(scene.guild.id)
    assert guild is not None and guild.get_member(fay.id) is not None and guild.get_member(scene.carl.id) is None
    await nudges.flusher.flush()
    assert last_active(scene, scene.beth) == int(scene.clock().timestamp())
    reminder = query(
        scene.db_path,
        "SELECT paused_reason FROM checkin_reminders WHERE guild_id = ? AND user_id = ?",
        scene.guild.id,
        scene.carl.id,
    )
    assert reminder and reminder[0][0] is not None, "the reminder of a member who left is paused"
    status = await scene.standin.invoke(scene.dan, "buddy status")
    assert "not in a matching group" in status.content, "the role change made during the outage was seen"
    await scene.standin.wait_for(lambda: any("Meet your buddy" in m.content for m in fay.dms_from_bot()), timeout=5)


async def test_a_session_discord_cannot_resume_is_caught_up_after_identifying_again(scene: Scene) -> None:
    """Discord lost the session during the outage (INVALID_SESSION): its events are gone, so after
    identifying again (discord.py waits 5 s first) the bot catches up from the server's state: the
    newcomer who joined meanwhile is welcomed and matched with a buddy, once."""
    await matching_groups(scene)
    async with scene.standin.gateway.outage(wait_resumed=False):
        scene.standin.gateway.sessions.clear()
        gus = scene.guild.add_member("gus", roles=[scene.womens_house], joined_at=scene.clock())
    await scene.standin.gateway.wait_connected(15)
    await scene.standin.wait_for(lambda: any("Meet your buddy" in m.content for m in gus.dms_from_bot()), timeout=10)
    assert scene.standin.gateway.identifies == 2 and scene.standin.gateway.resumes == 0
    answer = await scene.standin.invoke(gus, "buddy status")
    assert f"<@{scene.alice.id}>" in answer.content
    assert len([m for m in gus.dms_from_bot() if "Meet your buddy" in m.content]) == 1

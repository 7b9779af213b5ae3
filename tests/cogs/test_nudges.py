"""Isolation nudges end to end through the stand-in: activity, the DM and each of its buttons, the
buddy's note, the moderators' notice, closed DMs, non-participants, restarts, the throttle,
``/nudges`` and the moderators' ``/settings nudges`` and ``/settings quiet-members``."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import nudges as nudges_repo
from bot.db.repositories.guilds import ensure_guild
from bot.services.nudges import SweepReport
from bot.services.safety import DEFAULT_CRISIS_RESOURCES
from bot.standin.interactions import Interaction, InvocationRefused
from bot.standin.model import Member, Message
from bot.standin.server import StandIn
from cogs.nudges import Nudges
from tests.e2e import FakeClock, Scene, build_scene, running_bot


def cog_of(scene: Scene) -> Nudges:
    """The loaded nudges cog (the extension loader re-imports the module: no isinstance)."""
    cog = scene.bot.get_cog("Nudges")
    assert cog is not None
    return cast(Nudges, cog)


async def settled(scene: Scene) -> None:
    """Wait until the bot's own periodic sweep is asleep (its first one runs right after ready)."""
    cog = cog_of(scene)
    async with asyncio.timeout(3):
        while not cog.sweeper.idle:  # noqa: ASYNC110 - the sweeper exposes a state, not an event
            await asyncio.sleep(0.005)


async def sweep(scene: Scene, **advance: float) -> SweepReport:
    """Move the clock, then run one sweep (it writes the buffered activity first)."""
    await settled(scene)
    if advance:
        scene.clock.advance(**advance)
    return await cog_of(scene).run_sweep_now()


async def pair(scene: Scene, member: Member, buddy: Member) -> None:
    """An active buddy pairing, made in storage (as the buddy service would)."""
    now = scene.clock()

    def work(conn: sqlite3.Connection) -> None:
        ensure_guild(conn, scene.guild.id, now)
        buddies_repo.insert_pair(
            conn, scene.guild.id, member.id, buddy.id, scene.womens_house.id, status="active", now=now
        )

    await scene.bot.db.transaction(work)


async def set_up_moderators(scene: Scene) -> None:
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})


def button(dm: Message, action: str) -> str:
    """The custom id of one of the DM's buttons."""
    return next(c for c in dm.custom_ids() if c.startswith(f"nudge:{action}:"))


def public_bot_messages(scene: Scene) -> list[Message]:
    """What the bot posted in the server's channels other than the moderators' channel."""
    return [
        m
        for m in scene.standin.bot_messages()
        if m.guild is not None and m.channel is not scene.mod_channel and not m.ephemeral
    ]


def buddy_notes(member: Member) -> list[Message]:
    """The buddy's notes the member got (not their own nudges)."""
    return [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Your buddy"]


def nudges_of(member: Member) -> list[Message]:
    """The member's own nudge DMs (not buddy notes, not answers to buttons)."""
    return [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Thinking of you"]


def text_of(message: Message) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
        parts.append(str(embed.get("footer", {}).get("text", "")))
    return "\n".join(parts)


async def member_row(scene: Scene, member: Member) -> nudges_repo.MemberRow:
    row = await scene.bot.db.read(lambda c: nudges_repo.get_member(c, scene.guild.id, member.id))
    assert row is not None
    return row


# --------------------------------------------------------------------------- the DM and its buttons


async def test_a_quiet_participant_gets_one_private_dm_with_its_buttons(scene: Scene) -> None:
    """Three quiet days: a warm DM with one passage and the four buttons; nothing public; not twice."""
    await set_up_moderators(scene)
    await scene.standin.invoke(scene.alice, "nudges on")
    await sweep(scene, days=2, hours=23)
    assert scene.alice.dms_from_bot() == []
    await sweep(scene, hours=1)
    (dm,) = scene.alice.dms_from_bot()
    embed, crisis = dm.embeds
    assert crisis["description"] == DEFAULT_CRISIS_RESOURCES  # the same text as /sos and hard check-ins
    assert "quiet days" in embed["description"] and "Serenity House" in embed["description"]
    assert len(embed["fields"]) == 2 and embed["fields"][0]["value"].startswith("> ")
    labels = [c["label"] for row in dm.components for c in row["components"]]
    assert labels == ["I'm okay", "Ask my buddy to reach out", "Pause for a week", "Turn these off"]
    assert all(f":{scene.guild.id}:" in custom_id for custom_id in dm.custom_ids())
    await sweep(scene, minutes=15)
    assert len(scene.alice.dms_from_bot()) == 1
    assert public_bot_messages(scene) == []


async def test_im_okay_counts_as_activity(scene: Scene) -> None:
    """ "I'm okay" answers privately and ends the quiet spell: no buddy note follows."""
    await pair(scene, scene.alice, scene.beth)
    scene.clock.advance(days=2)
    await scene.beth.post_message(scene.general, "hi all")
    await sweep(scene, days=1)
    (dm,) = scene.alice.dms_from_bot()
    answer = await scene.standin.press_button(scene.alice.user, dm, button(dm, "ok"))
    assert answer.ephemeral and "glad you're okay" in answer.content
    assert (await member_row(scene, scene.alice)).last_active_at == scene.clock()
    await sweep(scene, days=2)
    assert buddy_notes(scene.beth) == []


async def test_ask_my_buddy_tells_the_buddy_now_once(scene: Scene) -> None:
    """The buddy gets a private note at once; a second press says it was done already."""
    await pair(scene, scene.alice, scene.beth)
    scene.clock.advance(days=2)
    await scene.beth.post_message(scene.general, "hello")
    await sweep(scene, days=1)
    (dm,) = scene.alice.dms_from_bot()
    answer = await scene.standin.press_button(scene.alice.user, dm, button(dm, "buddy"))
    assert answer.ephemeral and "let your buddy know" in answer.content
    (note,) = buddy_notes(scene.beth)
    assert "asked me to let you know" in text_of(note) and f"<@{scene.alice.id}>" in text_of(note)
    again = await scene.standin.press_button(scene.alice.user, dm, button(dm, "buddy"))
    assert again.ephemeral and "already" in again.content
    assert len(buddy_notes(scene.beth)) == 1


async def test_ask_my_buddy_without_a_buddy_says_so(scene: Scene) -> None:
    """No buddy: a kind private answer, nothing sent to anyone."""
    await scene.standin.invoke(scene.carl, "nudges on")
    await sweep(scene, days=3)
    (dm,) = scene.carl.dms_from_bot()
    answer = await scene.standin.press_button(scene.carl.user, dm, button(dm, "buddy"))
    assert answer.ephemeral and "don't have a buddy" in answer.content


async def test_pause_for_a_week_and_turn_off(scene: Scene) -> None:
    """ "Pause for a week" holds everything for seven days; "Turn these off" stops it for good."""
    await set_up_moderators(scene)
    for member in (scene.alice, scene.carl):
        await scene.standin.invoke(member, "nudges on")
    await sweep(scene, days=3)
    (alice_dm,) = scene.alice.dms_from_bot()
    (carl_dm,) = scene.carl.dms_from_bot()
    paused = await scene.standin.press_button(scene.alice.user, alice_dm, button(alice_dm, "pause"))
    assert paused.ephemeral and "Paused until" in paused.content
    off = await scene.standin.press_button(scene.carl.user, carl_dm, button(carl_dm, "off"))
    assert off.ephemeral and "off for you" in off.content
    for _ in range(6):
        await sweep(scene, days=1)
    assert len(nudges_of(scene.alice)) == 1 and len(nudges_of(scene.carl)) == 1
    assert scene.standin.bot_messages(scene.mod_channel) == []
    await sweep(scene, days=4)  # the week is over and alice stayed quiet: her ladder goes on
    assert len(nudges_of(scene.alice)) == 2
    assert len(nudges_of(scene.carl)) == 1
    status = await scene.standin.invoke(scene.carl, "nudges status")
    assert "**off**" in status.content


# --------------------------------------------------------------------------- the buddy, the moderators


async def test_buddy_note_then_one_moderators_notice_without_checkin_content(scene: Scene) -> None:
    """Day 5: the buddy's note; day 7: one notice for the moderators, listing the steps and never a
    word of the member's check-in."""
    await set_up_moderators(scene)
    await pair(scene, scene.alice, scene.beth)
    await scene.standin.invoke(scene.alice, "checkin today", {"mood": 2, "craving": 7, "sober": True, "note": "xyzzy"})
    for day in range(1, 8):
        await scene.beth.post_message(scene.general, f"day {day}")
        await sweep(scene, days=1)
        if day == 4:
            assert buddy_notes(scene.beth) == []
    (note,) = buddy_notes(scene.beth)
    assert "has been quiet for 5 days" in text_of(note)
    (notice,) = scene.standin.bot_messages(scene.mod_channel)
    shown = text_of(notice)
    assert f"<@{scene.alice.id}>" in shown and "7 days" in shown
    assert "Private message: sent" in shown and f"Buddy's note: sent to <@{scene.beth.id}>" in shown
    assert "xyzzy" not in shown and "craving" not in shown.lower() and "mood" not in shown.lower()
    for _ in range(5):
        await scene.beth.post_message(scene.general, "still here")
        await sweep(scene, days=2)
    assert len(scene.standin.bot_messages(scene.mod_channel)) == 1
    assert public_bot_messages(scene) == []


async def test_a_closed_dm_skips_to_the_buddy_and_is_noted_for_moderators(scene: Scene) -> None:
    """dan's DMs are closed: his buddy carl hears at once; the moderators' notice says the DM could not
    be delivered; nothing is posted publicly in place of the DM."""
    await set_up_moderators(scene)
    await pair(scene, scene.dan, scene.carl)
    scene.clock.advance(days=2)
    await scene.carl.post_message(scene.general, "morning")
    await sweep(scene, days=1)
    assert scene.dan.dms_from_bot() == []
    (note,) = buddy_notes(scene.carl)
    assert "quiet for 3 days" in text_of(note)
    await scene.carl.post_message(scene.general, "evening")
    await sweep(scene, days=4)
    (notice,) = scene.standin.bot_messages(scene.mod_channel)
    assert "could not be delivered" in text_of(notice) and "DMs are closed" in text_of(notice)
    assert public_bot_messages(scene) == []


async def test_a_non_participant_is_never_nudged(scene: Scene) -> None:
    """carl has no buddy, no check-in, no sobriety date and never said /nudges on: nothing, ever."""
    await set_up_moderators(scene)
    for _ in range(10):
        await sweep(scene, days=1)
    assert scene.carl.dms_from_bot() == [] and scene.mod.dms_from_bot() == []
    assert scene.standin.bot_messages(scene.mod_channel) == []


# --------------------------------------------------------------------------- activity


async def test_messages_reactions_voice_and_commands_are_activity(scene: Scene) -> None:
    """Each kind of activity moves the member's last activity; a bot message reacted to counts too."""
    await settled(scene)  # the first sweep after ready writes the buffer too
    voice = scene.guild.add_voice_channel("meeting room")
    await scene.standin.sync()
    cog = cog_of(scene)
    start = (await member_row(scene, scene.alice)).last_active_at

    async def moved(action: Any) -> None:
        scene.clock.advance(hours=1)
        await action
        await cog.flusher.flush()
        assert (await member_row(scene, scene.alice)).last_active_at == scene.clock()

    message = await scene.beth.post_message(scene.general, "anyone around?")
    await moved(scene.alice.post_message(scene.general, "yes"))
    await moved(scene.alice.react(message, "👍"))
    await moved(scene.alice.join_voice(voice))
    await moved(scene.standin.invoke(scene.alice, "about"))
    assert (await member_row(scene, scene.alice)).last_active_at > start


async def test_activity_postpones_the_nudge(scene: Scene) -> None:
    """A message on day 2 moves the DM to day 5."""
    await scene.standin.invoke(scene.alice, "nudges on")
    scene.clock.advance(days=2)
    await scene.alice.post_message(scene.general, "hi")
    await sweep(scene, days=1)
    assert scene.alice.dms_from_bot() == []
    await sweep(scene, days=2)
    assert len(scene.alice.dms_from_bot()) == 1


async def test_noting_activity_is_synchronous_and_needs_no_listener(scene: Scene) -> None:
    """The message observer runs inside dispatch (no task, no database); no listener is registered
    for messages, reactions or voice."""
    await settled(scene)  # the first sweep after ready writes the buffer too
    cog = cog_of(scene)
    await scene.alice.post_message(scene.general, "hi")
    cached = scene.bot.cached_messages[-1]
    await cog.flusher.flush()
    scene.clock.advance(minutes=5)
    scene.bot.dispatch("message", cached)
    assert cog.buffer.take().latest == {(scene.guild.id, scene.alice.id): scene.clock()}
    listened = {name for name, _ in cog.get_listeners()}
    assert not listened & {"on_message", "on_raw_reaction_add", "on_voice_state_update", "on_interaction"}


async def test_a_failing_observer_is_logged_and_spoils_nothing(scene: Scene, caplog: pytest.LogCaptureFixture) -> None:
    """An observer that raises is logged; the other observers and the listeners still get the event."""
    await settled(scene)  # the first sweep after ready writes the buffer too
    cog = cog_of(scene)

    def broken(*args: object) -> None:
        raise RuntimeError("observer bug")

    scene.bot.add_event_observer("message", broken)
    try:
        with caplog.at_level(logging.ERROR, logger="bot.client"):
            await scene.alice.post_message(scene.general, "hi")
    finally:
        scene.bot.remove_event_observer("message", broken)
    assert any("observer" in r.getMessage() and r.exc_info for r in caplog.records)
    assert (scene.guild.id, scene.alice.id) in cog.buffer.take().latest


async def test_a_member_who_joins_counts_from_their_join_and_one_who_leaves_is_left_alone(scene: Scene) -> None:
    """A new member is recorded from their join; a member who left is no longer checked."""
    await settled(scene)  # the first sweep after ready writes the buffer too
    newcomer = scene.guild.add_member("erin", joined_at=scene.clock())
    await scene.standin.sync()
    await cog_of(scene).flusher.flush()
    assert (await member_row(scene, newcomer)).last_active_at == scene.clock()
    await scene.standin.invoke(scene.carl, "nudges on")
    await scene.carl.leave()
    await sweep(scene, days=4)
    assert scene.carl.dms_from_bot() == []
    row = await member_row(scene, scene.carl)
    assert not row.present and row.next_check_at is None


# --------------------------------------------------------------------------- throttle, restart


async def test_a_large_batch_is_spread_out_at_ten_dms_a_minute(scene: Scene) -> None:
    """Twelve quiet participants: ten DMs now, the other two a minute later, none dropped."""
    members = [scene.guild.add_member(f"member{n}", joined_at=scene.clock()) for n in range(12)]
    await scene.standin.sync()
    for member in members:
        await cog_of(scene).service.set_opt(scene.guild.id, member.id, on=True)
    await sweep(scene, days=3)
    assert sum(len(m.dms_from_bot()) for m in members) == 10
    await sweep(scene, seconds=30)
    assert sum(len(m.dms_from_bot()) for m in members) == 10
    await sweep(scene, seconds=30)
    assert [len(m.dms_from_bot()) for m in members] == [1] * 12


async def test_a_restart_in_the_middle_sends_nothing_twice(standin: StandIn, tmp_path: Path) -> None:
    """The DM went out; the bot stops; a new one starts on the same database: no second DM, the old
    DM's buttons still work, and the ladder goes on to the buddy's note."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await pair(scene, scene.alice, scene.beth)
        clock.advance(days=2)
        await scene.beth.post_message(scene.general, "hi")
        await sweep(scene, days=1)
        (dm,) = scene.alice.dms_from_bot()
    clock.advance(days=1)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await scene.beth.post_message(scene.general, "hi again")
        await sweep(scene, minutes=1)
        assert len(nudges_of(scene.alice)) == 1
        await sweep(scene, days=1)
        assert len(buddy_notes(scene.beth)) == 1
        answer = await scene.standin.press_button(scene.alice.user, dm, button(dm, "ok"))
        assert answer.ephemeral and "glad" in answer.content


async def _crash_between_claim_and_record(scene: Scene, member: Member, *, sent: bool) -> None:
    """Make the member's DM step look like a run that died after claiming it (and, if ``sent``,
    after sending it): the claim is put back to 'pending' under another run's name."""
    if not sent:
        for message in member.dms_from_bot():
            message.deleted = True  # as if it never reached Discord

    def work(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE nudge_steps SET outcome = 'pending', done_at = NULL, run_id = 'crashed' "
            "WHERE guild_id = ? AND user_id = ? AND step = 1",
            (scene.guild.id, member.id),
        )

    await scene.bot.db.transaction(work)


@pytest.mark.parametrize("sent", [True, False])
async def test_a_crash_between_sending_and_recording_is_resolved_after_restart(
    standin: StandIn, tmp_path: Path, sent: bool
) -> None:
    """After a crash with a pending claim, the next run reads the DM channel: the message is there,
    so it is recorded, not repeated; or it is not, so it is sent once."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await scene.standin.invoke(scene.alice, "nudges on")
        await sweep(scene, days=3)
        await _crash_between_claim_and_record(scene, scene.alice, sent=sent)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await settled(scene)  # the first sweep after ready finished what the crash left
        report = await sweep(scene, minutes=1)
        assert report.recovered == 0
        assert len(nudges_of(scene.alice)) == 1
        steps = await bot.db.read(lambda c: c.execute("SELECT outcome FROM nudge_steps").fetchall())
        assert [tuple(s) for s in steps] == [("sent",)]


# --------------------------------------------------------------------------- /nudges


async def test_nudges_commands(scene: Scene) -> None:
    """status, on, pause and off answer privately and say where things stand."""
    status = await scene.standin.invoke(scene.carl, "nudges status")
    assert status.ephemeral and "not active" in status.content and "never what you wrote" in status.content
    await pair(scene, scene.alice, scene.beth)
    status = await scene.standin.invoke(scene.alice, "nudges status")
    assert "**on** because you have a buddy" in status.content
    on = await scene.standin.invoke(scene.carl, "nudges on")
    assert "**on**: you asked for them" in on.content
    paused = await scene.standin.invoke(scene.carl, "nudges pause", {"days": 3})
    assert "Paused until" in paused.content
    off = await scene.standin.invoke(scene.carl, "nudges off")
    assert "**off**" in off.content
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.carl, "nudges pause", {"days": 31})


async def test_nudges_are_server_commands_only(scene: Scene) -> None:
    """/nudges is not offered in DMs."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice.user, "nudges status")


# --------------------------------------------------------------------------- moderators


async def test_settings_nudges_validates_the_order_and_shows_the_ladder(scene: Scene) -> None:
    """Days must grow step by step; a clear private error otherwise; no option shows the settings."""
    bad = await scene.standin.invoke(scene.mod, "settings nudges", {"quiet_days": 6})
    assert bad.ephemeral and "quiet_days < buddy_after_days < moderator_after_days" in bad.content
    good = await scene.standin.invoke(
        scene.mod, "settings nudges", {"quiet_days": 2, "buddy_after_days": 4, "moderator_after_days": 9}
    )
    assert "after **2** quiet days" in good.content and "after **9**" in good.content
    assert "no moderators' channel is set" in good.content
    off = await scene.standin.invoke(scene.mod, "settings nudges", {"enabled": False})
    assert "**off**" in off.content
    shown = await scene.standin.invoke(scene.mod, "settings nudges")
    assert "**off**" in shown.content
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "settings nudges")


async def test_quiet_members_is_paged_for_the_moderator(scene: Scene) -> None:
    """Twelve quiet participants: ten on the first page, Next shows the other two."""
    members = [scene.guild.add_member(f"quiet{n}", joined_at=scene.clock()) for n in range(12)]
    await scene.standin.sync()
    for member in members:
        await cog_of(scene).service.set_opt(scene.guild.id, member.id, on=True)
    empty = await scene.standin.invoke(scene.mod, "settings quiet-members")
    assert "Nobody" in empty.embeds[0]["description"] and not empty.components
    await sweep(scene, days=4)
    await sweep(scene, minutes=1)
    first = await scene.standin.invoke(scene.mod, "settings quiet-members")
    assert first.ephemeral and first.embeds[0]["description"].count("quiet 4 days") == 10
    assert "reached: private message" in first.embeds[0]["description"]
    assert "Page 1 of 2" in first.embeds[0]["footer"]["text"]
    next_id = _button_id(first, "Next")
    second = await scene.standin.press_button(scene.mod.user, first, next_id)
    assert second.response is not None
    assert "Page 2 of 2" in second.response.embeds[0]["footer"]["text"]
    assert second.response.embeds[0]["description"].count("quiet 4 days") == 2


def _button_id(answer: Interaction, label: str) -> str:
    for row in answer.components:
        for component in row["components"]:
            if component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no {label} button")


async def test_quiet_hours_in_the_members_timezone(scene: Scene) -> None:
    """alice lives in Tokyo: at 15:00 UTC it is midnight there, so her DM waits until 09:00 Tokyo."""
    await scene.standin.invoke(scene.alice, "checkin timezone", {"zone": "Asia/Tokyo"})
    await scene.standin.invoke(scene.alice, "nudges on")
    await sweep(scene, days=3)
    assert scene.alice.dms_from_bot() == []
    await sweep(scene, hours=8, minutes=59)
    assert scene.alice.dms_from_bot() == []
    await sweep(scene, minutes=1)
    assert len(scene.alice.dms_from_bot()) == 1


async def test_the_sweep_runs_by_itself_once_ready(standin: StandIn, tmp_path: Path) -> None:
    """A start after a downtime: the sweep due meanwhile runs right after ready, without being asked."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await scene.standin.invoke(scene.alice, "nudges on")
    clock.advance(days=4)
    async with running_bot(standin, scene.db_path, clock):
        await standin.wait_for(lambda: scene.alice.dms_from_bot(), timeout=5)
    assert len(scene.alice.dms_from_bot()) == 1


async def test_the_sweeper_and_flusher_stop_with_the_bot(standin: StandIn, tmp_path: Path) -> None:
    """Closing the bot stops both tasks and writes the activity still in memory."""
    clock = FakeClock()
    world = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, world.db_path, clock) as bot:
        world.bot = bot
        cog = cog_of(world)
        clock.advance(minutes=3)
        await world.alice.post_message(world.general, "bye for now")
        await asyncio.sleep(0)
    assert not cog.sweeper.running and not cog.flusher.running
    async with running_bot(standin, world.db_path, clock) as bot:
        world.bot = bot
        assert (await member_row(world, world.alice)).last_active_at == clock()

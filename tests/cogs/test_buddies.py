"""``/buddy`` end to end through the stand-in: the members' commands, auto-matching on join and on
role change, introductions (private thread, DM fallbacks, closed DMs), a member leaving, a role
change that splits a pair, the three-day reminder, the "Let my buddy know" button; and the pure
renderers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from bot.services.buddies import EndReason, NotifyPairEnded, PairInfo
from bot.standin.interactions import Interaction, InvocationRefused
from bot.standin.model import Member, Message, Thread
from bot.standin.server import StandIn
from cogs.buddies import (
    Buddies,
    EffectReport,
    Introduction,
    _embed_batches,
    ended_dm_text,
    introduction_line,
)
from tests.e2e import FakeClock, Scene, build_scene, running_bot

# --------------------------------------------------------------------------- helpers


def cog_of(scene: Scene) -> Buddies:
    """The loaded buddies cog (the extension loader re-imports the module: no isinstance)."""
    cog = scene.bot.get_cog("Buddies")
    assert cog is not None
    return cast(Buddies, cog)


async def set_up(scene: Scene, *, intro_channel: bool = True, **settings: Any) -> None:
    """The moderators' channel, both houses as matching groups, and (by default) the intro channel."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    for role in (scene.mens_house, scene.womens_house):
        added = await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
        assert "is now a matching group" in added.content
    options: dict[str, Any] = dict(settings)
    if intro_channel:
        options["intro_channel"] = scene.intros
    if options:
        await scene.standin.invoke(scene.mod, "buddyadmin settings", options)


async def volunteer(scene: Scene, member: Member, **options: Any) -> Interaction:
    answer = await scene.standin.invoke(member, "buddy volunteer", {"available": True, **options})
    assert answer.ephemeral
    return answer


async def status(scene: Scene, member: Member) -> str:
    answer = await scene.standin.invoke(member, "buddy status")
    assert answer.ephemeral
    return answer.content


def threads(scene: Scene) -> list[Thread]:
    return list(scene.standin.threads_created)


def thread_of(scene: Scene, *members: Member) -> Thread:
    """The one intro thread holding these members."""
    (found,) = [t for t in scene.standin.threads_created if all(m.id in t.member_ids for m in members)]
    return found


async def introduced_in_thread(scene: Scene, *members: Member) -> Thread:
    """Wait until the members' intro thread has both of them and its welcome (a listener's work)."""

    def ready() -> list[Thread]:
        return [
            t for t in scene.standin.threads_created if all(m.id in t.member_ids for m in members) and t.bot_messages()
        ]

    (found,) = await scene.standin.wait_for(ready)
    return found


def text_of(message: Message) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def notices(scene: Scene) -> list[str]:
    """What the bot posted in the moderators' channel (not answers to commands)."""
    return [m.content for m in scene.mod_channel.bot_messages() if not m.ephemeral and m.interaction is None]


def public_posts(scene: Scene) -> list[Message]:
    """Bot messages anyone could read: in the server, outside private threads and the moderators' channel."""
    return [
        m
        for m in scene.standin.bot_messages()
        if m.guild is not None
        and not m.ephemeral
        and m.channel is not scene.mod_channel
        and not (isinstance(m.channel, Thread) and m.channel.private)
    ]


def sent_bodies(scene: Scene, pattern: str = "/channels/{channel_id}/messages") -> list[dict[str, Any]]:
    return [r.body for r in scene.standin.requests_to("POST", pattern) if r.status < 300]


async def new_member(scene: Scene, name: str, *, roles: list[Any], days: float = 0, dms_open: bool = True) -> Member:
    """A member joining now (the bot sees GUILD_MEMBER_ADD)."""
    joined = scene.clock() - timedelta(days=days)
    member = scene.guild.add_member(name, roles=roles, joined_at=joined, dms_open=dms_open)
    await scene.standin.sync()
    return member


async def match_dan_with_carl(scene: Scene) -> Thread:
    """carl volunteers and dan asks: introduced in a private thread."""
    await set_up(scene)
    await volunteer(scene, scene.carl)
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "You have a buddy" in answer.content
    return thread_of(scene, scene.dan, scene.carl)


# --------------------------------------------------------------------------- /buddy status, request, volunteer


async def test_status_without_a_group_says_to_ask_a_moderator(scene: Scene) -> None:
    """No matching group yet: /buddy status says why and who can help."""
    content = await status(scene, scene.alice)
    assert "not in a matching group" in content and "ask a moderator" in content


async def test_request_without_a_volunteer_waits_in_line_and_says_why(scene: Scene) -> None:
    """beth asks: she is queued, first of one in her group, because nobody in her group volunteers."""
    await set_up(scene)
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert answer.ephemeral and answer.deferred
    assert "You're in the queue" in answer.content and "number 1 of 1 in your group" in answer.content
    assert "Nobody in your group is offering" in answer.content
    again = await scene.standin.invoke(scene.beth, "buddy request")
    assert "already in the queue" in again.content
    content = await status(scene, scene.beth)
    assert "waiting for a buddy" in content and f"<t:{int(scene.clock().timestamp())}:R>" in content
    assert public_posts(scene) == []


async def test_a_request_without_a_group_waits_but_says_to_ask_a_moderator(scene: Scene) -> None:
    """morgan holds no group role: queued, and told that a moderator must give the group role first."""
    await set_up(scene)
    answer = await scene.standin.invoke(scene.mod, "buddy request")
    assert "You're in the queue" in answer.content and "ask a moderator" in answer.content


async def test_a_newcomer_cannot_volunteer_yet(scene: Scene) -> None:
    """beth joined two days ago: volunteers need 14 days, and the answer says from when."""
    await set_up(scene)
    answer = await scene.standin.invoke(scene.beth, "buddy volunteer", {"available": True})
    assert answer.ephemeral and "14 days" in answer.content
    assert "Thank you for offering" in answer.content


async def test_volunteer_max_is_checked_by_discord_and_shown(scene: Scene) -> None:
    """max is 1–5 in the schema; the answer and /buddy status show the offer; stopping keeps pairings."""
    await set_up(scene)
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True, "max": 6})
    answer = await volunteer(scene, scene.alice, max=3)
    assert "up to 3 newcomers" in answer.content and "you support 0 now" in answer.content
    assert "up to 3 newcomers" in await status(scene, scene.alice)
    stop = await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": False})
    assert "no longer offering" in stop.content
    assert "not offering to be a buddy" in await status(scene, scene.alice)


async def test_volunteer_and_request_are_introduced_in_a_private_thread(scene: Scene) -> None:
    """carl volunteers, dan asks: a private thread in the intro channel with both added, a welcome that
    pings only the two, the article's words; nothing public."""
    thread = await match_dan_with_carl(scene)
    assert thread.private and thread.the_parent is scene.intros
    assert not thread.invitable
    added = [a.user.id for a in scene.standin.thread_member_adds if a.thread is thread]
    assert added == [scene.dan.id, scene.carl.id]
    welcome, *more = thread.bot_messages()
    assert more == []
    assert f"<@{scene.dan.id}>" in welcome.content and f"<@{scene.carl.id}>" in welcome.content
    titles = [embed["title"] for embed in welcome.embeds]
    assert titles[0] == "What peer support is"
    assert "What it isn’t: the opposite sex" in titles
    assert all(field["value"].startswith("> ") for embed in welcome.embeds for field in embed["fields"])
    (body,) = [b for b in sent_bodies(scene, f"/channels/{thread.id}/messages")]
    mentions = body["allowed_mentions"]
    assert mentions["parse"] == [] and sorted(map(int, mentions["users"])) == sorted([scene.dan.id, scene.carl.id])

    answers = [i for i in scene.standin.interactions if i.label.startswith("/buddy request")]
    assert f"<#{thread.id}>" in answers[-1].content
    assert f"<@{scene.carl.id}> is your buddy" in await status(scene, scene.dan)
    assert f"you're a buddy to <@{scene.dan.id}>" in await status(scene, scene.carl)
    assert public_posts(scene) == []
    assert scene.carl.dms_from_bot() == []  # introduced in the thread, not by DM


async def test_without_an_intro_channel_each_gets_a_dm_and_closed_dms_are_reported(scene: Scene) -> None:
    """No intro channel: carl gets a DM introduction; dan's DMs are closed, so the moderators hear of it,
    without anyone pinged."""
    await set_up(scene, intro_channel=False)
    await volunteer(scene, scene.carl)
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "Your DMs are closed" in answer.content
    assert threads(scene) == []
    (dm,) = scene.carl.dms_from_bot()
    assert f"<@{scene.dan.id}>" in dm.content and "Serenity House" in dm.content
    assert dm.embeds[0]["title"] == "What peer support is"
    (notice,) = notices(scene)
    assert f"<@{scene.dan.id}>" in notice and "DMs closed" in notice
    (body,) = [b for b in sent_bodies(scene, f"/channels/{scene.mod_channel.id}/messages")]
    assert body["allowed_mentions"]["parse"] == [] and not body["allowed_mentions"].get("users")
    assert public_posts(scene) == []


async def test_when_the_thread_cannot_be_made_they_are_introduced_by_dm(scene: Scene) -> None:
    """Discord refuses the thread (50013): a DM to each instead, and the moderators are told why."""
    await set_up(scene)
    await volunteer(scene, scene.alice)
    scene.standin.fail_next(
        "POST", "/channels/{channel_id}/threads", 403, body={"message": "Missing Permissions", "code": 50013}
    )
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert "by direct message" in answer.content
    assert threads(scene) == []
    assert f"<@{scene.alice.id}>" in scene.beth.dms_from_bot()[0].content
    assert f"<@{scene.beth.id}>" in scene.alice.dms_from_bot()[0].content
    (notice,) = notices(scene)
    assert "not allowed to open private threads" in notice and f"<#{scene.intros.id}>" in notice


async def test_when_the_intro_channel_is_gone_they_are_introduced_by_dm(scene: Scene) -> None:
    """The intro channel was deleted (10003): a DM to each, and the moderators hear that it is gone."""
    await set_up(scene)
    await volunteer(scene, scene.alice)
    scene.standin.fail_next(
        "POST", "/channels/{channel_id}/threads", 404, body={"message": "Unknown Channel", "code": 10003}
    )
    await scene.standin.invoke(scene.beth, "buddy request")
    assert threads(scene) == []
    assert len(scene.beth.dms_from_bot()) == 1 and len(scene.alice.dms_from_bot()) == 1
    (notice,) = notices(scene)
    assert "introductions channel no longer exists" in notice


async def test_when_the_bot_lacks_thread_permissions_the_settings_warn_and_dms_are_used(scene: Scene) -> None:
    """The intro channel hides from the bot: /buddyadmin settings warns; introductions go by DM."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.womens_house})
    scene.intros.set_bot_access(view=False)
    await scene.standin.sync()
    answer = await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    assert "can't open private threads" in answer.content and "View Channel" in answer.content
    await volunteer(scene, scene.alice)
    await scene.standin.invoke(scene.beth, "buddy request")
    assert threads(scene) == []
    assert len(scene.beth.dms_from_bot()) == 1 and len(scene.alice.dms_from_bot()) == 1


# --------------------------------------------------------------------------- auto-matching


async def test_a_newcomer_joining_with_a_group_role_is_matched_and_told_once(scene: Scene) -> None:
    """erin joins holding the men's role: queued without asking, told privately what a buddy is (quoting
    the article), matched with carl, introduced in a thread."""
    await set_up(scene)
    await volunteer(scene, scene.carl)
    erin = await new_member(scene, "erin", roles=[scene.mens_house])
    await introduced_in_thread(scene, erin, scene.carl)
    told, *rest = erin.dms_from_bot()
    assert rest == []
    assert "newcomers get a peer buddy" in told.content
    assert told.embeds[0]["title"] == "What peer support is"
    assert f"<@{scene.carl.id}> is your buddy" in await status(scene, erin)


async def test_a_member_given_a_group_role_later_is_queued_and_matched(scene: Scene) -> None:
    """fay joins without a group; when a moderator gives her the women's role she is matched with alice."""
    await set_up(scene)
    await volunteer(scene, scene.alice)
    fay = await new_member(scene, "fay", roles=[])
    assert fay.dms_from_bot() == []
    assert "not in a matching group" in await status(scene, fay)
    await fay.add_role(scene.womens_house)
    await introduced_in_thread(scene, fay, scene.alice)
    assert len(fay.dms_from_bot()) == 1
    assert f"<@{scene.alice.id}> is your buddy" in await status(scene, fay)


async def test_auto_match_off_does_not_queue_newcomers(scene: Scene) -> None:
    """With auto_match off, a newcomer with a group role is not queued nor messaged."""
    await set_up(scene, auto_match=False)
    await volunteer(scene, scene.carl)
    erin = await new_member(scene, "erin", roles=[scene.mens_house])
    await scene.standin.sync()
    assert "don't have a buddy yet" in await status(scene, erin)
    assert erin.dms_from_bot() == [] and threads(scene) == []


async def test_several_group_roles_notify_the_moderators_once(scene: Scene) -> None:
    """A member given both houses is not matchable; the moderators get one notice."""
    await set_up(scene)
    await scene.alice.add_role(scene.mens_house)
    await scene.standin.wait_for(lambda: notices(scene))
    (notice,) = notices(scene)
    assert f"<@{scene.alice.id}>" in notice and "several matching group roles" in notice
    assert "more than one matching group role" in await status(scene, scene.alice)


# --------------------------------------------------------------------------- endings


async def test_a_role_change_that_splits_a_pair_ends_it_at_once(scene: Scene) -> None:
    """dan moves to the women's house: the pair with carl ends at once, carl is told kindly in private,
    dan's closed DMs are reported, the moderators are notified, the thread is archived."""
    thread = await match_dan_with_carl(scene)
    await scene.dan.remove_role(scene.mens_house)
    await scene.dan.add_role(scene.womens_house)
    await scene.standin.wait_for(lambda: thread.archived and len(notices(scene)) == 2)
    assert thread.locked
    assert "pairing has ended" in thread.bot_messages()[-1].content
    (dm,) = scene.carl.dms_from_bot()
    assert "has ended" in dm.content and "matching groups changed" in dm.content
    texts = "\n".join(notices(scene))
    assert "never spans two groups" in texts
    assert f"couldn't tell <@{scene.dan.id}> privately" in texts
    content = await status(scene, scene.carl)
    assert f"<@{scene.dan.id}>" not in content and "you support 0 now" in content
    assert "is your buddy" not in await status(scene, scene.dan)
    assert public_posts(scene) == []


async def test_a_buddy_who_leaves_ends_the_pair_and_the_member_is_requeued_first(scene: Scene) -> None:
    """carl (the buddy) leaves: erin, whom he supported, is told privately and queued first in line; the
    thread is archived."""
    await set_up(scene)
    await volunteer(scene, scene.carl)
    erin = await new_member(scene, "erin", roles=[scene.mens_house])
    thread = await introduced_in_thread(scene, erin, scene.carl)
    await scene.carl.leave()
    await scene.standin.wait_for(lambda: thread.archived)
    dm = erin.dms_from_bot()[-1]
    assert f"<@{scene.carl.id}> has left the server" in dm.content and "first in line" in dm.content
    content = await status(scene, erin)
    assert "first in line" in content and "Nobody in your group is offering" in content


async def test_a_supported_member_who_leaves_frees_the_buddy(scene: Scene) -> None:
    """dan leaves: carl is told privately and is not queued (he was the buddy)."""
    thread = await match_dan_with_carl(scene)
    await scene.dan.leave()
    await scene.standin.wait_for(lambda: thread.archived)
    (dm,) = scene.carl.dms_from_bot()
    assert f"<@{scene.dan.id}> has left the server" in dm.content and "back in the queue" not in dm.content
    content = await status(scene, scene.carl)
    assert "is your buddy" not in content and "you support 0 now" in content


async def test_end_tells_the_other_kindly_and_requeues(scene: Scene) -> None:
    """dan ends the pairing: carl is told kindly in private, the thread is archived, dan waits again."""
    thread = await match_dan_with_carl(scene)
    answer = await scene.standin.invoke(scene.dan, "buddy end")
    assert answer.ephemeral and "has ended" in answer.content and "back in the queue" in answer.content
    assert thread.archived and thread.locked
    (dm,) = scene.carl.dms_from_bot()
    assert "decided to end it" in dm.content and "says nothing about you" in dm.content
    assert "waiting for a buddy" in await status(scene, scene.dan)
    nothing = await scene.standin.invoke(scene.dan, "buddy end")
    assert "don't have a buddy" in nothing.content


async def test_end_with_several_buddies_asks_which(scene: Scene) -> None:
    """carl supports dan and erin: /buddy end asks which; with member it ends that one only."""
    await match_dan_with_carl(scene)
    erin = await new_member(scene, "erin", roles=[scene.mens_house])
    await introduced_in_thread(scene, erin, scene.carl)
    which = await scene.standin.invoke(scene.carl, "buddy end")
    assert "Please say which" in which.content
    done = await scene.standin.invoke(scene.carl, "buddy end", {"member": erin, "requeue": False})
    assert f"<@{erin.id}>" in done.content and "first in line" in done.content
    content = await status(scene, scene.carl)
    assert f"<@{scene.dan.id}>" in content and f"<@{erin.id}>" not in content


async def test_buddy_commands_are_guild_only(scene: Scene) -> None:
    """/buddy is not offered in DMs."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice.user, "buddy status")


# --------------------------------------------------------------------------- reminders and retries


async def test_one_gentle_reminder_three_days_after_a_silent_introduction(scene: Scene) -> None:
    """Neither wrote for three days: one reminder in the thread, pinging nobody; never a second."""
    thread = await match_dan_with_carl(scene)
    scene.clock.advance(days=2, hours=23)
    assert (await cog_of(scene).run_sweep_now()).reminded == 0
    scene.clock.advance(hours=1)
    assert (await cog_of(scene).run_sweep_now()).reminded == 1
    _welcome, reminder = thread.bot_messages()
    assert "gentle nudge" in reminder.content and f"<@{scene.dan.id}>" in reminder.content
    body = sent_bodies(scene, f"/channels/{thread.id}/messages")[-1]
    assert body["allowed_mentions"]["parse"] == [] and not body["allowed_mentions"].get("users")
    scene.clock.advance(days=3)
    assert (await cog_of(scene).run_sweep_now()).reminded == 0
    assert len(thread.bot_messages()) == 2


async def test_no_reminder_once_one_of_them_wrote(scene: Scene) -> None:
    """dan wrote in the thread: no reminder (only that he wrote is noted, never what)."""
    thread = await match_dan_with_carl(scene)
    await scene.dan.post_message(thread, "hi carl, thanks for this")
    await cog_of(scene).settle()  # the observer's task notes the activity
    scene.clock.advance(days=4)
    assert (await cog_of(scene).run_sweep_now()).reminded == 0
    assert len(thread.bot_messages()) == 1


async def test_messages_elsewhere_do_not_count(scene: Scene) -> None:
    """A message in a public channel is not activity in the intro thread: the reminder still comes."""
    thread = await match_dan_with_carl(scene)
    await scene.dan.post_message(scene.general, "hello everyone")
    scene.clock.advance(days=3)
    assert (await cog_of(scene).run_sweep_now()).reminded == 1
    assert len(thread.bot_messages()) == 2


async def test_an_introduction_that_failed_is_retried_by_the_sweep(scene: Scene) -> None:
    """Both DMs fail (Discord 503): nothing recorded; the next sweep introduces them."""
    await set_up(scene, intro_channel=False)
    await volunteer(scene, scene.alice)
    scene.standin.fail_next("POST", "/channels/{channel_id}/messages", 503, times=2)
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert "introduce you both shortly" in answer.content
    assert scene.alice.dms_from_bot() == [] and scene.beth.dms_from_bot() == []
    report = await cog_of(scene).run_sweep_now()
    assert report.introduced == 1
    assert len(scene.alice.dms_from_bot()) == 1 and len(scene.beth.dms_from_bot()) == 1
    assert (await cog_of(scene).run_sweep_now()).introduced == 0


async def test_after_a_restart_a_role_change_made_while_away_is_caught(standin: StandIn, tmp_path: Path) -> None:
    """dan moved house while the bot was down: on start the pair with carl ends and the thread closes."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        thread = await match_dan_with_carl(scene)
    scene.dan.roles.remove(scene.mens_house)
    scene.dan.roles.append(scene.womens_house)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await asyncio.wait_for(cog_of(scene).started.wait(), 3)
        await standin.wait_for(lambda: thread.archived)
        assert "matching groups changed" in scene.carl.dms_from_bot()[-1].content


# --------------------------------------------------------------------------- "Let my buddy know"


async def test_let_my_buddy_know_sends_a_private_note_only_when_pressed(scene: Scene) -> None:
    """After a hard check-in, dan sees the button; only the press sends carl a note, without anything
    dan checked in; the button goes away."""
    await match_dan_with_carl(scene)
    options = {"mood": 1, "craving": 9, "sober": True, "note": "my secret note"}
    answer = await scene.standin.invoke(scene.dan, "checkin today", options)
    assert answer.custom_ids() == [f"buddy:support:{scene.guild.id}"]
    assert scene.carl.dms_from_bot() == []
    pressed = await scene.standin.press_button(scene.dan, answer, f"buddy:support:{scene.guild.id}")
    await scene.standin.wait_for(lambda: pressed.followups)
    assert pressed.response is not None and pressed.response.components == []
    assert "let <@" in pressed.followups[0].content and pressed.followups[0].ephemeral
    (note,) = scene.carl.dms_from_bot()
    text = text_of(note)
    assert f"<@{scene.dan.id}>" in text and "could use some support" in text
    assert "secret" not in text and "9/10" not in text and "craving" not in text


async def test_let_my_buddy_know_when_the_buddy_has_closed_dms(scene: Scene) -> None:
    """carl's buddy dan has closed DMs: carl is told kindly that the note could not be delivered."""
    await match_dan_with_carl(scene)
    answer = await scene.standin.invoke(scene.carl, "checkin today", {"mood": 2, "craving": 3, "sober": False})
    pressed = await scene.standin.press_button(scene.carl, answer, f"buddy:support:{scene.guild.id}")
    await scene.standin.wait_for(lambda: pressed.followups)
    assert "DMs are closed" in pressed.followups[0].content


async def test_no_button_without_a_buddy_and_an_old_button_after_the_pair_ended(scene: Scene) -> None:
    """No buddy, no button; a button from before the pairing ended answers kindly and sends nothing."""
    await match_dan_with_carl(scene)
    answer = await scene.standin.invoke(scene.dan, "checkin today", {"mood": 1, "craving": 9, "sober": True})
    await scene.standin.invoke(scene.dan, "buddy end", {"requeue": False})
    pressed = await scene.standin.press_button(scene.dan, answer, f"buddy:support:{scene.guild.id}")
    assert pressed.ephemeral and "don't have a buddy" in pressed.content
    assert [m for m in scene.carl.dms_from_bot() if "could use some support" in text_of(m)] == []
    again = await scene.standin.invoke(scene.beth, "checkin today", {"mood": 1, "craving": 9, "sober": True})
    assert again.components == []


# --------------------------------------------------------------------------- pure rendering


def _pair() -> PairInfo:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    return PairInfo(7, 1, 10, 20, 99, "active", at, at)


def test_ended_dm_text_is_kind_for_every_reason() -> None:
    """Each reason reads kindly; the requeued member hears they are first in line."""
    for reason in EndReason:
        text = ended_dm_text(NotifyPairEnded(10, 20, 7, reason, requeued=True), "Home *Base*")
        assert text.startswith("💚") and "<@20>" in text and "first in line" in text
        assert "Home \\*Base\\*" in text
    plain = ended_dm_text(NotifyPairEnded(20, 10, 7, EndReason.ENDED_BY_MODERATOR, requeued=False), "X")
    assert "a moderator ended it" in plain and "queue" not in plain


def test_introduction_line_from_each_side() -> None:
    """Thread, DM, closed DMs, or still to come."""
    pair = _pair()
    assert "shortly" in introduction_line(pair, EffectReport(), 10)
    report = EffectReport(introductions={7: Introduction(7, 555)})
    assert "<#555>" in introduction_line(pair, report, 10)
    report = EffectReport(introductions={7: Introduction(7, None, (10,))})
    assert "DMs are closed" in introduction_line(pair, report, 10)
    assert "by direct message" in introduction_line(pair, report, 20)


def test_embed_batches_keep_discords_limits() -> None:
    """At most 10 embeds and 6000 characters per message."""
    import discord

    small = [discord.Embed(title=str(i)) for i in range(12)]
    assert [len(b) for b in _embed_batches(small)] == [10, 2]
    big = [discord.Embed(description="x" * 4000) for _ in range(3)]
    assert [len(b) for b in _embed_batches(big)] == [1, 1, 1]
    assert _embed_batches([]) == [[]]

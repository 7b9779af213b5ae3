"""Members, roles and channels that vanish between an event and its handling: a volunteer who left
unseen during matching, a matching group's role deleted, channels that settings point to deleted
(while the bot runs, or while it is away), the moderators' channel with buddy proposals awaiting
approval. Each is handled, and the moderators hear of a setting pointing nowhere once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.standin.model import GuildChannel, Message
from bot.standin.server import StandIn
from cogs.buddies import Buddies
from tests.e2e import FakeClock, Scene, build_scene, running_bot
from tests.reliability.support import UNEXPECTED, cog, delete_channel, query


async def set_up(scene: Scene, *, intro_channel: bool = True) -> None:
    """Moderators' channel; both houses are matching groups; introductions in #buddy-intros."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    if intro_channel:
        await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})


def notices(scene: Scene) -> list[str]:
    """What the bot posted in the moderators' channel on its own (not answers to commands)."""
    return [m.content for m in scene.mod_channel.bot_messages() if m.interaction is None and not m.ephemeral]


def setting(scene: Scene, key: str) -> list[tuple[str]]:
    return [
        (str(row[0]),)
        for row in query(
            scene.db_path, "SELECT value FROM guild_settings WHERE guild_id = ? AND key = ?", scene.guild.id, key
        )
    ]


async def settle() -> None:
    """Let the listeners started by the last event finish their work."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_volunteer_who_left_unseen_during_matching(scene: Scene, caplog: pytest.LogCaptureFixture) -> None:
    """alice left, but her departure has not reached the bot when beth is matched with her: the thread
    cannot take her, so they are introduced by DM and the moderators told; once the departure arrives,
    the pairing ends, beth is told kindly and is first in line again. No error reaches anyone."""
    await set_up(scene)
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})
    scene.guild.members.pop(scene.alice.id)
    scene.alice.present = False
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert "You have a buddy" in answer.content and UNEXPECTED not in answer.content
    assert any("couldn't open a private introduction thread" in n for n in notices(scene))
    payload = {"guild_id": str(scene.guild.id), "user": scene.alice.user.payload()}
    scene.standin.guild_event("GUILD_MEMBER_REMOVE", scene.guild, payload)
    await scene.standin.sync()
    await scene.standin.wait_for(lambda: any("has ended" in m.content for m in scene.beth.dms_from_bot()))
    assert query(scene.db_path, "SELECT status, end_reason FROM buddy_pairs") == [("ended", "member_left")]
    assert query(scene.db_path, "SELECT user_id FROM buddy_queue") == [(scene.beth.id,)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_deleted_group_role_stops_being_a_group_and_the_moderators_hear_once(scene: Scene) -> None:
    """The men's house role is deleted while carl supports dan: the group goes, their pairing ends
    (both told privately), the thread closes, and the moderators get one notice naming the role."""
    await set_up(scene)
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    await scene.standin.invoke(scene.dan, "buddy request")
    (thread,) = scene.standin.threads_created
    scene.guild.remove_role(scene.mens_house)
    await scene.standin.sync()
    await scene.standin.wait_for(lambda: thread.archived)
    await settle()
    groups = query(scene.db_path, "SELECT role_id FROM buddy_groups WHERE guild_id = ?", scene.guild.id)
    assert groups == [(scene.womens_house.id,)]
    assert query(scene.db_path, "SELECT status FROM buddy_pairs") == [("ended",)]
    assert any("ended" in m.content for m in scene.carl.dms_from_bot())
    (notice,) = [n for n in notices(scene) if "matching group" in n]  # (another says dan's DMs are closed)
    assert "Men's House" in notice and "no longer a matching group" in notice and "1 buddy pairing" in notice
    await scene.standin.sync()
    await settle()
    assert len([n for n in notices(scene) if "matching group" in n]) == 1


@pytest.mark.parametrize(
    ("key", "command", "channel_of"),
    [
        ("checkin_channel", "settings checkin-channel", lambda s: s.checkins),
        ("celebrations_channel", "settings celebrations-channel", lambda s: s.celebrations),
        ("intro_channel", None, lambda s: s.intros),
    ],
)
async def test_a_deleted_channel_a_setting_points_to_is_reported_once(
    scene: Scene, key: str, command: str | None, channel_of: object
) -> None:
    """The channel is deleted: the setting is cleared (so nothing keeps trying to post there) and the
    moderators get one notice saying which setting and how to choose another."""
    await set_up(scene)
    channel: GuildChannel = channel_of(scene)  # type: ignore[operator]
    if command is not None:
        await scene.standin.invoke(scene.mod, command, {"channel": channel})
    assert setting(scene, key) == [(str(channel.id),)]
    delete_channel(scene.standin, channel)
    await scene.standin.sync()
    await scene.standin.wait_for(lambda: notices(scene))
    await settle()
    (notice,) = notices(scene)
    assert f"#{channel.name}" in notice and "deleted" in notice and "/" in notice
    assert setting(scene, key) == []
    audit = query(scene.db_path, "SELECT actor_id, detail FROM audit_log WHERE guild_id = ?", scene.guild.id)
    assert any(actor is None and key in str(detail) for actor, detail in audit)


async def test_after_a_deleted_channel_a_check_in_shares_nothing_and_says_so(scene: Scene) -> None:
    """Sharing into a deleted check-in channel: the check-in is saved and the member told plainly."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    delete_channel(scene.standin, scene.checkins)
    await scene.standin.sync()
    options = {"mood": 4, "craving": 1, "sober": True, "share": True}
    answer = await scene.standin.invoke(scene.alice, "checkin today", options)
    assert "Check-in saved" in answer.content and "nothing was shared" in answer.content


async def test_a_deleted_moderators_channel_is_told_to_the_owner(scene: Scene) -> None:
    """With the moderators' channel itself gone, the server's owner is told, by DM, once."""
    await set_up(scene)
    delete_channel(scene.standin, scene.mod_channel)
    await scene.standin.sync()
    owner = scene.standin.users[scene.guild.owner_id]
    await scene.standin.wait_for(lambda: owner.dms_from_bot())
    (dm,) = owner.dms_from_bot()
    assert "#moderators" in dm.content and "/settings moderator-channel" in dm.content
    assert setting(scene, "moderator_channel") == []


async def test_what_was_deleted_while_the_bot_was_away_is_reported_once(standin: StandIn, tmp_path: Path) -> None:
    """The check-in channel and a group's role are deleted while the bot is down: on start the setting
    is cleared, the group removed, and each reported once; a second restart reports nothing again."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "bot.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await set_up(scene)
        await standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    delete_channel(standin, scene.checkins)
    scene.guild.remove_role(scene.mens_house)
    for _ in range(2):
        async with running_bot(standin, scene.db_path, clock) as bot:
            scene.bot = bot
            await standin.wait_for(lambda: len(notices(scene)) >= 2, timeout=5)
            await settle()
    texts = notices(scene)
    assert len(texts) == 2, texts
    assert any("matching group" in t for t in texts), texts
    assert any(f"<#{scene.checkins.id}>" in t and "Check-in channel" in t for t in texts)
    assert any("matching group" in t for t in texts)
    assert setting(scene, "checkin_channel") == []
    assert query(scene.db_path, "SELECT role_id FROM buddy_groups") == [(scene.womens_house.id,)]


def proposals_in(channel: GuildChannel) -> list[Message]:
    """The proposals (Approve / Reject) the bot posted in ``channel``."""
    return [m for m in channel.bot_messages() if m.interaction is None and m.embeds]


def approve_button(message: Message) -> str:
    return next(c for c in message.custom_ids() if ":approve:" in c)


async def test_proposals_made_or_posted_before_the_moderators_channel_was_deleted_are_posted_once_it_is_set(
    scene: Scene,
) -> None:
    """require_approval on: dan's proposal is posted in #moderators, which is then deleted (its buttons
    with it); beth's is made while there is no moderators' channel. Setting another channel posts both
    there at once, each once, with working buttons: approving pairs them; later sweeps post nothing."""
    await set_up(scene)
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"require_approval": True})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    await scene.standin.invoke(scene.dan, "buddy request")
    assert len(proposals_in(scene.mod_channel)) == 1
    delete_channel(scene.standin, scene.mod_channel)
    await scene.standin.sync()
    owner = scene.standin.users[scene.guild.owner_id]
    await scene.standin.wait_for(lambda: owner.dms_from_bot())
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert "a moderator will confirm" in answer.content
    buddies = cog(scene, "Buddies", Buddies)
    assert (await buddies.run_sweep_now()).proposed == 0  # nowhere to post them yet
    new_channel = scene.guild.add_text_channel("moderators-2")
    await scene.standin.sync()
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": new_channel})
    await scene.standin.wait_for(lambda: len(proposals_in(new_channel)) == 2)  # posted as it was set
    assert (await buddies.run_sweep_now()).proposed == 0
    posted = proposals_in(new_channel)
    assert len(posted) == 2
    where = query(scene.db_path, "SELECT proposal_channel_id FROM buddy_pairs WHERE status = 'proposed'")
    assert where == [(new_channel.id,), (new_channel.id,)]
    for proposal in posted:
        pressed = await scene.standin.press_button(scene.mod, proposal, approve_button(proposal))
        assert "are buddies now" in pressed.content
    assert query(scene.db_path, "SELECT status FROM buddy_pairs") == [("active",), ("active",)]
    assert len(proposals_in(new_channel)) == 2

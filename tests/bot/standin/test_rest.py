"""REST routes the bot uses directly: fetches, message edit/delete, uploads, threads, DMs."""

from __future__ import annotations

import io

import discord
import pytest

from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World


async def test_fetch_routes(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Members, member lists, roles, channels and users can be fetched."""
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    alice = await guild.fetch_member(world.alice.id)
    assert alice.name == "alice" and [r.name for r in alice.roles] == ["@everyone", "Peer"]
    everyone = [m.name async for m in guild.fetch_members(limit=None)]
    assert sorted(everyone) == sorted(["alice", "bob", standin.bot_user.username])
    roles = await guild.fetch_roles()
    assert {r.name for r in roles} == {"@everyone", "Peer", "Staff", "Tiny"}
    channel = await bot.fetch_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    user = await bot.fetch_user(world.bob.id)
    assert user.name == "bob"
    with pytest.raises(discord.NotFound) as missing:
        await guild.fetch_member(123)
    assert missing.value.code == 10013
    fetched = await bot.fetch_guild(world.guild.id)
    assert fetched.name == "Test Guild"


async def test_send_edit_delete_with_upload(standin: StandIn, world: World, bot: TinyBot) -> None:
    """channel.send with a file (multipart), then edit and delete; MESSAGE_UPDATE/DELETE reach the cache."""
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("notes", file=discord.File(io.BytesIO(b"abc"), filename="notes.txt"))
    stored = standin.find_message(sent.id)
    assert stored is not None and stored.files == [("notes.txt", b"abc")]
    assert sent.attachments[0].filename == "notes.txt" and sent.attachments[0].size == 3
    edited = await sent.edit(content="notes (v2)", embed=discord.Embed(title="Summary"))
    assert edited.content == "notes (v2)" and stored.embeds[0]["title"] == "Summary"
    assert stored.attachments and stored.edited_at is not None
    history = [m.content async for m in channel.history(limit=5)]
    assert history == ["notes (v2)"]
    await sent.delete()
    assert stored.deleted
    assert [m async for m in channel.history(limit=5)] == []


async def test_cannot_edit_others_messages(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Editing a user's message fails with 50005; deleting it needs Manage Messages (the bot has it)."""
    posted = await world.alice.post_message(world.general, "mine")
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.fetch_message(posted.id)
    with pytest.raises(discord.Forbidden) as refused:
        await message.edit(content="yours")
    assert refused.value.code == 50005
    await message.delete()
    assert posted.deleted


async def test_thread_archive_and_dm_channel(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The bot archives its thread with PATCH; DMs open a DM channel with the recipient."""
    await standin.invoke(world.alice, "huddle", {"other": world.bob})
    stored = standin.threads_created[0]
    thread = bot.get_channel(stored.id)
    assert isinstance(thread, discord.Thread)
    archived = await thread.edit(archived=True)
    assert stored.archived and archived.archived
    with pytest.raises(discord.HTTPException) as closed:
        await thread.add_user(discord.Object(world.alice.id))
    assert closed.value.code == 50083
    user = bot.get_user(world.alice.id)
    assert user is not None
    dm = await user.create_dm()
    assert dm.recipient is not None and dm.recipient.id == world.alice.id
    await dm.send("hi alice")
    assert [m.content for m in world.alice.dms_from_bot()] == ["hi alice"]

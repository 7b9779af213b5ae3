"""The client connects: READY, GUILD_CREATE, member chunking, command sync."""

from __future__ import annotations

import discord

from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World


async def test_ready_and_guild_chunked(standin: StandIn, world: World, bot: TinyBot) -> None:
    """READY then GUILD_CREATE and chunking give discord.py the whole guild."""
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    assert guild.name == "Test Guild"
    assert guild.chunked
    assert guild.member_count == len(world.guild.members) == 3
    assert {m.name for m in guild.members} == {"alice", "bob", standin.bot_user.username}
    assert bot.user is not None and bot.user.id == standin.bot_user.id
    assert bot.application_id == standin.application.id
    alice = guild.get_member(world.alice.id)
    assert alice is not None and [r.name for r in alice.roles] == ["@everyone", "Peer"]
    assert {c.name for c in guild.text_channels} == {"general", "announcements"}


async def test_commands_synced(standin: StandIn, bot: TinyBot) -> None:
    """tree.sync() in setup_hook reaches the stand-in's command store."""
    names = {c["name"] for c in standin.global_commands.values()}
    assert {"ping", "peer", "confirm", "feedback"} <= names
    fetched = await bot.tree.fetch_commands()
    assert {c.name for c in fetched} == names


async def test_slash_command_answered(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A slash command is answered through the real interaction callback."""
    result = await standin.invoke(world.alice, "ping")
    assert result.content == "pong"
    assert not result.ephemeral
    secret = await standin.invoke(world.alice, "ping", {"secret": True})
    assert secret.content == "pong"
    assert secret.ephemeral
    assert isinstance(bot.get_channel(world.general.id), discord.TextChannel)

"""Gateway behaviour: intents, privileged intents, member events, reconnect and resume."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.standin.harness import checked_standin, connect_client
from bot.standin.model import Intent
from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World, build_world, default_intents


async def test_privileged_intent_not_granted_closes_4014(standin: StandIn, world: World) -> None:
    """Asking for message content without the grant closes with 4014 → PrivilegedIntentsRequired."""
    intents = default_intents()
    intents.message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with connect_client(standin, lambda: TinyBot(intents)):
            pass
    assert standin.gateway.close_codes == [4014]
    assert standin.gateway.identifies == 0


async def test_message_content_needs_the_intent(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Without the message-content intent guild content is empty, except mentions of the bot and DMs."""
    await world.alice.post_message(world.general, "hello everyone")
    mention = f"<@{standin.bot_user.id}> are you there?"
    await world.alice.post_message(world.general, mention)
    await world.alice.dm_bot("just us")
    assert [m.content for m in bot.seen.messages] == ["", mention, "just us"]
    assert isinstance(bot.seen.messages[2].channel, discord.DMChannel)
    assert bot.seen.messages[0].author.id == world.alice.id


async def test_message_content_with_the_intent() -> None:
    """With the intent granted and identified, guild messages carry their content."""
    async with checked_standin(granted_intents=Intent.GUILD_MEMBERS | Intent.MESSAGE_CONTENT) as standin:
        world = build_world(standin)
        intents = default_intents()
        intents.message_content = True
        async with connect_client(standin, lambda: TinyBot(intents)) as bot:
            await world.alice.post_message(world.general, "hello everyone")
            assert [m.content for m in bot.seen.messages] == ["hello everyone"]


async def test_events_not_subscribed_are_not_sent(standin: StandIn, world: World) -> None:
    """Without the members intent, member events and chunking do not happen."""
    intents = discord.Intents.default()
    async with connect_client(standin, lambda: TinyBot(intents)) as bot:
        world.guild.add_member("carol")
        await world.alice.leave()
        await standin.sync()
        assert bot.seen.joins == [] and bot.seen.removals == []
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and not guild.chunked
        assert guild.member_count == 3
        assert [m.id for m in guild.members] == [standin.bot_user.id]


async def test_member_events_reach_the_cache(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Joins, leaves, role changes by moderators, reactions and voice states reach discord.py."""
    carol = world.guild.add_member("carol")
    await standin.sync()
    assert [m.name for m in bot.seen.joins] == ["carol"]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_member(carol.id) is not None
    await carol.add_role(world.peer)
    cached = guild.get_member(carol.id)
    assert cached is not None and [r.name for r in cached.roles] == ["@everyone", "Peer"]
    await carol.remove_role(world.peer)
    assert [r.name for r in guild.get_member(carol.id).roles] == ["@everyone"]  # type: ignore[union-attr]
    message = await world.alice.post_message(world.general, "react to me")
    await carol.react(message, "👍")
    assert [(r.user_id, str(r.emoji)) for r in bot.seen.reactions] == [(carol.id, "👍")]
    voice = world.guild.add_voice_channel("lounge")
    await carol.join_voice(voice)
    assert [m.id for m in guild.get_channel(voice.id).members] == [carol.id]  # type: ignore[union-attr]
    await carol.leave()
    assert [m.name for m in bot.seen.removals] == ["carol"]
    assert guild.get_member(carol.id) is None
    assert guild.member_count == 3


async def test_query_members_over_the_gateway(standin: StandIn, world: World, bot: TinyBot) -> None:
    """REQUEST_GUILD_MEMBERS with a query or user ids answers with matching chunks."""
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    found = await guild.query_members("al")
    assert [m.id for m in found] == [world.alice.id]
    by_id = await guild.query_members(user_ids=[world.bob.id])
    assert [m.name for m in by_id] == ["bob"]


async def test_disconnect_then_resume(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A closed socket makes discord.py reconnect and RESUME; commands work afterwards."""
    await standin.disconnect()
    await standin.sync()
    assert standin.gateway.resumes == 1
    assert standin.gateway.identifies == 1
    assert (await standin.invoke(world.alice, "ping")).content == "pong"


async def test_events_during_outage_are_replayed(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Events dispatched while the client is away are replayed with their sequence numbers on RESUME."""
    session = next(iter(standin.gateway.sessions.values()))
    async with standin.outage():
        assert not standin.gateway.connected
        carol = world.guild.add_member("carol")
        await world.alice.dm_bot("are you back?")
        await world.bob.add_role(world.peer)
    await standin.sync()
    assert standin.gateway.resumes == 1 and standin.gateway.identifies == 1
    assert [m.name for m in bot.seen.joins] == ["carol"]
    assert [m.content for m in bot.seen.messages] == ["are you back?"]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_member(carol.id) is not None
    assert "Peer" in [r.name for r in guild.get_member(world.bob.id).roles]  # type: ignore[union-attr]
    assert bot.ws is not None and bot.ws.sequence == session.seq


async def test_presences_intent_sends_members_in_guild_create() -> None:
    """With the presences intent, GUILD_CREATE carries every member of a small guild (no chunking)."""
    async with checked_standin(granted_intents=Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES) as standin:
        world = build_world(standin)
        intents = default_intents()
        intents.presences = True
        async with connect_client(standin, lambda: TinyBot(intents)) as bot:
            guild = bot.get_guild(world.guild.id)
            assert guild is not None and guild.chunked and len(guild.members) == 3
        assert not any(r.path.startswith("/guilds") for r in standin.requests)


async def test_transcript_reads_like_a_conversation(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The transcript shows who did what and marks ephemeral answers."""
    await standin.invoke(world.alice, "ping", {"secret": True})
    lines = standin.format_transcript().splitlines()
    assert "[#general] alice: /ping secret:True" in lines
    assert f"[#general] {standin.bot_user.username} → alice (ephemeral): pong" in lines


async def test_sync_survives_a_reconnect(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A barrier in flight when the socket drops completes after the client resumes."""
    carol = world.guild.add_member("carol")
    barrier = asyncio.create_task(standin.sync())
    await asyncio.sleep(0)
    await standin.disconnect()
    await barrier
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_member(carol.id) is not None
    assert standin.gateway.resumes == 1

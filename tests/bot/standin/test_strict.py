"""The stand-in is as strict as Discord: acknowledgement rules, permissions, limits, unsynced commands."""

from __future__ import annotations

import aiohttp
import discord
import pytest
from discord.http import Route

from bot.standin.harness import connect_client
from bot.standin.interactions import InteractionNotAnswered, InvocationRefused
from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World, default_intents


async def test_second_acknowledgement_is_rejected(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A second callback for an answered interaction gets 400 code 40060 as JSON."""
    result = await standin.invoke(world.alice, "ping")
    url = f"{standin.api_base}/interactions/{result.id}/{result.token}/callback"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": 4, "data": {"content": "again"}}) as resp,
    ):
        body = await resp.json()
        assert resp.status == 400
        assert resp.headers["Content-Type"] == "application/json"
    assert body == {"message": "Interaction has already been acknowledged.", "code": 40060}
    assert result.rejected == [(400, 40060)]


async def test_late_acknowledgement_is_unknown_interaction(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A callback after the deadline gets 404 code 10062 and the helper reports no answer."""
    standin.ack_deadline = 0.15
    with pytest.raises(InteractionNotAnswered, match=r"not acknowledged within 0\.15s"):
        await standin.invoke(world.alice, "late", {"delay": 0.3})
    late = standin.interactions[-1]
    assert await standin.wait_for(lambda: late.rejected) == [(404, 10062)]
    assert standin.requests_to("POST", "/interactions/{id}/{token}/callback")[-1].error_code == 10062
    assert standin.problems() == []


async def test_dm_to_closed_dms_is_forbidden(standin: StandIn, world: World, bot: TinyBot) -> None:
    """DMs to a user whose DMs are closed fail with 403 code 50007."""
    result = await standin.invoke(world.bob, "dmme", {"text": "hi"})
    assert result.content == "cannot DM: 50007"
    assert world.bob.dms_from_bot() == []


async def test_role_change_rules(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Roles at/above the bot's top role, or without Manage Roles, fail with 50013; others reach the cache."""
    refused = await standin.invoke(world.alice, "grant", {"member": world.bob, "role": world.above_bot})
    assert refused.content == "forbidden: 50013"
    granted = await standin.invoke(world.alice, "grant", {"member": world.bob, "role": world.peer})
    assert granted.content == "gave Peer to bob"
    change = standin.role_changes[-1]
    assert (change.member, change.role, change.added, change.by_bot) == (world.bob, world.peer, True, True)
    await standin.sync()
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    cached = guild.get_member(world.bob.id)
    assert cached is not None and "Peer" in [r.name for r in cached.roles]
    assert bot.seen.member_updates[-1][1].id == world.bob.id
    another = world.guild.add_role("Another")
    world.guild.bot_role.update(permissions=0)
    await standin.sync()
    refused_again = await standin.invoke(world.alice, "grant", {"member": world.bob, "role": another})
    assert refused_again.content == "forbidden: 50013"


async def test_message_limits(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Over 2000 characters → 50035, empty → 50006, an embed the OpenAPI description rejects → 50035."""
    too_long = await standin.invoke(world.alice, "say", {"text": "x" * 2001})
    assert too_long.content == "failed: 400 50035"
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send("")
    assert empty.value.code == 50006
    with pytest.raises(discord.HTTPException) as invalid:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert invalid.value.code == 50035
    assert "embeds.0.title" in invalid.value.text
    assert standin.invalid_bodies[-1].path == f"/channels/{world.general.id}/messages"
    assert [m for m in world.general.bot_messages() if m.interaction is None] == []


async def test_channel_without_send_permission(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Sending where the bot may not send fails with 403 code 50013."""
    result = await standin.invoke(world.alice, "say", {"text": "hi", "where": world.locked})
    assert result.content == "failed: 403 50013"
    ok = await standin.invoke(world.alice, "say", {"text": "hi", "where": world.general})
    assert ok.content == "sent"
    assert [m.content for m in world.general.bot_messages() if m.interaction is None] == ["hi"]


async def test_invocations_checked_against_synced_schema(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Unknown commands, unknown/missing options, wrong types, bad choices and out-of-range values are refused."""
    cases: list[tuple[str, dict[str, object], str]] = [
        ("nope", {}, "not synced"),
        ("peer", {}, "needs a subcommand"),
        ("peer pair", {"weeks": 2}, "required option 'other' missing"),
        ("peer pair", {"other": world.bob, "weeks": 13}, "max_value 12"),
        ("peer pair", {"other": world.bob, "weeks": 2, "style": "fast"}, "not one of the choices"),
        ("peer pair", {"other": "bob", "weeks": 2}, "takes a Member or User"),
        ("peer pair", {"other": world.bob, "weeks": "2"}, "is a number"),
        ("ping", {"loud": True}, "unknown option 'loud'"),
    ]
    for command, options, message in cases:
        with pytest.raises(InvocationRefused, match=message):
            await standin.invoke(world.alice, command, options)
    assert standin.interactions == []


async def test_unsynced_commands_cannot_be_invoked(standin: StandIn, world: World) -> None:
    """Until the bot syncs, the helper refuses to invoke its commands."""
    async with connect_client(standin, lambda: TinyBot(default_intents(), sync_commands=False)) as client:
        with pytest.raises(InvocationRefused, match="not synced"):
            await standin.invoke(world.alice, "ping")
        await client.tree.sync()
        assert (await standin.invoke(world.alice, "ping")).content == "pong"


async def test_unimplemented_route_is_recorded(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A route the stand-in does not implement answers Discord's 404 and is recorded for the teardown."""
    with pytest.raises(discord.NotFound) as missing:
        await bot.http.request(Route("GET", "/guilds/{guild_id}/bans", guild_id=world.guild.id))
    assert missing.value.code == 0
    assert standin.unhandled == [f"GET /guilds/{world.guild.id}/bans"]
    assert standin.problems() == [f"unimplemented Discord route hit: GET /guilds/{world.guild.id}/bans"]
    standin.unhandled.clear()


async def test_unanswered_interaction_is_a_problem(standin: StandIn, world: World, bot: TinyBot) -> None:
    """An interaction dispatched without waiting counts as a problem until it is answered."""
    pending = await standin.invoke(world.alice, "late", {"delay": 0.05}, wait=False)
    assert standin.problems() == ["interaction never answered: /late delay:0.05 by alice"]
    await standin.wait_answered(pending)
    assert pending.content == "too late?"
    assert standin.problems() == []

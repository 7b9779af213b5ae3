"""Message nonces (``enforce_nonce``) and lost responses: Discord did it, the bot heard a failure."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import discord
import pytest

from bot.standin.openapi import get_validator
from bot.standin.server import NONCE_WINDOW, StandIn
from tests.bot.standin.conftest import TinyBot, World
from tests.reliability.support import fast_backoff

MESSAGES = "/channels/{channel_id}/messages"


def channel_of(bot: TinyBot, world: World) -> discord.TextChannel:
    """The bot's view of #general."""
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def test_the_validator_accepts_discord_py_nonces() -> None:
    """discord.py's ``nonce`` (a string) with ``enforce_nonce: true`` is a valid Create Message body;
    a nonce longer than 25 characters is not."""
    validator = get_validator()
    path = "/channels/123/messages"
    assert validator.validate("POST", path, {"content": "hi", "nonce": "a" * 25, "enforce_nonce": True}) == []
    assert validator.validate("POST", path, {"content": "hi", "nonce": 12345, "enforce_nonce": False}) == []
    assert validator.validate("POST", path, {"content": "hi", "nonce": "a" * 26, "enforce_nonce": True}) != []


async def test_an_enforced_nonce_returns_the_first_message(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The same nonce twice in a channel: one message; the second answer is that message, no new event."""
    channel = channel_of(bot, world)
    first = await channel.send("hello", nonce="step-1")
    again = await channel.send("hello, once more", nonce="step-1")
    assert again.id == first.id and again.content == "hello"
    assert again.nonce == "step-1"
    sent = world.general.bot_messages()
    assert [m.content for m in sent] == ["hello"]
    assert standin.deduplicated == [sent[0]]
    bodies = [r.body for r in standin.requests_to("POST", MESSAGES)]
    assert all(b["nonce"] == "step-1" and b["enforce_nonce"] is True for b in bodies)


async def test_nonces_are_per_channel_and_different_nonces_differ(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The same nonce in another channel (a DM) creates a message there; another nonce creates another."""
    channel = channel_of(bot, world)
    await channel.send("one", nonce="n1")
    await channel.send("two", nonce="n2")
    user = await bot.fetch_user(world.alice.id)
    await user.send("in a DM", nonce="n1")
    assert [m.content for m in world.general.bot_messages()] == ["one", "two"]
    assert [m.content for m in world.alice.dms_from_bot()] == ["in a DM"]
    assert standin.deduplicated == []


async def test_a_nonce_without_enforce_creates_a_message_each_time(
    standin: StandIn, world: World, bot: TinyBot
) -> None:
    """Without ``enforce_nonce`` the nonce is only echoed back: two messages."""
    channel = channel_of(bot, world)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    for _ in range(2):
        data = await bot.http.request(route, json={"content": "plain", "nonce": "same"})
        assert data["nonce"] == "same"
    assert [m.content for m in world.general.bot_messages()] == ["plain", "plain"]


async def test_a_nonce_is_forgotten_after_the_window(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Past the window (the stand-in's clock moved on), the same nonce creates a new message."""
    channel = channel_of(bot, world)
    await channel.send("before", nonce="late")
    moment = standin.clock()
    standin.clock = lambda: moment + timedelta(seconds=NONCE_WINDOW - 1)
    await channel.send("within", nonce="late")
    assert [m.content for m in world.general.bot_messages()] == ["before"]
    standin.clock = lambda: moment + timedelta(seconds=NONCE_WINDOW + 1)
    await channel.send("after", nonce="late")
    assert [m.content for m in world.general.bot_messages()] == ["before", "after"]


async def test_a_deleted_message_is_not_returned_for_its_nonce(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A message deleted since is not handed back: the same nonce creates a new one."""
    channel = channel_of(bot, world)
    first = await channel.send("first", nonce="gone")
    await first.delete()
    await channel.send("second", nonce="gone")
    assert [m.content for m in world.general.bot_messages()] == ["second"]


async def test_a_lost_500_is_retried_and_answered_with_the_first_message(
    standin: StandIn, world: World, bot: TinyBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is created, the answer is a 500; discord.py retries with the same nonce and gets
    that message back: one message."""
    fast_backoff(monkeypatch)
    channel = channel_of(bot, world)
    standin.lose_response("POST", MESSAGES, 500)
    sent = await channel.send("only once", nonce="lost-500")
    records = standin.requests_to("POST", MESSAGES)
    assert [(r.status, r.lost) for r in records] == [(500, True), (200, False)]
    assert [m.id for m in world.general.bot_messages()] == [sent.id]


async def test_discord_py_sends_a_random_nonce_that_covers_its_own_retry(
    standin: StandIn, world: World, bot: TinyBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discord.py 2.7.1 gives every send without a nonce a random one (enforced): its own retry after
    a lost 502 gets the first message back."""
    fast_backoff(monkeypatch)
    channel = channel_of(bot, world)
    standin.lose_response("POST", MESSAGES, 502)
    await channel.send("once")
    first, retry = standin.requests_to("POST", MESSAGES)
    assert first.body["nonce"] == retry.body["nonce"] and first.body["enforce_nonce"] is True
    assert [m.content for m in world.general.bot_messages()] == ["once"]


async def test_a_second_send_without_a_nonce_makes_a_duplicate(standin: StandIn, world: World, bot: TinyBot) -> None:
    """What a deterministic nonce is for: sending again after a lost 503 draws a new random nonce, and
    Discord creates a second message."""
    channel = channel_of(bot, world)
    standin.lose_response("POST", MESSAGES, 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("twice")
    await channel.send("twice")
    assert [m.content for m in world.general.bot_messages()] == ["twice", "twice"]


async def test_a_lost_503_reaches_the_bot_though_the_message_exists(
    standin: StandIn, world: World, bot: TinyBot
) -> None:
    """A 503 after creating: discord.py raises; the message is there, and a later send with the same
    nonce returns it."""
    channel = channel_of(bot, world)
    standin.lose_response("POST", MESSAGES, 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("made", nonce="lost-503")
    (made,) = world.general.bot_messages()
    again = await channel.send("made", nonce="lost-503")
    assert again.id == made.id and len(world.general.bot_messages()) == 1


async def test_a_dropped_connection_after_creating(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The connection is closed without an answer: discord.py raises aiohttp's error (not an
    HTTPException); the message exists; the record says status 0, lost."""
    channel = channel_of(bot, world)
    standin.lose_response("POST", MESSAGES, None)
    with pytest.raises(aiohttp.ClientError):
        await channel.send("dropped", nonce="dropped")
    (record,) = standin.requests_to("POST", MESSAGES)
    assert (record.status, record.response, record.lost) == (0, None, True)
    (made,) = world.general.bot_messages()
    again = await channel.send("dropped", nonce="dropped")
    assert again.id == made.id


async def test_a_lost_rule_spares_requests_that_fail_for_their_own_reason(
    standin: StandIn, world: World, bot: TinyBot
) -> None:
    """A request refused anyway (closed DMs) keeps its own error and does not use up the lost rule."""
    bob = await bot.fetch_user(world.bob.id)
    alice = await bot.fetch_user(world.alice.id)
    rule = standin.lose_response("POST", MESSAGES, 503)
    with pytest.raises(discord.Forbidden):
        await bob.send("closed", nonce="b")
    assert rule.hits == 0
    with pytest.raises(discord.DiscordServerError):
        await alice.send("open", nonce="a")
    assert rule.hits == 1
    assert [m.content for m in world.alice.dms_from_bot()] == ["open"]

"""Failure injection: rate limits retried by discord.py, server errors surfaced."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import SimpleNamespace
from typing import Any

import discord
import discord.http
import pytest

from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World

MESSAGES = "/channels/{channel_id}/messages"


async def test_rate_limit_is_retried(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A 429 with retry_after and a Via header is waited out and retried by discord.py."""
    standin.fail_next("POST", MESSAGES, 429, retry_after=0.05)
    result = await standin.invoke(world.alice, "say", {"text": "after a pause"})
    assert result.content == "sent"
    attempts = standin.requests_to("POST", MESSAGES)
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[0].response == {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
    assert [m.content for m in world.general.bot_messages() if m.interaction is None] == ["after a pause"]


async def test_rate_limited_followup_is_retried(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Webhook follow-ups honour 429 too."""
    standin.fail_next("POST", "/webhooks/{application_id}/{token}", 429, retry_after=0.02)
    result = await standin.invoke(world.alice, "slow")
    assert result.content == "done thinking"
    assert [r.status for r in standin.requests_to("POST", "/webhooks/{a}/{t}")] == [429, 200]


async def test_service_unavailable_is_surfaced(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A 503 reaches the bot as DiscordServerError (discord.py does not retry it)."""
    standin.fail_next("POST", MESSAGES, 503)
    result = await standin.invoke(world.alice, "say", {"text": "hello"})
    assert result.content == "failed: 503 0"


async def test_internal_error_retried_then_surfaced(
    standin: StandIn, world: World, bot: TinyBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500s are retried by discord.py (its back-off shortened here) and surfaced after five attempts."""
    real_sleep = asyncio.sleep

    def quick_sleep(delay: float, *args: Any) -> Coroutine[Any, Any, Any]:
        return real_sleep(min(delay, 0.01), *args)

    monkeypatch.setattr(discord.http, "asyncio", SimpleNamespace(**{**vars(asyncio), "sleep": quick_sleep}))
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    standin.fail_next("POST", MESSAGES, 500)
    sent = await channel.send("second try")
    assert [r.status for r in standin.requests_to("POST", MESSAGES)] == [500, 200]
    assert sent.content == "second try"
    standin.fail_next("POST", MESSAGES, 500, times=5)
    with pytest.raises(discord.DiscordServerError) as failed:
        await channel.send("never")
    assert failed.value.status == 500
    assert [r.status for r in standin.requests_to("POST", MESSAGES)][2:] == [500] * 5

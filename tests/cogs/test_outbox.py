"""The outbox's classification of Discord's failures (cogs/outbox.py): which are retried, which are refused for
good, and which are closed DMs, for the owner's and a member's DMs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import discord
import pytest

from cogs.outbox import classify


def http_error(status: int, code: int = 0, message: str = "") -> discord.HTTPException:
    """The exception discord.py raises for Discord's answer ``status`` with error ``code``."""
    response = cast(Any, SimpleNamespace(status=status, reason="Error"))
    body = {"code": code, "message": message}
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    if status >= 500:
        kind = discord.DiscordServerError
    return kind(response, body)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_rate_limits_are_transient(status: int) -> None:
    """A 5xx (or a 429 discord.py did not wait out) is tried again, not taken for closed DMs."""
    result = classify(http_error(status, message="busy"), "member")
    assert result.outcome == "transient" and not result.dms_closed
    assert result.reason == f"Discord answered {status} (busy)"


@pytest.mark.parametrize(
    "exc", [aiohttp.ServerDisconnectedError(), aiohttp.ClientConnectionError(), TimeoutError()], ids=repr
)
def test_a_dropped_connection_or_a_timeout_is_transient(exc: Exception) -> None:
    """No answer at all: Discord may have made the message, so it is tried again with the same nonce."""
    assert classify(exc, "member").outcome == "transient"


@pytest.mark.parametrize(("destination", "whose"), [("member", "the member's"), ("owner", "the owner's")])
def test_closed_dms_are_permanent_and_flagged(destination: str, whose: str) -> None:
    """Discord's 50007: refused for good, flagged as closed DMs, and the reason says whose."""
    result = classify(http_error(403, 50007, "Cannot send messages to this user"), destination)
    assert (result.outcome, result.dms_closed) == ("permanent", True)
    assert result.reason == f"{whose} direct messages are closed"


def test_another_403_is_permanent_but_not_closed_dms() -> None:
    """A 403 other than 50007 (no access) is refused for good, without being taken for closed DMs."""
    result = classify(http_error(403, 50001, "Missing Access"), "member")
    assert (result.outcome, result.dms_closed) == ("permanent", False)
    assert "403" in result.reason

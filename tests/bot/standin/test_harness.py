"""The harness's own checks: leak detection and endpoint restoration."""

from __future__ import annotations

import asyncio
import gc

import aiohttp
import discord
import discord.http
import pytest

from bot.standin.harness import LoopProblemCollector, StandInProblems, checked_standin, connect_client
from bot.standin.server import StandIn
from tests.bot.standin.conftest import TinyBot, World, default_intents


async def test_collector_reports_unclosed_session() -> None:
    """An aiohttp session dropped without close() is reported."""
    with LoopProblemCollector(propagate=False) as collector:
        session = aiohttp.ClientSession()
        del session
        gc.collect()
        assert any("Unclosed client session" in p for p in collector.problems())


async def test_collector_reports_destroyed_pending_task() -> None:
    """A task garbage-collected while still pending is reported."""

    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    with LoopProblemCollector(propagate=False) as collector:
        task = asyncio.create_task(stuck())
        await asyncio.sleep(0)
        del task
        assert any("Task was destroyed but it is pending" in p for p in collector.problems())


async def test_connect_client_restores_endpoints(standin: StandIn, world: World) -> None:
    """connect_client points discord.py at the stand-in and restores the previous endpoints after."""
    before = discord.http.Route.BASE
    async with connect_client(standin, lambda: TinyBot(default_intents())) as client:
        assert standin.api_base == discord.http.Route.BASE
        assert client.is_ready()
    assert before == discord.http.Route.BASE
    assert client.is_closed()


async def test_wrong_token_fails_login(standin: StandIn, world: World) -> None:
    """A client with the wrong token gets 401 at login, raised from connect_client."""
    with pytest.raises(discord.LoginFailure):
        async with connect_client(standin, lambda: TinyBot(default_intents()), token="not-the-token"):
            pass
    assert standin.requests[0].status == 401


async def test_checked_standin_reports_problems() -> None:
    """checked_standin raises on exit for an unimplemented route hit during the block."""
    with pytest.raises(StandInProblems, match="unimplemented Discord route hit: GET /nowhere"):
        async with (
            checked_standin() as standin,
            aiohttp.ClientSession() as session,
            session.get(f"{standin.api_base}/nowhere") as resp,
        ):
            assert resp.status == 404
            assert await resp.json() == {"message": "404: Not Found", "code": 0}

"""The bot run as a real process against the stand-in: start, answer, and shut down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.standin.model import Intent
from bot.standin.server import StandIn
from tests.e2e import START, FakeClock, build_scene


async def start_bot_process(standin: StandIn, tmp_path: Path, **env: str) -> asyncio.subprocess.Process:
    """Start ``python -m bot run`` pointed at the stand-in."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DISCORD_TOKEN": standin.token,
        "DISCORD_API_BASE": standin.api_base,
        "DISCORD_GATEWAY_URL": standin.gateway_url,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        **env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_until_ready(standin: StandIn) -> None:
    """Wait until the bot process identified and synced its commands."""
    await standin.wait_for(
        lambda: standin.gateway.identifies and standin.requests_to("PUT", "/applications/{application_id}/commands"),
        timeout=30,
    )
    await asyncio.sleep(2.5)  # discord.py's on_ready comes guild_ready_timeout (2 s) after GUILD_CREATE


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_cleanly(standin: StandIn, tmp_path: Path, signum: signal.Signals) -> None:
    """After a signal the bot closes the gateway and the database and exits 0 within 10 seconds."""
    world = build_scene(standin, tmp_path / "unused.sqlite3", FakeClock(START))
    process = await start_bot_process(standin, tmp_path)
    try:
        await wait_until_ready(standin)
        answer = await standin.invoke(world.alice, "about")
        assert answer.ephemeral
        process.send_signal(signum)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = stderr.decode()
    assert process.returncode == 0, text
    assert "Database closed" in text
    assert "Stopped cleanly" in text
    assert standin.token not in text + stdout.decode()
    conn = sqlite3.connect(tmp_path / "bot.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM command_sync").fetchone()[0] == 1
    finally:
        conn.close()


async def test_wrong_token_exits_2_without_showing_it(tmp_path: Path) -> None:
    """A token Discord refuses: one clear line, exit 2, the token not shown."""
    async with StandIn() as standin:
        process = await start_bot_process(standin, tmp_path, DISCORD_TOKEN="not.the.right-token")
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    text = stderr.decode()
    assert process.returncode == 2
    assert "DISCORD_TOKEN: Discord refused the token" in text
    assert "not.the.right-token" not in text


async def test_missing_members_intent_explains_how_to_enable_it(tmp_path: Path) -> None:
    """Without the Server Members Intent granted, the bot says where to switch it on and exits 2."""
    async with StandIn(granted_intents=Intent(0)) as standin:
        process = await start_bot_process(standin, tmp_path)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "Server Members Intent" in stderr.decode()

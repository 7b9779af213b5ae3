"""One start-up, in its own process (so that its memory is its own): ``python -m bench.startup_child``.

Arguments: ``KIND API_BASE GATEWAY_URL TOKEN DB_PATH [GUILD_READY_TIMEOUT]`` where KIND is ``bot``
(SoberPeers with every cog, on a fresh database) or ``bare`` (a plain discord.py client with the
same intents); GUILD_READY_TIMEOUT overrides discord.py's default (2 s; the quick run uses 0.05).
Prints one JSON line: seconds from ``start()`` to ``on_ready``, to "ready for work" (the bot: the
nudges cog has recorded the members and started its sweeper), members cached, and the resident
memory (VmRSS after a GC pass, and the peak VmHWM) in bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import discord

from bot.client import SoberPeersBot, build_intents
from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.endpoints import apply_endpoints
from bot.settings import Settings

__all__ = ["main", "memory"]


def memory() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes (Linux)."""
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


async def _start(kind: str, token: str, db_path: str, options: dict[str, Any]) -> dict[str, Any]:
    client: discord.Client
    if kind == "bot":
        db = await Database.open(db_path)
        await migrate(db)
        client = SoberPeersBot(Settings(), db, **options)
    else:
        client = discord.Client(intents=build_intents(), **options)
    start = time.perf_counter()
    task = asyncio.create_task(client.start(token))
    try:
        await asyncio.sleep(0)
        waiter = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, waiter}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            raise RuntimeError(f"not ready: {task.exception() if task.done() else 'timeout'}")
        ready = time.perf_counter() - start
        working = ready
        if isinstance(client, SoberPeersBot):
            cog: Any = client.get_cog("Nudges")
            # The cog starts its sweeper once it recorded the members; there is no event to await.
            while cog is not None and not cog.sweeper.running:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            working = time.perf_counter() - start
        members = sum(len(guild.members) for guild in client.guilds)
        await asyncio.sleep(0.2)  # let the first sweep and reminders settle
        gc.collect()
        return {"kind": kind, "ready_s": ready, "working_s": working, "members": members, **memory()}
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await task


def main(argv: list[str]) -> int:
    """Start, measure, print, stop."""
    kind, api_base, gateway_url, token, db_path = argv[:5]
    options = {"guild_ready_timeout": float(argv[5])} if len(argv) > 5 else {}
    logging.basicConfig(level=logging.ERROR)
    apply_endpoints(api_base, gateway_url)
    result = asyncio.run(_start(kind, token, db_path, options))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Start-up to ready against the local stand-in, and the memory per cached member.

The stand-in (in this process) holds one server of N members; a client starts in a child
process (:mod:`bench.startup_child`), connects, receives READY and GUILD_CREATE, asks for the
members and is ready once every chunk arrived. Two clients, alternating: the bot (every cog, a
fresh database; after ``on_ready`` its nudges cog records every member in one transaction, "ready
for work") and a bare discord.py client with the same intents. Both use discord.py's defaults,
so ``on_ready`` comes at least ``guild_ready_timeout`` (2 s) after the last GUILD_CREATE.

Memory per cached member beyond discord.py's own: the bot's resident memory grows with the
server by ``(bot(N) - bot(n))``, discord.py's by ``(bare(N) - bare(n))``, for a large N and a
small n; the difference over ``N - n`` is what the bot keeps per member on top of discord.py
(its imports and fixed costs cancel out).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.core import BenchError, Config, Metric, Result, Target, check, result_of, size_label
from bot.standin.server import StandIn

__all__ = ["run", "start_once"]

ROOT = Path(__file__).resolve().parents[2]


def _world(members: int) -> StandIn:
    standin = StandIn(app_name="SoberPeers", validate_bodies=False)
    guild = standin.add_guild("Recovery Network")
    for name in ("general", "check-ins", "moderators", "buddy-intros"):
        guild.add_text_channel(name)
    houses = [guild.add_role(f"House {i + 1}") for i in range(4)]
    for index in range(members):
        guild.add_member(f"member{index}", roles=[houses[index % 4]] if index % 3 == 0 else [])
    return standin


def _fresh(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


async def start_once(
    standin: StandIn, kind: str, folder: Path, guild_ready_timeout: float | None = None
) -> dict[str, Any]:
    """One start-up of ``kind`` ("bot" or "bare") in a child process; what it reported."""
    db_path = _fresh(folder, f"startup-{kind}.sqlite3")
    extra = [] if guild_ready_timeout is None else [str(guild_ready_timeout)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.startup_child", kind, standin.api_base, standin.gateway_url,
        standin.token, str(db_path), *extra,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=600)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError(f"the {kind} client did not start within 10 minutes") from None
    if process.returncode != 0:
        raise BenchError(f"the {kind} client failed: {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def run(config: Config) -> list[Result]:
    """Both clients at both sizes, alternating; times, memory and the per-member difference."""
    small, large = config.size(1_000, 100), config.size(100_000, 1_000)
    reps = config.reps(3, 1)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="soberpeers-bench-") as folder:
        worlds = {members: _world(members) for members in (small, large)}
        try:
            for standin in worlds.values():
                await standin.start()
            for index in range(reps):
                kinds = ("bare", "bot") if index % 2 == 0 else ("bot", "bare")
                plan = [(kind, members) for members in (small, large) for kind in kinds]
                if config.quick:  # all at once, without discord.py's 2 s wait: a smoke test
                    found_all = await asyncio.gather(
                        *(start_once(worlds[m], k, Path(folder) / f"{k}-{m}", 0.05) for k, m in plan)
                    )
                else:
                    found_all = [await start_once(worlds[m], k, Path(folder) / f"{k}-{m}") for k, m in plan]
                for (kind, members), found in zip(plan, found_all, strict=True):
                    check(found["members"] >= members, f"the {kind} client cached {found['members']} members")
                    runs.setdefault((kind, members), []).append(found)
        finally:
            for standin in worlds.values():
                await standin.close()
    per_member = [
        ((bot_l["VmRSS"] - bot_s["VmRSS"]) - (bare_l["VmRSS"] - bare_s["VmRSS"])) / (large - small)
        for bot_s, bot_l, bare_s, bare_l in zip(
            runs[("bot", small)], runs[("bot", large)], runs[("bare", small)], runs[("bare", large)], strict=True
        )
    ]
    label = size_label(large)
    mb = 1024 * 1024

    def values(kind: str, key: str, scale: float = 1.0) -> list[float]:
        return [r[key] / scale for r in runs[(kind, large)]]

    discordpy_per_member = statistics.median(
        (bl["VmRSS"] - bs["VmRSS"]) / (large - small)
        for bs, bl in zip(runs[("bare", small)], runs[("bare", large)], strict=True)
    )
    return [
        result_of(Metric(f"startup.ready_{label}", "s", None, "start() to on_ready"), values("bot", "ready_s")),
        result_of(Metric(f"startup.ready_{label}_discordpy", "s", None, "bare discord.py"), values("bare", "ready_s")),
        result_of(
            Metric(f"startup.working_{label}", "s", None, "to the nudges cog's members recorded"),
            values("bot", "working_s"),
        ),
        result_of(Metric(f"startup.rss_{label}", "MB", None, "the bot, after ready"), values("bot", "VmRSS", mb)),
        result_of(
            Metric(f"startup.rss_{label}_discordpy", "MB", None, "bare discord.py, after ready"),
            values("bare", "VmRSS", mb),
        ),
        result_of(
            Metric("startup.bytes_per_member_beyond_discordpy", "bytes", Target(1024.0)),
            per_member,
            discordpy_bytes_per_member=round(discordpy_per_member),
            peak_rss_mb=round(max(values("bot", "VmHWM", mb)), 1),
        ),
    ]

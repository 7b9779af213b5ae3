"""``/checkin history`` with its chart: the whole command, in-process, chart drawn for real.

Default history (30 days) and the longest (90 days), each member a participant with a year of
check-ins. The latency ends when the follow-up carrying the PNG has been sent.
"""

from __future__ import annotations

import asyncio
import random

from bench.cases.commands import COMMANDS, Command, Members
from bench.core import BenchError, Config, Metric, Result, Target, percentile, result_of, seeded
from bench.harness import Harness
from bench.payloads import option

__all__ = ["run"]


async def until_chart(harness: Harness, command: Command, uids: list[int], rng: random.Random) -> list[float]:
    """One at a time: each one's latency in seconds, until the follow-up carrying the chart is sent."""
    latencies = []
    for uid in uids:
        frame, token = harness.command_frame(uid, command.label, command.options(rng))
        sent = harness.recorder.expect_files(token)
        start, waiter = harness.arrive(frame, token)
        await harness.finished(token, waiter)
        end = await asyncio.wait_for(sent, 10.0)
        latencies.append(end - start - harness.recorder.discord_seconds(start, end))
        if not command.answered(harness.responses(token)):
            raise BenchError(f"/{command.label} answered wrongly: {[r.body for r in harness.responses(token)]!r}")
    harness.recorder.clear()
    return latencies


async def run(config: Config) -> list[Result]:
    """The chart case on the server data set of this run's size."""
    from bench.cases.common import server_bot

    base = next(c for c in COMMANDS if c.key == "checkin_history")
    results: list[Result] = []
    rng = seeded(config.seed)
    async with server_bot(config) as harness:
        members = Members(harness.plan.participants, config.seed + 1)
        for days in (30, 90):
            command = Command(
                base.label,
                base.key,
                base.members,
                lambda _rng, d=days: [option("days", d)],  # type: ignore[misc]
                base.answered,
                follows=True,
            )
            await until_chart(harness, command, members.take(3), rng)  # warm-up (fonts, code paths)
            values = []
            for _ in range(config.reps(5)):
                latencies = await until_chart(harness, command, members.take(config.size(20, 3)), rng)
                values.append(percentile(latencies, 50) * 1e3)
            results.append(result_of(Metric(f"chart.history_{days}_days.p50", "ms", Target(150.0)), values))
    return results

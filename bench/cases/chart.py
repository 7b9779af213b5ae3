"""``/checkin history`` with its chart: the whole command, in-process, chart drawn for real.

Default history (30 days) and the longest (90 days), each member a participant with a year of
check-ins. The latency ends when the follow-up carrying the PNG has been sent.
"""

from __future__ import annotations

from bench.cases.commands import COMMANDS, Command, Members, sequential
from bench.core import Config, Metric, Result, Target, percentile, result_of, seeded
from bench.payloads import option

__all__ = ["run"]


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
            )
            await sequential(harness, command, members.take(3), rng)  # warm-up (fonts, code paths)
            values = []
            for _ in range(config.reps(5)):
                latencies = await sequential(harness, command, members.take(config.size(20, 3)), rng)
                values.append(percentile(latencies, 50) * 1e3)
            results.append(result_of(Metric(f"chart.history_{days}_days.p50", "ms", Target(150.0)), values))
    return results

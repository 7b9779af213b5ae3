"""Event-loop lag: how late a 1 ms timer fires while the bot is busy.

The offline bot on the server data set; MESSAGE_CREATE frames flow in at 5,000 a second; then,
at once, the nudges cog's activity buffer holding every member (but the due ones) is written and
the cog runs a sweep (1,000 members due, its 10 DMs sent through the recorded HTTP layer). A task
sleeps 1 ms again and again meanwhile and records how late it wakes; the metric is that
lateness's p99 per repetition (from just before the flush and sweep to just after).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from bench.cases.sweep import restore_due, snapshot_due
from bench.core import Config, Metric, Result, Target, check, percentile, result_of
from bench.data import NOW
from bench.harness import MessageStream
from bot.services.nudges import DmThrottle

__all__ = ["run"]

T = TypeVar("T")
RATE = 5_000
TICK = 0.001


class GcPauses:
    """The garbage collector's pauses while active (``gc.callbacks``): they stop every thread."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0
        self.active = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.active:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def longest(self, generation: int) -> float:
        """The longest pause of a generation, in seconds (0 if none)."""
        return max((seconds for g, seconds in self.pauses if g == generation), default=0.0)


async def _timed(work: Awaitable[T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await work
    return result, time.perf_counter() - start


async def _timer(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(TICK)
        samples.append(time.perf_counter() - start - TICK)


async def run(config: Config) -> list[Result]:
    """Repeat: fill the buffer, put the due members back, stream, flush + sweep, measure."""
    from bench.cases.common import server_bot

    values: list[float] = []
    worst: list[float] = []
    durations: list[tuple[float, float]] = []
    collections = GcPauses()
    async with server_bot(config) as harness, contextlib.AsyncExitStack() as stack:
        stack.enter_context(collections)
        plan, bot = harness.plan, harness.bot
        cog: Any = bot.get_cog("Nudges")
        check(cog is not None, "the nudges cog is not loaded")
        due_rows = await bot.db.read(snapshot_due)
        due = set(plan.due)
        others = [uid for uid in plan.user_ids if uid not in due]
        authors = [uid for uid in plan.user_ids[: max(100, len(plan.user_ids) // 10)] if uid not in due]
        frames = harness.message_frames(authors, config.size(20_000, 2_000))
        for rep in range(config.reps(5) + 1):
            moment = NOW + timedelta(seconds=rep + 1)
            for uid in others:
                cog.buffer.note_at(plan.guild_id, uid, moment)
            run_id = cog.service.run_id
            await bot.db.transaction(lambda conn, r=run_id: restore_due(conn, due_rows, r))  # type: ignore[misc]
            cog.service.throttle = DmThrottle()
            gc.collect()
            samples: list[float] = []
            stop = asyncio.Event()
            collections.active = bool(rep)
            async with MessageStream(harness, frames, RATE):
                timer = asyncio.create_task(_timer(samples, stop))
                await asyncio.sleep(0.05)
                (flushed, flush_s), (report, sweep_s) = await asyncio.gather(
                    _timed(cog.flusher.flush()), _timed(cog.run_sweep_now())
                )
                durations.append((flush_s * 1e3, sweep_s * 1e3))
                await asyncio.sleep(0.05)
                stop.set()
                await timer
            collections.active = False
            check(report.sent == plan.nudged_now(), f"the sweep sent {report.sent} nudges, not {plan.nudged_now()}")
            check(flushed + len(due) >= len(others), f"the flush wrote {flushed} entries")
            harness.recorder.clear()
            if rep:  # the first one warms up
                values.append(percentile(samples, 99) * 1e3)
                worst.append(max(samples) * 1e3)
    return [
        result_of(
            Metric("looplag.p99", "ms", Target(5.0), "1 ms timer, 5,000 msg/s, a flush of every member and a sweep"),
            values,
            worst_ms=round(max(worst), 2),
            gc_longest_ms={g: round(collections.longest(g) * 1e3, 1) for g in (0, 1, 2)},
            gc_full_collections=sum(1 for g, _ in collections.pauses if g == 2),
            flush_ms=round(statistics.median(d[0] for d in durations[1:] or durations), 1),
            sweep_ms=round(statistics.median(d[1] for d in durations[1:] or durations), 1),
        )
    ]

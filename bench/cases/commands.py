"""Commands handled in-process, from the INTERACTION_CREATE frame to the response payload.

Each invocation is a gateway frame decoded and parsed by discord.py, dispatched by its command
tree to the cog, the service and the database, answered through the (recorded, network-free)
webhook adapter; it ends when discord.py reports the command complete. Members are drawn from
the data set (participants for check-ins; waiting members, volunteers, paired members and others
for ``/buddy status``), a different one each time.

* sequential: one command at a time; p50 and p99 per repetition;
* under load: the same while MESSAGE_CREATE frames flow in at 5,000 a second;
* burst: 50 of the same command arriving at once (each one's latency from their common arrival).

The few microseconds the recorder spends in Discord's place (reading a request, building Discord's
answer) are left out of the latencies, like the network; building and serialising the request,
and parsing Discord's answer, are discord.py's work and count.

``/checkin history`` is measured here for its numbers, answered in the interaction's callback; the
chart follows as a follow-up, which is waited for and checked before the next command but not
counted (in a burst the charts are sent amid the other commands). Its PNG is rendered beforehand,
still handed to a worker thread as the cog does. ``/checkin history`` with the real chart, until
the follow-up carrying it is sent, is the chart case.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.core import BenchError, Config, Metric, Result, Target, check, note, percentile, result_of, seeded
from bench.data import Plan
from bench.harness import Harness, MessageStream, Request
from bench.payloads import option

__all__ = ["COMMANDS", "Command", "run", "run_commands"]

JSON = dict[str, Any]
RATE = 5_000
BURST = 50
QUOTE_SEARCHES = ("shoulder to cry on", "isolation", "sponsor", "relapse", "support group", "therapist")


def _callback_data(responses: list[Request]) -> JSON:
    for request in responses:
        if request.path.endswith("/callback") and request.body is not None:
            data = request.body.get("data")
            return data if isinstance(data, dict) else {}
    return {}


def _checkin_saved(responses: list[Request]) -> bool:
    content = str(_callback_data(responses).get("content", ""))
    return "Check-in saved" in content or "already checked in" in content


def _history_answered(responses: list[Request]) -> bool:
    """The numbers in the callback, privately, then one private follow-up with the chart's PNG."""
    data = _callback_data(responses)
    embeds = data.get("embeds") or []
    numbers = bool(embeds) and str(embeds[0].get("title", "")).startswith("Your check-ins")
    followups = [r for r in responses if not r.path.endswith("/callback") and r.body is not None]
    charts = [r for r in followups if r.files and r.body is not None and int(r.body.get("flags") or 0) & 64]
    return numbers and int(data.get("flags") or 0) & 64 != 0 and len(followups) == len(charts) == 1


def _buddy_status_answered(responses: list[Request]) -> bool:
    data = _callback_data(responses)
    return bool(data.get("content") or data.get("embeds"))


def _quoted(responses: list[Request]) -> bool:
    return bool(_callback_data(responses).get("embeds"))


def _checkin_options(rng: random.Random) -> list[JSON]:
    craving = rng.randrange(0, 7) if rng.random() < 0.9 else rng.randrange(7, 11)
    return [option("mood", rng.randrange(1, 6)), option("craving", craving), option("sober", rng.random() > 0.02)]


def _buddy_members(plan: Plan) -> list[int]:
    """Waiting members, volunteers, members with a buddy and members of no group, in equal parts."""
    others = [uid for uid in plan.user_ids[: len(plan.user_ids) // 10] if uid not in plan.group_of]
    pools = [plan.waiting, plan.volunteers, plan.supported, others]
    size = min(len(pool) for pool in pools if pool)
    mixed: list[int] = []
    for index in range(size):
        mixed.extend(pool[index] for pool in pools if pool)
    return mixed


@dataclass(frozen=True, slots=True)
class Command:
    """A command to measure: who runs it, with what options, and what a right answer looks like."""

    label: str
    key: str
    members: Callable[[Plan], list[int]]
    options: Callable[[random.Random], list[JSON]]
    answered: Callable[[list[Request]], bool]
    available: Callable[[Harness], bool] = lambda harness: True
    follows: bool = False
    """Files follow the answer (the history's chart): waited for before checking, not counted."""


def _has_buddy_cog(harness: Harness) -> bool:
    return harness.bot.tree.get_command("buddy") is not None


COMMANDS = (
    Command("checkin today", "checkin_today", lambda p: p.participants, _checkin_options, _checkin_saved),
    Command(
        "checkin history", "checkin_history", lambda p: p.participants, lambda rng: [], _history_answered, follows=True
    ),
    Command("buddy status", "buddy_status", _buddy_members, lambda rng: [], _buddy_status_answered, _has_buddy_cog),
    Command(
        "peersupport quote",
        "peersupport_quote",
        lambda p: p.user_ids,
        lambda rng: [option("search", rng.choice(QUOTE_SEARCHES))],
        _quoted,
    ),
)


class Members:
    """Members of a command in a seeded order, each used once before any repeats."""

    def __init__(self, uids: list[int], seed: int) -> None:
        check(uids, "no members to run the command")
        self._uids = uids[:]
        seeded(seed).shuffle(self._uids)
        self._next = 0

    def take(self, count: int) -> list[int]:
        """The next ``count`` members."""
        out = [self._uids[(self._next + i) % len(self._uids)] for i in range(count)]
        self._next += count
        return out


@contextlib.contextmanager
def chart_replaced(png: bytes) -> Iterator[None]:
    """``/checkin history`` draws ``png`` instead of the chart (still on a worker thread)."""
    module = sys.modules["cogs.checkins"]
    real = module.render_history_chart
    module.render_history_chart = lambda history, **kwargs: png  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.render_history_chart = real  # type: ignore[attr-defined]


async def sample_chart(harness: Harness) -> bytes:
    """A real chart of a participant's default history (what the stand-in PNG weighs)."""
    from bot.services.chart import render_history_chart

    cog: Any = harness.bot.get_cog("Checkins")
    history = await cog.checkins.history(harness.plan.guild_id, harness.plan.participants[0])
    return render_history_chart(history)


async def sequential(harness: Harness, command: Command, uids: list[int], rng: random.Random) -> list[float]:
    """One at a time: each one's latency in seconds."""
    latencies = []
    for uid in uids:
        frame, token = harness.command_frame(uid, command.label, command.options(rng))
        files = harness.recorder.expect_files(token) if command.follows else None
        latencies.append(await harness.run_command(frame, token))
        if files is not None:
            await asyncio.wait_for(files, 10.0)
        if not command.answered(harness.responses(token)):
            raise BenchError(f"/{command.label} answered wrongly: {[r.body for r in harness.responses(token)]!r}")
    harness.recorder.clear()
    return latencies


async def burst(harness: Harness, command: Command, uids: list[int], rng: random.Random) -> list[float]:
    """All at once: each one's latency from their common arrival, in seconds."""
    frames = [harness.command_frame(uid, command.label, command.options(rng)) for uid in uids]
    files = [harness.recorder.expect_files(token) for _, token in frames] if command.follows else []
    start = time.perf_counter()
    arrived = [(token, harness.arrive(frame, token)[1]) for frame, token in frames]
    done = [await harness.finished(token, waiter) for token, waiter in arrived]
    if files:
        await asyncio.wait_for(asyncio.gather(*files), 10.0)
    for token, _ in arrived:
        if not command.answered(harness.responses(token)):
            raise BenchError(f"/{command.label} answered wrongly in a burst")
    latencies = [end - start - harness.recorder.discord_seconds(start, end) for end in done]
    harness.recorder.clear()
    return latencies


def _metrics(command: Command) -> dict[str, Metric]:
    key = f"command.{command.key}"
    return {
        "p50": Metric(f"{key}.p50", "ms", Target(0.5)),
        "p99": Metric(f"{key}.p99", "ms", Target(2.0)),
        "load": Metric(f"{key}.p99_5000msg_s", "ms", Target(5.0), "while 5,000 messages a second flow in"),
        "burst": Metric(f"{key}.p99_burst50", "ms", Target(25.0), "50 arriving at once"),
    }


async def run_commands(harness: Harness, config: Config, commands: tuple[Command, ...] = COMMANDS) -> list[Result]:
    """Every measurement of every available command on a running harness."""
    rng = seeded(config.seed)
    reps = config.reps(5)
    per_rep = config.size(400, 20)
    load_per_rep = config.size(200, 10)
    bursts = config.size(6, 1)
    results: list[Result] = []
    png = await sample_chart(harness)
    authors = harness.plan.user_ids[: max(1000, len(harness.plan.user_ids) // 10)]
    frames = harness.message_frames(authors, config.size(20_000, 2_000))
    with chart_replaced(png):
        for command in commands:
            if not command.available(harness):
                continue
            members = Members(command.members(harness.plan), config.seed)
            metrics = _metrics(command)
            await sequential(harness, command, members.take(config.size(100, 5)), rng)  # warm-up
            values: dict[str, list[float]] = {name: [] for name in metrics}
            achieved: list[float] = []
            for _ in range(reps):
                seq = await sequential(harness, command, members.take(per_rep), rng)
                values["p50"].append(percentile(seq, 50) * 1e3)
                values["p99"].append(percentile(seq, 99) * 1e3)
            for _ in range(max(1, reps - 2)):
                async with MessageStream(harness, frames, RATE) as stream:
                    loaded = await sequential(harness, command, members.take(load_per_rep), rng)
                achieved.append(stream.achieved)
                values["load"].append(percentile(loaded, 99) * 1e3)
            for _ in range(max(1, reps - 2)):
                together: list[float] = []
                for _ in range(bursts):
                    together += await burst(harness, command, members.take(BURST), rng)
                    await asyncio.sleep(0.01)
                values["burst"].append(percentile(together, 99) * 1e3)
            for name, metric in metrics.items():
                extra: dict[str, Any] = {}
                if name == "load":
                    extra["messages_per_second"] = round(min(achieved), 1)
                results.append(result_of(metric, values[name], **extra))
    return results


def unavailable(harness: Harness, commands: tuple[Command, ...] = COMMANDS) -> list[str]:
    """The commands this bot does not have (yet)."""
    return [f"/{c.label}" for c in commands if not c.available(harness)]


async def run(config: Config) -> list[Result]:
    """The commands case on the server data set of this run's size."""
    from bench.cases.common import server_bot

    async with server_bot(config) as harness:
        missing = unavailable(harness)
        results = await run_commands(harness, config)
    if missing:
        note(f"not measured, not in the bot yet: {', '.join(missing)}")
    return results

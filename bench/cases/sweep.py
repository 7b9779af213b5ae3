"""The nudge sweep with 1,000 members due, in a server of 10,000 and one of 100,000 members.

Due at :data:`~bench.data.NOW`: 20 quiet participants who just crossed ``quiet_days`` (their
first nudge) and 980 non-participants up for their daily re-check; the same mix in both servers,
so that only the server's size differs. The real :class:`~bot.services.nudges.NudgeSweeper` and
:class:`~bot.services.nudges.NudgeService` run against a messenger that answers "sent" at once
(the network excluded): every due member is looked at, 10 DMs are claimed, sent and recorded (the
server's limit of 10 a minute; the other quiet participants wait for a free slot).

Between repetitions the due members' rows are put back and this run's steps removed (bench-only
SQL), and the DM throttle starts empty. The two servers alternate.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bench.core import Config, Metric, Result, Target, check, result_of, size_label
from bench.data import NOW, Plan
from bot.db.connection import Database
from bot.services.nudges import DmThrottle, NudgeAction, NudgeService, NudgeSweeper, SweepReport

__all__ = ["NullMessenger", "SweepSetup", "restore_due", "run", "snapshot_due", "sweep_setup"]

# Bench-only SQL, written out whole (no statement is assembled from pieces).
_SNAPSHOT_DUE = (
    "SELECT guild_id, user_id, last_active_at, step, hurry, next_check_at, opt, paused_until, participant, present, "
    "updated_at FROM nudge_members WHERE next_check_at IS NOT NULL AND next_check_at <= ?"
)
_RESTORE = (
    "INSERT OR REPLACE INTO nudge_members (guild_id, user_id, last_active_at, step, hurry, next_check_at, opt, "
    "paused_until, participant, present, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class NullMessenger:
    """Delivers every step at once (no network)."""

    def __init__(self) -> None:
        self.delivered: list[NudgeAction] = []

    async def deliver(self, action: NudgeAction) -> str:
        """Sent."""
        self.delivered.append(action)
        return "sent"

    async def find_delivered(self, action: NudgeAction) -> bool | None:
        """Never asked: no claims are left pending."""
        return False


def snapshot_due(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    # Bench-only SQL: the due members' rows, to put back after a sweep.
    return [
        tuple(row)
        for row in conn.execute(
            _SNAPSHOT_DUE,
            (int(NOW.timestamp()),),
        ).fetchall()
    ]


def restore_due(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], run_id: str) -> None:
    # Bench-only SQL: undo a sweep (its steps, the due members' ladder).
    conn.execute("DELETE FROM nudge_steps WHERE run_id = ?", (run_id,))
    conn.executemany(_RESTORE, rows)


def _still_due(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM nudge_members WHERE next_check_at IS NOT NULL AND next_check_at <= ?",
        (int(NOW.timestamp()),),
    ).fetchone()
    return int(row[0])


@dataclass
class SweepSetup:
    """A server's database with the sweep's pieces, resettable between repetitions."""

    plan: Plan
    db: Database
    service: NudgeService
    messenger: NullMessenger
    sweeper: NudgeSweeper
    due_rows: list[tuple[Any, ...]]

    async def reset(self) -> None:
        """The due members due again, no step of this run, an empty DM throttle."""
        rows, run_id = self.due_rows, self.service.run_id
        await self.db.transaction(lambda conn: restore_due(conn, rows, run_id))
        self.service.throttle = DmThrottle()
        self.messenger.delivered.clear()

    async def sweep(self) -> tuple[float, SweepReport]:
        """One sweep, timed; checked to have sent what it should and left nobody due."""
        gc.collect()
        start = time.perf_counter()
        report = await self.sweeper.run_once()
        elapsed = time.perf_counter() - start
        expected = self.plan.nudged_now()
        check(report.sent == expected, f"the sweep sent {report.sent} nudges, not {expected}")
        left = await self.db.read(_still_due)
        check(left == 0, f"{left} members are still due after the sweep")
        return elapsed, report


@contextlib.asynccontextmanager
async def sweep_setup(config: Config, members: int) -> AsyncIterator[SweepSetup]:
    """The sweep on a fresh copy of the server data set of ``members``."""
    from bench.cases.common import server_copy
    from bot.services.guidance import GuidanceLibrary

    async with server_copy(config, members) as (path, plan):
        db = await Database.open(path)
        try:
            due_rows = await db.read(snapshot_due)
            check(len(due_rows) == len(plan.due), f"{len(due_rows)} members due, not {len(plan.due)}")
            service = NudgeService(db, lambda: NOW, GuidanceLibrary.load(), run_id="bench-sweep")
            messenger = NullMessenger()
            sweeper = NudgeSweeper(service, messenger, batch=100)
            yield SweepSetup(plan, db, service, messenger, sweeper, due_rows)
        finally:
            await db.close()


async def run(config: Config) -> list[Result]:
    """Both servers, alternating; each sweep's time, and the large one's over the small one's."""
    from bench.harness import quiet_logging

    quiet_logging()
    small_size, large_size = config.size(10_000, 500), config.size(100_000, 1_000)
    times: dict[int, list[float]] = {small_size: [], large_size: []}
    rounds: list[int] = []
    async with sweep_setup(config, small_size) as small, sweep_setup(config, large_size) as large:
        for setup in (small, large):  # warm-up: recovery, prune, caches
            await setup.sweep()
            await setup.reset()
        for index in range(config.reps(9)):
            order = (small, large) if index % 2 == 0 else (large, small)
            for setup in order:
                elapsed, report = await setup.sweep()
                times[len(setup.plan.user_ids)].append(elapsed * 1e3)
                rounds.append(report.rounds)
                await setup.reset()
        due = len(small.plan.due)
    ratio = [b / a for a, b in zip(times[small_size], times[large_size], strict=True)]
    note = f"{due} due, {small.plan.nudged_now()} nudged"
    return [
        result_of(Metric(f"sweep.{size_label(small_size)}_members", "ms", Target(20.0), note), times[small_size]),
        result_of(Metric(f"sweep.{size_label(large_size)}_members", "ms", Target(20.0), note), times[large_size]),
        result_of(Metric("sweep.ratio_large_small", "x", Target(1.5)), ratio, rounds=max(rounds)),
    ]

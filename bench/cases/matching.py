"""Buddy matching: 10,000 waiting members, 3,000 volunteers, 50 groups, read, matched and written.

:meth:`~bot.services.buddies.BuddyService.run_matching` (one transaction: the server's
settings and groups, the waiting members, the volunteers, the live and past pairs; the pure
matcher; the new pairs inserted and their members taken out of the queue; the introductions to
make) on the server's buddy tables before any matching ran: 1,000 active pairs hold part of the
volunteers' capacity, 2,000 past pairs rule some pairings out. It makes a pair for every free
place (5,000). Between repetitions the new pairs are deleted and the queue put back (bench-only
SQL).
"""

from __future__ import annotations

import gc
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core import Config, Metric, Result, Target, check, result_of
from bench.data import NOW, dataset, fresh_copy
from bot.db.connection import Database

__all__ = ["run"]


def _snapshot(conn: sqlite3.Connection) -> tuple[int, list[tuple[Any, ...]]]:
    # Bench-only SQL: the queue and the last pair, to undo a matching run.
    last = int(conn.execute("SELECT coalesce(max(pair_id), 0) FROM buddy_pairs").fetchone()[0])
    queue = [
        tuple(r)
        for r in conn.execute(
            "SELECT guild_id, user_id, queued_at, first_in_line, origin, group_role_id FROM buddy_queue"
        ).fetchall()
    ]
    return last, queue


def _restore(conn: sqlite3.Connection, last: int, queue: list[tuple[Any, ...]]) -> None:
    conn.execute("DELETE FROM buddy_pairs WHERE pair_id > ?", (last,))
    conn.executemany(
        "INSERT OR REPLACE INTO buddy_queue (guild_id, user_id, queued_at, first_in_line, origin, group_role_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        queue,
    )


async def run(config: Config) -> list[Result]:
    """Match, undo, again; each run's time."""
    from bench.cases.common import spec_for
    from bench.harness import quiet_logging
    from bot.services.buddies import BuddyService
    from bot.services.guidance import GuidanceLibrary

    quiet_logging()
    spec = spec_for(config)
    cached, plan = await dataset(config.data_dir, spec, "buddies")
    expected = plan.expected_matches()
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="soberpeers-bench-") as folder:
        db = await Database.open(fresh_copy(cached, Path(folder)))
        try:
            service = BuddyService(db, lambda: NOW, GuidanceLibrary.load())
            last, queue = await db.read(_snapshot)
            check(len(queue) == len(plan.waiting), f"{len(queue)} waiting, not {len(plan.waiting)}")
            for rep in range(config.reps(9) + 1):
                gc.collect()
                start = time.perf_counter()
                report = await service.run_matching(plan.guild_id)
                elapsed = time.perf_counter() - start
                check(len(report.made) == expected, f"matching made {len(report.made)} pairs, not {expected}")
                check(
                    report.still_waiting == len(plan.waiting) - expected,
                    f"{report.still_waiting} still wait, not {len(plan.waiting) - expected}",
                )
                group_of = plan.group_of
                same = all(group_of[p.member_id] == group_of[p.buddy_id] == p.group_role_id for p in report.made)
                check(same, "a pair spans two groups")
                await db.transaction(lambda conn: _restore(conn, last, queue))
                if rep:  # the first run warms the caches up
                    times.append(elapsed * 1e3)
        finally:
            await db.close()
    note = (
        f"{len(plan.waiting)} waiting, {len(plan.volunteers)} volunteers, {spec.groups} groups, {expected} pairs made"
    )
    return [result_of(Metric("matching.run", "ms", Target(50.0), note), times)]

"""Bytes on disk per check-in without a note.

A fresh, migrated database gets a year of check-ins (about 6 days a week) of many members,
written the way the bot writes them: day after day, the day's check-ins in a random member order,
each through :func:`bot.db.repositories.checkins.upsert_checkin` (grouped in one transaction a
day, which changes nothing on disk). The table's size is then read from SQLite's ``dbstat``
(every page of the ``checkins`` b-tree, leaves and interior, free space included) and divided by
its rows. Rows grown this way leave their pages partly empty (a member's range grows in the
middle of the key space); ``VACUUM`` packs them, which is the second figure.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

from bench.core import Config, Metric, Result, Target, check, result_of, seeded
from bench.data import GUILD_ID, NOW, TODAY, USER_BASE
from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.db.repositories.checkins import CheckinRow, upsert_checkin
from bot.db.repositories.guilds import ensure_guild
from bot.timeutil import from_timestamp

__all__ = ["run", "table_bytes"]


def table_bytes(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(bytes of every page of the check-ins' b-tree, bytes of its records, rows)."""
    pages, payload = conn.execute(
        "SELECT sum(pgsize), sum(payload) FROM dbstat WHERE name = ?", ("checkins",)
    ).fetchone()
    rows = conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
    return int(pages or 0), int(payload or 0), int(rows)


def _write_day(conn: sqlite3.Connection, day: int, members: list[int], rng: random.Random) -> int:
    ensure_guild(conn, GUILD_ID, NOW)
    written = 0
    for uid in members:
        if rng.random() > 0.85:
            continue
        at = from_timestamp(day * 86_400 + 72_000 + rng.randrange(7200))
        row = CheckinRow(GUILD_ID, uid, day, rng.randrange(1, 6), rng.randrange(0, 11), True, None, at)
        upsert_checkin(conn, row)
        written += 1
    return written


async def run(config: Config) -> list[Result]:
    """Grow the table day by day, measure; VACUUM, measure."""
    from bench.harness import quiet_logging

    quiet_logging()
    count = config.size(2_000, 100)
    days = config.size(365, 30)
    members = [USER_BASE + i for i in range(count)]
    rng = seeded(config.seed)
    with tempfile.TemporaryDirectory(prefix="soberpeers-bench-") as folder:
        db = await Database.open(Path(folder) / "size.sqlite3")
        try:
            await migrate(db)
            written = 0
            for day in range(TODAY - days, TODAY):
                order = members[:]
                rng.shuffle(order)
                written += await db.transaction(lambda conn, d=day, o=order: _write_day(conn, d, o, rng))  # type: ignore[misc]
            grown, payload, rows = await db.read(table_bytes)
            check(rows == written and rows > 0, f"{rows} check-ins stored, {written} written")
            await db.run_outside_transaction(lambda conn: conn.execute("VACUUM"))
            packed, _, _ = await db.read(table_bytes)
        finally:
            await db.close()
    extra = {"rows": rows, "record_bytes_per_row": round(payload / rows, 2), "days": days, "members": count}
    return [
        result_of(
            Metric("dbsize.checkin_bytes", "bytes", Target(40.0), "grown day by day, as the bot writes"),
            [grown / rows],
            **extra,
        ),
        result_of(Metric("dbsize.checkin_bytes_vacuumed", "bytes", Target(40.0), "after VACUUM"), [packed / rows]),
    ]

"""Tests of the database connection and its unit of work."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.db.connection import Database, StorageError


async def test_pragmas_are_set(db: Database) -> None:
    """WAL, foreign keys, a busy timeout and synchronous=NORMAL are in force."""

    def pragmas(conn: sqlite3.Connection) -> tuple[str, int, int, int]:
        return (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA foreign_keys").fetchone()[0],
            conn.execute("PRAGMA busy_timeout").fetchone()[0],
            conn.execute("PRAGMA synchronous").fetchone()[0],
        )

    mode, fks, busy, sync = await db.run_outside_transaction(pragmas)
    assert mode == "wal"
    assert fks == 1
    assert busy >= 1000
    assert sync == 1  # NORMAL


async def test_page_cache_is_64_mib(db: Database) -> None:
    """The page cache is 64 MiB (negative cache_size: KiB), not SQLite's default 2 MiB."""
    size = await db.run_outside_transaction(lambda c: c.execute("PRAGMA cache_size").fetchone()[0])
    assert size == -65536


async def test_transaction_returns_result_and_commits(db: Database, tmp_path: Path) -> None:
    """A unit of work's result is returned and its writes are visible to another connection."""
    await db.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    n = await db.transaction(lambda c: c.execute("INSERT INTO t VALUES (1), (2)").rowcount)
    assert n == 2
    other = sqlite3.connect(tmp_path / "test.sqlite3")
    try:
        assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    finally:
        other.close()


async def test_exception_rolls_back_everything(db: Database) -> None:
    """A unit of work that fails half-way leaves nothing behind."""
    await db.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    def half(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.transaction(half)
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 0


async def test_concurrent_writers_never_see_or_commit_each_others_work(db: Database) -> None:
    """Many tasks doing read-modify-write units concurrently lose no update and never interleave."""
    await db.transaction(lambda c: c.execute("CREATE TABLE counter (n INTEGER NOT NULL)"))
    await db.transaction(lambda c: c.execute("INSERT INTO counter VALUES (0)"))
    await db.transaction(lambda c: c.execute("CREATE TABLE log (task INTEGER, step INTEGER)"))

    def bump(conn: sqlite3.Connection, task: int, fail: bool) -> None:
        (n,) = conn.execute("SELECT n FROM counter").fetchone()
        conn.execute("INSERT INTO log VALUES (?, 1)", (task,))
        conn.execute("UPDATE counter SET n = ?", (n + 1,))
        conn.execute("INSERT INTO log VALUES (?, 2)", (task,))
        if fail:
            raise RuntimeError("this task's work must vanish whole")

    async def worker(task: int) -> None:
        for i in range(20):
            fail = (task + i) % 7 == 0
            try:
                await db.transaction(lambda c, f=fail: bump(c, task, f))  # type: ignore[misc]
            except RuntimeError:
                assert fail

    await asyncio.gather(*(worker(t) for t in range(50)))
    failed = sum(1 for t in range(50) for i in range(20) if (t + i) % 7 == 0)
    total = await db.read(lambda c: c.execute("SELECT n FROM counter").fetchone()[0])
    assert total == 50 * 20 - failed
    steps = await db.read(lambda c: c.execute("SELECT task, step FROM log ORDER BY rowid").fetchall())
    assert len(steps) == 2 * total
    # Each unit's two log rows are adjacent: no other task's statements ran in between.
    for first, second in zip(steps[::2], steps[1::2], strict=True):
        assert first[0] == second[0] and (first[1], second[1]) == (1, 2)


async def test_locked_database_raises_storage_error(tmp_path: Path) -> None:
    """Another process holding the write lock past the busy timeout gives a StorageError, not a crash."""
    database = await Database.open(tmp_path / "locked.sqlite3")
    await database.run_outside_transaction(lambda c: c.execute("PRAGMA busy_timeout = 50"))
    await database.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(tmp_path / "locked.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError):
            await database.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    await database.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    assert await database.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    await database.close()


async def test_programming_errors_are_not_disguised(db: Database) -> None:
    """A bug in SQL surfaces as itself, not as a storage problem."""
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await db.read(lambda c: c.execute("SELECT * FROM nowhere").fetchall())


async def test_close_is_idempotent_and_refuses_later_work(tmp_path: Path) -> None:
    """Closing twice is harmless, and a closed database refuses work clearly."""
    database = await Database.open(tmp_path / "x.sqlite3")
    await database.close()
    await database.close()
    assert database.closed
    with pytest.raises(StorageError, match="closed"):
        await database.read(lambda c: None)


async def test_open_in_missing_folder_is_a_storage_error(tmp_path: Path) -> None:
    """A file that cannot be opened gives a StorageError naming it."""
    with pytest.raises(StorageError, match="nowhere"):
        await Database.open(tmp_path / "nowhere" / "db.sqlite3")

"""Tests of the database connection and its unit of work."""

from __future__ import annotations

import asyncio
import gc
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.db.connection import Checkpointer, Database, StorageError


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


async def test_temporary_tables_are_kept_in_memory(db: Database) -> None:
    """SQLite's temporary files (statement journals, temporary tables and indexes) live in memory
    (temp_store 2), not on disk."""
    store = await db.run_outside_transaction(lambda c: c.execute("PRAGMA temp_store").fetchone()[0])
    assert store == 2


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


async def test_a_failed_commit_is_rolled_back_and_the_next_unit_runs(db: Database) -> None:
    """A unit whose COMMIT fails (here a deferred foreign key still broken at the end) raises, leaves
    nothing behind, and does not leave the connection inside its transaction for the next unit."""
    await db.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER REFERENCES guilds (guild_id))"))

    def orphan(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO t VALUES (12345)")  # no such server: checked only at COMMIT

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.transaction(orphan)
    await db.transaction(lambda c: c.execute("INSERT INTO t VALUES (NULL)"))
    assert [tuple(r) for r in await db.read(lambda c: c.execute("SELECT x FROM t").fetchall())] == [(None,)]


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


async def test_bulk_unit_runs_with_the_garbage_collector_paused_then_resumed(db: Database) -> None:
    """A bulk unit runs with the cyclic GC paused; it runs again afterwards, also after a failed unit,
    and a GC already paused (by someone else) stays paused. Other units leave it alone."""
    seen: list[bool] = []

    def look(conn: sqlite3.Connection) -> None:
        seen.append(gc.isenabled())

    def fail(conn: sqlite3.Connection) -> None:
        seen.append(gc.isenabled())
        raise ValueError("no")

    assert gc.isenabled()
    await db.transaction(look, bulk=True)
    assert gc.isenabled()
    await db.transaction(look)
    with pytest.raises(ValueError):
        await db.transaction(fail, bulk=True)
    assert gc.isenabled()
    gc.disable()
    try:
        await db.transaction(look, bulk=True)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, True, False, False]


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


def _rows_in_database_file(path: Path, copy: Path) -> int:
    """Rows of ``t`` in the database file alone (a copy without its WAL): what was checkpointed."""
    shutil.copyfile(path, copy)
    other = sqlite3.connect(copy)
    try:
        return int(other.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.DatabaseError:  # not copied yet (no table), or a copy torn by a checkpoint under way
        return -1
    finally:
        other.close()


async def test_writes_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    """A commit that changed rows gets its WAL pages copied by the checkpointer's own thread and connection."""
    database = await Database.open(tmp_path / "wal.sqlite3")
    checkpointer = database._checkpointer
    assert checkpointer is not None
    try:
        await database.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
        before = checkpointer.runs
        await database.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        for _ in range(200):
            if checkpointer.runs > before:
                break
            await asyncio.sleep(0.01)
        assert checkpointer.runs == before + 1
        assert await database.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    finally:
        await database.close()


async def test_reads_and_unchanged_writes_ask_for_no_checkpoint(db: Database) -> None:
    """Only a commit that changed rows wakes the checkpointer."""
    checkpointer = db._checkpointer
    assert checkpointer is not None
    await db.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    checkpointer.stop()  # nothing may consume the request while the test looks at it
    checkpointer._wanted.clear()
    await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone())
    await db.transaction(lambda c: c.execute("UPDATE t SET x = 2 WHERE x = 1"))
    assert not checkpointer._wanted.is_set()
    await db.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    assert checkpointer._wanted.is_set()


async def test_checkpointer_copies_committed_pages(tmp_path: Path) -> None:
    """Soon after small commits, far below SQLite's automatic checkpoint, the database file holds them all."""
    path = tmp_path / "copied.sqlite3"
    database = await Database.open(path)
    try:
        await database.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
        for i in range(20):
            await database.transaction(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))  # type: ignore[misc]
        rows = -1
        for _ in range(500):
            rows = _rows_in_database_file(path, tmp_path / "copy.sqlite3")
            if rows == 20:
                break
            await asyncio.sleep(0.01)
        assert rows == 20
    finally:
        await database.close()


async def test_close_stops_the_checkpointer_and_removes_the_wal(tmp_path: Path) -> None:
    """Closing stops the thread first, so the bot's connection closes last and folds the WAL back in."""
    path = tmp_path / "closed.sqlite3"
    database = await Database.open(path)
    checkpointer = database._checkpointer
    assert checkpointer is not None
    await database.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    await database.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await database.close()
    assert not checkpointer._thread.is_alive()
    assert not path.with_name(path.name + "-wal").exists()
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        other.close()


def test_checkpointer_stops_when_asked_just_before_it_clears_its_wake_up(tmp_path: Path) -> None:
    """A stop() landing after the gathering delay but before the wake-up is cleared (the clear erasing
    stop()'s own wake-up) still ends the thread once that checkpoint is done."""

    class StopBeforeClear(threading.Event):
        def clear(self) -> None:
            checkpointer._stopping.set()  # stop() in the gap: its two flags, then the clear erases one
            super().set()
            super().clear()

    sqlite3.connect(tmp_path / "db.sqlite3").close()
    checkpointer = Checkpointer(tmp_path / "db.sqlite3", delay=0)
    checkpointer._wanted = StopBeforeClear()
    checkpointer.start()
    checkpointer.wanted()
    checkpointer._thread.join(timeout=5)
    assert not checkpointer._thread.is_alive()
    assert checkpointer.runs == 1

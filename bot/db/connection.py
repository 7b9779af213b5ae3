"""The one SQLite connection of the bot, and its unit of work.

aiosqlite runs every call on one worker thread, in the order the calls were queued. On a shared
connection the statements of two concurrent tasks would interleave, and one task's ``COMMIT``
would also commit the other's half-done work. So no code outside this module touches the
connection: a unit of work is a plain function of a ``sqlite3.Connection`` that
:meth:`Database.transaction` runs, whole, on the worker thread, between ``BEGIN`` and
``COMMIT``. Nothing else can run on that thread meanwhile, so the transaction is isolated from
every other task, and it costs one hand-off to the thread instead of one per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

__all__ = ["BUSY_TIMEOUT_MS", "CHECKPOINT_DELAY_S", "Checkpointer", "Database", "StorageError"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5_000

# WAL with synchronous=NORMAL: a committed transaction survives a crash or a kill of the bot's
# process (the WAL is in the OS's page cache, which outlives the process), and the database is
# never corrupted, even by a power cut. Only a power cut or kernel panic may lose the last few
# commits. FULL would fsync on every commit, costing milliseconds per check-in on an ordinary
# disk; the commands must answer in well under that.
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}",
    # A 64 MiB page cache (negative: KiB) instead of SQLite's default 2 MiB. In a server of
    # 100,000 members with a year of check-ins, the nudge sweep's working set (the activity rows
    # and the index pages of check-ins, buddies and timezones it looks members up in) is larger
    # than 2 MiB, so a sweep re-read pages from the OS on every run and the 100,000-member sweep
    # cost 1.4-1.8x the 10,000-member one (bench `sweep.ratio_large_small`, target <= 1.5x);
    # with 64 MiB, 1.0-1.3x in most runs of the same alternating measurement. The cache is an
    # upper bound, filled only as pages are read: a small server's database (a few MiB) never
    # fills it, and in the largest one the bench builds (about 250 MiB on disk, mostly check-ins
    # never read in bulk) it stays small beside discord.py's cache of 100,000 members (~90 MB).
    "PRAGMA cache_size = -65536",
    # SQLite's temporary files in memory (Python's SQLite is built with SQLITE_TEMP_STORE=1: files
    # unless asked). Above all the statement journal, with which SQLite can undo one statement that
    # fails half-way inside a transaction: beyond 64 KiB it is written to a temporary file on disk,
    # which a statement writing many rows (a matching run's 500-row INSERTs, the flush's and the
    # sweep's bulk UPDATEs) reaches. Also the small temporary tables of IN lists, json_each and
    # unindexed sorts. Measured: a matching run's insert of 5,000 pairs 20.5 -> 17.5 ms, the whole
    # unit 50.2-50.6 -> 46.4-47.1 ms (fastest of 31, alternating); a tiny temporary table costs
    # ~0.5-1.5 us more in memory (nothing for a command). The cost would be RAM for a VACUUM (its
    # copy of the database) or a sort of millions of rows (a future migration's index): the bot
    # runs neither.
    "PRAGMA temp_store = MEMORY",
)

CHECKPOINT_DELAY_S = 0.05
"""How long the background checkpointer lets writes gather after the first one before copying them."""

QUEUE_SLACK_MS = 100
"""A unit of work that waited longer than this for the database thread waits that much less for the lock."""

# SQLite result codes that mean "could not write now" rather than "the code is wrong".
_STORAGE_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
}


class StorageError(Exception):
    """The database could not be read or written right now (locked, full, read-only, I/O).

    Nothing of the failed unit of work was kept; the member can simply try again.
    """


def _is_storage_problem(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc) for word in ("locked", "disk", "readonly", "read-only", "full")
        )
    return (int(code) & 0xFF) in _STORAGE_CODES


def _begin(conn: sqlite3.Connection, begin: str, queued_ms: int) -> None:
    """Begin a transaction, waiting for another process's lock at most the busy timeout *in all*.

    Units of work run one after another on one thread: behind one that waits out a held lock, each
    would wait its own busy timeout again, and a member's answer could take many times that. So the
    time a unit already spent in the queue counts against its own wait.
    """
    if queued_ms <= QUEUE_SLACK_MS:
        conn.execute(begin)
        return
    (configured,) = conn.execute("PRAGMA busy_timeout").fetchone()
    # PRAGMA takes no parameters; the value is an int computed here.
    conn.execute("PRAGMA busy_timeout = " + str(max(0, int(configured) - queued_ms)))
    try:
        conn.execute(begin)
    finally:
        conn.execute("PRAGMA busy_timeout = " + str(int(configured)))


@contextlib.contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk unit of work (``pause``), then resume it if it
    was running.

    A matching run over a large server makes ~30,000 tuples, sets and rows in ~50 ms; with the
    collector running, every 700 of them start a young collection that walks the young objects
    again (and every tenth a middle one), ≈ 2.5-3 ms of the run (bench `matching.run`). Paused, the
    temporaries are freed by their reference counts without ever being walked, and the results are
    walked once, by the first young collection after the unit. The switch is process-wide for the
    unit's duration (the event loop's allocations meanwhile wait for that collection too), which a
    unit of tens of milliseconds makes harmless; only the database thread pauses it, one unit at a
    time, and nothing else in the bot turns the collector off.
    """
    paused = pause and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class Checkpointer:
    """Copies the WAL's committed pages into the database file on its own thread and connection.

    In WAL mode SQLite checkpoints in the committing connection once the WAL holds 1,000 pages: the
    commit that crosses the line copies them and syncs both files before returning, on the
    database thread, so every unit of work queued behind it waits (bench: one check-in commit in
    about 450 took 17-90 ms instead of 20 us, and a burst of 50 check-ins 41-45 ms instead of 16-25).
    Here a ``PASSIVE`` checkpoint runs on another connection shortly after writes; it never blocks
    readers or writers, and SQLite releases the GIL while it copies and syncs. The committing
    connection keeps its automatic checkpoint as a backstop (1,000 pages not yet copied, e.g. one
    very large transaction); durability is unchanged: a transaction is durable at its commit.
    """

    def __init__(self, path: Path, delay: float = CHECKPOINT_DELAY_S) -> None:
        self.path = path
        self.delay = delay
        self.runs = 0
        """Checkpoints attempted (for tests)."""
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wanted(self) -> None:
        """Ask for a checkpoint soon (called after a commit that changed rows; cheap when pending)."""
        if not self._wanted.is_set():
            self._wanted.set()

    def stop(self) -> None:
        """Stop the thread (any checkpoint under way finishes first); the last connection to close
        checkpoints what is left."""
        self._stopping.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            log.warning("No background checkpoints: cannot open %s: %s", self.path, exc)
            return
        try:
            # Checked before each wait: stop() sets _stopping before _wanted, so a stop() that lands
            # between the delay and clearing _wanted (its wake-up cleared) still ends the loop after
            # that checkpoint, instead of a wait for a wake-up that never comes.
            while not self._stopping.is_set():
                self._wanted.wait()
                # Let the writes of the moment (a burst of commands) gather, then copy them in one pass.
                if self._stopping.wait(self.delay):
                    return
                self._wanted.clear()
                self.runs += 1
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    # Busy or failing storage: the next write asks again, and the backstop remains.
                    log.warning("Background checkpoint failed: %s", exc)
        finally:
            conn.close()


class Database:
    """Owns the aiosqlite connection; every read and write is a unit of work run on its thread."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path
        self._closed = False
        self._checkpointer: Checkpointer | None = None
        # aiosqlite has no public "run this function on the connection's thread"; its queue
        # primitive is ``_execute``. The dependency is pinned to a range where it exists.
        self._submit = cast(Callable[..., Any], connection._execute)

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) the database file and set the connection's PRAGMAs."""
        path = Path(path)
        connection = aiosqlite.connect(path, isolation_level=None)
        try:
            await connection
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread on a failed connect without waiting for it; wait
            # here, so the thread does not outlive the event loop and fail to report back.
            await asyncio.to_thread(connection._thread.join, 5)
            raise StorageError(f"cannot open the database {str(path)!r}: {exc}") from exc
        db = cls(connection, path)
        try:
            mode = await db._submit(db._apply_pragmas, connection._conn)
        except sqlite3.Error as exc:
            await connection.close()
            raise StorageError(f"cannot use the database {str(path)!r}: {exc}") from exc
        if mode == "wal":
            db._checkpointer = Checkpointer(path)
            db._checkpointer.start()
        return db

    @staticmethod
    def _apply_pragmas(conn: sqlite3.Connection) -> str:
        """Set the PRAGMAs; the journal mode in force."""
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.row_factory = sqlite3.Row
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    async def transaction(
        self, work: Callable[[sqlite3.Connection], T], *, write: bool = True, bulk: bool = False
    ) -> T:
        """Run ``work(conn)`` as one transaction on the database thread and return its result.

        ``write=True`` takes the write lock at ``BEGIN`` (``BEGIN IMMEDIATE``), so the
        transaction never fails half-way on a lock upgrade; reads use a deferred ``BEGIN`` and
        see one consistent snapshot. Any exception rolls everything back and is re-raised;
        "could not write now" failures are raised as :class:`StorageError`.

        ``bulk=True``: the unit makes tens of thousands of short-lived objects at once (a matching
        run over a whole server); Python's cyclic garbage collector is paused for it, and resumed as
        it was when the unit ends, however it ends (see :func:`_gc_paused`).
        """
        if self._closed:
            raise StorageError("the database is closed")
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        submitted = time.monotonic()
        checkpointer = self._checkpointer

        def unit(conn: sqlite3.Connection) -> T:
            _begin(conn, begin, int((time.monotonic() - submitted) * 1000))
            changes = conn.total_changes
            try:
                with _gc_paused(bulk):
                    result = work(conn)
                # A COMMIT that fails (a deferred constraint still broken, a full disk) may leave the
                # transaction open: rolled back here, or every later unit's BEGIN would fail.
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            if checkpointer is not None and conn.total_changes != changes:
                checkpointer.wanted()
            return result

        try:
            return cast(T, await self._submit(unit, self._raw))
        except sqlite3.Error as exc:
            if _is_storage_problem(exc):
                log.warning("Database unavailable: %s", exc)
                raise StorageError(str(exc)) from exc
            raise

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` as one read-only snapshot."""
        return await self.transaction(work, write=False)

    async def run_outside_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` on the database thread with no transaction around it.

        Only for what must manage its own transactions (migrations) or cannot run inside one
        (``VACUUM``, ``PRAGMA integrity_check`` on a busy file).
        """
        if self._closed:
            raise StorageError("the database is closed")
        return cast(T, await self._submit(work, self._raw))

    @property
    def _raw(self) -> sqlite3.Connection:
        return self._connection._conn

    async def close(self) -> None:
        """Checkpoint the WAL and close the connection; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            # First, so that the bot's connection is the last one and checkpoints what is left. Waits
            # at most for a checkpoint under way (milliseconds), in the loop: no executor is needed
            # at shutdown.
            self._checkpointer.stop()
        try:
            await self._submit(lambda conn: conn.execute("PRAGMA optimize"), self._raw)
        except sqlite3.Error as exc:
            log.warning("PRAGMA optimize failed at close: %s", exc)
        await self._connection.close()
        log.info("Database closed")

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.shield(self.close())

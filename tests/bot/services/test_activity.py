"""Tests of the activity buffer and its flusher: what is kept, what one write carries, failures,
the periodic and the shutdown flush."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from bot.db.connection import Database, StorageError
from bot.db.repositories import nudges as repo
from bot.services.activity import ActivityBatch, ActivityBuffer, ActivityFlusher
from bot.services.guidance import GuidanceLibrary
from bot.services.nudges import NudgeService
from bot.timeutil import to_timestamp
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, U3, FakeClock, VirtualTime, at

START = at("UTC", 2024, 5, 1, 12, 0)
T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def test_the_last_activity_wins_and_joins_never_move_it_back(clock: FakeClock) -> None:
    """Each note overwrites the member's time; a join time only counts if it is later."""
    buffer = ActivityBuffer(clock)
    buffer.note(G1, U1)
    clock.advance(seconds=5)
    buffer.note(G1, U1)
    buffer.note_at(G1, U1, START - timedelta(days=9))
    buffer.note_at(G1, U2, START - timedelta(days=9))
    buffer.note(G2, U1)
    assert len(buffer) == 3
    batch = buffer.take()
    assert len(buffer) == 0
    assert batch.latest == {
        (G1, U1): START + timedelta(seconds=5),
        (G1, U2): START - timedelta(days=9),
        (G2, U1): START + timedelta(seconds=5),
    }


def test_batches_by_server_with_leavers(clock: FakeClock) -> None:
    """Per server: the active ones with Unix seconds, and those who left after their last activity
    (one who left and came back counts as active)."""
    buffer = ActivityBuffer(clock)
    buffer.note(G1, U1)
    buffer.note(G1, U2)
    clock.advance(seconds=1)
    buffer.note_left(G1, U2)
    buffer.note_left(G1, U3)
    buffer.note_left(G2, U1)
    clock.advance(seconds=1)
    buffer.note(G2, U1)
    stamp = to_timestamp(START)
    assert list(buffer.take().by_guild()) == [
        (G1, [(U1, stamp)], [U2, U3]),
        (G2, [(U1, stamp + 2)], []),
    ]


def test_a_batch_is_per_server_in_user_order_whatever_the_order_noted(clock: FakeClock) -> None:
    """Members noted in any order and servers interleaved come out per server, sorted by user id,
    each with their own time; a naive time is refused as everywhere else."""
    users = [U3 + 40, U1, U3, U2 + 7, U2]
    latest = {}
    for n, user in enumerate(users):
        latest[(G2 if n % 2 else G1, user)] = START + timedelta(seconds=n)
        latest[(G1 if n % 2 else G2, user)] = START + timedelta(seconds=100 + n)
    batch = ActivityBatch(latest, {(G1, U1): START + timedelta(seconds=500)})
    got = list(batch.by_guild())
    assert [g for g, _, _ in got] == [G1, G2]
    for guild, active, left in got:
        assert active == sorted((u, to_timestamp(latest[(guild, u)])) for (g, u) in latest if g == guild and
                                (guild, u) != (G1, U1))  # fmt: skip
        assert left == ([U1] if guild == G1 else [])
    with pytest.raises(ValueError, match="naive"):
        list(ActivityBatch({(G1, U1): START.replace(tzinfo=None)}).by_guild())


def test_a_batch_put_back_keeps_what_is_newer(clock: FakeClock) -> None:
    """After a failed write the batch returns, but a newer note made meanwhile is kept."""
    buffer = ActivityBuffer(clock)
    buffer.note(G1, U1)
    buffer.note(G1, U2)
    batch = buffer.take()
    clock.advance(seconds=10)
    buffer.note(G1, U1)
    buffer.restore(batch)
    assert buffer.take().latest == {(G1, U1): START + timedelta(seconds=10), (G1, U2): START}


class Writes:
    """A writer that records batches and can fail."""

    def __init__(self) -> None:
        self.batches: list[ActivityBatch] = []
        self.fail = False

    async def __call__(self, batch: ActivityBatch) -> None:
        if self.fail:
            raise StorageError("database is locked")
        self.batches.append(batch)


async def test_flush_writes_everything_in_one_batch_and_a_failed_one_is_kept(clock: FakeClock) -> None:
    """One flush is one write of the whole buffer; if it fails nothing is lost."""
    buffer = ActivityBuffer(clock)
    writes = Writes()
    flusher = ActivityFlusher(buffer, writes)
    assert await flusher.flush() == 0 and writes.batches == []
    buffer.note(G1, U1)
    buffer.note(G2, U2)
    writes.fail = True
    with pytest.raises(StorageError):
        await flusher.flush()
    assert len(buffer) == 2
    writes.fail = False
    assert await flusher.flush() == 2
    assert len(writes.batches) == 1 and len(writes.batches[0]) == 2


async def test_flusher_writes_every_interval_and_at_stop(clock: FakeClock) -> None:
    """The periodic task writes after each interval (keeping a failed batch for the next one), and
    stopping writes what is left."""
    vt = VirtualTime(START)
    buffer = ActivityBuffer(clock)
    writes = Writes()
    flusher = ActivityFlusher(buffer, writes, interval=30, sleep=vt.sleep)
    flusher.start()
    await asyncio.sleep(0)
    buffer.note(G1, U1)
    writes.fail = True
    await vt.advance_to(START + timedelta(seconds=30))
    assert writes.batches == [] and len(buffer) == 1
    writes.fail = False
    buffer.note(G1, U2)
    await vt.advance_to(START + timedelta(seconds=60))
    assert [sorted(b.latest) for b in writes.batches] == [[(G1, U1), (G1, U2)]]
    buffer.note(G1, U3)
    await flusher.stop()
    assert not flusher.running
    assert [sorted(b.latest) for b in writes.batches] == [[(G1, U1), (G1, U2)], [(G1, U3)]]


async def test_the_service_writes_a_batch_of_many_servers_in_one_transaction(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers, three members: one transaction; rows carry the activity times."""
    service = NudgeService(db, clock, GuidanceLibrary.load())
    buffer = ActivityBuffer(clock)
    buffer.note(G1, U1)
    buffer.note(G1, U2)
    buffer.note(G2, U3)
    transactions: list[int] = []
    original = db.transaction

    async def counted(work: Callable[[sqlite3.Connection], T], **kwargs: Any) -> T:
        transactions.append(1)
        return await original(work, **kwargs)

    monkeypatch.setattr(db, "transaction", counted)
    await service.record_activity(buffer.take())
    assert len(transactions) == 1
    monkeypatch.undo()
    rows = await db.read(lambda c: [repo.get_member(c, g, u) for g, u in ((G1, U1), (G1, U2), (G2, U3))])
    assert all(row is not None and row.last_active_at == START for row in rows)

"""Tests of the wakeable background loop shared by reminders, milestones and the nudge sweep."""

from __future__ import annotations

import asyncio

from bot.db.connection import StorageError
from bot.services.background import WakeableLoop


class Recorder(WakeableLoop):
    """A loop that records its rounds and the sleeps it asked for."""

    def __init__(self, results: list[float | BaseException | None]) -> None:
        self.sleeps: list[float] = []
        self.rounds = 0
        self.results = results
        self.gate = asyncio.Event()
        super().__init__(sleep=self._fake_sleep, retry_delay=7.0)

    async def _fake_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.gate.wait()

    async def round(self) -> float | None:
        """Return (or raise) the next scripted result."""
        self.rounds += 1
        result = self.results.pop(0) if self.results else 100.0
        if isinstance(result, BaseException):
            raise result
        return result


async def until_idle(loop: WakeableLoop) -> None:
    """Let the loop run until it sleeps."""
    for _ in range(200):
        if loop.idle:
            await asyncio.sleep(0)  # let the sleeper start
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop never went to sleep")


async def test_sleeps_as_long_as_the_round_says_and_wakes_early() -> None:
    """The loop waits the round's delay; wake() starts the next round at once."""
    loop = Recorder([30.0, 5.0])
    loop.start()
    await until_idle(loop)
    assert loop.rounds == 1 and loop.sleeps == [30.0]
    loop.wake()
    await asyncio.sleep(0)
    await until_idle(loop)
    assert loop.rounds == 2 and loop.sleeps == [30.0, 5.0]
    await loop.stop()
    assert not loop.running


async def test_failures_are_retried_after_the_retry_delay() -> None:
    """A storage problem or a bug in a round never ends the loop: it waits retry_delay and goes on."""
    loop = Recorder([StorageError("locked"), RuntimeError("bug"), 50.0])
    loop.start()
    for _ in range(3):
        await until_idle(loop)
        if loop.rounds < 3:
            loop.wake()
            await asyncio.sleep(0)
    assert loop.sleeps[:2] == [7.0, 7.0]
    assert loop.rounds == 3 and loop.running
    await loop.stop()


async def test_none_means_go_again_at_once_and_start_is_idempotent() -> None:
    """A round returning None is followed by another without sleeping; starting twice keeps one task."""
    loop = Recorder([None, None, 9.0])
    loop.start()
    loop.start()
    await until_idle(loop)
    assert loop.rounds == 3 and loop.sleeps == [9.0]
    await loop.stop()
    await loop.stop()

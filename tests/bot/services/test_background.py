"""Tests of the wakeable background loop shared by reminders, milestones and the nudge sweep."""

from __future__ import annotations

import asyncio

from bot.db.connection import StorageError
from bot.services.background import ScheduleListeners, WakeableLoop


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


class Counted(WakeableLoop):
    """A loop that counts its rounds and sleeps long, woken only by its schedule."""

    def __init__(self, schedule: ScheduleListeners) -> None:
        self.rounds = 0
        super().__init__(schedule=schedule)

    async def round(self) -> float | None:
        """Count, then wait an hour."""
        self.rounds += 1
        return 3600.0


async def test_a_schedule_change_wakes_the_loop_only_while_it_runs() -> None:
    """Started, the loop listens to its schedule (a change runs a round); stopped, it no longer does."""
    schedule = ScheduleListeners()
    loop = Counted(schedule)
    loop.start()
    await until_idle(loop)
    assert loop.rounds == 1
    schedule.notify_changed()
    await until_idle(loop)
    assert loop.rounds == 2
    await loop.stop()
    assert schedule._listeners == []
    schedule.notify_changed()  # nobody left to call
    assert loop.rounds == 2


async def test_listeners_are_called_until_removed() -> None:
    """Each listener is called on every change until it is removed; removing an unknown one is harmless."""
    schedule = ScheduleListeners()
    calls: list[str] = []
    schedule.add_listener(lambda: calls.append("a"))
    b = lambda: calls.append("b")  # noqa: E731
    schedule.add_listener(b)
    schedule.notify_changed()
    schedule.remove_listener(b)
    schedule.remove_listener(b)
    schedule.notify_changed()
    assert calls == ["a", "b", "a"]

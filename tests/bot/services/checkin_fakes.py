"""Fakes for the check-in tests: a settable clock, and virtual time for the reminder dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

G1, G2 = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
U1, U2, U3 = 900_000_000_000_000_001, 900_000_000_000_000_002, 900_000_000_000_000_003


def at(zone: str, year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


class FakeClock:
    """A clock that stays where it is put."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


class VirtualTime:
    """A clock and a ``sleep`` whose sleepers wake only when the test moves time past their deadline."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.sleep_calls = 0
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self.idle: Callable[[], bool] = lambda: True
        """Whether the sleeper under test is settled (set to the dispatcher's ``idle``)."""

    def clock(self) -> datetime:
        """The current virtual time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Sleep until the virtual time reaches now + ``seconds``."""
        self.sleep_calls += 1
        entry = (self.now + timedelta(seconds=seconds), asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    @property
    def deadlines(self) -> list[datetime]:
        """When the pending sleepers wake, earliest first."""
        return sorted(deadline for deadline, future in self._sleepers if not future.done())

    async def settle(self) -> None:
        """Wait until the sleeper under test has done all it can and sleeps again."""
        await until(self.idle)

    async def advance_to(self, moment: datetime) -> None:
        """Move time to ``moment``, wake the sleepers it reaches, and wait until all is settled again."""
        await self.settle()
        calls = self.sleep_calls
        self.now = moment
        woken = False
        for deadline, future in list(self._sleepers):
            if deadline <= moment and not future.done():
                future.set_result(None)
                woken = True
        if woken:
            await until(lambda: self.sleep_calls > calls and self.idle())


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Let the event loop (and the database thread) run until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not condition():
        if loop.time() > give_up:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)

"""One background task that does a round of work, then sleeps until it is due again or woken.

The reminder dispatcher, the milestone watcher and the nudge sweep are each one such loop (as in
RoboDanny's reminder cog: one timer, woken by an :class:`asyncio.Event` when the schedule changes,
instead of a loop that scans every member every minute). A round that fails is logged and retried
after ``retry_delay``; a database that cannot be used right now is only a warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.db.connection import StorageError

__all__ = ["Schedule", "ScheduleListeners", "Sleep", "WakeableLoop"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class Schedule(Protocol):
    """What a loop's work is scheduled in: it calls its listeners when the schedule changes."""

    def add_listener(self, listener: Callable[[], None]) -> None: ...

    def remove_listener(self, listener: Callable[[], None]) -> None: ...


class ScheduleListeners:
    """A :class:`Schedule` for a service to inherit: it keeps the listeners and calls them in
    :meth:`notify_changed` (after a change to what is due has committed)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` whenever the schedule changes."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify_changed(self) -> None:
        """Tell the listeners that the schedule changed (also for changes made elsewhere)."""
        for listener in list(self._listeners):
            listener()


class WakeableLoop:
    """Subclasses implement :meth:`round`: do the work due now and return how many seconds to wait
    before the next round (``None``: go again at once). Given a ``schedule``, the loop is woken by
    its changes while it runs."""

    name = "background loop"

    def __init__(
        self, *, sleep: Sleep = asyncio.sleep, retry_delay: float = 60.0, schedule: Schedule | None = None
    ) -> None:
        self._schedule = schedule
        self._sleep = sleep
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._waiting = False
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> float | None:
        """Do the work due now; the seconds until the next round."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the task is alive."""
        return self._task is not None and not self._task.done()

    @property
    def idle(self) -> bool:
        """Whether the task is asleep until its next round, with nothing to do before it."""
        return self.running and self._waiting and not self._wake.is_set()

    def start(self) -> None:
        """Start the task on the running loop (the first round at once)."""
        if self.running:
            return
        if self._schedule is not None:
            self._schedule.add_listener(self.wake)
        self._wake.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the task and wait for it to end; work in progress is cancelled."""
        if self._schedule is not None:
            self._schedule.remove_listener(self.wake)
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # pragma: no cover - our own caller was cancelled
                raise

    def wake(self) -> None:
        """Run the next round now (the schedule changed)."""
        self._wake.set()

    async def _run(self) -> None:
        log.info("%s started", self.name.capitalize())
        while True:
            self._wake.clear()  # before the round: a change made during it wakes the next wait
            try:
                delay = await self.round()
            except StorageError as exc:
                log.warning("%s cannot use the database, retrying: %s", self.name.capitalize(), exc)
                delay = self._retry_delay
            except Exception:
                log.exception("%s failed; retrying in %s s", self.name.capitalize(), self._retry_delay)
                delay = self._retry_delay
            if delay is not None:
                await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if woken."""
        if self._wake.is_set():  # woken during the round: go again at once
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.sleep(0)  # let both start, so "idle" means really asleep
            self._waiting = True
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting = False
            for task in (waiter, sleeper):
                task.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)

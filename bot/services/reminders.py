"""Daily check-in reminders: each member's schedule, and the one dispatcher that sends them.

Schedule. A member's reminder is a local wall-clock time (``HH:MM``). Its next instant,
``next_due_at``, is computed in the member's timezone (DST: a time skipped by the clocks moving
forward happens that much later, a time that occurs twice happens the first time; see
:mod:`bot.services.localtime`) and stored, indexed, so the dispatcher only ever reads the
earliest one.

Dispatcher (after RoboDanny's ``cogs/reminder.py``): one task sleeps until the earliest
``next_due_at``, and is woken early by an :class:`asyncio.Event` whenever a reminder is added,
changed or its timezone changes; it never scans every member. It also re-reads the schedule at
least every ``max_sleep`` seconds, which costs one indexed query and guards against the wall
clock jumping.

When a reminder comes due, one transaction *claims* it: it decides whether to send it and moves
``next_due_at`` to the next local day, before anything is sent. The rules:

* only the latest of the member's reminder times that has come counts: today's if its time has
  come, and then it is sent (late, if the bot was down at that time) unless the member already
  checked in today; if it is still yesterday's, the day has passed and nothing is sent;
* every older one, missed while the bot was down, is dropped;
* the next one is the member's time on the first local day after that one which is still
  ahead. So after any downtime at most one reminder per member is sent, none for a day that has
  passed, and no local day ever gets two.

Claim-then-send means a reminder is sent at most once; if the process dies between the claim and
the send, that one reminder is lost, never repeated. A ``send`` that reports closed DMs pauses the
reminder with a reason that the member's next check-in reply shows once. A ``send`` that fails
otherwise gives the claim back: the reminder comes due again later and is sent then, unless the
member checked in meanwhile or the day has passed. How much later:

* a failure in passing (:class:`~bot.services.retry.TransientSendError`: a 5xx, a timeout, a dropped
  connection; Discord may have created the DM while its answer was lost) of the day's first attempt:
  :data:`~bot.services.retry.FIRST_RETRY` (a minute), so that the retry's nonce (the same: member,
  server, day) is still within Discord's window and gets the DM already made instead of a second;
* any later failure, or a refusal (a 4xx other than closed DMs: nothing was made):
  :data:`RETRY_AFTER_FAILURE`.

Whether an attempt is the day's first needs no memory, so it holds across restarts: a reminder given
back is due at the retry's instant, later than the day's own reminder time
(:attr:`DueReminder.retrying`). The retries are bounded by the local day.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild
from bot.services.background import ScheduleListeners, Sleep, WakeableLoop
from bot.services.localtime import (
    epoch_day,
    format_hhmm,
    from_epoch_day,
    local_date,
    local_instant,
    next_local_occurrence,
    parse_hhmm,
    zone_for,
)
from bot.services.membertime import member_time
from bot.services.retry import FIRST_RETRY, TransientSendError
from bot.timeutil import Clock, utc_now

__all__ = [
    "DMS_CLOSED_REASON",
    "RETRY_AFTER_FAILURE",
    "DueReminder",
    "ReminderDispatcher",
    "ReminderInfo",
    "ReminderService",
    "SendReminder",
    "Sleep",
    "reschedule_reminder",
    "retry_delay",
]

log = logging.getLogger(__name__)

DMS_CLOSED_REASON = (
    "Your daily check-in reminder is paused: I couldn't send you a direct message, so your DMs may be "
    "closed for this server. Once they are open, set the reminder again with /checkin reminder."
)
"""The pause reason the dispatcher stores when ``send`` reports that the member's DMs are closed."""
RETRY_AFTER_FAILURE = timedelta(minutes=10)
"""How long after a failed send the reminder is tried again (the same local day only), except after the
day's first attempt failed in passing: then :data:`~bot.services.retry.FIRST_RETRY`."""


@dataclass(frozen=True, slots=True)
class ReminderInfo:
    """A member's reminder as the member sees it."""

    time: str
    """``HH:MM``, local."""
    minute_of_day: int
    next_due_at: datetime | None
    """The next instant it is sent (UTC); ``None`` while paused."""
    timezone: str
    timezone_notice: bool
    """Tell the member (once) that their timezone is not set and UTC is used."""
    paused_reason: str | None


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder to send now: which member, in which server, for which of their local days."""

    guild_id: int
    user_id: int
    day: date
    due_at: datetime
    timezone: str
    retrying: bool = False
    """An earlier attempt at this day's reminder failed (it is due after the day's reminder time)."""


SendReminder = Callable[[DueReminder], Awaitable[bool]]
"""Sends one reminder DM; returns ``False`` if the member cannot be messaged (DMs closed), raises if
it failed otherwise (then it is tried again later): :class:`~bot.services.retry.TransientSendError` if
it failed in passing (Discord may have made it), anything else for a refusal."""


def retry_delay(reminder: DueReminder, *, transient: bool) -> timedelta:
    """How long after a failed send of ``reminder`` it is tried again: soon after the day's first
    attempt failed in passing (within Discord's nonce window), else :data:`RETRY_AFTER_FAILURE`."""
    return FIRST_RETRY if transient and not reminder.retrying else RETRY_AFTER_FAILURE


def _next_after(now: datetime, minute_of_day: int, zone_name: str | None, last_day: int | None) -> datetime:
    """The next instant of the reminder after ``now``, never on or before ``last_day``."""
    min_day = None if last_day is None else from_epoch_day(last_day) + timedelta(days=1)
    _, instant = next_local_occurrence(now, zone_for(zone_name), minute_of_day, min_day=min_day)
    return instant


def reschedule_reminder(conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime) -> datetime | None:
    """Recompute an active reminder's next instant (after the member's timezone changed).

    Runs inside the caller's unit of work; returns the new instant, or ``None`` if there is no
    active reminder. The caller must then wake the dispatcher (``ReminderService.notify_changed``).
    """
    row = repo.get_reminder(conn, guild_id, user_id)
    if row is None or row.paused_reason is not None:
        return None
    instant = _next_after(now, row.minute_of_day, row.timezone, row.last_day)
    repo.set_reminder_schedule(conn, guild_id, user_id, instant)
    return instant


def _info(row: repo.ReminderRow, timezone: str, notice: bool) -> ReminderInfo:
    return ReminderInfo(
        time=format_hhmm(row.minute_of_day),
        minute_of_day=row.minute_of_day,
        next_due_at=row.next_due_at,
        timezone=timezone,
        timezone_notice=notice,
        paused_reason=row.paused_reason,
    )


class ReminderService(ScheduleListeners):
    """Members' reminder schedules; each public method that writes is one transaction.

    Listeners (the dispatcher's :meth:`ReminderDispatcher.wake`) are called after every change
    to the schedule has committed.
    """

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self.clock = clock
        super().__init__()

    async def set_reminder(self, guild_id: int, user_id: int, time_text: str) -> ReminderInfo:
        """Set (or change) the member's daily reminder to ``HH:MM`` local time; un-pauses it."""
        minute_of_day = parse_hhmm(time_text)
        now = self.clock()

        def work(conn: sqlite3.Connection) -> ReminderInfo:
            here = member_time(conn, guild_id, user_id, now)
            ensure_guild(conn, guild_id, now)
            old = repo.get_reminder(conn, guild_id, user_id)
            last_day = None if old is None else old.last_day
            instant = _next_after(now, minute_of_day, here.timezone, last_day)
            repo.upsert_reminder(conn, guild_id, user_id, minute_of_day, instant, now)
            row = repo.get_reminder(conn, guild_id, user_id)
            assert row is not None
            return _info(row, here.timezone, here.notice)

        info = await self._db.transaction(work)
        self.notify_changed()
        return info

    async def remove_reminder(self, guild_id: int, user_id: int) -> bool:
        """Stop the member's reminder; ``True`` if there was one."""
        removed = await self._db.transaction(lambda conn: repo.delete_reminder(conn, guild_id, user_id))
        if removed:
            self.notify_changed()
        return removed

    async def get_reminder(self, guild_id: int, user_id: int) -> ReminderInfo | None:
        """The member's reminder, if set."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> ReminderInfo | None:
            row = repo.get_reminder(conn, guild_id, user_id)
            if row is None:
                return None
            here = member_time(conn, guild_id, user_id, now, take_notice=False)
            return _info(row, here.timezone, False)

        return await self._db.read(work)

    async def pause_reminder(self, guild_id: int, user_id: int, reason: str) -> bool:
        """Pause the member's reminder, keeping ``reason`` for their next check-in reply."""
        now = self.clock()
        paused = await self._db.transaction(lambda conn: repo.pause_reminder(conn, guild_id, user_id, reason, now))
        if paused:
            log.info("Paused the reminder of member %s in guild %s", user_id, guild_id)
            self.notify_changed()
        return paused

    async def retry_later(self, reminder: DueReminder, at: datetime) -> bool:
        """Give back the claim of a reminder whose send failed: it comes due again at ``at``. ``False``
        if the member changed or paused it meanwhile (then that stands)."""
        day = epoch_day(reminder.day)
        return await self._db.transaction(
            lambda conn: repo.release_reminder(conn, reminder.guild_id, reminder.user_id, day, at)
        )

    async def take_notice(self, guild_id: int, user_id: int) -> str | None:
        """The reason the reminder was paused, if the member has not been told yet (then they have)."""
        return await self._db.transaction(lambda conn: repo.take_reminder_notice(conn, guild_id, user_id))

    async def next_due_at(self) -> datetime | None:
        """The earliest instant an active reminder is due."""
        return await self._db.read(repo.next_reminder_due_at)

    async def claim_due(self, now: datetime | None = None, limit: int = 50) -> list[DueReminder]:
        """Claim the reminders due at ``now``: those to send, earliest first (see the module docstring).

        Every due reminder, sent or skipped, is moved to its next local day in the same transaction.
        """
        moment = self.clock() if now is None else now

        def work(conn: sqlite3.Connection) -> list[DueReminder]:
            to_send: list[DueReminder] = []
            for row in repo.due_reminders(conn, moment, limit):
                zone = zone_for(row.timezone)
                today = local_date(moment, zone)
                # The latest of the member's reminder times that has come: today's, or else
                # yesterday's. Any older one was missed while the bot was down and is dropped.
                latest = today
                if local_instant(today, row.minute_of_day, zone) > moment:
                    latest = today - timedelta(days=1)
                latest_number = epoch_day(latest)
                if latest < today:
                    log.info(
                        "Skipped a missed reminder of member %s in guild %s: its day has passed",
                        row.user_id,
                        row.guild_id,
                    )
                elif row.last_day is not None and latest_number <= row.last_day:
                    log.debug(
                        "Skipped the reminder of member %s in guild %s: already handled today",
                        row.user_id,
                        row.guild_id,
                    )
                elif repo.has_checkin(conn, row.guild_id, row.user_id, latest_number):
                    log.debug("Skipped the reminder of member %s in guild %s: checked in", row.user_id, row.guild_id)
                else:
                    due_at = row.next_due_at if row.next_due_at is not None else moment
                    # Given back after a failure, it is due at the retry's instant, after the day's time.
                    retrying = due_at > local_instant(latest, row.minute_of_day, zone)
                    to_send.append(DueReminder(row.guild_id, row.user_id, latest, due_at, zone.key, retrying))
                handled = max(latest_number, row.last_day) if row.last_day is not None else latest_number
                following = _next_after(moment, row.minute_of_day, row.timezone, handled)
                repo.advance_reminder(conn, row.guild_id, row.user_id, following, handled)
            return to_send

        return await self._db.transaction(work)


class ReminderDispatcher(WakeableLoop):
    """The one task that sends due reminders: it sleeps until the next, and is woken by changes."""

    name = "reminder dispatcher"

    def __init__(
        self,
        service: ReminderService,
        send: SendReminder,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        max_sleep: float = 900.0,
        retry_delay: float = 30.0,
        batch: int = 50,
    ) -> None:
        super().__init__(sleep=sleep, retry_delay=retry_delay, schedule=service)
        self._service = service
        self._send = send
        self._clock = service.clock if clock is None else clock
        self._max_sleep = max_sleep
        self._batch = batch

    async def round(self) -> float | None:
        """Send what is due; the seconds to wait before looking again."""
        return await self._dispatch_due()

    async def _dispatch_due(self) -> float | None:
        """Send what is due; the seconds to wait before looking again (``None``: look again now)."""
        due = await self._service.claim_due(self._clock(), self._batch)
        for reminder in due:
            await self._deliver(reminder)
        if len(due) >= self._batch:
            return None
        next_at = await self._service.next_due_at()
        if next_at is None:
            return self._max_sleep
        seconds = (next_at - self._clock()).total_seconds()
        return None if seconds <= 0 else min(seconds, self._max_sleep)

    async def _deliver(self, reminder: DueReminder) -> None:
        try:
            delivered = await self._send(reminder)
        except Exception as exc:
            # The dispatcher's next round looks again at the retry's instant (the earliest due).
            retry_at = self._clock() + retry_delay(reminder, transient=isinstance(exc, TransientSendError))
            log.exception(
                "Sending the reminder of member %s in guild %s failed; trying again at %s",
                reminder.user_id,
                reminder.guild_id,
                retry_at,
            )
            await self._service.retry_later(reminder, retry_at)
            return
        if not delivered:
            await self._service.pause_reminder(reminder.guild_id, reminder.user_id, DMS_CLOSED_REASON)

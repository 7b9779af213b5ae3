"""The sobriety counter: a member's sobriety date, days sober, and milestones celebrated once.

Days sober are counted in the member's timezone as whole local days since the date: on the
date itself it is 0, the next day 1. Milestones are 1, 7, 30, 60, 90 and 180 days, then every
year on the calendar anniversary (a date of 29 February has its anniversary on 28 February in
other years).

Celebrating once, also across restarts:

* ``sobriety.next_milestone`` is the next milestone not yet celebrated; ``due_milestones`` finds
  the members who have reached theirs through an index (not by reading every member), in each
  member's own timezone.
* ``mark_celebrated`` claims a milestone: one transaction records it in ``sobriety_milestones``
  (whose key makes a second claim fail) and moves ``next_milestone`` on. Only the caller that
  gets ``True`` sends the congratulation, so nothing is celebrated twice, even by two callers at
  once or after a restart. If sending fails, ``release_celebration`` makes it due again (the
  next check sends it); so a restart loses nothing either, except a message whose sending was cut
  off by the process dying between the claim and the send.
* The first time a milestone's DM fails *in passing* (a 5xx, a timeout, a dropped connection:
  Discord may have made it while its answer was lost), ``release_celebration`` also asks for an
  early check :data:`~bot.services.retry.FIRST_RETRY` later (``next_retry_at``), so that the retry's
  nonce (the same: member, server, date, milestone) is still within Discord's window and gets the
  DM already made. Any later failure, or a refusal (nothing was made), waits for the next regular
  check. Which milestones had their early retry is kept in memory (after a restart, a failure is a
  first one again), until the milestone is no longer due.
* After downtime spanning several milestones only the highest is celebrated (no burst).
* When a date is set, milestones already behind the member are not celebrated; one reached on
  that very day is.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild, get_settings
from bot.errors import UserError
from bot.services.localtime import epoch_day, from_epoch_day, local_date, parse_date, zone_for
from bot.services.membertime import member_time
from bot.services.retry import FIRST_RETRY
from bot.timeutil import Clock, utc_now

__all__ = [
    "CELEBRATIONS_CHANNEL_SETTING",
    "EARLIEST_DATE",
    "MILESTONE_DAYS",
    "DueMilestone",
    "Milestone",
    "SobrietyService",
    "SobrietySet",
    "SobrietyStatus",
    "anniversary",
    "days_sober",
    "milestone_after",
    "milestone_on_or_after",
    "milestone_reached",
    "milestones",
    "setting_channel_id",
]

log = logging.getLogger(__name__)

MILESTONE_DAYS = (1, 7, 30, 60, 90, 180)
"""The milestones of the first year, in days; then every year."""
EARLIEST_DATE = date(1900, 1, 1)
CELEBRATIONS_CHANNEL_SETTING = "celebrations_channel"
"""The server setting (a channel id) where announced milestones are posted."""


# --------------------------------------------------------------------------- milestones (pure)


@dataclass(frozen=True, slots=True)
class Milestone:
    """A milestone: a number of days sober, and how to say it."""

    days: int
    label: str
    """``"1 day"``, ``"30 days"``, ``"1 year"``, ``"2 years"``…"""


def anniversary(since: date, years: int) -> date:
    """The ``years``-th anniversary of ``since`` (29 February falls on 28 February in common years)."""
    year = since.year + years
    try:
        return since.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def milestones(since: date) -> Iterator[Milestone]:
    """Every milestone of a sobriety date, in order (endless: one per year after the first)."""
    for days in MILESTONE_DAYS:
        yield Milestone(days, "1 day" if days == 1 else f"{days} days")
    years = 1
    while True:
        try:
            day = anniversary(since, years)
        except (ValueError, OverflowError):
            return  # past year 9999
        yield Milestone((day - since).days, "1 year" if years == 1 else f"{years} years")
        years += 1


def milestone_on_or_after(since: date, days: int) -> Milestone:
    """The first milestone of ``since`` at ``days`` or later."""
    for milestone in milestones(since):
        if milestone.days >= days:
            return milestone
    raise ValueError("no milestone that far ahead")  # pragma: no cover - beyond year 9999


def milestone_after(since: date, days: int) -> Milestone:
    """The first milestone of ``since`` strictly after ``days``."""
    return milestone_on_or_after(since, days + 1)


def milestone_reached(since: date, days: int) -> Milestone | None:
    """The highest milestone of ``since`` at ``days`` or before, if any."""
    reached: Milestone | None = None
    for milestone in milestones(since):
        if milestone.days > days:
            break
        reached = milestone
    return reached


def days_sober(since: date, today: date) -> int:
    """Whole local days from the sobriety date to today (0 on the date itself)."""
    return max(0, (today - since).days)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class SobrietyStatus:
    """What ``/sobriety show`` tells."""

    since: date
    days: int
    next_milestone: Milestone
    next_milestone_date: date
    days_until_next: int
    last_milestone: Milestone | None
    """The highest milestone reached so far, if any."""
    announce: bool
    timezone: str
    timezone_notice: bool
    """Tell the member (once) that their timezone is not set and UTC is used."""


@dataclass(frozen=True, slots=True)
class SobrietySet:
    """The outcome of setting a sobriety date."""

    status: SobrietyStatus
    previous: date | None
    after_relapse: bool
    """The new date is later than the previous one: answer kindly, a new start is worth a lot."""


@dataclass(frozen=True, slots=True)
class DueMilestone:
    """A milestone reached and not yet celebrated."""

    guild_id: int
    user_id: int
    since: date
    milestone: Milestone
    days: int
    announce: bool
    celebrations_channel_id: int | None
    """Where to post it if ``announce`` (the server's setting), else ``None``."""


# --------------------------------------------------------------------------- service


def _status(since: date, today: date, announce: bool, tz: str, notice: bool) -> SobrietyStatus:
    days = days_sober(since, today)
    upcoming = milestone_after(since, days)
    return SobrietyStatus(
        since=since,
        days=days,
        next_milestone=upcoming,
        next_milestone_date=since + timedelta(days=upcoming.days),
        days_until_next=upcoming.days - days,
        last_milestone=milestone_reached(since, days),
        announce=announce,
        timezone=tz,
        timezone_notice=notice,
    )


def setting_channel_id(settings: dict[str, str], key: str) -> int | None:
    """A server setting holding a channel id, as an int; ``None`` if unset or not a number."""
    value = settings.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        log.warning("Setting %s has a value that is not a channel id: %r", key, value)
        return None


def _key(due: DueMilestone) -> tuple[int, int, int, int]:
    return due.guild_id, due.user_id, epoch_day(due.since), due.milestone.days


class SobrietyService:
    """Sobriety dates, days sober and milestones; each public method that writes is one transaction."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._early_retries: dict[tuple[int, int, int, int], datetime] = {}
        """Milestones whose DM failed in passing, and when their one early retry is (see the module)."""

    async def set_date(self, guild_id: int, user_id: int, when: str | date, *, announce: bool = False) -> SobrietySet:
        """Set the member's sobriety date (``YYYY-MM-DD`` or a date).

        Not in the future in the member's timezone, not before 1900-01-01 (:class:`UserError`).
        A later date than before (a new start after a relapse) is allowed and flagged.
        """
        since = parse_date(when) if isinstance(when, str) else when
        if since < EARLIEST_DATE:
            raise UserError("Please give a date from 1900-01-01 onwards.")
        now = self._clock()

        def work(conn: sqlite3.Connection) -> SobrietySet:
            here = member_time(conn, guild_id, user_id, now)
            if since > here.today:
                raise UserError(
                    f"{since.isoformat()} is still in the future where you are (today is "
                    f"{here.today.isoformat()}, {here.timezone}). Please give the day your sobriety began."
                )
            ensure_guild(conn, guild_id, now)
            old = repo.get_sobriety(conn, guild_id, user_id)
            since_day = epoch_day(since)
            if old is not None and old.since_day == since_day:
                next_days = old.next_milestone  # same date: keep what was already celebrated
            else:
                next_days = milestone_on_or_after(since, days_sober(since, here.today)).days
                repo.delete_celebrations(conn, guild_id, user_id, keep_since_day=since_day)
            repo.set_sobriety(
                conn, guild_id, user_id, since_day=since_day, announce=announce, next_milestone=next_days, now=now
            )
            previous = None if old is None else from_epoch_day(old.since_day)
            status = _status(since, here.today, announce, here.timezone, here.notice)
            return SobrietySet(status, previous, after_relapse=previous is not None and since > previous)

        return await self._db.transaction(work)

    async def show(self, guild_id: int, user_id: int) -> SobrietyStatus | None:
        """Days sober and the next milestone; ``None`` if no date is set."""
        now = self._clock()

        def work(conn: sqlite3.Connection) -> SobrietyStatus | None:
            row = repo.get_sobriety(conn, guild_id, user_id)
            if row is None:
                return None
            here = member_time(conn, guild_id, user_id, now)
            since = from_epoch_day(row.since_day)
            return _status(since, here.today, row.announce, here.timezone, here.notice)

        return await self._db.transaction(work)

    async def clear(self, guild_id: int, user_id: int) -> bool:
        """Remove the member's sobriety date (and its celebrations); ``True`` if there was one."""
        return await self._db.transaction(lambda conn: repo.delete_sobriety(conn, guild_id, user_id))

    async def due_milestones(self, now: datetime | None = None) -> list[DueMilestone]:
        """Milestones reached (in each member's timezone) and not yet celebrated; one per member."""
        moment = self._clock() if now is None else now
        # No timezone is more than a day ahead of UTC: members whose next milestone is after
        # UTC's tomorrow cannot have reached it, and the index skips them.
        bound = epoch_day(moment.astimezone(UTC).date()) + 1

        def work(conn: sqlite3.Connection) -> list[DueMilestone]:
            due: list[DueMilestone] = []
            settings: dict[int, dict[str, str]] = {}
            for row in repo.sobriety_candidates(conn, bound):
                today = local_date(moment, zone_for(row.timezone))
                since = from_epoch_day(row.since_day)
                days = days_sober(since, today)
                if days < row.next_milestone:
                    continue
                reached = milestone_reached(since, days)
                if reached is None:  # pragma: no cover - next_milestone >= 1 makes this impossible
                    continue
                channel = None
                if row.announce:
                    if row.guild_id not in settings:
                        settings[row.guild_id] = get_settings(conn, row.guild_id)
                    channel = setting_channel_id(settings[row.guild_id], CELEBRATIONS_CHANNEL_SETTING)
                due.append(DueMilestone(row.guild_id, row.user_id, since, reached, days, row.announce, channel))
            return due

        found = await self._db.read(work)
        # An early retry is remembered while its milestone is still due (it failed again) or still ahead.
        keys = {_key(d) for d in found}
        self._early_retries = {k: at for k, at in self._early_retries.items() if k in keys or at > moment}
        return found

    async def mark_celebrated(self, due: DueMilestone) -> bool:
        """Claim a due milestone: ``True`` exactly once, for the caller that should celebrate it.

        ``False`` if it was already celebrated, or the member changed or cleared the date meanwhile.
        """
        now = self._clock()

        def work(conn: sqlite3.Connection) -> bool:
            row = repo.get_sobriety(conn, due.guild_id, due.user_id)
            if row is None or row.since_day != epoch_day(due.since):
                return False
            claimed = repo.insert_celebration(conn, due.guild_id, due.user_id, row.since_day, due.milestone.days, now)
            if row.next_milestone <= due.milestone.days:
                repo.advance_milestone(
                    conn, due.guild_id, due.user_id, milestone_after(due.since, due.milestone.days).days
                )
            return claimed

        return await self._db.transaction(work)

    async def release_celebration(self, due: DueMilestone, *, transient: bool = False) -> datetime | None:
        """Undo :meth:`mark_celebrated` after the congratulation could not be sent, so it is due again.

        ``transient``: it failed in passing (Discord may have made it). The first time for this
        milestone, returns the instant of an early check :data:`~bot.services.retry.FIRST_RETRY` from
        now (also in :meth:`next_retry_at`); otherwise ``None``: the next regular check tries again.
        """
        now = self._clock()

        def work(conn: sqlite3.Connection) -> None:
            row = repo.get_sobriety(conn, due.guild_id, due.user_id)
            if row is None or row.since_day != epoch_day(due.since):
                return
            if repo.delete_celebration(conn, due.guild_id, due.user_id, row.since_day, due.milestone.days):
                repo.advance_milestone(conn, due.guild_id, due.user_id, min(row.next_milestone, due.milestone.days))

        await self._db.transaction(work)
        key = _key(due)
        if not transient or key in self._early_retries:
            return None
        retry_at = self._early_retries[key] = now + FIRST_RETRY
        return retry_at

    def next_retry_at(self, now: datetime | None = None) -> datetime | None:
        """The earliest early retry still ahead of ``now`` (see :meth:`release_celebration`), if any."""
        moment = self._clock() if now is None else now
        return min((at for at in self._early_retries.values() if at > moment), default=None)

"""Daily check-ins: recording, streaks, history numbers, the member's timezone, and support hints.

Days are the member's local calendar dates, taken in their timezone when the check-in is made
and stored as such: changing timezone later never moves, creates or loses a check-in. A second
check-in on the same local day replaces that day's entry.

Streaks. A streak is a run of consecutive local days with a check-in. The *current* streak is
the run that ends today or yesterday (local): it stays current through today, while today's
check-in can still be made, and ends once a whole local day passes without one (it is 0 then).
The longest streak is the longest run ever. A check-in dated after today (possible only just
after moving to a timezone further west) counts as today for this purpose.

The streaks are stored (``checkin_streaks``: the first and last day of the latest run, and the
longest run), updated in the unit of work that writes a check-in, so that a check-in or a history
reads one row instead of every day of the member's history. A new day extends or starts the latest
run; a day before the latest run (only after moving to a timezone further west) is rare, and then
the streaks are computed again from every day (:func:`compute_streak_row`). The current streak is
judged when read, against the member's today (:func:`streaks_of`).

No Discord here: plain ids, dates and dataclasses.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.crypto import NoteCipher, NotesLocked
from bot.db.connection import Database
from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild, get_settings
from bot.errors import UserError
from bot.services.guidance import GuidanceLibrary, Passage
from bot.services.localtime import canonical_timezone, epoch_day, from_epoch_day, timezone_suggestions
from bot.services.membertime import MemberTime, member_time
from bot.services.reminders import reschedule_reminder
from bot.services.safety import CRISIS_RESOURCES_SETTING, DEFAULT_CRISIS_RESOURCES, crisis_resources_text
from bot.services.sobriety import days_sober, setting_channel_id
from bot.timeutil import Clock

__all__ = [
    "CHECKIN_CHANNEL_SETTING",
    "CRAVING_SUPPORT_THRESHOLD",
    "CRISIS_RESOURCES_SETTING",
    "DEFAULT_CRISIS_RESOURCES",
    "HISTORY_DAYS_DEFAULT",
    "HISTORY_DAYS_MAX",
    "HISTORY_DAYS_MIN",
    "MAX_NOTE_LENGTH",
    "MOOD_LABELS",
    "Checkin",
    "CheckinResult",
    "CheckinService",
    "History",
    "HistoryDay",
    "HistorySummary",
    "Streaks",
    "TimezoneResult",
    "add_day",
    "compute_streak_row",
    "compute_streaks",
    "streaks_of",
    "timezone_suggestions",
]

log = logging.getLogger(__name__)

MOOD_LABELS = {1: "awful", 2: "low", 3: "okay", 4: "good", 5: "great"}
MAX_NOTE_LENGTH = 1000
CRAVING_SUPPORT_THRESHOLD = 7
"""A craving at or above this (or a day not sober) gets the kind, supportive reply."""
HISTORY_DAYS_MIN, HISTORY_DAYS_MAX, HISTORY_DAYS_DEFAULT = 7, 90, 30

CHECKIN_CHANNEL_SETTING = "checkin_channel"
"""The server setting (a channel id) where shared check-ins are posted."""
# The crisis resources (CRISIS_RESOURCES_SETTING, DEFAULT_CRISIS_RESOURCES) come from bot.services.safety.

# Passages quoted when a member is struggling, by what they told: not sober, or craving hard.
_NOT_SOBER_PASSAGE = "what-it-is"  # "…people who never judge you and always accept you…"
_CRAVING_PASSAGE = "filling-the-void"  # "…they are there to listen and to be a helping hand."
_FALLBACK_TOPICS = ("what-it-is", "why")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Checkin:
    """One day's check-in. ``craving`` and ``sober`` are ``None`` in a quick check-in not yet completed."""

    day: date
    mood: int
    craving: int | None
    sober: bool | None
    note: str | None
    recorded_at: datetime
    note_locked: bool = False
    """The note is stored encrypted and cannot be opened (no ``DATA_KEY``, or another one)."""

    @property
    def complete(self) -> bool:
        """Whether craving and sober were told (always, except for a quick check-in)."""
        return self.craving is not None and self.sober is not None

    @property
    def needs_support(self) -> bool:
        """Craving of 7 or more, or a day not sober."""
        return (self.craving is not None and self.craving >= CRAVING_SUPPORT_THRESHOLD) or self.sober is False


@dataclass(frozen=True, slots=True)
class Streaks:
    """The current and the longest run of consecutive local days with a check-in."""

    current: int
    longest: int


@dataclass(frozen=True, slots=True)
class CheckinResult:
    """What recording a check-in did, and what the reply should say."""

    checkin: Checkin
    replaced: bool
    """A check-in of the same local day was replaced."""
    streak: int
    longest_streak: int
    sober_days: int | None
    """Days sober, if the member set a sobriety date."""
    needs_support: bool
    """Craving of 7 or more, or not sober: answer kindly, quote ``passage``, show ``crisis_resources``."""
    passage: Passage | None
    crisis_resources: str | None
    timezone: str
    timezone_notice: bool
    """Tell the member (once) that their timezone is not set and UTC is used."""
    reminder_notice: str | None
    """Why their reminder was paused, to tell them now (once)."""
    share_channel_id: int | None
    """The server's check-in channel, if moderators set one."""

    @property
    def day(self) -> date:
        """The local day the check-in counts for."""
        return self.checkin.day


@dataclass(frozen=True, slots=True)
class HistoryDay:
    """One local day of a history: its check-in, or ``None`` for a gap."""

    day: date
    checkin: Checkin | None


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """The numbers of a member's last ``day_count`` local days (today included): what ``/checkin
    history`` answers at once (its chart reads the days later, :meth:`CheckinService.history_days`)."""

    first_day: date
    last_day: date
    """Today, local."""
    day_count: int
    checkins: int
    not_sober_days: int
    current_streak: int
    longest_streak: int
    """Over all time, not only the period."""
    average_mood: float | None
    average_craving: float | None
    """Over the check-ins that told a craving."""
    timezone: str
    timezone_notice: bool
    reminder_notice: str | None = None
    """Why the member's reminder was paused, if they had not been told (now they have)."""

    @property
    def empty(self) -> bool:
        """No check-in in the period."""
        return self.checkins == 0


@dataclass(frozen=True, slots=True)
class History:
    """A member's check-ins over the period of ``summary``, one entry per local day, oldest first
    (today last), and the period's numbers.

    Its check-ins carry no note (a history never shows one, so none is read or opened)."""

    summary: HistorySummary
    days: tuple[HistoryDay, ...]


@dataclass(frozen=True, slots=True)
class TimezoneResult:
    """The member's timezone after setting it."""

    timezone: str
    today: date
    reminder_next_due_at: datetime | None
    """When their reminder now comes next, if they have an active one."""


# --------------------------------------------------------------------------- pure helpers


def compute_streaks(days: Sequence[int], today: int) -> Streaks:
    """Current and longest streak of ascending, distinct epoch ``days`` as of the epoch day ``today``.

    The definition over every day; the service keeps the same numbers stored instead
    (:func:`track_day`, :func:`streaks_of`), so that a check-in never reads a whole history."""
    longest = run = 0
    previous: int | None = None
    for day in days:
        if previous is not None and day == previous + 1:
            run += 1
        else:
            if run > longest:
                longest = run
            run = 1
        previous = day
    if run > longest:
        longest = run
    current = run if previous is not None and previous >= today - 1 else 0
    return Streaks(current=current, longest=longest)


def compute_streak_row(days: Sequence[int]) -> repo.StreakRow | None:
    """The stored form of the streaks of ascending, distinct epoch ``days`` (``None`` for no day):
    the latest run's first and last day, and the longest run."""
    if not days:
        return None
    longest = 0
    start = previous = days[0]
    for day in days[1:]:
        if day != previous + 1:
            if previous - start + 1 > longest:
                longest = previous - start + 1
            start = day
        previous = day
    return repo.StreakRow(start, previous, max(longest, previous - start + 1))


def add_day(streak: repo.StreakRow | None, day: int) -> repo.StreakRow | None:
    """The stored streaks once ``day`` is one of the member's days, from those before (``None``:
    no day yet). ``None`` when that needs every day: a day before the latest run, which may join
    older runs (only after moving to a timezone further west)."""
    if streak is None:
        return repo.StreakRow(day, day, 1)
    if streak.run_start <= day <= streak.run_end:
        return streak
    if day == streak.run_end + 1:
        return repo.StreakRow(streak.run_start, day, max(streak.longest, day - streak.run_start + 1))
    if day > streak.run_end:
        return repo.StreakRow(day, day, streak.longest)
    return None


def streaks_of(streak: repo.StreakRow | None, today: int) -> Streaks:
    """Current and longest streak from the stored streaks, as of the member's epoch day ``today``: the
    latest run is current while it ends today or yesterday (or after today, just after moving west)."""
    if streak is None:
        return Streaks(current=0, longest=0)
    current = streak.run_end - streak.run_start + 1 if streak.run_end >= today - 1 else 0
    return Streaks(current=current, longest=streak.longest)


def track_day(conn: sqlite3.Connection, guild_id: int, user_id: int, day: int | None) -> repo.StreakRow | None:
    """The member's stored streaks, brought up to date in the caller's unit of work after a check-in
    of ``day`` was written (``None``: no day was added). One row read, one written when it changed;
    every day is read only when the row is missing or the day lies before the latest run."""
    before = repo.get_streak(conn, guild_id, user_id)
    after = before if day is None or before is None else add_day(before, day)
    if after is None or before is None:
        after = compute_streak_row(repo.checkin_days(conn, guild_id, user_id))
    if after != before:
        repo.set_streak(conn, guild_id, user_id, after)
    return after


def note_place(guild_id: int, user_id: int, day: int) -> bytes:
    """What a sealed note is bound to: its server, member and day."""
    return f"checkin-note:{guild_id}:{user_id}:{day}".encode()


def _validate_mood(mood: int) -> None:
    if isinstance(mood, bool) or not isinstance(mood, int) or not 1 <= mood <= 5:
        raise UserError("Mood must be a whole number from 1 (awful) to 5 (great).")


def _validate_craving(craving: int) -> None:
    if isinstance(craving, bool) or not isinstance(craving, int) or not 0 <= craving <= 10:
        raise UserError("Craving must be a whole number from 0 (none at all) to 10 (the strongest).")


def _validate_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise UserError(
            f"Your note is {len(note)} characters long, and a note can have at most {MAX_NOTE_LENGTH}. "
            "Could you shorten it a little? Nothing was saved yet."
        )
    return note or None


def _validate_history_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not HISTORY_DAYS_MIN <= days <= HISTORY_DAYS_MAX:
        raise UserError(f"Please choose a history of {HISTORY_DAYS_MIN} to {HISTORY_DAYS_MAX} days.")


def _history_days(
    rows: Sequence[tuple[int, int, int | None, bool | None, datetime]], first: int, last: int
) -> tuple[HistoryDay, ...]:
    """The epoch days ``first`` to ``last``, each with its check-in from ``rows`` (:func:`repo.history_rows`)
    or none."""
    by_day = {
        day: Checkin(from_epoch_day(day), mood, craving, sober, None, recorded_at)
        for day, mood, craving, sober, recorded_at in rows
    }
    return tuple(HistoryDay(from_epoch_day(d), by_day.get(d)) for d in range(first, last + 1))


def _summary(conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime, days: int) -> HistorySummary:
    """The numbers of the member's last ``days`` local days, from one aggregate row, with the stored
    streaks and the notices (taken: the caller's transaction tells them)."""
    here = member_time(conn, guild_id, user_id, now)
    last = here.today_day
    first = last - days + 1
    made, moods, told, cravings, not_sober = repo.history_totals(conn, guild_id, user_id, first, last)
    streaks = streaks_of(repo.get_streak(conn, guild_id, user_id), last)
    return HistorySummary(
        first_day=from_epoch_day(first),
        last_day=here.today,
        day_count=days,
        checkins=made,
        not_sober_days=not_sober,
        current_streak=streaks.current,
        longest_streak=streaks.longest,
        average_mood=moods / made if made else None,
        average_craving=cravings / told if told else None,
        timezone=here.timezone,
        timezone_notice=here.notice,
        reminder_notice=repo.take_reminder_notice(conn, guild_id, user_id),
    )


# --------------------------------------------------------------------------- the service


class CheckinService:
    """Check-ins, streaks, history and the member's timezone; each public method is one unit of work.

    ``on_reminders_changed`` is called after a timezone change moved the member's reminder (pass
    ``ReminderService.notify_changed``, which wakes the dispatcher).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        guidance: GuidanceLibrary,
        *,
        on_reminders_changed: Callable[[], None] | None = None,
        cipher: NoteCipher | None = None,
    ) -> None:
        self._cipher = cipher
        self._db = db
        self._clock = clock
        self._guidance = guidance
        self._on_reminders_changed = on_reminders_changed

    # ----------------------------------------------------------------------- notes at rest

    def _seal(self, note: str | None, guild_id: int, user_id: int, day: int) -> str | bytes | None:
        """The stored form of a note: sealed when a key is configured."""
        if note is None or self._cipher is None:
            return note
        return self._cipher.seal(note, note_place(guild_id, user_id, day))

    def _checkin(self, row: repo.CheckinRow) -> Checkin:
        note: str | None
        locked = False
        if isinstance(row.note, bytes):
            note = None
            if self._cipher is None:
                locked = True
            else:
                try:
                    note = self._cipher.open(row.note, note_place(row.guild_id, row.user_id, row.day))
                except NotesLocked:
                    locked = True
        else:
            note = row.note
        return Checkin(from_epoch_day(row.day), row.mood, row.craving, row.sober, note, row.recorded_at, locked)

    # ----------------------------------------------------------------------- check-ins

    async def record_checkin(
        self, guild_id: int, user_id: int, mood: int, craving: int, sober: bool, note: str | None = None
    ) -> CheckinResult:
        """Record today's (local) check-in; a second one the same day replaces the first.

        :class:`UserError` for a mood outside 1–5, a craving outside 0–10 or a note over 1000 characters.
        """
        _validate_mood(mood)
        _validate_craving(craving)
        note = _validate_note(note)
        now = self._clock()

        def work(conn: sqlite3.Connection) -> CheckinResult:
            here = member_time(conn, guild_id, user_id, now)
            ensure_guild(conn, guild_id, now)
            stored = self._seal(note, guild_id, user_id, here.today_day)
            row = repo.CheckinRow(guild_id, user_id, here.today_day, mood, craving, bool(sober), stored, now)
            replaced = repo.upsert_checkin(conn, row)
            streak = track_day(conn, guild_id, user_id, None if replaced else here.today_day)
            return self._result(conn, guild_id, user_id, row, replaced, here, streak)

        return await self._db.transaction(work)

    async def record_quick_checkin(self, guild_id: int, user_id: int, mood: int) -> CheckinResult:
        """Record only today's mood (a mood button on the reminder DM); complete it with :meth:`complete_checkin`.

        If today already has a check-in, only its mood changes. It counts for streaks at once.
        """
        _validate_mood(mood)
        now = self._clock()

        def work(conn: sqlite3.Connection) -> CheckinResult:
            here = member_time(conn, guild_id, user_id, now)
            ensure_guild(conn, guild_id, now)
            replaced = repo.upsert_mood(conn, guild_id, user_id, here.today_day, mood, now)
            streak = track_day(conn, guild_id, user_id, None if replaced else here.today_day)
            row = repo.get_checkin(conn, guild_id, user_id, here.today_day)
            assert row is not None
            return self._result(conn, guild_id, user_id, row, replaced, here, streak)

        return await self._db.transaction(work)

    async def complete_checkin(
        self, guild_id: int, user_id: int, day: date, craving: int, sober: bool, note: str | None = None
    ) -> CheckinResult:
        """Add craving, sober and note to the check-in of ``day`` (today or yesterday, local), keeping its mood.

        For the modal after a quick check-in, which may be submitted after midnight: it completes the
        day the quick check-in was for. :class:`UserError` if that day has no check-in or is older.
        """
        _validate_craving(craving)
        note = _validate_note(note)
        now = self._clock()

        def work(conn: sqlite3.Connection) -> CheckinResult:
            here = member_time(conn, guild_id, user_id, now)
            if not here.today - timedelta(days=1) <= day <= here.today:
                raise UserError(
                    "That check-in is from more than a day ago, so it can't be completed now. "
                    "You can check in for today with /checkin today."
                )
            stored = self._seal(note, guild_id, user_id, epoch_day(day))
            if not repo.complete_checkin(conn, guild_id, user_id, epoch_day(day), craving, bool(sober), stored):
                raise UserError(
                    f"I couldn't find your check-in of {day.isoformat()} to complete. "
                    "You can check in for today with /checkin today."
                )
            row = repo.get_checkin(conn, guild_id, user_id, epoch_day(day))
            assert row is not None
            return self._result(conn, guild_id, user_id, row, True, here, track_day(conn, guild_id, user_id, None))

        return await self._db.transaction(work)

    def _result(
        self,
        conn: sqlite3.Connection,
        guild_id: int,
        user_id: int,
        row: repo.CheckinRow,
        replaced: bool,
        here: MemberTime,
        streak: repo.StreakRow | None,
    ) -> CheckinResult:
        """The reply's facts about a check-in just written, read in the same unit of work."""
        checkin = self._checkin(row)
        streaks = streaks_of(streak, here.today_day)
        sobriety = repo.get_sobriety(conn, guild_id, user_id)
        settings = get_settings(conn, guild_id)
        needs_support = checkin.needs_support
        return CheckinResult(
            checkin=checkin,
            replaced=replaced,
            streak=streaks.current,
            longest_streak=streaks.longest,
            sober_days=None if sobriety is None else days_sober(from_epoch_day(sobriety.since_day), here.today),
            needs_support=needs_support,
            passage=self.support_passage(checkin.craving or 0, checkin.sober is not False) if needs_support else None,
            crisis_resources=crisis_resources_text(settings) if needs_support else None,
            timezone=here.timezone,
            timezone_notice=here.notice,
            reminder_notice=repo.take_reminder_notice(conn, guild_id, user_id),
            share_channel_id=setting_channel_id(settings, CHECKIN_CHANNEL_SETTING),
        )

    def support_passage(self, craving: int, sober: bool) -> Passage | None:
        """The guidance passage to quote to a member who is struggling (not sober, or craving hard)."""
        wanted = _NOT_SOBER_PASSAGE if not sober else _CRAVING_PASSAGE
        try:
            return self._guidance.get(wanted)
        except KeyError:
            for topic in _FALLBACK_TOPICS:
                passages = self._guidance.by_topic(topic)
                if passages:
                    return passages[0]
            return self._guidance.passages[0] if self._guidance.passages else None

    async def history(self, guild_id: int, user_id: int, days: int = HISTORY_DAYS_DEFAULT) -> History:
        """The member's last ``days`` local days (7–90, today included), gaps and all, with the numbers
        (and a paused reminder's notice, taken in the same transaction)."""
        _validate_history_days(days)
        now = self._clock()

        def work(conn: sqlite3.Connection) -> History:
            summary = _summary(conn, guild_id, user_id, now, days)
            first, last = epoch_day(summary.first_day), epoch_day(summary.last_day)
            return History(summary, _history_days(repo.history_rows(conn, guild_id, user_id, first, last), first, last))

        return await self._db.transaction(work)

    async def history_summary(self, guild_id: int, user_id: int, days: int = HISTORY_DAYS_DEFAULT) -> HistorySummary:
        """The numbers of :meth:`history` (the same, rounded alike), from one aggregate row instead of
        a row per day, with the stored streaks and the notices, in one transaction."""
        _validate_history_days(days)
        now = self._clock()

        return await self._db.transaction(lambda conn: _summary(conn, guild_id, user_id, now, days))

    async def history_days(self, guild_id: int, user_id: int, summary: HistorySummary) -> History:
        """The days of the period of ``summary`` (for its chart, drawn after the numbers were answered):
        read in a snapshot of their own, with the summary's streaks and timezone (no notice taken)."""
        first, last = epoch_day(summary.first_day), epoch_day(summary.last_day)

        def work(conn: sqlite3.Connection) -> History:
            return History(summary, _history_days(repo.history_rows(conn, guild_id, user_id, first, last), first, last))

        return await self._db.read(work)

    async def streaks(self, guild_id: int, user_id: int) -> Streaks:
        """The member's current and longest streak."""
        now = self._clock()

        def work(conn: sqlite3.Connection) -> Streaks:
            here = member_time(conn, guild_id, user_id, now, take_notice=False)
            return streaks_of(repo.get_streak(conn, guild_id, user_id), here.today_day)

        return await self._db.read(work)

    async def checked_in_today(self, guild_id: int, user_id: int) -> bool:
        """Whether the member already checked in on their local today."""
        now = self._clock()

        def work(conn: sqlite3.Connection) -> bool:
            here = member_time(conn, guild_id, user_id, now, take_notice=False)
            return repo.has_checkin(conn, guild_id, user_id, here.today_day)

        return await self._db.read(work)

    # ----------------------------------------------------------------------- timezone

    async def set_timezone(self, guild_id: int, user_id: int, zone: str) -> TimezoneResult:
        """Set the member's timezone (IANA name; case and spaces forgiven); :class:`UserError` if unknown.

        Past check-ins keep their days; an active reminder moves to the new local time.
        """
        name = canonical_timezone(zone)
        now = self._clock()

        def work(conn: sqlite3.Connection) -> TimezoneResult:
            ensure_guild(conn, guild_id, now)
            repo.set_timezone(conn, guild_id, user_id, name)
            here = member_time(conn, guild_id, user_id, now, take_notice=False)
            return TimezoneResult(name, here.today, reschedule_reminder(conn, guild_id, user_id, now))

        result = await self._db.transaction(work)
        if result.reminder_next_due_at is not None and self._on_reminders_changed is not None:
            self._on_reminders_changed()
        return result

    async def get_timezone(self, guild_id: int, user_id: int) -> str | None:
        """The member's timezone, or ``None`` if not set (UTC is used)."""
        member = await self._db.read(lambda conn: repo.get_member(conn, guild_id, user_id))
        return None if member is None else member.timezone

    @staticmethod
    def timezone_suggestions(prefix: str, limit: int = 25) -> list[str]:
        """Timezone names for autocomplete (see :func:`bot.services.localtime.timezone_suggestions`)."""
        return timezone_suggestions(prefix, limit)

    # ----------------------------------------------------------------------- support

    async def crisis_resources(self, guild_id: int) -> str:
        """The server's crisis resources text, or the default."""
        settings = await self._db.read(lambda conn: get_settings(conn, guild_id))
        return crisis_resources_text(settings)

    async def checkin_on(self, guild_id: int, user_id: int, day: date) -> Checkin | None:
        """The member's check-in of one local day, if any."""
        row = await self._db.read(lambda conn: repo.get_checkin(conn, guild_id, user_id, epoch_day(day)))
        return None if row is None else self._checkin(row)

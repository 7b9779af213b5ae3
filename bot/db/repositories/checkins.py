"""SQL for check-ins, members' timezones, reminders and the sobriety counter (migration 0002), and the
stored streaks (migration 0008).

Plain functions of a ``sqlite3.Connection``, run inside a service's unit of work. Every query
is parameterised and scoped by ``guild_id``. Days are epoch days (see
:mod:`bot.services.localtime`); instants are aware UTC datetimes, stored as Unix seconds.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "CheckinRow",
    "MemberData",
    "MemberRow",
    "MilestoneRow",
    "ReminderRow",
    "SobrietyRow",
    "StreakRow",
    "advance_milestone",
    "advance_reminder",
    "celebrated_milestones",
    "checkin_days",
    "checkins_between",
    "complete_checkin",
    "delete_celebration",
    "delete_celebrations",
    "delete_member_data",
    "delete_reminder",
    "delete_sobriety",
    "due_reminders",
    "erase_notes_before",
    "get_checkin",
    "get_member",
    "get_reminder",
    "get_sobriety",
    "get_streak",
    "has_checkin",
    "history_rows",
    "history_totals",
    "insert_celebration",
    "mark_timezone_notice_shown",
    "member_data",
    "next_reminder_due_at",
    "pause_reminder",
    "set_reminder_schedule",
    "set_sobriety",
    "set_streak",
    "set_timezone",
    "sobriety_candidates",
    "take_reminder_notice",
    "upsert_checkin",
    "upsert_mood",
    "upsert_reminder",
]

_SECONDS_PER_DAY = 86_400


# --------------------------------------------------------------------------- members


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member's check-in preferences in one server."""

    guild_id: int
    user_id: int
    timezone: str | None
    tz_notice_shown: bool


def get_member(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberRow | None:
    """The member's preferences in this server, if they have any."""
    row = conn.execute(
        "SELECT timezone, tz_notice_shown FROM checkin_members WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    if row is None:
        return None
    return MemberRow(guild_id, user_id, None if row[0] is None else str(row[0]), bool(row[1]))


def set_timezone(conn: sqlite3.Connection, guild_id: int, user_id: int, timezone: str) -> None:
    """Set the member's timezone (an IANA name already validated)."""
    conn.execute(
        "INSERT INTO checkin_members (guild_id, user_id, timezone) VALUES (?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET timezone = excluded.timezone",
        (guild_id, user_id, timezone),
    )


def mark_timezone_notice_shown(conn: sqlite3.Connection, guild_id: int, user_id: int) -> None:
    """Record that the member was told their timezone is not set."""
    conn.execute(
        "INSERT INTO checkin_members (guild_id, user_id, tz_notice_shown) VALUES (?, ?, 1) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET tz_notice_shown = 1",
        (guild_id, user_id),
    )


# --------------------------------------------------------------------------- check-ins


@dataclass(frozen=True, slots=True)
class CheckinRow:
    """One day's check-in of one member in one server."""

    guild_id: int
    user_id: int
    day: int
    mood: int
    craving: int | None
    sober: bool | None
    note: str | bytes | None
    """The note: text, or its sealed form (bytes) when notes are encrypted at rest."""
    recorded_at: datetime


_CHECKIN_SELECT = "SELECT guild_id, user_id, day, mood, craving, sober, note, recorded_offset FROM checkins "


def _checkin(row: sqlite3.Row) -> CheckinRow:
    day = int(row[2])
    return CheckinRow(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        day=day,
        mood=int(row[3]),
        craving=None if row[4] is None else int(row[4]),
        sober=None if row[5] is None else bool(row[5]),
        note=row[6] if row[6] is None or isinstance(row[6], bytes) else str(row[6]),
        recorded_at=from_timestamp(day * _SECONDS_PER_DAY + int(row[7])),
    )


def upsert_checkin(conn: sqlite3.Connection, row: CheckinRow) -> bool:
    """Store the member's check-in for ``row.day``; ``True`` if it replaced one of that day."""
    replaced = has_checkin(conn, row.guild_id, row.user_id, row.day)
    offset = to_timestamp(row.recorded_at) - row.day * _SECONDS_PER_DAY
    conn.execute(
        "INSERT INTO checkins (guild_id, user_id, day, mood, craving, sober, note, recorded_offset) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET mood = excluded.mood, craving = excluded.craving, "
        "sober = excluded.sober, note = excluded.note, recorded_offset = excluded.recorded_offset",
        (row.guild_id, row.user_id, row.day, row.mood, row.craving, _flag(row.sober), row.note, offset),
    )
    return replaced


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def upsert_mood(conn: sqlite3.Connection, guild_id: int, user_id: int, day: int, mood: int, now: datetime) -> bool:
    """Record only the mood of the member's day (a quick check-in), keeping anything else already told.

    ``True`` if the day already had a check-in.
    """
    replaced = has_checkin(conn, guild_id, user_id, day)
    conn.execute(
        "INSERT INTO checkins (guild_id, user_id, day, mood, recorded_offset) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET mood = excluded.mood, "
        "recorded_offset = excluded.recorded_offset",
        (guild_id, user_id, day, mood, to_timestamp(now) - day * _SECONDS_PER_DAY),
    )
    return replaced


def complete_checkin(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    day: int,
    craving: int,
    sober: bool,
    note: str | bytes | None,
) -> bool:
    """Fill in craving, sober and note of an existing check-in; ``False`` if that day has none."""
    cursor = conn.execute(
        "UPDATE checkins SET craving = ?, sober = ?, note = ? WHERE guild_id = ? AND user_id = ? AND day = ?",
        (craving, int(sober), note, guild_id, user_id, day),
    )
    return cursor.rowcount > 0


def has_checkin(conn: sqlite3.Connection, guild_id: int, user_id: int, day: int) -> bool:
    """Whether the member checked in on this local day."""
    return (
        conn.execute(
            "SELECT 1 FROM checkins WHERE guild_id = ? AND user_id = ? AND day = ?", (guild_id, user_id, day)
        ).fetchone()
        is not None
    )


def get_checkin(conn: sqlite3.Connection, guild_id: int, user_id: int, day: int) -> CheckinRow | None:
    """The member's check-in of one local day, if any."""
    row = conn.execute(
        _CHECKIN_SELECT + "WHERE guild_id = ? AND user_id = ? AND day = ?",
        (guild_id, user_id, day),
    ).fetchone()
    return None if row is None else _checkin(row)


def checkins_between(
    conn: sqlite3.Connection, guild_id: int, user_id: int, first_day: int, last_day: int
) -> list[CheckinRow]:
    """The member's check-ins from ``first_day`` to ``last_day`` inclusive, oldest first."""
    rows = conn.execute(
        _CHECKIN_SELECT + "WHERE guild_id = ? AND user_id = ? AND day BETWEEN ? AND ? ORDER BY day",
        (guild_id, user_id, first_day, last_day),
    ).fetchall()
    return [_checkin(row) for row in rows]


def history_rows(
    conn: sqlite3.Connection, guild_id: int, user_id: int, first_day: int, last_day: int
) -> list[tuple[int, int, int | None, bool | None, datetime]]:
    """``(day, mood, craving, sober, recorded_at)`` of the member's check-ins from ``first_day`` to
    ``last_day`` inclusive, oldest first: what a history shows and charts, never the note.

    Plain tuples (no ``sqlite3.Row``, no :class:`CheckinRow`): a history reads up to 90 of them."""
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(
        "SELECT day, mood, craving, sober, recorded_offset FROM checkins "
        "WHERE guild_id = ? AND user_id = ? AND day BETWEEN ? AND ? ORDER BY day",
        (guild_id, user_id, first_day, last_day),
    ).fetchall()
    return [
        (day, mood, craving, None if sober is None else bool(sober), from_timestamp(day * _SECONDS_PER_DAY + offset))
        for day, mood, craving, sober, offset in rows
    ]


def history_totals(
    conn: sqlite3.Connection, guild_id: int, user_id: int, first_day: int, last_day: int
) -> tuple[int, int, int, int, int]:
    """``(checkins, sum of moods, cravings told, sum of cravings, days not sober)`` of the member's
    check-ins from ``first_day`` to ``last_day`` inclusive: a history's numbers in one row, read
    without a row per day (the sums are whole numbers, so averages divide exactly as over the days)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    row = cursor.execute(
        "SELECT COUNT(*), COALESCE(SUM(mood), 0), COUNT(craving), COALESCE(SUM(craving), 0), "
        "COALESCE(SUM(sober = 0), 0) FROM checkins WHERE guild_id = ? AND user_id = ? AND day BETWEEN ? AND ?",
        (guild_id, user_id, first_day, last_day),
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])


_DAYS_OLDEST_FIRST = "SELECT day FROM checkins WHERE guild_id = ? AND user_id = ? ORDER BY day ASC"
_DAYS_NEWEST_FIRST = "SELECT day FROM checkins WHERE guild_id = ? AND user_id = ? ORDER BY day DESC"


def checkin_days(conn: sqlite3.Connection, guild_id: int, user_id: int, *, newest_first: bool = False) -> list[int]:
    """Every local day the member checked in, in order (to compute the streaks again, which is rare:
    they are stored, see :func:`get_streak`).

    Read as plain tuples (the connection's row factory makes a ``sqlite3.Row`` per day, a third of
    the cost for a year of days)."""
    query = _DAYS_NEWEST_FIRST if newest_first else _DAYS_OLDEST_FIRST
    cursor = conn.cursor()
    cursor.row_factory = None
    return [int(day) for (day,) in cursor.execute(query, (guild_id, user_id)).fetchall()]


# --------------------------------------------------------------------------- stored streaks (migration 0008)


@dataclass(frozen=True, slots=True)
class StreakRow:
    """A member's stored streaks: their latest run of consecutive check-in days and their longest run."""

    run_start: int
    """First day of the latest run."""
    run_end: int
    """Last day of the latest run: the member's latest check-in day."""
    longest: int
    """Days in the longest run ever."""


def get_streak(conn: sqlite3.Connection, guild_id: int, user_id: int) -> StreakRow | None:
    """The member's stored streaks in this server (``None``: no check-in stored)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    row = cursor.execute(
        "SELECT run_start, run_end, longest FROM checkin_streaks WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    return None if row is None else StreakRow(int(row[0]), int(row[1]), int(row[2]))


def set_streak(conn: sqlite3.Connection, guild_id: int, user_id: int, streak: StreakRow | None) -> None:
    """Store the member's streaks (``None``: they have no check-in, the row goes)."""
    if streak is None:
        conn.execute("DELETE FROM checkin_streaks WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        return
    conn.execute(
        "INSERT INTO checkin_streaks (guild_id, user_id, run_start, run_end, longest) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET run_start = excluded.run_start, "
        "run_end = excluded.run_end, longest = excluded.longest",
        (guild_id, user_id, streak.run_start, streak.run_end, streak.longest),
    )


# --------------------------------------------------------------------------- reminders


@dataclass(frozen=True, slots=True)
class ReminderRow:
    """A member's daily reminder in one server, with their timezone (``None`` = not set)."""

    guild_id: int
    user_id: int
    minute_of_day: int
    next_due_at: datetime | None
    last_day: int | None
    paused_reason: str | None
    notice_pending: bool
    timezone: str | None


_REMINDER_SELECT = (
    "SELECT r.guild_id, r.user_id, r.minute_of_day, r.next_due_at, r.last_day, r.paused_reason, "
    "r.notice_pending, m.timezone FROM checkin_reminders AS r "
    "LEFT JOIN checkin_members AS m ON m.guild_id = r.guild_id AND m.user_id = r.user_id "
)


def _reminder(row: sqlite3.Row) -> ReminderRow:
    return ReminderRow(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        minute_of_day=int(row[2]),
        next_due_at=None if row[3] is None else from_timestamp(int(row[3])),
        last_day=None if row[4] is None else int(row[4]),
        paused_reason=None if row[5] is None else str(row[5]),
        notice_pending=bool(row[6]),
        timezone=None if row[7] is None else str(row[7]),
    )


def get_reminder(conn: sqlite3.Connection, guild_id: int, user_id: int) -> ReminderRow | None:
    """The member's reminder in this server, if set."""
    row = conn.execute(_REMINDER_SELECT + "WHERE r.guild_id = ? AND r.user_id = ?", (guild_id, user_id)).fetchone()
    return None if row is None else _reminder(row)


def upsert_reminder(
    conn: sqlite3.Connection, guild_id: int, user_id: int, minute_of_day: int, next_due_at: datetime, now: datetime
) -> None:
    """Set (or change) the reminder's time and next instant; un-pauses it and drops any notice.

    ``last_day`` is kept, so changing the time never gives a second reminder the same day.
    """
    conn.execute(
        "INSERT INTO checkin_reminders (guild_id, user_id, minute_of_day, next_due_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
        "minute_of_day = excluded.minute_of_day, next_due_at = excluded.next_due_at, paused_reason = NULL, "
        "notice_pending = 0, updated_at = excluded.updated_at",
        (guild_id, user_id, minute_of_day, to_timestamp(next_due_at), to_timestamp(now)),
    )


def set_reminder_schedule(conn: sqlite3.Connection, guild_id: int, user_id: int, next_due_at: datetime) -> None:
    """Move an active reminder's next instant (after a timezone change); paused ones stay paused."""
    conn.execute(
        "UPDATE checkin_reminders SET next_due_at = ? WHERE guild_id = ? AND user_id = ? AND paused_reason IS NULL",
        (to_timestamp(next_due_at), guild_id, user_id),
    )


def delete_reminder(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    """Remove the member's reminder; ``True`` if there was one."""
    cursor = conn.execute("DELETE FROM checkin_reminders WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return cursor.rowcount > 0


def next_reminder_due_at(conn: sqlite3.Connection) -> datetime | None:
    """The earliest instant any active reminder is due (through the partial index)."""
    row = conn.execute(
        "SELECT next_due_at FROM checkin_reminders WHERE next_due_at IS NOT NULL ORDER BY next_due_at LIMIT 1"
    ).fetchone()
    return None if row is None else from_timestamp(int(row[0]))


def due_reminders(conn: sqlite3.Connection, now: datetime, limit: int) -> list[ReminderRow]:
    """Active reminders due at ``now`` or before, earliest first, at most ``limit``."""
    rows = conn.execute(
        _REMINDER_SELECT + "WHERE r.next_due_at IS NOT NULL AND r.next_due_at <= ? "
        "ORDER BY r.next_due_at, r.guild_id, r.user_id LIMIT ?",
        (to_timestamp(now), limit),
    ).fetchall()
    return [_reminder(row) for row in rows]


def advance_reminder(
    conn: sqlite3.Connection, guild_id: int, user_id: int, next_due_at: datetime, handled_day: int
) -> None:
    """After handling the reminder of ``handled_day`` (sent or skipped), schedule the next one."""
    conn.execute(
        "UPDATE checkin_reminders SET next_due_at = ?, last_day = ? WHERE guild_id = ? AND user_id = ?",
        (to_timestamp(next_due_at), handled_day, guild_id, user_id),
    )


def release_reminder(
    conn: sqlite3.Connection, guild_id: int, user_id: int, handled_day: int, next_due_at: datetime
) -> bool:
    """Undo the claim of ``handled_day``'s reminder (its send failed): due again at ``next_due_at``.
    ``False`` if the reminder changed since (paused, removed, or another day handled)."""
    cursor = conn.execute(
        "UPDATE checkin_reminders SET next_due_at = ?, last_day = ? "
        "WHERE guild_id = ? AND user_id = ? AND last_day = ? AND next_due_at IS NOT NULL",
        (to_timestamp(next_due_at), handled_day - 1, guild_id, user_id, handled_day),
    )
    return cursor.rowcount > 0


def pause_reminder(conn: sqlite3.Connection, guild_id: int, user_id: int, reason: str, now: datetime) -> bool:
    """Pause the reminder with a reason to tell the member; ``True`` if there was one to pause."""
    cursor = conn.execute(
        "UPDATE checkin_reminders SET next_due_at = NULL, paused_reason = ?, notice_pending = 1, updated_at = ? "
        "WHERE guild_id = ? AND user_id = ?",
        (reason, to_timestamp(now), guild_id, user_id),
    )
    return cursor.rowcount > 0


def take_reminder_notice(conn: sqlite3.Connection, guild_id: int, user_id: int) -> str | None:
    """The pause reason not yet told to the member, marking it told; ``None`` if there is none."""
    row = conn.execute(
        "SELECT paused_reason FROM checkin_reminders WHERE guild_id = ? AND user_id = ? AND notice_pending = 1",
        (guild_id, user_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE checkin_reminders SET notice_pending = 0 WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return None if row[0] is None else str(row[0])


# --------------------------------------------------------------------------- sobriety


@dataclass(frozen=True, slots=True)
class SobrietyRow:
    """A member's sobriety date in one server, the next milestone to celebrate, and their timezone."""

    guild_id: int
    user_id: int
    since_day: int
    announce: bool
    next_milestone: int
    next_milestone_day: int
    updated_at: datetime
    timezone: str | None


_SOBRIETY_SELECT = (
    "SELECT s.guild_id, s.user_id, s.since_day, s.announce, s.next_milestone, s.next_milestone_day, "
    "s.updated_at, m.timezone FROM sobriety AS s "
    "LEFT JOIN checkin_members AS m ON m.guild_id = s.guild_id AND m.user_id = s.user_id "
)


def _sobriety(row: sqlite3.Row) -> SobrietyRow:
    return SobrietyRow(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        since_day=int(row[2]),
        announce=bool(row[3]),
        next_milestone=int(row[4]),
        next_milestone_day=int(row[5]),
        updated_at=from_timestamp(int(row[6])),
        timezone=None if row[7] is None else str(row[7]),
    )


def get_sobriety(conn: sqlite3.Connection, guild_id: int, user_id: int) -> SobrietyRow | None:
    """The member's sobriety date in this server, if set."""
    row = conn.execute(_SOBRIETY_SELECT + "WHERE s.guild_id = ? AND s.user_id = ?", (guild_id, user_id)).fetchone()
    return None if row is None else _sobriety(row)


def set_sobriety(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    *,
    since_day: int,
    announce: bool,
    next_milestone: int,
    now: datetime,
) -> None:
    """Set the member's sobriety date and the next milestone to celebrate."""
    conn.execute(
        "INSERT INTO sobriety (guild_id, user_id, since_day, announce, next_milestone, next_milestone_day, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET since_day = excluded.since_day, "
        "announce = excluded.announce, next_milestone = excluded.next_milestone, "
        "next_milestone_day = excluded.next_milestone_day, updated_at = excluded.updated_at",
        (guild_id, user_id, since_day, int(announce), next_milestone, since_day + next_milestone, to_timestamp(now)),
    )


def advance_milestone(conn: sqlite3.Connection, guild_id: int, user_id: int, next_milestone: int) -> None:
    """Make ``next_milestone`` (days since the sobriety date) the next one to celebrate."""
    conn.execute(
        "UPDATE sobriety SET next_milestone = ?, next_milestone_day = since_day + ? WHERE guild_id = ? AND user_id = ?",
        (next_milestone, next_milestone, guild_id, user_id),
    )


def delete_sobriety(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    """Remove the member's sobriety date and its celebrations; ``True`` if there was one."""
    cursor = conn.execute("DELETE FROM sobriety WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    delete_celebrations(conn, guild_id, user_id)
    return cursor.rowcount > 0


def sobriety_candidates(conn: sqlite3.Connection, max_day: int) -> list[SobrietyRow]:
    """Sobriety dates whose next milestone falls on ``max_day`` or before (through the index)."""
    rows = conn.execute(
        _SOBRIETY_SELECT + "WHERE s.next_milestone_day <= ? ORDER BY s.next_milestone_day, s.guild_id, s.user_id",
        (max_day,),
    ).fetchall()
    return [_sobriety(row) for row in rows]


def insert_celebration(
    conn: sqlite3.Connection, guild_id: int, user_id: int, since_day: int, milestone: int, now: datetime
) -> bool:
    """Record a milestone as celebrated; ``False`` if it already was."""
    cursor = conn.execute(
        "INSERT INTO sobriety_milestones (guild_id, user_id, since_day, milestone, celebrated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, user_id, since_day, milestone, to_timestamp(now)),
    )
    return cursor.rowcount > 0


def delete_celebration(conn: sqlite3.Connection, guild_id: int, user_id: int, since_day: int, milestone: int) -> bool:
    """Forget that a milestone was celebrated (its message could not be sent)."""
    cursor = conn.execute(
        "DELETE FROM sobriety_milestones WHERE guild_id = ? AND user_id = ? AND since_day = ? AND milestone = ?",
        (guild_id, user_id, since_day, milestone),
    )
    return cursor.rowcount > 0


def delete_celebrations(
    conn: sqlite3.Connection, guild_id: int, user_id: int, *, keep_since_day: int | None = None
) -> None:
    """Forget the member's celebrated milestones (except those of ``keep_since_day``)."""
    conn.execute(
        "DELETE FROM sobriety_milestones WHERE guild_id = ? AND user_id = ? AND since_day IS NOT ?",
        (guild_id, user_id, keep_since_day),
    )


def celebrated_milestones(conn: sqlite3.Connection, guild_id: int, user_id: int, since_day: int) -> list[int]:
    """The milestones (days) celebrated for this sobriety date, smallest first."""
    rows = conn.execute(
        "SELECT milestone FROM sobriety_milestones WHERE guild_id = ? AND user_id = ? AND since_day = ? "
        "ORDER BY milestone",
        (guild_id, user_id, since_day),
    ).fetchall()
    return [int(row[0]) for row in rows]


# --------------------------------------------------------------------------- a member's data (privacy)


@dataclass(frozen=True, slots=True)
class MilestoneRow:
    """A milestone celebrated (``milestone`` days after the sobriety date ``since_day``)."""

    since_day: int
    milestone: int
    celebrated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberData:
    """Everything of this module's tables about one member in one server (``/privacy export``)."""

    member: MemberRow | None
    checkins: list[CheckinRow]
    reminder: ReminderRow | None
    sobriety: SobrietyRow | None
    milestones: list[MilestoneRow]
    streak: StreakRow | None = None
    """Kept from the check-ins (present exactly when there are some)."""

    @property
    def empty(self) -> bool:
        """Nothing is stored."""
        return (
            self.member is None
            and not self.checkins
            and self.reminder is None
            and self.sobriety is None
            and not self.milestones
        )


def member_data(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberData:
    """The member's check-ins (oldest first, notes in their stored form), stored streaks, timezone,
    reminder, sobriety date and celebrated milestones in this server; every query goes through a primary key."""
    rows = conn.execute(
        _CHECKIN_SELECT + "WHERE guild_id = ? AND user_id = ? ORDER BY day", (guild_id, user_id)
    ).fetchall()
    milestones = conn.execute(
        "SELECT since_day, milestone, celebrated_at FROM sobriety_milestones WHERE guild_id = ? AND user_id = ? "
        "ORDER BY since_day, milestone",
        (guild_id, user_id),
    ).fetchall()
    return MemberData(
        member=get_member(conn, guild_id, user_id),
        checkins=[_checkin(row) for row in rows],
        reminder=get_reminder(conn, guild_id, user_id),
        sobriety=get_sobriety(conn, guild_id, user_id),
        milestones=[MilestoneRow(int(r[0]), int(r[1]), from_timestamp(int(r[2]))) for r in milestones],
        streak=get_streak(conn, guild_id, user_id),
    )


_MEMBER_TABLES = (
    "checkins",
    "checkin_streaks",
    "checkin_reminders",
    "sobriety",
    "sobriety_milestones",
    "checkin_members",
)


def delete_member_data(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Erase everything of this module's tables about the member in this server; returns the rows erased."""
    erased = 0
    for table in _MEMBER_TABLES:
        cursor = conn.execute(
            f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ?",  # noqa: S608 (constant table names)
            (guild_id, user_id),
        )
        erased += cursor.rowcount
    return erased


def erase_notes_before(conn: sqlite3.Connection, guild_id: int, before_day: int) -> int:
    """Erase the notes of the server's check-ins of local days before ``before_day``, keeping mood,
    craving and sober (through the partial index of noted rows); returns how many notes were erased."""
    cursor = conn.execute(
        "UPDATE checkins SET note = NULL WHERE guild_id = ? AND day < ? AND note IS NOT NULL",
        (guild_id, before_day),
    )
    return cursor.rowcount

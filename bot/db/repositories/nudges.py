"""SQL for isolation nudges and members' activity (migration 0004).

Plain functions of a ``sqlite3.Connection``, run inside a service's unit of work. Every query is
parameterised and names the server. Instants are aware UTC datetimes, stored as Unix seconds.
Only *that* a member was active is ever stored, never what they did or wrote.

:func:`participation` is the one query that reads other features' tables (check-ins, sobriety,
buddy pairs; never a note, mood or craving): the sweep asks it for a whole batch of due members
at once, which one function per table could not do in one statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "OPT_VALUES",
    "OUTCOMES",
    "SCAN_UNSCHEDULED_FROM",
    "MemberData",
    "MemberRow",
    "Participation",
    "StepRow",
    "apply_activity",
    "claim_step",
    "count_quiet_members",
    "delete_member_data",
    "due_members",
    "due_with_participation",
    "earliest_check",
    "ensure_watching",
    "finish_step",
    "get_member",
    "mark_absent",
    "member_data",
    "participation",
    "prune_steps",
    "pull_checks_forward",
    "quiet_members",
    "rearm_guild",
    "schedule",
    "schedule_many",
    "set_opt",
    "set_pause",
    "spell_steps",
    "stale_pending_steps",
    "take_over_step",
    "update_ladder",
]

OPT_VALUES = ("auto", "on", "off")
OUTCOMES = ("pending", "sent", "dm_closed", "no_buddy", "no_channel", "gone", "failed", "unknown", "dropped")


def _ts(moment: datetime | None) -> int | None:
    return None if moment is None else to_timestamp(moment)


def _dt(seconds: Any) -> datetime | None:
    return None if seconds is None else from_timestamp(int(seconds))


# --------------------------------------------------------------------------- servers


def ensure_watching(conn: sqlite3.Connection, guild_id: int, now: datetime) -> datetime:
    """Since when the bot watches this server for activity (``now`` the first time it is asked)."""
    conn.execute(
        "INSERT INTO nudge_guilds (guild_id, watching_since) VALUES (?, ?) ON CONFLICT (guild_id) DO NOTHING",
        (guild_id, to_timestamp(now)),
    )
    row = conn.execute("SELECT watching_since FROM nudge_guilds WHERE guild_id = ?", (guild_id,)).fetchone()
    return from_timestamp(int(row[0]))


# --------------------------------------------------------------------------- members


@dataclass(slots=True)
class MemberRow:
    """What is stored of one member's activity and nudges in one server (read only).

    Instants are kept in storage form and turned into datetimes only when asked for: the sweep
    reads many rows and compares most of them as numbers.
    """

    guild_id: int
    user_id: int
    spell: int
    """The latest activity seen (Unix seconds): also the identity of the current quiet spell."""
    step: int
    hurry: bool
    next_check: int | None
    opt: str
    paused: int | None
    participant: bool | None
    present: bool
    updated: int

    @property
    def last_active_at(self) -> datetime:
        """The latest activity seen: the start of the current quiet spell."""
        return from_timestamp(self.spell)

    @property
    def next_check_at(self) -> datetime | None:
        """When the sweep looks at the member next (``None``: not until something happens)."""
        return _dt(self.next_check)

    @property
    def paused_until(self) -> datetime | None:
        """The end of the member's pause, if any."""
        return _dt(self.paused)

    @property
    def updated_at(self) -> datetime:
        """The row's last change."""
        return from_timestamp(self.updated)


_MEMBER_SELECT = (
    "SELECT guild_id, user_id, last_active_at, step, hurry, next_check_at, opt, paused_until, participant, "
    "present, updated_at FROM nudge_members "
)


def _member(row: Sequence[Any]) -> MemberRow:
    participant = row[8]
    return MemberRow(
        row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7],
        None if participant is None else bool(participant), bool(row[9]), row[10],
    )  # fmt: skip


def get_member(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberRow | None:
    """The member's row in this server, if the bot has seen them."""
    row = conn.execute(_MEMBER_SELECT + "WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)).fetchone()
    return None if row is None else _member(row)


SCAN_UNSCHEDULED_FROM = 20_000
"""From this many entries on, :func:`apply_activity` finds the members left without a check by one
pass over the server's rows instead of touching the check of every entry (see there)."""

_ACTIVITY_UPSERT = (
    "INSERT INTO nudge_members (guild_id, user_id, last_active_at, next_check_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
    "last_active_at = excluded.last_active_at, step = 0, hurry = 0, present = 1, "
    "next_check_at = CASE WHEN opt = 'off' THEN NULL ELSE coalesce(next_check_at, excluded.next_check_at) END, "
    "updated_at = excluded.updated_at "
    "WHERE excluded.last_active_at > nudge_members.last_active_at"
)
# The same without the next check in its SET: SQLite then leaves the due index alone (measured: a
# third of the upsert of 100,000 members); :data:`_SCHEDULE_UNSCHEDULED` does the rest at once.
_ACTIVITY_UPSERT_KEEP_CHECK = (
    "INSERT INTO nudge_members (guild_id, user_id, last_active_at, next_check_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
    "last_active_at = excluded.last_active_at, step = 0, hurry = 0, present = 1, "
    "updated_at = excluded.updated_at "
    "WHERE excluded.last_active_at > nudge_members.last_active_at"
)
_SCHEDULE_UNSCHEDULED = (
    "UPDATE nudge_members SET next_check_at = last_active_at + ? "
    "WHERE guild_id = ? AND next_check_at IS NULL AND present = 1 AND opt <> 'off' AND step = 0"
)


def apply_activity(
    conn: sqlite3.Connection,
    guild_id: int,
    entries: Iterable[tuple[int, int]],
    quiet_seconds: int | None,
    now: datetime,
    *,
    scan_from: int = SCAN_UNSCHEDULED_FROM,
) -> None:
    """Record activity: ``(user_id, unix seconds)`` pairs, at most one per member.

    Only a time later than the stored one counts: it ends the quiet spell (a new one starts with
    no step taken). The member's next check stays where it is: it means "look at this member no
    earlier than", and the sweep, finding the new spell, puts it back to that spell's first step.
    A member with no check (new, back after leaving, or at the end of a ladder) gets one at the
    end of the first quiet period, ``quiet_seconds`` after the activity (``None``: nudges are off
    in this server, no check); a member who asked for no nudges never gets one.

    Two ways to the same rows: up to ``scan_from`` entries, one statement per entry that also
    sets a missing check; from there on (a flush of a large server, a start-up's seeding), the
    statement leaves the check alone and one pass over the server's rows then gives a check to
    every present member who has none, has not opted out and has no step taken in their spell:
    after the activity, exactly those this batch started a spell for (the sweep leaves no other
    such member in a server with nudges on).
    """
    stamp = to_timestamp(now)
    entries = entries if isinstance(entries, Sequence) else list(entries)
    # The rows as a generator: each is bound and freed at once (a list of 100,000 would be 100,000
    # more objects for the garbage collector to look at, on the database thread, inside the write).
    rows = (
        (guild_id, user_id, at, None if quiet_seconds is None else at + quiet_seconds, stamp) for user_id, at in entries
    )
    if quiet_seconds is None or len(entries) < scan_from:
        conn.executemany(_ACTIVITY_UPSERT, rows)
        return
    conn.executemany(_ACTIVITY_UPSERT_KEEP_CHECK, rows)
    conn.execute(_SCHEDULE_UNSCHEDULED, (quiet_seconds, guild_id))


def mark_absent(conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int], now: datetime) -> None:
    """The members left the server: nothing more is checked until they come back (their join is activity)."""
    stamp = to_timestamp(now)
    conn.executemany(
        "UPDATE nudge_members SET present = 0, next_check_at = NULL, updated_at = ? WHERE guild_id = ? AND user_id = ?",
        [(stamp, guild_id, user_id) for user_id in user_ids],
    )


def due_members(conn: sqlite3.Connection, now: datetime, limit: int) -> list[MemberRow]:
    """The members whose next check is due at ``now`` or before, earliest first (through the index)."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: the sweep reads many rows
    rows = cursor.execute(
        _MEMBER_SELECT + "WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
        (to_timestamp(now), limit),
    ).fetchall()
    return [_member(row) for row in rows]


def earliest_check(conn: sqlite3.Connection) -> datetime | None:
    """The earliest next check of any member (through the index)."""
    row = conn.execute(
        "SELECT next_check_at FROM nudge_members WHERE next_check_at IS NOT NULL ORDER BY next_check_at LIMIT 1"
    ).fetchone()
    return None if row is None else from_timestamp(int(row[0]))


def schedule(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    next_check_at: datetime | None,
    *,
    participant: bool | None = None,
) -> None:
    """Set when the member is checked next (``None``: not until something happens); optionally
    record whether they participate."""
    if participant is None:
        conn.execute(
            "UPDATE nudge_members SET next_check_at = ? WHERE guild_id = ? AND user_id = ?",
            (_ts(next_check_at), guild_id, user_id),
        )
    else:
        conn.execute(
            "UPDATE nudge_members SET next_check_at = ?, participant = ? WHERE guild_id = ? AND user_id = ?",
            (_ts(next_check_at), int(participant), guild_id, user_id),
        )


def update_ladder(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    spell: int,
    *,
    step: int,
    hurry: bool,
    next_check_at: datetime | None,
) -> bool:
    """Move the member's ladder in the spell ``spell``; ``False`` if that spell has ended meanwhile."""
    cursor = conn.execute(
        "UPDATE nudge_members SET step = ?, hurry = ?, next_check_at = ?, participant = 1 "
        "WHERE guild_id = ? AND user_id = ? AND last_active_at = ?",
        (step, int(hurry), _ts(next_check_at), guild_id, user_id, spell),
    )
    return cursor.rowcount > 0


def set_opt(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    opt: str,
    now: datetime,
    next_check_at: datetime | None,
) -> None:
    """Record the member's choice ('auto', 'on', 'off'); it also lifts any pause. Using the command
    is activity, so a member the bot had not seen gets a row starting now."""
    if opt not in OPT_VALUES:
        raise ValueError(f"unknown nudge choice {opt!r}")
    stamp = to_timestamp(now)
    conn.execute(
        "INSERT INTO nudge_members (guild_id, user_id, last_active_at, next_check_at, opt, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET opt = excluded.opt, "
        "paused_until = NULL, next_check_at = excluded.next_check_at, present = 1, updated_at = excluded.updated_at",
        (guild_id, user_id, stamp, _ts(next_check_at), opt, stamp),
    )


def set_pause(conn: sqlite3.Connection, guild_id: int, user_id: int, until: datetime, now: datetime) -> None:
    """Pause the member's nudges until ``until`` (their first check is then)."""
    stamp = to_timestamp(now)
    conn.execute(
        "INSERT INTO nudge_members (guild_id, user_id, last_active_at, next_check_at, paused_until, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
        "paused_until = excluded.paused_until, "
        "next_check_at = CASE WHEN opt = 'off' THEN NULL ELSE excluded.next_check_at END, "
        "present = 1, updated_at = excluded.updated_at",
        (guild_id, user_id, stamp, to_timestamp(until), to_timestamp(until), stamp),
    )


def rearm_guild(conn: sqlite3.Connection, guild_id: int, first_check_seconds: int) -> int:
    """Nudges were turned on in this server: give every member without a next check (and not opted
    out, present, ladder not finished) one at the end of their first quiet period. Returns how many."""
    cursor = conn.execute(
        "UPDATE nudge_members SET next_check_at = last_active_at + ? "
        "WHERE guild_id = ? AND next_check_at IS NULL AND present = 1 AND opt <> 'off' AND step < 3",
        (first_check_seconds, guild_id),
    )
    return cursor.rowcount


def pull_checks_forward(
    conn: sqlite3.Connection, guild_id: int, quiet_seconds: int, buddy_seconds: int, moderator_seconds: int
) -> int:
    """The ladder's days changed: bring every scheduled check forward to the day of its next step
    under the new settings, if that is earlier (a later one is found and put back by the sweep)."""
    cursor = conn.execute(
        "UPDATE nudge_members SET next_check_at = min(next_check_at, last_active_at + "
        "CASE step WHEN 0 THEN ? WHEN 1 THEN ? ELSE ? END) "
        "WHERE guild_id = ? AND next_check_at IS NOT NULL",
        (quiet_seconds, buddy_seconds, moderator_seconds, guild_id),
    )
    return cursor.rowcount


def quiet_members(
    conn: sqlite3.Connection, guild_id: int, quiet_since: datetime, limit: int, offset: int = 0
) -> list[MemberRow]:
    """Participating members present and not opted out whose last activity is at ``quiet_since`` or
    before, the quietest first, paged (through the partial index)."""
    rows = conn.execute(
        _MEMBER_SELECT + "WHERE guild_id = ? AND last_active_at <= ? AND participant = 1 AND present = 1 "
        "AND opt <> 'off' ORDER BY last_active_at, user_id LIMIT ? OFFSET ?",
        (guild_id, to_timestamp(quiet_since), limit, offset),
    ).fetchall()
    return [_member(row) for row in rows]


def count_quiet_members(conn: sqlite3.Connection, guild_id: int, quiet_since: datetime) -> int:
    """How many members :func:`quiet_members` lists in all."""
    row = conn.execute(
        "SELECT count(*) FROM nudge_members WHERE guild_id = ? AND last_active_at <= ? AND participant = 1 "
        "AND present = 1 AND opt <> 'off'",
        (guild_id, to_timestamp(quiet_since)),
    ).fetchone()
    return int(row[0])


_SCHEDULE_KEEP_ONE = "UPDATE nudge_members SET next_check_at = ? WHERE guild_id = ? AND user_id = ?"
_SCHEDULE_SET_ONE = "UPDATE nudge_members SET next_check_at = ?, participant = ? WHERE guild_id = ? AND user_id = ?"
_SCHEDULE_KEEP_MANY = (
    "UPDATE nudge_members SET next_check_at = ? WHERE guild_id = ? AND user_id IN (SELECT value FROM json_each(?))"
)
_SCHEDULE_SET_MANY = (
    "UPDATE nudge_members SET next_check_at = ?, participant = ? "
    "WHERE guild_id = ? AND user_id IN (SELECT value FROM json_each(?))"
)


def schedule_many(conn: sqlite3.Connection, changes: Sequence[tuple[int | None, bool | None, int, int]]) -> None:
    """:func:`schedule` for many members at once: ``(next check in Unix seconds, participant or None
    to leave it as it is, guild_id, user_id)``. (Leaving the flag out of the statement spares the
    quiet members' index the rewrite.)

    Members given the same check and flag in the same server are written by one statement (their ids
    as one JSON array): a sweep gives most of its due members the same next check, and one statement
    for all of them spares the per-row round of binding, stepping and resetting of ``executemany``
    (bench sweep case). The others are written one row each."""
    groups: dict[tuple[int | None, bool | None, int], list[int]] = {}
    for at, flag, guild_id, user_id in changes:
        groups.setdefault((at, flag, guild_id), []).append(user_id)
    keep: list[tuple[int | None, int, int]] = []
    change: list[tuple[int | None, int, int, int]] = []
    for (at, flag, guild_id), users in groups.items():
        if len(users) > 1:
            if flag is None:
                conn.execute(_SCHEDULE_KEEP_MANY, (at, guild_id, json.dumps(users)))
            else:
                conn.execute(_SCHEDULE_SET_MANY, (at, int(flag), guild_id, json.dumps(users)))
        elif flag is None:
            keep.append((at, guild_id, users[0]))
        else:
            change.append((at, int(flag), guild_id, users[0]))
    if keep:
        conn.executemany(_SCHEDULE_KEEP_ONE, keep)
    if change:
        conn.executemany(_SCHEDULE_SET_ONE, change)


# --------------------------------------------------------------------------- participation


@dataclass(frozen=True, slots=True)
class Participation:
    """What makes a member a participant, read from the other features' tables (read only)."""

    buddy: bool
    """They are in an active buddy pairing, either side."""
    latest_checkin: datetime | None
    """When their latest check-in since the cut-off was recorded (``None``: none since)."""
    sobriety: bool
    """They set a sobriety date."""


_NOT_PARTICIPATING = Participation(buddy=False, latest_checkin=None, sobriety=False)
"""The answer for most members of a large server: one object, not one each."""

# The facts of a member ``k`` (its guild_id and user_id), in both statements below (written out
# whole, the same text): a buddy either way, the latest check-in's time since the cut-off (bound:
# ?1 its epoch day less one, ?2 its Unix seconds), a sobriety date. The check-ins are looked at
# only for a member whose stored streaks (migration 0008: run_end is their latest check-in day,
# kept with every change of their check-ins in the same transaction) reach the cut-off: most due
# members never checked in, and a key lookup in that small table costs a third of one in the
# years of check-ins (the sweep's read of 1,000 due members in the server of 100,000: 2-3 ms less).
_PARTICIPATION = (
    "SELECT k.guild_id, k.user_id, "
    "EXISTS (SELECT 1 FROM buddy_pairs p WHERE p.guild_id = k.guild_id AND p.member_id = k.user_id "
    "AND p.status = 'active') "
    "OR EXISTS (SELECT 1 FROM buddy_pairs p WHERE p.guild_id = k.guild_id AND p.buddy_id = k.user_id "
    "AND p.status = 'active'), "
    "CASE WHEN EXISTS (SELECT 1 FROM checkin_streaks t WHERE t.guild_id = k.guild_id AND t.user_id = k.user_id "
    "AND t.run_end >= ?1) THEN (SELECT max(c.day * 86400 + c.recorded_offset) FROM checkins c "
    "WHERE c.guild_id = k.guild_id AND c.user_id = k.user_id AND c.day >= ?1 "
    "AND c.day * 86400 + c.recorded_offset >= ?2) END, "
    "EXISTS (SELECT 1 FROM sobriety s WHERE s.guild_id = k.guild_id AND s.user_id = k.user_id) "
    "FROM (SELECT ?3 AS guild_id, value AS user_id FROM json_each(?4)) AS k"
)
_DUE_WITH_FACTS = (
    "SELECT k.guild_id, k.user_id, k.last_active_at, k.step, k.hurry, k.next_check_at, k.opt, k.paused_until, "
    "k.participant, k.present, k.updated_at, "
    "EXISTS (SELECT 1 FROM buddy_pairs p WHERE p.guild_id = k.guild_id AND p.member_id = k.user_id "
    "AND p.status = 'active') "
    "OR EXISTS (SELECT 1 FROM buddy_pairs p WHERE p.guild_id = k.guild_id AND p.buddy_id = k.user_id "
    "AND p.status = 'active'), "
    "CASE WHEN EXISTS (SELECT 1 FROM checkin_streaks t WHERE t.guild_id = k.guild_id AND t.user_id = k.user_id "
    "AND t.run_end >= ?1) THEN (SELECT max(c.day * 86400 + c.recorded_offset) FROM checkins c "
    "WHERE c.guild_id = k.guild_id AND c.user_id = k.user_id AND c.day >= ?1 "
    "AND c.day * 86400 + c.recorded_offset >= ?2) END, "
    "EXISTS (SELECT 1 FROM sobriety s WHERE s.guild_id = k.guild_id AND s.user_id = k.user_id) "
    "FROM nudge_members AS k "
    "WHERE k.next_check_at IS NOT NULL AND k.next_check_at <= ?3 ORDER BY k.next_check_at LIMIT ?4"
)


def _facts(buddy: Any, latest: Any, sober: Any) -> Participation:
    if not buddy and latest is None and not sober:
        return _NOT_PARTICIPATING
    return Participation(buddy=bool(buddy), latest_checkin=_dt(latest), sobriety=bool(sober))


def due_with_participation(
    conn: sqlite3.Connection, now: datetime, limit: int, checkins_since: datetime
) -> list[tuple[MemberRow, Participation]]:
    """:func:`due_members` with each one's :func:`participation`, in one statement (the sweep's read:
    the facts looked up while the due index is walked, no list of members sent back)."""
    since = to_timestamp(checkins_since)
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(_DUE_WITH_FACTS, (since // 86_400 - 1, since, to_timestamp(now), limit)).fetchall()
    return [(_member(row), _facts(row[11], row[12], row[13])) for row in rows]


def participation(
    conn: sqlite3.Connection, members: Iterable[tuple[int, int]], checkins_since: datetime
) -> dict[tuple[int, int], Participation]:
    """For each ``(guild_id, user_id)``: whether they have an active buddy, a check-in recorded since
    ``checkins_since`` (its time), a sobriety date. One statement per server (the members of a
    sweep's batch are nearly always of one), each part a primary-key or index lookup.

    The user ids travel as one flat JSON array and the server as a bound value: unpacking a
    ``[guild, user]`` pair per member in SQL cost a third of the statement (bench sweep case)."""
    by_guild: dict[int, list[int]] = {}
    for g, u in members:
        by_guild.setdefault(int(g), []).append(int(u))
    since = to_timestamp(checkins_since)
    found: dict[tuple[int, int], Participation] = {}
    cursor = conn.cursor()
    cursor.row_factory = None
    for guild_id, users in by_guild.items():
        rows = cursor.execute(_PARTICIPATION, (since // 86_400 - 1, since, guild_id, json.dumps(users))).fetchall()
        for g, u, buddy, latest, sober in rows:
            found[(g, u)] = _facts(buddy, latest, sober)
    return found


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class StepRow:
    """One step of one quiet spell: claimed, then carried out (or found impossible)."""

    guild_id: int
    user_id: int
    spell: int
    step: int
    target_id: int | None
    requested: bool
    outcome: str
    run_id: str
    claimed_at: datetime
    done_at: datetime | None


_STEP_SELECT = (
    "SELECT guild_id, user_id, spell, step, target_id, requested, outcome, run_id, claimed_at, done_at "
    "FROM nudge_steps "
)


def _step(row: Sequence[Any]) -> StepRow:
    return StepRow(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        spell=int(row[2]),
        step=int(row[3]),
        target_id=None if row[4] is None else int(row[4]),
        requested=bool(row[5]),
        outcome=str(row[6]),
        run_id=str(row[7]),
        claimed_at=from_timestamp(int(row[8])),
        done_at=_dt(row[9]),
    )


def claim_step(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    spell: int,
    step: int,
    *,
    target_id: int | None,
    run_id: str,
    now: datetime,
    outcome: str = "pending",
    requested: bool = False,
) -> bool:
    """Claim a step of a spell (``outcome`` 'pending': to be carried out now; any other: decided
    already, e.g. 'no_buddy'). ``False`` if this step of this spell was claimed before, unless Discord
    refused that attempt ('failed'): such a step is claimed again (keeping its first ``claimed_at``)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    stamp = to_timestamp(now)
    cursor = conn.execute(
        "INSERT INTO nudge_steps (guild_id, user_id, spell, step, target_id, requested, outcome, run_id, claimed_at, "
        "done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id, spell, step) DO UPDATE SET target_id = excluded.target_id, "
        "requested = excluded.requested, outcome = excluded.outcome, run_id = excluded.run_id, "
        "done_at = excluded.done_at WHERE nudge_steps.outcome = 'failed'",
        (
            guild_id,
            user_id,
            spell,
            step,
            target_id,
            int(requested),
            outcome,
            run_id,
            stamp,
            None if outcome == "pending" else stamp,
        ),
    )
    return cursor.rowcount > 0


def finish_step(
    conn: sqlite3.Connection, guild_id: int, user_id: int, spell: int, step: int, outcome: str, now: datetime
) -> bool:
    """Record how a pending step went; ``False`` if it was not pending (already recorded)."""
    if outcome not in OUTCOMES or outcome == "pending":
        raise ValueError(f"not a final outcome: {outcome!r}")
    cursor = conn.execute(
        "UPDATE nudge_steps SET outcome = ?, done_at = ? "
        "WHERE guild_id = ? AND user_id = ? AND spell = ? AND step = ? AND outcome = 'pending'",
        (outcome, to_timestamp(now), guild_id, user_id, spell, step),
    )
    return cursor.rowcount > 0


def spell_steps(conn: sqlite3.Connection, guild_id: int, user_id: int, spell: int) -> list[StepRow]:
    """The steps claimed in one quiet spell, in ladder order."""
    rows = conn.execute(
        _STEP_SELECT + "WHERE guild_id = ? AND user_id = ? AND spell = ? ORDER BY step",
        (guild_id, user_id, spell),
    ).fetchall()
    return [_step(row) for row in rows]


def stale_pending_steps(conn: sqlite3.Connection, run_id: str, limit: int) -> list[StepRow]:
    """Steps claimed by an earlier run and never recorded as done (through the partial index)."""
    rows = conn.execute(
        _STEP_SELECT + "WHERE outcome = 'pending' AND run_id <> ? ORDER BY claimed_at LIMIT ?",
        (run_id, limit),
    ).fetchall()
    return [_step(row) for row in rows]


def take_over_step(
    conn: sqlite3.Connection, guild_id: int, user_id: int, spell: int, step: int, old_run: str, new_run: str
) -> bool:
    """Make an earlier run's pending step this run's; ``False`` if someone else already did."""
    cursor = conn.execute(
        "UPDATE nudge_steps SET run_id = ? WHERE guild_id = ? AND user_id = ? AND spell = ? AND step = ? "
        "AND run_id = ? AND outcome = 'pending'",
        (new_run, guild_id, user_id, spell, step, old_run),
    )
    return cursor.rowcount > 0


def prune_steps(conn: sqlite3.Connection, before: datetime) -> int:
    """Forget steps claimed before ``before`` (their spells are long over); returns how many."""
    cursor = conn.execute(
        "DELETE FROM nudge_steps WHERE claimed_at < ? AND outcome <> 'pending'", (to_timestamp(before),)
    )
    return cursor.rowcount


# --------------------------------------------------------------------------- a member's data (privacy)


@dataclass(frozen=True, slots=True)
class MemberData:
    """Everything of the nudge tables about one member in one server (``/privacy export``)."""

    member: MemberRow | None
    steps: list[StepRow]
    """The steps of their quiet spells, oldest first."""
    notes_received: int
    """How many buddy's notes about another member were sent to them (only the count is theirs)."""

    @property
    def empty(self) -> bool:
        """Nothing is stored."""
        return self.member is None and not self.steps and not self.notes_received


def member_data(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberData:
    """What the nudge tables hold about the member in this server."""
    rows = conn.execute(
        _STEP_SELECT + "WHERE guild_id = ? AND user_id = ? ORDER BY spell, step", (guild_id, user_id)
    ).fetchall()
    received = conn.execute(
        "SELECT count(*) FROM nudge_steps WHERE guild_id = ? AND step = 2 AND target_id = ? AND user_id <> ?",
        (guild_id, user_id, user_id),
    ).fetchone()
    return MemberData(get_member(conn, guild_id, user_id), [_step(row) for row in rows], int(received[0]))


def delete_member_data(conn: sqlite3.Connection, guild_id: int, user_id: int, replacement: int) -> int:
    """Erase the member's activity, nudge choices and steps in this server; where they were the buddy a
    note about another member went to, their id becomes ``replacement``. Returns the rows changed."""
    changed = conn.execute("DELETE FROM nudge_steps WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)).rowcount
    changed += conn.execute(
        "UPDATE nudge_steps SET target_id = ? WHERE guild_id = ? AND step = 2 AND target_id = ?",
        (replacement, guild_id, user_id),
    ).rowcount
    changed += conn.execute(
        "DELETE FROM nudge_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).rowcount
    return changed

"""SQL for the retention jobs (migration 0006): members who left a server, and who the bot holds data about.

Plain functions of a ``sqlite3.Connection``, run inside a service's unit of work. Every query is
parameterised; instants are aware UTC datetimes, stored as Unix seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "clear_departure",
    "clear_departures",
    "departed_before",
    "departed_ids",
    "departure_of",
    "known_members",
    "record_departure",
    "record_departures",
]


def record_departure(conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime) -> bool:
    """Record that the member left the server (their first departure counts); the server's row must
    exist. ``False`` if a departure was already recorded."""
    cursor = conn.execute(
        "INSERT INTO departed_members (guild_id, user_id, left_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, user_id, to_timestamp(now)),
    )
    return cursor.rowcount > 0


def record_departures(conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int], now: datetime) -> int:
    """:func:`record_departure` for many members of one server; returns how many were new."""
    stamp = to_timestamp(now)
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO departed_members (guild_id, user_id, left_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(guild_id, user_id, stamp) for user_id in user_ids],
    )
    return conn.total_changes - before


def clear_departure(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    """The member is back in the server: their data is no longer due for erasure. ``False`` if they
    had no departure recorded."""
    cursor = conn.execute("DELETE FROM departed_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return cursor.rowcount > 0


def clear_departures(conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int]) -> int:
    """:func:`clear_departure` for many members of one server; returns how many were cleared."""
    before = conn.total_changes
    conn.executemany(
        "DELETE FROM departed_members WHERE guild_id = ? AND user_id = ?", [(guild_id, u) for u in user_ids]
    )
    return conn.total_changes - before


def departure_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> datetime | None:
    """When the member left the server, if they did and their data is not erased yet."""
    row = conn.execute(
        "SELECT left_at FROM departed_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).fetchone()
    return None if row is None else from_timestamp(int(row[0]))


def departed_before(conn: sqlite3.Connection, before: datetime, limit: int = 100) -> list[tuple[int, int, datetime]]:
    """``(guild_id, user_id, left_at)`` of members who left before ``before``, earliest first (through
    the index on the time)."""
    rows = conn.execute(
        "SELECT guild_id, user_id, left_at FROM departed_members WHERE left_at < ? "
        "ORDER BY left_at, guild_id, user_id LIMIT ?",
        (to_timestamp(before), limit),
    ).fetchall()
    return [(int(r[0]), int(r[1]), from_timestamp(int(r[2]))) for r in rows]


def departed_ids(conn: sqlite3.Connection, guild_id: int) -> set[int]:
    """The members of the server recorded as gone."""
    rows = conn.execute("SELECT user_id FROM departed_members WHERE guild_id = ?", (guild_id,)).fetchall()
    return {int(r[0]) for r in rows}


# Every table with a member's rows in a server. Each member column leads an index whose first column
# is guild_id, so this reads the server's keys only (run after the bot connects, not per event).
_KNOWN = (
    "SELECT user_id FROM checkin_members WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM checkins WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM checkin_reminders WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM sobriety WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM sobriety_milestones WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM buddy_members WHERE guild_id = ?1 "
    "UNION SELECT member_id FROM buddy_pairs WHERE guild_id = ?1 "
    "UNION SELECT buddy_id FROM buddy_pairs WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM nudge_members WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM nudge_steps WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM sos_alerts WHERE guild_id = ?1 "
    "UNION SELECT user_id FROM outbox WHERE guild_id = ?1 AND user_id IS NOT NULL"
)


def known_members(conn: sqlite3.Connection, guild_id: int) -> set[int]:
    """Every member the bot holds data about in the server (check-ins, sobriety, buddies, nudges, /sos,
    posts about them still pending)."""
    return {int(r[0]) for r in conn.execute(_KNOWN, (guild_id,)).fetchall()}

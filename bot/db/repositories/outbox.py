"""SQL for the outbox (migration 0009): posts and DMs waiting to be delivered, and their attempts.

Plain functions of a ``sqlite3.Connection``, run inside a service's unit of work. Every query is
parameterised; instants are aware UTC datetimes, stored as Unix seconds.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.db.repositories.guilds import ensure_guild
from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "DESTINATIONS",
    "OutboxRow",
    "claim",
    "delete",
    "delete_member_rows",
    "due",
    "get",
    "guild_present",
    "insert",
    "member_rows",
    "next_due_at",
    "reschedule",
]

DESTINATIONS = ("channel", "moderator_channel", "celebrations_channel", "checkin_channel", "owner", "member")
"""Where a post goes: an explicit channel, the channel a server setting names, the owner's DMs, or the
DMs of the member in ``user_id`` (migration 0009's ``destination`` is free text: no schema change)."""

_SELECT = (
    "SELECT id, guild_id, user_id, kind, destination, channel_id, content, attempts, next_attempt_at, created_at "
    "FROM outbox "
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending post."""

    id: int
    guild_id: int
    user_id: int | None
    kind: str
    destination: str
    channel_id: int | None
    content: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


def _row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=int(row[0]),
        guild_id=int(row[1]),
        user_id=None if row[2] is None else int(row[2]),
        kind=str(row[3]),
        destination=str(row[4]),
        channel_id=None if row[5] is None else int(row[5]),
        content=str(row[6]),
        attempts=int(row[7]),
        next_attempt_at=from_timestamp(int(row[8])),
        created_at=from_timestamp(int(row[9])),
    )


def insert(
    conn: sqlite3.Connection,
    guild_id: int,
    *,
    user_id: int | None,
    kind: str,
    destination: str,
    channel_id: int | None,
    content: str,
    attempts: int,
    next_attempt_at: datetime,
    now: datetime,
) -> OutboxRow:
    """Add a pending post (the server's row is made if needed) and return it."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown outbox destination {destination!r}")
    if (destination == "channel") != (channel_id is not None):
        raise ValueError("a channel id goes with the 'channel' destination, and only with it")
    if destination == "member" and user_id is None:
        raise ValueError("a DM to a member needs the member's user id")
    ensure_guild(conn, guild_id, now)
    cursor = conn.execute(
        "INSERT INTO outbox (guild_id, user_id, kind, destination, channel_id, content, attempts, next_attempt_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            user_id,
            kind,
            destination,
            channel_id,
            content,
            attempts,
            to_timestamp(next_attempt_at),
            to_timestamp(now),
        ),
    )
    row_id = int(cursor.lastrowid or 0)
    found = get(conn, row_id)
    assert found is not None
    return found


def get(conn: sqlite3.Connection, row_id: int) -> OutboxRow | None:
    """One pending post by id."""
    row = conn.execute(_SELECT + "WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else _row(row)


def due(conn: sqlite3.Connection, now: datetime, limit: int) -> list[OutboxRow]:
    """Posts whose next attempt is due at ``now``, the earliest first (through the index on the time)."""
    rows = conn.execute(
        _SELECT + "WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        (to_timestamp(now), limit),
    ).fetchall()
    return [_row(row) for row in rows]


def claim(conn: sqlite3.Connection, row: OutboxRow, now: datetime, until: datetime) -> OutboxRow | None:
    """Take the post for one more attempt: its attempts grow by one and it is not due again before
    ``until`` (if this process dies while sending, it is retried then). ``None`` if another attempt
    took it meanwhile, or it was delivered or erased."""
    cursor = conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? "
        "WHERE id = ? AND attempts = ? AND next_attempt_at <= ?",
        (to_timestamp(until), row.id, row.attempts, to_timestamp(now)),
    )
    return get(conn, row.id) if cursor.rowcount == 1 else None


def reschedule(conn: sqlite3.Connection, row_id: int, at: datetime) -> bool:
    """Try the post again at ``at``; ``False`` if it is no longer pending."""
    cursor = conn.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", (to_timestamp(at), row_id))
    return cursor.rowcount == 1


def delete(conn: sqlite3.Connection, row_id: int) -> bool:
    """Forget the post (delivered, or given up); ``False`` if it was already gone."""
    return conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,)).rowcount == 1


def next_due_at(conn: sqlite3.Connection) -> datetime | None:
    """When the next pending post is due (any server)."""
    row = conn.execute("SELECT min(next_attempt_at) FROM outbox").fetchone()
    return None if row is None or row[0] is None else from_timestamp(int(row[0]))


# The posts about a member: theirs (user_id), or a notice to the moderators that names them.
_MEMBER_ROWS = _SELECT + "WHERE guild_id = ? AND (user_id = ? OR instr(content, ?) > 0) ORDER BY created_at, id"
_DELETE_MEMBER_ROWS = "DELETE FROM outbox WHERE guild_id = ? AND (user_id = ? OR instr(content, ?) > 0)"


def _mention(user_id: int) -> str:
    return f"<@{user_id}>"


def member_rows(conn: sqlite3.Connection, guild_id: int, user_id: int) -> list[OutboxRow]:
    """The server's pending posts about the member (theirs, or naming them), oldest first."""
    rows = conn.execute(_MEMBER_ROWS, (guild_id, user_id, _mention(user_id))).fetchall()
    return [_row(row) for row in rows]


def delete_member_rows(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Erase the server's pending posts about the member (theirs, or naming them); how many."""
    return conn.execute(_DELETE_MEMBER_ROWS, (guild_id, user_id, _mention(user_id))).rowcount


def guild_present(conn: sqlite3.Connection, guild_id: int) -> bool:
    """Whether the server has a row and the bot has not left it (an audit entry would mark it present)."""
    row = conn.execute("SELECT left_at FROM guilds WHERE guild_id = ?", (guild_id,)).fetchone()
    return row is not None and row[0] is None

"""The servers the bot is in, and their settings (each feature owns its keys)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "ERASED_USER_ID",
    "delete_guild",
    "delete_setting",
    "ensure_guild",
    "erase_setter",
    "get_settings",
    "guild_states",
    "left_before",
    "mark_bot_left",
    "set_setting",
    "settings_set_by",
]


def ensure_guild(conn: sqlite3.Connection, guild_id: int, now: datetime) -> None:
    """Record that the bot is in this server (again)."""
    conn.execute(
        "INSERT INTO guilds (guild_id, joined_at) VALUES (?, ?) ON CONFLICT (guild_id) DO UPDATE SET left_at = NULL",
        (guild_id, to_timestamp(now)),
    )


def get_settings(conn: sqlite3.Connection, guild_id: int) -> dict[str, str]:
    """Every setting of one server, as stored text keyed by name."""
    rows = conn.execute("SELECT key, value FROM guild_settings WHERE guild_id = ?", (guild_id,)).fetchall()
    return {str(key): str(value) for key, value in rows}


def set_setting(conn: sqlite3.Connection, guild_id: int, key: str, value: str, now: datetime, by: int | None) -> None:
    """Set one setting of one server."""
    ensure_guild(conn, guild_id, now)
    conn.execute(
        "INSERT INTO guild_settings (guild_id, key, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (guild_id, key, value, to_timestamp(now), by),
    )


def delete_setting(conn: sqlite3.Connection, guild_id: int, key: str) -> None:
    """Reset one setting of one server to its default."""
    conn.execute("DELETE FROM guild_settings WHERE guild_id = ? AND key = ?", (guild_id, key))


# --------------------------------------------------------------------------- privacy: leaving, erasing


ERASED_USER_ID = 0
"""Stands for a member whose data was erased where a record must keep that *someone* acted (a
moderator's action in the audit log, a pair made by hand): never a real Discord id."""


def mark_bot_left(conn: sqlite3.Connection, guild_id: int, now: datetime) -> bool:
    """Record that the bot was removed from the server (the earliest time counts); ``False`` if the
    server has no row (nothing stored)."""
    cursor = conn.execute(
        "UPDATE guilds SET left_at = coalesce(left_at, ?) WHERE guild_id = ?", (to_timestamp(now), guild_id)
    )
    return cursor.rowcount > 0


def guild_states(conn: sqlite3.Connection) -> dict[int, datetime | None]:
    """Every server with a row: when the bot left it (``None``: the bot is in it)."""
    rows = conn.execute("SELECT guild_id, left_at FROM guilds").fetchall()
    return {int(row[0]): None if row[1] is None else from_timestamp(int(row[1])) for row in rows}


def left_before(conn: sqlite3.Connection, before: datetime, limit: int = 100) -> list[tuple[int, datetime]]:
    """Servers the bot left before ``before``, earliest first (through the partial index)."""
    rows = conn.execute(
        "SELECT guild_id, left_at FROM guilds WHERE left_at IS NOT NULL AND left_at < ? ORDER BY left_at LIMIT ?",
        (to_timestamp(before), limit),
    ).fetchall()
    return [(int(row[0]), from_timestamp(int(row[1]))) for row in rows]


def delete_guild(conn: sqlite3.Connection, guild_id: int) -> bool:
    """Erase everything stored about the server: its row, and by cascade every table's rows of it."""
    cursor = conn.execute("DELETE FROM guilds WHERE guild_id = ?", (guild_id,))
    return cursor.rowcount > 0


def settings_set_by(conn: sqlite3.Connection, guild_id: int, user_id: int) -> list[tuple[str, datetime]]:
    """The settings of the server last changed by the member (a moderator): key and when."""
    rows = conn.execute(
        "SELECT key, updated_at FROM guild_settings WHERE guild_id = ? AND updated_by = ? ORDER BY key",
        (guild_id, user_id),
    ).fetchall()
    return [(str(row[0]), from_timestamp(int(row[1]))) for row in rows]


def erase_setter(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Replace the member's id as the last changer of the server's settings by :data:`ERASED_USER_ID`."""
    cursor = conn.execute(
        "UPDATE guild_settings SET updated_by = ? WHERE guild_id = ? AND updated_by = ?",
        (ERASED_USER_ID, guild_id, user_id),
    )
    return cursor.rowcount

"""The servers the bot is in, and their settings (each feature owns its keys)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.timeutil import to_timestamp

__all__ = ["delete_setting", "ensure_guild", "get_settings", "set_setting"]


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

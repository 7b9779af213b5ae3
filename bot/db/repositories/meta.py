"""Bookkeeping of the bot itself: the hash of the last command sync."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.timeutil import to_timestamp

__all__ = ["get_command_hash", "set_command_hash"]


def get_command_hash(conn: sqlite3.Connection, application_id: int, scope: str) -> str | None:
    """The schema hash last synced for this application and scope, if any."""
    row = conn.execute(
        "SELECT schema_hash FROM command_sync WHERE application_id = ? AND scope = ?",
        (application_id, scope),
    ).fetchone()
    return None if row is None else str(row[0])


def set_command_hash(
    conn: sqlite3.Connection, application_id: int, scope: str, schema_hash: str, now: datetime
) -> None:
    """Record that this schema hash was synced for this application and scope."""
    conn.execute(
        "INSERT INTO command_sync (application_id, scope, schema_hash, synced_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (application_id, scope) DO UPDATE SET schema_hash = excluded.schema_hash, "
        "synced_at = excluded.synced_at",
        (application_id, scope, schema_hash, to_timestamp(now)),
    )

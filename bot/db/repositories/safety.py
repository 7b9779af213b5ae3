"""SQL for ``/sos`` alerts (migration 0007): when a member last alerted their buddy or the moderators.

Plain functions of a ``sqlite3.Connection``, run inside a service's unit of work. Every query is
parameterised and names the server. Only the time of the latest alert of each kind is stored.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.db.repositories.guilds import ensure_guild
from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "KINDS",
    "delete_member_alerts",
    "get_alert",
    "member_alerts",
    "prune_alerts",
    "release_alert",
    "set_alert",
]

KINDS = ("buddy", "moderators")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")


def get_alert(conn: sqlite3.Connection, guild_id: int, user_id: int, kind: str) -> datetime | None:
    """When the member last sent an alert of this kind in this server, if it is still stored."""
    _check_kind(kind)
    row = conn.execute(
        "SELECT sent_at FROM sos_alerts WHERE guild_id = ? AND user_id = ? AND kind = ?", (guild_id, user_id, kind)
    ).fetchone()
    return None if row is None else from_timestamp(int(row[0]))


def set_alert(conn: sqlite3.Connection, guild_id: int, user_id: int, kind: str, at: datetime) -> None:
    """Record an alert of this kind sent (or being sent) at ``at``, replacing the previous one."""
    _check_kind(kind)
    ensure_guild(conn, guild_id, at)
    conn.execute(
        "INSERT INTO sos_alerts (guild_id, user_id, kind, sent_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id, kind) DO UPDATE SET sent_at = excluded.sent_at",
        (guild_id, user_id, kind, to_timestamp(at)),
    )


def release_alert(conn: sqlite3.Connection, guild_id: int, user_id: int, kind: str, at: datetime) -> bool:
    """Forget the alert recorded at ``at`` (it reached nobody); False if another one replaced it."""
    _check_kind(kind)
    cursor = conn.execute(
        "DELETE FROM sos_alerts WHERE guild_id = ? AND user_id = ? AND kind = ? AND sent_at = ?",
        (guild_id, user_id, kind, to_timestamp(at)),
    )
    return cursor.rowcount == 1


def prune_alerts(conn: sqlite3.Connection, before: datetime) -> int:
    """Forget every alert sent at or before ``before`` (in all servers: it only shortens what is kept)."""
    cursor = conn.execute("DELETE FROM sos_alerts WHERE sent_at <= ?", (to_timestamp(before),))
    return cursor.rowcount


def member_alerts(conn: sqlite3.Connection, guild_id: int, user_id: int) -> dict[str, datetime]:
    """One member's stored alerts in one server, by kind (for their data export)."""
    rows = conn.execute(
        "SELECT kind, sent_at FROM sos_alerts WHERE guild_id = ? AND user_id = ? ORDER BY kind", (guild_id, user_id)
    ).fetchall()
    return {str(row[0]): from_timestamp(int(row[1])) for row in rows}


def delete_member_alerts(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Forget one member's alerts in one server (their data erased)."""
    cursor = conn.execute("DELETE FROM sos_alerts WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return cursor.rowcount

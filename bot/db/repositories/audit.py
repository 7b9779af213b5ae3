"""The moderators' audit log: who did what, when, per server.

Record an action inside the same transaction as the action itself, so the log never shows an
action that did not happen, nor misses one that did.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.db.repositories.guilds import ensure_guild
from bot.timeutil import from_timestamp, to_timestamp

__all__ = ["AuditEntry", "count", "latest", "record"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded moderator action."""

    id: int
    guild_id: int
    actor_id: int | None
    action: str
    detail: dict[str, Any]
    at: datetime


def record(
    conn: sqlite3.Connection,
    guild_id: int,
    actor_id: int | None,
    action: str,
    detail: Mapping[str, Any],
    now: datetime,
) -> int:
    """Record one action (``detail`` must be JSON-serialisable) and return its id."""
    if not action:
        raise ValueError("an audit entry needs an action")
    ensure_guild(conn, guild_id, now)
    text = json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    cursor = conn.execute(
        "INSERT INTO audit_log (guild_id, actor_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
        (guild_id, actor_id, action, text, to_timestamp(now)),
    )
    return int(cursor.lastrowid or 0)


def latest(conn: sqlite3.Connection, guild_id: int, limit: int = 20, offset: int = 0) -> list[AuditEntry]:
    """One server's entries, newest first (same second: last recorded first), paged."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    rows = conn.execute(
        "SELECT id, guild_id, actor_id, action, detail, at FROM audit_log WHERE guild_id = ? "
        "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        (guild_id, limit, offset),
    ).fetchall()
    return [
        AuditEntry(
            id=int(row[0]),
            guild_id=int(row[1]),
            actor_id=None if row[2] is None else int(row[2]),
            action=str(row[3]),
            detail=json.loads(row[4]),
            at=from_timestamp(int(row[5])),
        )
        for row in rows
    ]


def count(conn: sqlite3.Connection, guild_id: int) -> int:
    """How many entries one server has (for paging)."""
    return int(conn.execute("SELECT count(*) FROM audit_log WHERE guild_id = ?", (guild_id,)).fetchone()[0])

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

__all__ = ["AuditEntry", "count", "entries_naming", "erase_member", "latest", "record"]


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


# --------------------------------------------------------------------------- a member's entries (privacy)

# The entries of one server that name the member: as the actor, or anywhere in the detail (any
# JSON number equal to their id: Discord ids are unique across users, roles and channels, and pair
# ids are small numbers). The server's entries are read through audit_log_by_guild_time.
_NAMING = (
    "SELECT id, guild_id, actor_id, action, detail, at FROM audit_log WHERE guild_id = ? AND (actor_id = ? "
    "OR EXISTS (SELECT 1 FROM json_tree(audit_log.detail) AS t WHERE t.type = 'integer' AND t.atom = ?)) "
    "ORDER BY at, id"
)


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=int(row[0]),
        guild_id=int(row[1]),
        actor_id=None if row[2] is None else int(row[2]),
        action=str(row[3]),
        detail=json.loads(row[4]),
        at=from_timestamp(int(row[5])),
    )


def entries_naming(conn: sqlite3.Connection, guild_id: int, user_id: int) -> list[AuditEntry]:
    """The server's entries in which the member acted or is named, oldest first."""
    rows = conn.execute(_NAMING, (guild_id, user_id, user_id)).fetchall()
    return [_entry(row) for row in rows]


def _redact(value: Any, user_id: int, replacement: int) -> Any:
    if isinstance(value, dict):
        return {key: _redact(item, user_id, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, user_id, replacement) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value == user_id:
        return replacement
    return value


def erase_member(conn: sqlite3.Connection, guild_id: int, user_id: int, replacement: int) -> int:
    """Replace the member's id by ``replacement`` wherever the server's entries name them (the actor,
    the detail): the record that a moderator action happened stays, without who it was about or by.
    Returns how many entries changed."""
    entries = entries_naming(conn, guild_id, user_id)
    conn.executemany(
        "UPDATE audit_log SET actor_id = ?, detail = ? WHERE guild_id = ? AND id = ?",
        [
            (
                replacement if entry.actor_id == user_id else entry.actor_id,
                json.dumps(
                    _redact(entry.detail, user_id, replacement),
                    ensure_ascii=False,
                    sort_keys=True,
                    separators=(",", ":"),
                ),
                guild_id,
                entry.id,
            )
            for entry in entries
        ],
    )
    return len(entries)

"""Storage of buddy matching: groups, members' group roles, the queue, volunteers, pairs (live and
past), approvals and introductions. All of its SQL is here; every statement names the server.

Rows come back as dataclasses with aware datetimes, except the matching inputs
(``matching_*``), which stay in storage form (Unix seconds) because a run reads thousands of
them and only compares them.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.timeutil import from_timestamp, to_timestamp

__all__ = [
    "LIVE",
    "PAST",
    "MemberData",
    "MemberRow",
    "PairRow",
    "QueueRow",
    "VolunteerRow",
    "activate_pair",
    "add_group",
    "anyone_waiting",
    "buddy_load",
    "close_pair",
    "count_active_pairs",
    "count_proposals",
    "count_queue",
    "delete_member_data",
    "dequeue",
    "dequeue_heads",
    "due_reminders",
    "enqueue",
    "get_member",
    "get_pair",
    "get_volunteer",
    "group_roles_of",
    "groups_among",
    "guild_known",
    "insert_pair",
    "insert_pairs",
    "list_active_pairs",
    "list_groups",
    "list_proposals",
    "list_queue",
    "live_pair_between",
    "live_pairs_in_group",
    "live_pairs_of",
    "loads",
    "mark_left",
    "mark_reminded",
    "mark_told",
    "matching_current",
    "matching_past",
    "matching_volunteers",
    "member_data",
    "members_holding",
    "paired_before",
    "pairs_of",
    "pairs_to_introduce",
    "partners_of",
    "place_in_group",
    "proposals_of",
    "queue_entry",
    "queue_place",
    "record_introduction",
    "record_thread_activity",
    "refresh_group_columns",
    "remove_group",
    "set_member_groups",
    "set_proposal_message",
    "set_several_notice",
    "set_volunteer",
    "upsert_member",
    "volunteers_of_groups",
    "waiting_in_group",
]

LIVE = ("proposed", "active")
"""Pair statuses that hold the two members together (and use up the buddy's capacity)."""
PAST = ("ended", "rejected")
"""Pair statuses never made again automatically."""


def _ts(moment: datetime | None) -> int | None:
    return None if moment is None else to_timestamp(moment)


def _dt(seconds: Any) -> datetime | None:
    return None if seconds is None else from_timestamp(int(seconds))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ids(values: Iterable[int]) -> str:
    """A JSON array of ids: one bound parameter for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps(sorted({int(v) for v in values}))


def guild_known(conn: sqlite3.Connection, guild_id: int) -> bool:
    """Whether the server has its row in ``guilds`` (which the buddy tables' foreign keys need)."""
    return conn.execute("SELECT 1 FROM guilds WHERE guild_id = ?", (guild_id,)).fetchone() is not None


# --------------------------------------------------------------------------- groups


def add_group(conn: sqlite3.Connection, guild_id: int, role_id: int, now: datetime, by: int | None) -> bool:
    """Make a role a matching group; False if it already was one."""
    cursor = conn.execute(
        "INSERT INTO buddy_groups (guild_id, role_id, added_at, added_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, role_id) DO NOTHING",
        (guild_id, role_id, to_timestamp(now), by),
    )
    return cursor.rowcount == 1


def remove_group(conn: sqlite3.Connection, guild_id: int, role_id: int) -> list[int]:
    """Stop a role being a matching group; returns the members who held it (their group columns are
    refreshed). Empty if it was not a group or nobody held it."""
    holders = members_holding(conn, guild_id, role_id)
    conn.execute("DELETE FROM buddy_groups WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
    refresh_group_columns(conn, guild_id, holders)
    return holders


def groups_among(conn: sqlite3.Connection, guild_id: int, role_ids: Iterable[int]) -> frozenset[int]:
    """Which of these roles are the server's matching groups (a member's roles: a few key lookups,
    not every group of the server)."""
    rows = conn.execute(
        "SELECT role_id FROM buddy_groups WHERE guild_id = ? AND role_id IN (SELECT value FROM json_each(?))",
        (guild_id, _ids(role_ids)),
    ).fetchall()
    return frozenset(int(r[0]) for r in rows)


def list_groups(conn: sqlite3.Connection, guild_id: int) -> list[int]:
    """The server's group roles, in the order they were added."""
    rows = conn.execute(
        "SELECT role_id FROM buddy_groups WHERE guild_id = ? ORDER BY added_at, role_id", (guild_id,)
    ).fetchall()
    return [int(r[0]) for r in rows]


# --------------------------------------------------------------------------- members


@dataclass(frozen=True, slots=True)
class MemberRow:
    """What is stored of one member."""

    guild_id: int
    user_id: int
    joined_at: datetime | None
    group_count: int
    group_role_id: int | None
    left_at: datetime | None
    told_at: datetime | None
    several_notice_at: datetime | None


_MEMBER_COLUMNS = "guild_id, user_id, joined_at, group_count, group_role_id, left_at, told_at, several_notice_at"


def _member(row: Sequence[Any]) -> MemberRow:
    return MemberRow(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        joined_at=_dt(row[2]),
        group_count=int(row[3]),
        group_role_id=_int(row[4]),
        left_at=_dt(row[5]),
        told_at=_dt(row[6]),
        several_notice_at=_dt(row[7]),
    )


def get_member(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberRow | None:
    """One member's stored state, if any."""
    row = conn.execute(
        f"SELECT {_MEMBER_COLUMNS} FROM buddy_members WHERE guild_id = ? AND user_id = ?",  # noqa: S608
        (guild_id, user_id),
    ).fetchone()
    return None if row is None else _member(row)


def upsert_member(
    conn: sqlite3.Connection, guild_id: int, user_id: int, joined_at: datetime | None, now: datetime
) -> None:
    """Record that the member is in the server (again), with their join time when known."""
    conn.execute(
        "INSERT INTO buddy_members (guild_id, user_id, joined_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET joined_at = coalesce(excluded.joined_at, joined_at), "
        "left_at = NULL, updated_at = excluded.updated_at",
        (guild_id, user_id, _ts(joined_at), to_timestamp(now)),
    )


def group_roles_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> frozenset[int]:
    """The group roles the member holds, as last reported."""
    rows = conn.execute(
        "SELECT role_id FROM buddy_member_roles WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).fetchall()
    return frozenset(int(r[0]) for r in rows)


def set_member_groups(conn: sqlite3.Connection, guild_id: int, user_id: int, role_ids: Collection[int]) -> None:
    """Replace the group roles the member holds (``role_ids`` must all be groups; the member must be
    stored) and refresh their group columns."""
    conn.execute("DELETE FROM buddy_member_roles WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    conn.executemany(
        "INSERT INTO buddy_member_roles (guild_id, role_id, user_id) VALUES (?, ?, ?)",
        [(guild_id, role_id, user_id) for role_id in sorted(set(role_ids))],
    )
    refresh_group_columns(conn, guild_id, [user_id])


def refresh_group_columns(conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int]) -> None:
    """Recompute group_count and group_role_id of these members from the roles they hold (and the
    copies of group_role_id in their queue entry and their offer, if any)."""
    wanted = _ids(user_ids)
    conn.execute(
        "UPDATE buddy_members SET "
        "group_count = (SELECT count(*) FROM buddy_member_roles r "
        "  WHERE r.guild_id = buddy_members.guild_id AND r.user_id = buddy_members.user_id), "
        "group_role_id = (SELECT CASE WHEN count(*) = 1 THEN min(r.role_id) END FROM buddy_member_roles r "
        "  WHERE r.guild_id = buddy_members.guild_id AND r.user_id = buddy_members.user_id) "
        "WHERE guild_id = ? AND user_id IN (SELECT value FROM json_each(?))",
        (guild_id, wanted),
    )
    conn.execute(
        "UPDATE buddy_queue SET group_role_id = (SELECT m.group_role_id FROM buddy_members m "
        "  WHERE m.guild_id = buddy_queue.guild_id AND m.user_id = buddy_queue.user_id) "
        "WHERE guild_id = ? AND user_id IN (SELECT value FROM json_each(?))",
        (guild_id, wanted),
    )
    conn.execute(
        "UPDATE buddy_volunteers SET group_role_id = (SELECT m.group_role_id FROM buddy_members m "
        "  WHERE m.guild_id = buddy_volunteers.guild_id AND m.user_id = buddy_volunteers.user_id) "
        "WHERE guild_id = ? AND user_id IN (SELECT value FROM json_each(?))",
        (guild_id, wanted),
    )


def members_holding(conn: sqlite3.Connection, guild_id: int, role_id: int) -> list[int]:
    """The members stored as holding a group role."""
    rows = conn.execute(
        "SELECT user_id FROM buddy_member_roles WHERE guild_id = ? AND role_id = ? ORDER BY user_id",
        (guild_id, role_id),
    ).fetchall()
    return [int(r[0]) for r in rows]


def mark_left(conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime) -> None:
    """Record that the member left the server; they stop offering to be a buddy and waiting for one
    (a member who left is never in the queue, so matching reads the queue alone)."""
    dequeue(conn, guild_id, [user_id])
    conn.execute(
        "UPDATE buddy_members SET left_at = ?, updated_at = ? WHERE guild_id = ? AND user_id = ?",
        (to_timestamp(now), to_timestamp(now), guild_id, user_id),
    )
    conn.execute(
        "UPDATE buddy_volunteers SET available = 0, updated_at = ? WHERE guild_id = ? AND user_id = ?",
        (to_timestamp(now), guild_id, user_id),
    )


def mark_told(conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime) -> None:
    """Record that the member was told what a buddy is."""
    conn.execute(
        "UPDATE buddy_members SET told_at = ? WHERE guild_id = ? AND user_id = ?",
        (to_timestamp(now), guild_id, user_id),
    )


def set_several_notice(conn: sqlite3.Connection, guild_id: int, user_id: int, at: datetime | None) -> None:
    """Record (or, with None, clear) that moderators were told the member holds several group roles."""
    conn.execute(
        "UPDATE buddy_members SET several_notice_at = ? WHERE guild_id = ? AND user_id = ?",
        (_ts(at), guild_id, user_id),
    )


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A member waiting for a buddy, with their group state."""

    user_id: int
    queued_at: datetime
    first_in_line: bool
    origin: str
    group_role_id: int | None
    group_count: int


_QUEUE_SELECT = (
    "SELECT q.user_id, q.queued_at, q.first_in_line, q.origin, m.group_role_id, m.group_count "
    "FROM buddy_queue q JOIN buddy_members m ON m.guild_id = q.guild_id AND m.user_id = q.user_id "
)
_QUEUE_ORDER = " ORDER BY q.first_in_line DESC, q.queued_at, q.user_id"


def _queue_row(row: Sequence[Any]) -> QueueRow:
    return QueueRow(
        user_id=int(row[0]),
        queued_at=from_timestamp(int(row[1])),
        first_in_line=bool(row[2]),
        origin=str(row[3]),
        group_role_id=_int(row[4]),
        group_count=int(row[5]),
    )


def enqueue(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    queued_at: datetime,
    origin: str,
    *,
    first_in_line: bool = False,
) -> bool:
    """Put the member in the queue; True if they were not waiting yet. A member already waiting
    keeps their place, moved to the head of the line if ``first_in_line``."""
    cursor = conn.execute(
        "INSERT INTO buddy_queue (guild_id, user_id, queued_at, first_in_line, origin, group_role_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, (SELECT group_role_id FROM buddy_members WHERE guild_id = ?1 AND user_id = ?2)) "
        "ON CONFLICT (guild_id, user_id) DO NOTHING",
        (guild_id, user_id, to_timestamp(queued_at), int(first_in_line), origin),
    )
    if cursor.rowcount == 1:
        return True
    if first_in_line:
        conn.execute("UPDATE buddy_queue SET first_in_line = 1 WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return False


_DEQUEUE_CHUNK = 500
"""Members per DELETE of :func:`dequeue`."""


@functools.lru_cache(maxsize=8)
def _dequeue_sql(members: int) -> str:
    """DELETE of ``members`` members of one server from the queue: placeholders only."""
    placeholders = ", ".join(["?"] * members)
    return "DELETE FROM buddy_queue WHERE guild_id = ? AND user_id IN (" + placeholders + ")"  # noqa: S608 (placeholders only)


def dequeue(conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int]) -> None:
    """Take members out of the queue (one statement per 500 members). A list of placeholders, not a
    JSON array: 5,000 matched members out in 5.4 ms against 6.0 through ``json_each``."""
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), _DEQUEUE_CHUNK):
        chunk = ids[start : start + _DEQUEUE_CHUNK]
        conn.execute(_dequeue_sql(len(chunk)), [guild_id, *chunk])


def dequeue_heads(conn: sqlite3.Connection, guild_id: int, heads: Mapping[int, tuple[int, int, int]]) -> None:
    """Take the head of each group's queue out: for ``{group: (user_id, queued_at, first_in_line)}``,
    every member of that group up to and including that member's place in queue order (their row of
    :func:`waiting_in_group`).

    One range of ``buddy_queue_by_group`` a group (two when the place is behind the members put
    first in line): no member looked up by id. A matching run's taken members are the head of each
    group's queue but for the rare member no place fitted; taking 5,000 out this way costs half the
    instructions of :func:`dequeue` (25 against 53 million: one seek into the queue's own b-tree a
    member instead of two, and no list of ids). Only inside the transaction that read the queue:
    a member who joined in between would be taken out unread."""
    for group_role_id, (user_id, queued_at, first_in_line) in heads.items():
        if not first_in_line:
            conn.execute(
                "DELETE FROM buddy_queue WHERE guild_id = ? AND group_role_id = ? AND first_in_line = 1",
                (guild_id, group_role_id),
            )
        conn.execute(
            "DELETE FROM buddy_queue WHERE guild_id = ? AND group_role_id = ? AND first_in_line = ? "
            "AND (queued_at, user_id) <= (?, ?)",
            (guild_id, group_role_id, 1 if first_in_line else 0, queued_at, user_id),
        )


def queue_entry(conn: sqlite3.Connection, guild_id: int, user_id: int) -> QueueRow | None:
    """The member's place in the queue, if they wait."""
    row = conn.execute(_QUEUE_SELECT + "WHERE q.guild_id = ? AND q.user_id = ?", (guild_id, user_id)).fetchone()
    return None if row is None else _queue_row(row)


def queue_place(conn: sqlite3.Connection, guild_id: int, user_id: int) -> tuple[int, int] | None:
    """(place, waiting): the member's 1-based place among the waiting members of their group, and how
    many wait in it. None if they do not wait or have no group."""
    entry = queue_entry(conn, guild_id, user_id)
    return None if entry is None else place_in_group(conn, guild_id, entry)


def place_in_group(conn: sqlite3.Connection, guild_id: int, entry: QueueRow) -> tuple[int, int] | None:
    """(place, waiting) of a queue entry (from :func:`queue_entry`) among the waiting members of its
    group: a count over the group's range of ``buddy_queue_by_group``. None without a group."""
    if entry.group_role_id is None:
        return None
    row = conn.execute(
        "SELECT count(*), "
        "sum(first_in_line > ?1 OR (first_in_line = ?1 AND (queued_at < ?2 OR (queued_at = ?2 AND user_id <= ?3)))) "
        "FROM buddy_queue WHERE guild_id = ?4 AND group_role_id = ?5",
        (int(entry.first_in_line), to_timestamp(entry.queued_at), entry.user_id, guild_id, entry.group_role_id),
    ).fetchone()
    return int(row[1]), int(row[0])


def list_queue(conn: sqlite3.Connection, guild_id: int, limit: int = -1, offset: int = 0) -> list[QueueRow]:
    """The waiting members in queue order (all groups), paged: the server's queue sorted alone (no
    index keeps the whole queue's order since migration 0011), then the page's members looked up."""
    rows = conn.execute(
        "SELECT q.user_id, q.queued_at, q.first_in_line, q.origin, m.group_role_id, m.group_count FROM ("
        "  SELECT user_id, queued_at, first_in_line, origin FROM buddy_queue WHERE guild_id = ?1"
        "  ORDER BY first_in_line DESC, queued_at, user_id LIMIT ?2 OFFSET ?3) q "
        "JOIN buddy_members m ON m.guild_id = ?1 AND m.user_id = q.user_id "
        "ORDER BY q.first_in_line DESC, q.queued_at, q.user_id",
        (guild_id, limit, offset),
    ).fetchall()
    return [_queue_row(r) for r in rows]


def count_queue(conn: sqlite3.Connection, guild_id: int) -> int:
    """How many members wait."""
    return int(conn.execute("SELECT count(*) FROM buddy_queue WHERE guild_id = ?", (guild_id,)).fetchone()[0])


# --------------------------------------------------------------------------- volunteers


@dataclass(frozen=True, slots=True)
class VolunteerRow:
    """A member's offer to be a buddy."""

    user_id: int
    available: bool
    max_buddies: int | None
    since: datetime
    group_role_id: int | None = None
    joined_at: datetime | None = None


def set_volunteer(
    conn: sqlite3.Connection, guild_id: int, user_id: int, available: bool, max_buddies: int | None, now: datetime
) -> None:
    """Offer (or stop offering) to be a buddy; ``since`` moves when the offer starts again. The offer
    keeps a copy of the member's group (the member must be stored)."""
    conn.execute(
        "INSERT INTO buddy_volunteers (guild_id, user_id, available, max_buddies, since, updated_at, group_role_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5, "
        "  (SELECT group_role_id FROM buddy_members WHERE guild_id = ?1 AND user_id = ?2)) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
        "since = CASE WHEN available = 0 AND excluded.available = 1 THEN excluded.since ELSE since END, "
        "available = excluded.available, max_buddies = excluded.max_buddies, updated_at = excluded.updated_at, "
        "group_role_id = excluded.group_role_id",
        (guild_id, user_id, int(available), max_buddies, to_timestamp(now)),
    )


_VOLUNTEER_SELECT = (
    "SELECT v.user_id, v.available, v.max_buddies, v.since, m.group_role_id, m.joined_at "
    "FROM buddy_volunteers v JOIN buddy_members m ON m.guild_id = v.guild_id AND m.user_id = v.user_id "
)


def _volunteer(row: Sequence[Any]) -> VolunteerRow:
    return VolunteerRow(
        user_id=int(row[0]),
        available=bool(row[1]),
        max_buddies=_int(row[2]),
        since=from_timestamp(int(row[3])),
        group_role_id=_int(row[4]),
        joined_at=_dt(row[5]),
    )


def get_volunteer(conn: sqlite3.Connection, guild_id: int, user_id: int) -> VolunteerRow | None:
    """The member's offer, if they ever made one."""
    row = conn.execute(_VOLUNTEER_SELECT + "WHERE v.guild_id = ? AND v.user_id = ?", (guild_id, user_id)).fetchone()
    return None if row is None else _volunteer(row)


def volunteers_of_groups(conn: sqlite3.Connection, guild_id: int) -> list[VolunteerRow]:
    """Every available volunteer still in the server who is in exactly one group."""
    rows = conn.execute(
        _VOLUNTEER_SELECT + "WHERE v.guild_id = ? AND v.available = 1 AND m.left_at IS NULL "
        "AND m.group_role_id IS NOT NULL ORDER BY v.user_id",
        (guild_id,),
    ).fetchall()
    return [_volunteer(r) for r in rows]


# --------------------------------------------------------------------------- pairs


@dataclass(frozen=True, slots=True)
class PairRow:
    """One pairing, live or past: ``member_id`` is supported by ``buddy_id``."""

    pair_id: int
    guild_id: int
    member_id: int
    buddy_id: int
    group_role_id: int
    status: str
    created_at: datetime
    created_by: int | None
    forced: bool
    queued_at: datetime | None
    first_in_line: bool
    proposal_channel_id: int | None
    proposal_message_id: int | None
    decided_at: datetime | None
    decided_by: int | None
    started_at: datetime | None
    ended_at: datetime | None
    ended_by: int | None
    end_reason: str | None
    introduced_at: datetime | None
    intro_thread_id: int | None
    last_activity_at: datetime | None
    reminded_at: datetime | None

    def other(self, user_id: int) -> int:
        """The other member of the pair."""
        return self.buddy_id if user_id == self.member_id else self.member_id

    def involves(self, user_id: int) -> bool:
        """Whether the member is one of the two."""
        return user_id in (self.member_id, self.buddy_id)


_PAIR_COLUMNS = (
    "pair_id, guild_id, member_id, buddy_id, group_role_id, status, created_at, created_by, forced, queued_at, "
    "first_in_line, proposal_channel_id, proposal_message_id, decided_at, decided_by, started_at, ended_at, "
    "ended_by, end_reason, introduced_at, intro_thread_id, last_activity_at, reminded_at"
)
_PAIR_SELECT = f"SELECT {_PAIR_COLUMNS} FROM buddy_pairs "  # noqa: S608 (constant column list)


def _pair(row: Sequence[Any]) -> PairRow:
    return PairRow(
        pair_id=int(row[0]),
        guild_id=int(row[1]),
        member_id=int(row[2]),
        buddy_id=int(row[3]),
        group_role_id=int(row[4]),
        status=str(row[5]),
        created_at=from_timestamp(int(row[6])),
        created_by=_int(row[7]),
        forced=bool(row[8]),
        queued_at=_dt(row[9]),
        first_in_line=bool(row[10]),
        proposal_channel_id=_int(row[11]),
        proposal_message_id=_int(row[12]),
        decided_at=_dt(row[13]),
        decided_by=_int(row[14]),
        started_at=_dt(row[15]),
        ended_at=_dt(row[16]),
        ended_by=_int(row[17]),
        end_reason=None if row[18] is None else str(row[18]),
        introduced_at=_dt(row[19]),
        intro_thread_id=_int(row[20]),
        last_activity_at=_dt(row[21]),
        reminded_at=_dt(row[22]),
    )


def insert_pair(
    conn: sqlite3.Connection,
    guild_id: int,
    member_id: int,
    buddy_id: int,
    group_role_id: int,
    *,
    status: str,
    now: datetime,
    created_by: int | None = None,
    forced: bool = False,
    queued_at: datetime | None = None,
    first_in_line: bool = False,
) -> int:
    """Make one pair (``status`` 'active' or 'proposed') and return its id."""
    if status not in LIVE:
        raise ValueError(f"a new pair is proposed or active, not {status!r}")
    stamp = to_timestamp(now)
    cursor = conn.execute(
        "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, created_by, "
        "forced, queued_at, first_in_line, started_at, decided_at, decided_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            member_id,
            buddy_id,
            group_role_id,
            status,
            stamp,
            created_by,
            int(forced),
            _ts(queued_at),
            int(first_in_line),
            stamp if status == "active" else None,
            stamp if created_by is not None else None,
            created_by,
        ),
    )
    return int(cursor.lastrowid or 0)


_INSERT_CHUNK = 500
"""Rows per INSERT of :func:`insert_pairs` (5 bound values a row: far under SQLite's 32,766)."""


@functools.lru_cache(maxsize=8)
def _insert_pairs_sql(rows: int) -> str:
    """INSERT of ``rows`` new pairs: ?1-?4 the values they share (server, status, created, started),
    then five a row (member, buddy, group, queued_at, first_in_line). Placeholders only: every
    value is bound."""
    values = ", ".join(
        "(?1, ?{}, ?{}, ?{}, ?2, ?3, ?{}, ?{}, ?4)".format(*range(5 + 5 * row, 10 + 5 * row)) for row in range(rows)
    )
    return (
        "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, "  # noqa: S608 (placeholders only)
        "queued_at, first_in_line, started_at) VALUES " + values
    )


def insert_pairs(
    conn: sqlite3.Connection,
    guild_id: int,
    pairs: Sequence[tuple[int, int, int]],
    waiting: Mapping[int, tuple[int, int, int]],
    *,
    status: str,
    now: datetime,
) -> range:
    """Make many pairs at once, from ``(member_id, buddy_id, group_role_id)``; each member's place in
    the queue comes from ``waiting``: their row of :func:`waiting_in_group` (``user_id, queued_at,
    first_in_line``, in Unix seconds). Returns the new pairs' ids, in the same order."""
    if status not in LIVE:
        raise ValueError(f"a new pair is proposed or active, not {status!r}")
    if not pairs:
        return range(0)
    stamp = to_timestamp(now)
    started = stamp if status == "active" else None
    # Multi-row VALUES statements of up to _INSERT_CHUNK rows (measured: ~6 ms for 5,000 rows into the
    # table against ~12 ms through json_each, whose every `->>` parses the row's text again, and ~16 ms
    # with executemany). The placeholders are constant text, repeated; every value is bound. No id is
    # given: SQLite gives each new row the largest id so far plus one, so the ids follow the current
    # maximum in order (the caller holds the write lock: nothing else inserts meanwhile), which the
    # last id confirms. Giving them spares nothing and costs a lookup of each id (~0.7 ms for 5,000).
    first = int(conn.execute("SELECT coalesce(max(pair_id), 0) + 1 FROM buddy_pairs").fetchone()[0])
    for start in range(0, len(pairs), _INSERT_CHUNK):
        chunk = pairs[start : start + _INSERT_CHUNK]
        params: list[Any] = [guild_id, status, stamp, started]
        for member_id, buddy_id, group_role_id in chunk:
            place = waiting[member_id]
            params += (member_id, buddy_id, group_role_id, place[1], place[2])
        cursor = conn.execute(_insert_pairs_sql(len(chunk)), params)
    ids = range(first, first + len(pairs))
    if cursor.lastrowid != ids[-1]:
        raise RuntimeError(f"pairs {first}..{ids[-1]} were written with other ids (last {cursor.lastrowid})")
    return ids


def get_pair(conn: sqlite3.Connection, guild_id: int, pair_id: int) -> PairRow | None:
    """One pair of this server."""
    row = conn.execute(_PAIR_SELECT + "WHERE guild_id = ? AND pair_id = ?", (guild_id, pair_id)).fetchone()
    return None if row is None else _pair(row)


def live_pairs_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> list[PairRow]:
    """The member's proposed and active pairs, either side, oldest first."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND member_id = ? AND status IN ('proposed', 'active') "
        "UNION ALL " + _PAIR_SELECT + "WHERE guild_id = ? AND buddy_id = ? AND status IN ('proposed', 'active') "
        "ORDER BY pair_id",
        (guild_id, user_id, guild_id, user_id),
    ).fetchall()
    return [_pair(r) for r in rows]


def live_pair_between(conn: sqlite3.Connection, guild_id: int, a: int, b: int) -> PairRow | None:
    """The proposed or active pair of these two members, whichever way round."""
    row = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND min(member_id, buddy_id) = ? AND max(member_id, buddy_id) = ? "
        "AND status IN ('proposed', 'active')",
        (guild_id, min(a, b), max(a, b)),
    ).fetchone()
    return None if row is None else _pair(row)


def paired_before(conn: sqlite3.Connection, guild_id: int, a: int, b: int) -> bool:
    """Whether these two members had a pair that ended or was rejected."""
    row = conn.execute(
        "SELECT 1 FROM buddy_pairs WHERE guild_id = ? AND ((member_id = ? AND buddy_id = ?) OR "
        "(member_id = ? AND buddy_id = ?)) AND status IN ('ended', 'rejected') LIMIT 1",
        (guild_id, a, b, b, a),
    ).fetchone()
    return row is not None


def buddy_load(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """How many live pairs the member is the buddy (the one giving support) in."""
    row = conn.execute(
        "SELECT count(*) FROM buddy_pairs WHERE guild_id = ? AND buddy_id = ? AND status IN ('proposed', 'active')",
        (guild_id, user_id),
    ).fetchone()
    return int(row[0])


def loads(conn: sqlite3.Connection, guild_id: int) -> dict[int, int]:
    """Every buddy's number of live pairs."""
    rows = conn.execute(
        "SELECT buddy_id, count(*) FROM buddy_pairs WHERE guild_id = ? AND status IN ('proposed', 'active') "
        "GROUP BY buddy_id",
        (guild_id,),
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def partners_of(
    conn: sqlite3.Connection, guild_id: int, user_ids: Iterable[int], statuses: Sequence[str] = PAST
) -> dict[int, set[int]]:
    """For each of these members, everyone they share a pair with in one of ``statuses`` (by default
    the ended or rejected ones: those never made again automatically)."""
    wanted = _ids(user_ids)
    states = json.dumps(list(statuses))
    rows = conn.execute(
        "SELECT member_id, buddy_id FROM buddy_pairs WHERE guild_id = ? "
        "AND status IN (SELECT value FROM json_each(?)) AND member_id IN (SELECT value FROM json_each(?)) "
        "UNION ALL SELECT buddy_id, member_id FROM buddy_pairs WHERE guild_id = ? "
        "AND status IN (SELECT value FROM json_each(?)) AND buddy_id IN (SELECT value FROM json_each(?))",
        (guild_id, states, wanted, guild_id, states, wanted),
    ).fetchall()
    found: dict[int, set[int]] = {}
    for me, other in rows:
        found.setdefault(int(me), set()).add(int(other))
    return found


def live_pairs_in_group(conn: sqlite3.Connection, guild_id: int, role_id: int) -> list[PairRow]:
    """The proposed and active pairs of one group."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND group_role_id = ? AND status IN ('proposed', 'active') ORDER BY pair_id",
        (guild_id, role_id),
    ).fetchall()
    return [_pair(r) for r in rows]


def close_pair(
    conn: sqlite3.Connection,
    guild_id: int,
    pair_id: int,
    status: str,
    now: datetime,
    by: int | None,
    reason: str,
) -> None:
    """End an active pair ('ended'), or turn down ('rejected') or withdraw ('withdrawn') a proposal."""
    if status not in ("ended", "rejected", "withdrawn"):
        raise ValueError(f"cannot close a pair as {status!r}")
    stamp = to_timestamp(now)
    if status == "ended":
        conn.execute(
            "UPDATE buddy_pairs SET status = 'ended', ended_at = ?, ended_by = ?, end_reason = ? "
            "WHERE guild_id = ? AND pair_id = ? AND status = 'active'",
            (stamp, by, reason, guild_id, pair_id),
        )
    else:
        conn.execute(
            "UPDATE buddy_pairs SET status = ?, decided_at = ?, decided_by = ?, end_reason = ? "
            "WHERE guild_id = ? AND pair_id = ? AND status = 'proposed'",
            (status, stamp, by, reason, guild_id, pair_id),
        )


def activate_pair(conn: sqlite3.Connection, guild_id: int, pair_id: int, now: datetime, by: int | None) -> None:
    """Approve a proposed pair: it becomes active now."""
    conn.execute(
        "UPDATE buddy_pairs SET status = 'active', started_at = ?, decided_at = ?, decided_by = ? "
        "WHERE guild_id = ? AND pair_id = ? AND status = 'proposed'",
        (to_timestamp(now), to_timestamp(now), by, guild_id, pair_id),
    )


def set_proposal_message(
    conn: sqlite3.Connection, guild_id: int, pair_id: int, channel_id: int, message_id: int
) -> bool:
    """Remember where a proposal was posted (its Approve / Reject message); False if it is no longer
    proposed (decided or withdrawn meanwhile: nothing recorded)."""
    cursor = conn.execute(
        "UPDATE buddy_pairs SET proposal_channel_id = ?, proposal_message_id = ? "
        "WHERE guild_id = ? AND pair_id = ? AND status = 'proposed'",
        (channel_id, message_id, guild_id, pair_id),
    )
    return cursor.rowcount == 1


def proposals_of(conn: sqlite3.Connection, guild_id: int) -> list[PairRow]:
    """The server's proposed pairs (awaiting a moderator's decision), posted or not, oldest first."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND status = 'proposed' ORDER BY pair_id", (guild_id,)
    ).fetchall()
    return [_pair(r) for r in rows]


def list_proposals(conn: sqlite3.Connection, guild_id: int, limit: int = -1, offset: int = 0) -> list[PairRow]:
    """The server's proposed pairs, oldest first, paged (as :func:`proposals_of`)."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND status = 'proposed' ORDER BY pair_id LIMIT ? OFFSET ?",
        (guild_id, limit, offset),
    ).fetchall()
    return [_pair(r) for r in rows]


def count_proposals(conn: sqlite3.Connection, guild_id: int) -> int:
    """How many proposed pairs await a moderator's decision in the server."""
    row = conn.execute("SELECT count(*) FROM buddy_pairs WHERE guild_id = ? AND status = 'proposed'", (guild_id,))
    return int(row.fetchone()[0])


def list_active_pairs(conn: sqlite3.Connection, guild_id: int, limit: int = -1, offset: int = 0) -> list[PairRow]:
    """The server's active pairs, oldest first, paged."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND status = 'active' ORDER BY started_at, pair_id LIMIT ? OFFSET ?",
        (guild_id, limit, offset),
    ).fetchall()
    return [_pair(r) for r in rows]


def count_active_pairs(conn: sqlite3.Connection, guild_id: int) -> int:
    """How many active pairs the server has."""
    row = conn.execute("SELECT count(*) FROM buddy_pairs WHERE guild_id = ? AND status = 'active'", (guild_id,))
    return int(row.fetchone()[0])


# --------------------------------------------------------------------------- introductions


def record_introduction(
    conn: sqlite3.Connection, guild_id: int, pair_id: int, thread_id: int | None, now: datetime
) -> None:
    """Record that the pair was introduced, in a thread or (``thread_id`` None) by DM."""
    conn.execute(
        "UPDATE buddy_pairs SET introduced_at = ?, intro_thread_id = ? WHERE guild_id = ? AND pair_id = ?",
        (to_timestamp(now), thread_id, guild_id, pair_id),
    )


def record_thread_activity(
    conn: sqlite3.Connection, guild_id: int, thread_id: int, author_id: int, now: datetime
) -> bool:
    """Note a message of one of the two members in their intro thread; False if the thread is no
    pair's or the author is neither member."""
    cursor = conn.execute(
        "UPDATE buddy_pairs SET last_activity_at = ? WHERE guild_id = ? AND intro_thread_id = ? "
        "AND status = 'active' AND ? IN (member_id, buddy_id)",
        (to_timestamp(now), guild_id, thread_id, author_id),
    )
    return cursor.rowcount > 0


def due_reminders(conn: sqlite3.Connection, introduced_before: datetime, limit: int = 100) -> list[PairRow]:
    """Active pairs of every server introduced in a thread before the given time, in which neither
    member has written and no reminder was sent yet; oldest first."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE status = 'active' AND intro_thread_id IS NOT NULL AND last_activity_at IS NULL "
        "AND reminded_at IS NULL AND introduced_at <= ? ORDER BY introduced_at, pair_id LIMIT ?",
        (to_timestamp(introduced_before), limit),
    ).fetchall()
    return [_pair(r) for r in rows]


def mark_reminded(conn: sqlite3.Connection, guild_id: int, pair_id: int, now: datetime) -> bool:
    """Record the one reminder; False if it was already recorded."""
    cursor = conn.execute(
        "UPDATE buddy_pairs SET reminded_at = ? WHERE guild_id = ? AND pair_id = ? AND reminded_at IS NULL",
        (to_timestamp(now), guild_id, pair_id),
    )
    return cursor.rowcount == 1


def pairs_to_introduce(conn: sqlite3.Connection, guild_id: int) -> list[PairRow]:
    """Active pairs not introduced yet (the introduction failed, or the bot stopped before it)."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND status = 'active' AND introduced_at IS NULL ORDER BY pair_id",
        (guild_id,),
    ).fetchall()
    return [_pair(r) for r in rows]


# --------------------------------------------------------------------------- matching inputs

_IN_GROUPS = " AND group_role_id IN (SELECT value FROM json_each(?))"


def _tuples(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows as plain tuples (the connection's row factory makes sqlite3.Row objects, which cost
    more to build and do not compare)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params).fetchall()


def anyone_waiting(conn: sqlite3.Connection, guild_id: int, groups: Collection[int] | None = None) -> bool:
    """Whether a member of a group (of ``groups``, if given) waits for a buddy."""
    if groups is None:
        sql = "SELECT 1 FROM buddy_queue WHERE guild_id = ? AND group_role_id IS NOT NULL LIMIT 1"
        return conn.execute(sql, (guild_id,)).fetchone() is not None
    sql = "SELECT 1 FROM buddy_queue WHERE guild_id = ? AND group_role_id IN (SELECT value FROM json_each(?)) LIMIT 1"
    return conn.execute(sql, (guild_id, _ids(groups))).fetchone() is not None


def waiting_in_group(conn: sqlite3.Connection, guild_id: int, group_role_id: int) -> sqlite3.Cursor:
    """A cursor over (user_id, queued_at, first_in_line) of the group's waiting members in queue
    order, from ``buddy_queue_by_group``: a matching run fetches only as many as it needs (the
    group is the one asked for: not read again for each member). Close it before the transaction
    writes."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(
        "SELECT user_id, queued_at, first_in_line FROM buddy_queue "
        "WHERE guild_id = ? AND group_role_id = ? ORDER BY first_in_line DESC, queued_at, user_id",
        (guild_id, group_role_id),
    )


def matching_volunteers(
    conn: sqlite3.Connection, guild_id: int, joined_before: datetime, groups: Collection[int] | None = None
) -> list[tuple[int, int, int | None]]:
    """(user_id, group_role_id, max_buddies) of available volunteers in one group, still in the
    server, who joined it no later than ``joined_before``; only ``groups`` if given. Each group's in
    the matcher's rank order (join time, then user id: what :func:`~bot.services.matching.
    places_in_rank_order` takes), the groups by id.

    From ``buddy_volunteers_by_group`` alone, in its order (migration 0011: the offer's copies of
    the member's group and join time, an available offer is always of a member still in the server;
    0015: the user id before the maximum): one range a group, the server's volunteers, not all its
    members, no lookup of the member per volunteer and no sort."""
    sql = (
        "SELECT user_id, group_role_id, max_buddies FROM buddy_volunteers "
        "WHERE guild_id = ? AND available = 1 AND joined_at <= ? "
    )
    order = " ORDER BY group_role_id, joined_at, user_id"
    if groups is None:
        return _tuples(conn, sql + "AND group_role_id IS NOT NULL" + order, [guild_id, to_timestamp(joined_before)])
    return _tuples(
        conn,
        sql + _IN_GROUPS + order,
        [guild_id, to_timestamp(joined_before), _ids(groups)],
    )


def matching_current(
    conn: sqlite3.Connection, guild_id: int, groups: Collection[int] | None = None
) -> list[tuple[int, int]]:
    """(member_id, buddy_id) of the live pairs; only ``groups`` if given."""
    sql = "SELECT member_id, buddy_id FROM buddy_pairs WHERE guild_id = ? AND status IN ('proposed', 'active')"
    params: list[Any] = [guild_id]
    if groups is not None:
        sql += _IN_GROUPS
        params.append(_ids(groups))
    return _tuples(conn, sql, params)


_PAST_SCAN_PER_MEMBER = 4
"""Reading the server's past pairs in one range costs about a quarter of looking up one member's
(both ways round): worth it while there are at most this many past pairs per member asked about."""


def matching_past(conn: sqlite3.Connection, guild_id: int, user_ids: Collection[int]) -> list[tuple[int, int]]:
    """(member_id, buddy_id) of the ended or rejected pairs involving any of ``user_ids`` (a matching
    run asks about the volunteers with a free place: only their past pairs can rule a place out).

    The server's past pairs are read in one range of ``buddy_pairs_past`` (stopping as soon as there
    are more than a few per member asked about) and those involving a member kept; when there are
    more, each member's are looked up (never a scan of the server's past pairs, which grow with every
    pairing, for a few members)."""
    if not user_ids:
        return []
    ids = user_ids if isinstance(user_ids, AbstractSet) else set(user_ids)
    limit = _PAST_SCAN_PER_MEMBER * len(ids)
    rows: list[tuple[int, int]] = _tuples(
        conn,
        "SELECT member_id, buddy_id FROM buddy_pairs WHERE guild_id = ? AND status IN ('ended', 'rejected') LIMIT ?",
        [guild_id, limit + 1],
    )
    if len(rows) <= limit:
        return [r for r in rows if r[0] in ids or r[1] in ids]
    return _tuples(
        conn,
        "WITH w (user_id) AS (SELECT value FROM json_each(?)) "
        "SELECT p.member_id, p.buddy_id FROM w CROSS JOIN buddy_pairs p ON p.guild_id = ? "
        "  AND p.member_id = w.user_id AND p.status IN ('ended', 'rejected') "
        "UNION ALL SELECT p.member_id, p.buddy_id FROM w CROSS JOIN buddy_pairs p INDEXED BY buddy_pairs_by_buddy "
        "  ON p.guild_id = ? AND p.buddy_id = w.user_id AND p.status IN ('ended', 'rejected') "
        "  AND p.member_id NOT IN (SELECT user_id FROM w)",
        [_ids(ids), guild_id, guild_id],
    )


# --------------------------------------------------------------------------- a member's data (privacy)


def pairs_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> list[PairRow]:
    """Every pairing of the member in this server, live or past, either side, oldest first."""
    rows = conn.execute(
        _PAIR_SELECT + "WHERE guild_id = ? AND member_id = ? "
        "UNION ALL " + _PAIR_SELECT + "WHERE guild_id = ? AND buddy_id = ? ORDER BY pair_id",
        (guild_id, user_id, guild_id, user_id),
    ).fetchall()
    return [_pair(r) for r in rows]


@dataclass(frozen=True, slots=True)
class MemberData:
    """Everything of the buddy tables about one member in one server (``/privacy export``)."""

    member: MemberRow | None
    group_roles: frozenset[int]
    queue: QueueRow | None
    volunteer: VolunteerRow | None
    pairs: list[PairRow]
    """Their own pairings, either side."""
    handled_pairs: list[int]
    """Other members' pairings they made, decided or ended as a moderator (ids only)."""
    groups_added: list[int]
    """Matching groups (role ids) they added as a moderator."""

    @property
    def empty(self) -> bool:
        """Nothing is stored."""
        return (
            self.member is None
            and not self.group_roles
            and self.queue is None
            and self.volunteer is None
            and not self.pairs
            and not self.handled_pairs
            and not self.groups_added
        )


_HANDLED = (
    "SELECT pair_id FROM buddy_pairs WHERE guild_id = ? AND member_id <> ? AND buddy_id <> ? "
    "AND (created_by = ? OR decided_by = ? OR ended_by = ?) ORDER BY pair_id"
)


def member_data(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberData:
    """What the buddy tables hold about the member in this server."""
    handled = conn.execute(_HANDLED, (guild_id, user_id, user_id, user_id, user_id, user_id)).fetchall()
    groups = conn.execute(
        "SELECT role_id FROM buddy_groups WHERE guild_id = ? AND added_by = ? ORDER BY role_id", (guild_id, user_id)
    ).fetchall()
    return MemberData(
        member=get_member(conn, guild_id, user_id),
        group_roles=group_roles_of(conn, guild_id, user_id),
        queue=queue_entry(conn, guild_id, user_id),
        volunteer=get_volunteer(conn, guild_id, user_id),
        pairs=pairs_of(conn, guild_id, user_id),
        handled_pairs=[int(r[0]) for r in handled],
        groups_added=[int(r[0]) for r in groups],
    )


def delete_member_data(conn: sqlite3.Connection, guild_id: int, user_id: int, replacement: int) -> int:
    """Erase the member's buddy data in this server: their pairings (live ones must have been ended
    first), queue entry, volunteering, group roles and member row; where they acted as a moderator on
    other members' pairings or added a group, their id becomes ``replacement``. Returns the rows changed."""
    changed = 0
    for sql in (
        "DELETE FROM buddy_pairs WHERE guild_id = ? AND member_id = ?",
        "DELETE FROM buddy_pairs WHERE guild_id = ? AND buddy_id = ?",
        "DELETE FROM buddy_queue WHERE guild_id = ? AND user_id = ?",
        "DELETE FROM buddy_volunteers WHERE guild_id = ? AND user_id = ?",
        "DELETE FROM buddy_member_roles WHERE guild_id = ? AND user_id = ?",
        "DELETE FROM buddy_members WHERE guild_id = ? AND user_id = ?",
    ):
        changed += conn.execute(sql, (guild_id, user_id)).rowcount
    for column in ("created_by", "decided_by", "ended_by"):
        changed += conn.execute(
            f"UPDATE buddy_pairs SET {column} = ? WHERE guild_id = ? AND {column} = ?",  # noqa: S608 (constant names)
            (replacement, guild_id, user_id),
        ).rowcount
    changed += conn.execute(
        "UPDATE buddy_groups SET added_by = ? WHERE guild_id = ? AND added_by = ?", (replacement, guild_id, user_id)
    ).rowcount
    return changed

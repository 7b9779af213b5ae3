"""A member's local "now" inside a unit of work: their timezone, today, and the once-only notice.

Until a member sets their timezone, UTC is used and the bot says so once: the first reply that
depends on the timezone carries ``notice=True`` (and the flag is stored, so no later reply does).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.db.repositories import checkins as repo
from bot.db.repositories.guilds import ensure_guild
from bot.services.localtime import DEFAULT_TIMEZONE, epoch_day, local_date, zone_for

__all__ = ["MemberTime", "member_time"]


@dataclass(frozen=True, slots=True)
class MemberTime:
    """Where and when a member is, as far as their check-ins are concerned."""

    timezone: str
    """The IANA name in use (``"UTC"`` until the member sets theirs)."""
    timezone_set: bool
    zone: ZoneInfo
    today: date
    notice: bool
    """Tell the member now that their timezone is not set (true once per member and server)."""

    @property
    def today_day(self) -> int:
        """Today as an epoch day."""
        return epoch_day(self.today)


def member_time(
    conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime, *, take_notice: bool = True
) -> MemberTime:
    """The member's timezone and local today; with ``take_notice``, also claim the once-only notice.

    Claiming the notice writes, so it needs a write transaction (only when the notice is due).
    """
    member = repo.get_member(conn, guild_id, user_id)
    name = None if member is None else member.timezone
    zone = zone_for(name)
    notice = False
    if name is None and take_notice and (member is None or not member.tz_notice_shown):
        ensure_guild(conn, guild_id, now)
        repo.mark_timezone_notice_shown(conn, guild_id, user_id)
        notice = True
    return MemberTime(
        timezone=name if name is not None and zone.key == name else DEFAULT_TIMEZONE,
        timezone_set=name is not None,
        zone=zone,
        today=local_date(now, zone),
        notice=notice,
    )

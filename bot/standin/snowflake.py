"""Snowflake ids and timestamps the way Discord makes them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Hands out increasing snowflakes whose timestamp part is the current time."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """Return a fresh snowflake, strictly greater than every earlier one."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        value = ((now_ms - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0xFFF)
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def iso(moment: datetime) -> str:
    """Discord's ISO-8601 timestamp with offset."""
    return moment.astimezone(UTC).isoformat()


def now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)

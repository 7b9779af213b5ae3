"""Time in one place: aware UTC datetimes, their storage form, and an injectable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "from_timestamp", "to_timestamp", "utc_now"]

Clock = Callable[[], datetime]
"""A function returning the current time as an aware UTC datetime (tests pass a fake one)."""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> int:
    """The storage form of an aware datetime: whole Unix seconds (UTC by definition)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: every stored time must be timezone-aware")
    return int(moment.timestamp())


def from_timestamp(seconds: int) -> datetime:
    """The aware UTC datetime of a stored timestamp."""
    return datetime.fromtimestamp(seconds, UTC)


class ManualClock:
    """A clock that stands still until moved: the tests' clock, and the demo's (days in seconds)."""

    def __init__(self, now: datetime) -> None:
        if now.utcoffset() is None:
            raise ValueError("naive datetime: the clock keeps aware UTC time")
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward (``days=``, ``hours=``, …) and return the new time."""
        self.now += timedelta(**delta)
        return self.now

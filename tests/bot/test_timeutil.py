"""Tests of the time helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.timeutil import from_timestamp, to_timestamp, utc_now


def test_now_is_aware_utc() -> None:
    """The clock gives aware UTC times."""
    assert utc_now().utcoffset() == timedelta(0)


def test_round_trip_converts_to_utc() -> None:
    """A time in any zone is stored as the same instant and read back in UTC."""
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    back = from_timestamp(to_timestamp(moment))
    assert back == moment
    assert back.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    """A naive datetime cannot be stored."""
    with pytest.raises(ValueError, match="naive"):
        to_timestamp(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test

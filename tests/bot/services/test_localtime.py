"""Tests of local-day arithmetic, DST handling and the parsing of times, dates and timezones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UserError
from bot.services.localtime import (
    canonical_timezone,
    epoch_day,
    format_hhmm,
    from_epoch_day,
    local_date,
    local_instant,
    next_local_occurrence,
    parse_date,
    parse_hhmm,
    timezone_suggestions,
    zone_for,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def test_epoch_days_round_trip() -> None:
    """Epoch days count from 1970-01-01 and convert back exactly, before 1970 too."""
    assert epoch_day(date(1970, 1, 1)) == 0
    assert epoch_day(date(2024, 3, 10)) == 19792
    for day in (date(1900, 1, 1), date(1999, 12, 31), date(2024, 2, 29), date(2060, 1, 1)):
        assert from_epoch_day(epoch_day(day)) == day


def test_local_date_depends_on_zone() -> None:
    """The same instant is a different calendar date on either side of the world."""
    moment = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    assert local_date(moment, ZoneInfo("UTC")) == date(2024, 5, 1)
    assert local_date(moment, ZoneInfo("Asia/Tokyo")) == date(2024, 5, 2)
    assert local_date(moment, ZoneInfo("America/Los_Angeles")) == date(2024, 5, 1)
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2024, 5, 1), NEW_YORK)  # noqa: DTZ001


def test_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    """02:30 on New York's spring-forward day does not exist; it happens at 03:30 EDT."""
    instant = local_instant(date(2024, 3, 10), 2 * 60 + 30, NEW_YORK)
    assert instant == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    assert instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_ambiguous_local_time_is_its_first_occurrence() -> None:
    """01:30 happens twice on the fall-back day; the reminder is at the first (EDT) one."""
    instant = local_instant(date(2024, 11, 3), 90, NEW_YORK)
    assert instant == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    assert instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"


def test_ordinary_local_times_convert_exactly() -> None:
    """Outside the changes, a wall-clock time maps to its instant with the day's offset."""
    assert local_instant(date(2024, 1, 15), 20 * 60, BERLIN) == datetime(2024, 1, 15, 19, 0, tzinfo=UTC)
    assert local_instant(date(2024, 7, 15), 20 * 60, BERLIN) == datetime(2024, 7, 15, 18, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        local_instant(date(2024, 7, 15), 1440, BERLIN)


def test_next_occurrence_today_tomorrow_and_not_before_min_day() -> None:
    """The next 20:00 is today if still ahead, else tomorrow, and never before ``min_day``."""
    morning = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    assert next_local_occurrence(morning, ZoneInfo("UTC"), 20 * 60) == (
        date(2024, 6, 1),
        datetime(2024, 6, 1, 20, 0, tzinfo=UTC),
    )
    exactly = datetime(2024, 6, 1, 20, 0, tzinfo=UTC)
    assert next_local_occurrence(exactly, ZoneInfo("UTC"), 20 * 60)[0] == date(2024, 6, 2)
    assert next_local_occurrence(morning, ZoneInfo("UTC"), 20 * 60, min_day=date(2024, 6, 2))[0] == date(2024, 6, 2)


def test_next_occurrence_across_spring_forward_keeps_local_time() -> None:
    """A daily 20:00 in New York is 01:00 UTC before the change and 00:00 UTC after it."""
    before = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)
    day, first = next_local_occurrence(before, NEW_YORK, 20 * 60)
    assert (day, first) == (date(2024, 3, 9), datetime(2024, 3, 10, 1, 0, tzinfo=UTC))
    day, second = next_local_occurrence(first, NEW_YORK, 20 * 60)
    assert (day, second) == (date(2024, 3, 10), datetime(2024, 3, 11, 0, 0, tzinfo=UTC))
    assert (second - first).total_seconds() == 23 * 3600


def test_zone_for_defaults_to_utc() -> None:
    """No name, or a name the machine lacks, gives UTC; a known one gives that zone."""
    assert zone_for(None).key == "UTC"
    assert zone_for("Not/AZone").key == "UTC"
    assert zone_for("Europe/Berlin").key == "Europe/Berlin"


@pytest.mark.parametrize(("text", "minute"), [("00:00", 0), ("7:05", 425), ("08:30", 510), (" 23:59 ", 1439)])
def test_parse_hhmm_accepts_24_hour_times(text: str, minute: int) -> None:
    """HH:MM (or H:MM) on the 24-hour clock gives the minute of the day, and formats back."""
    assert parse_hhmm(text) == minute
    assert format_hhmm(minute) == f"{minute // 60:02d}:{minute % 60:02d}"


@pytest.mark.parametrize("text", ["24:00", "12:60", "8pm", "0830", "", "12:5", "-1:00", "12:00:00"])
def test_parse_hhmm_rejects_anything_else_kindly(text: str) -> None:
    """Invalid times are a UserError that shows the expected format."""
    with pytest.raises(UserError, match="HH:MM") as caught:
        parse_hhmm(text)
    assert "08:30" in caught.value.message


def test_parse_hhmm_accepts_other_scripts_digits() -> None:
    """Digits typed on a full-width or other keyboard are read as the same time."""
    assert parse_hhmm("１２:３０") == 750


def test_parse_date() -> None:
    """YYYY-MM-DD parses; other formats and impossible dates are clear UserErrors."""
    assert parse_date(" 2024-02-29 ") == date(2024, 2, 29)
    with pytest.raises(UserError, match="real calendar date"):
        parse_date("2023-02-29")
    with pytest.raises(UserError, match="YYYY-MM-DD"):
        parse_date("29/02/2024")
    with pytest.raises(UserError, match="…"):
        parse_date("x" * 500)  # long input is shortened in the message


def test_canonical_timezone_forgives_case_and_spaces() -> None:
    """Names are matched ignoring case, with spaces for underscores."""
    assert canonical_timezone("europe/berlin") == "Europe/Berlin"
    assert canonical_timezone("America/New York") == "America/New_York"
    assert canonical_timezone("utc") == "UTC"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "localtime", "Europe/"])
def test_canonical_timezone_rejects_unknown_names(name: str) -> None:
    """Unknown or unsafe names are a UserError with examples."""
    with pytest.raises(UserError, match="Europe/London"):
        canonical_timezone(name)


def test_timezone_suggestions_rank_prefix_then_city_then_substring() -> None:
    """Typing a region, a city or part of a name finds it; results are valid and limited."""
    assert timezone_suggestions("europe/ber")[0] == "Europe/Berlin"
    assert timezone_suggestions("paris")[0] == "Europe/Paris"
    new_york = timezone_suggestions("new york")
    assert new_york[0] == "America/New_York"
    america = timezone_suggestions("america", limit=25)
    assert len(america) == 25 and all(name.startswith("America/") for name in america)
    assert "America/Argentina/Buenos_Aires" in timezone_suggestions("buenos")
    assert timezone_suggestions("zzzz-nothing") == []
    assert timezone_suggestions("a", limit=0) == []


def test_timezone_suggestions_for_nothing_typed_are_common_zones() -> None:
    """An empty prefix offers widely used zones, all valid names."""
    popular = timezone_suggestions("", limit=25)
    assert popular[0] == "UTC" and "Europe/London" in popular and len(popular) <= 25
    assert all(canonical_timezone(name) == name for name in popular)

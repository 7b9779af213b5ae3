"""Local-day arithmetic in a member's timezone: pure functions, no database, no Discord.

A member's "day" is their local calendar date. It is stored as an *epoch day* (days since
1970-01-01), which is small (2 bytes in SQLite until 2059) and makes "consecutive days" plain
integer arithmetic. Instants are aware UTC datetimes, as everywhere in the bot.

DST: a local wall-clock time on a given day is turned into an instant with ``fold=0``:

* a time that does not exist (the clocks jump forward over it, e.g. 02:30 on the spring
  change in New York) is moved forward by the length of the jump (02:30 -> 03:30), so it still
  happens that day;
* a time that exists twice (the clocks go back, e.g. 01:30 on the autumn change) means its
  first occurrence, so it happens once.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import UserError

__all__ = [
    "DEFAULT_TIMEZONE",
    "EPOCH",
    "MINUTES_PER_DAY",
    "canonical_timezone",
    "epoch_day",
    "format_hhmm",
    "from_epoch_day",
    "local_date",
    "local_instant",
    "next_local_occurrence",
    "parse_date",
    "parse_hhmm",
    "timezone_suggestions",
    "zone_for",
]

EPOCH = date(1970, 1, 1)
_EPOCH_ORDINAL = EPOCH.toordinal()
MINUTES_PER_DAY = 24 * 60
DEFAULT_TIMEZONE = "UTC"
"""The timezone used until a member sets theirs."""

# Names zoneinfo lists that are not places a member lives in.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# Offered when the member has typed nothing yet.
_POPULAR = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Vancouver",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Manila",
    "Australia/Sydney",
    "Australia/Perth",
    "Pacific/Auckland",
)
_MAX_SHOWN_INPUT = 60
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def epoch_day(day: date) -> int:
    """The epoch day (days since 1970-01-01) of a calendar date."""
    return day.toordinal() - _EPOCH_ORDINAL


def from_epoch_day(number: int) -> date:
    """The calendar date of an epoch day."""
    return date.fromordinal(number + _EPOCH_ORDINAL)


def zone_for(name: str | None) -> ZoneInfo:
    """The zone of a stored timezone name; UTC for ``None`` (not set) or a name this machine lacks."""
    if name is None:
        return ZoneInfo(DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Only possible if the machine's tz database lost a name a member chose earlier.
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar date of an aware instant in ``zone``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: instants must be timezone-aware")
    return moment.astimezone(zone).date()


def local_instant(day: date, minute_of_day: int, zone: tzinfo) -> datetime:
    """The UTC instant of the wall-clock time ``minute_of_day`` on ``day`` in ``zone``.

    A nonexistent time (DST gap) is moved forward by the gap; an ambiguous one (DST overlap)
    is its first occurrence. See the module docstring.
    """
    if not 0 <= minute_of_day < MINUTES_PER_DAY:
        raise ValueError(f"minute_of_day must be in 0..1439, not {minute_of_day}")
    hour, minute = divmod(minute_of_day, 60)
    wall = datetime.combine(day, time(hour, minute, fold=0), tzinfo=zone)
    return wall.astimezone(UTC)


def next_local_occurrence(
    after: datetime, zone: tzinfo, minute_of_day: int, *, min_day: date | None = None
) -> tuple[date, datetime]:
    """The first local day (not before ``min_day``) whose ``minute_of_day`` is strictly after ``after``.

    Returns that day and the UTC instant.
    """
    day = local_date(after, zone)
    if min_day is not None and day < min_day:
        day = min_day
    while True:
        instant = local_instant(day, minute_of_day, zone)
        if instant > after:
            return day, instant
        day += timedelta(days=1)


# --------------------------------------------------------------------------- parsing member input


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 1] + "…"


def parse_hhmm(text: str) -> int:
    """The minute of the day of a 24-hour ``HH:MM`` time (``7:05`` is accepted too)."""
    match = _HHMM.fullmatch(text.strip())
    if match is not None:
        hour, minute = int(match[1]), int(match[2])
        if hour < 24 and minute < 60:
            return hour * 60 + minute
    raise UserError(
        f"“{_shown(text)}” isn't a time I can use. Please give it as HH:MM on the 24-hour clock, "
        "for example 08:30 or 21:00."
    )


def format_hhmm(minute_of_day: int) -> str:
    """``HH:MM`` for a minute of the day."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def parse_date(text: str) -> date:
    """A ``YYYY-MM-DD`` calendar date; a :class:`UserError` otherwise."""
    match = _ISO_DATE.fullmatch(text.strip())
    if match is not None:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise UserError(
                f"{text.strip()} isn't a real calendar date. Please check the month and day "
                "(YYYY-MM-DD, for example 2024-03-15)."
            ) from None
    raise UserError(f"“{_shown(text)}” isn't a date I can read. Please give it as YYYY-MM-DD, for example 2024-03-15.")


@functools.cache
def _zones_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones() if name not in _NOT_ZONES}


@functools.cache
def _sorted_zones() -> tuple[str, ...]:
    # Region/City names first, then the legacy aliases (EST, GB, Japan…), each alphabetically.
    return tuple(sorted(_zones_by_folded_name().values(), key=lambda n: ("/" not in n and n != "UTC", n)))


def _fold_input(text: str) -> str:
    return "_".join(text.strip().split()).casefold()


def canonical_timezone(name: str) -> str:
    """The exact IANA name for ``name`` (case and spaces forgiven); a :class:`UserError` if unknown."""
    found = _zones_by_folded_name().get(_fold_input(name))
    if found is None:
        raise UserError(
            f"I don't know the timezone “{_shown(name)}”. Please pick one from the list as you type: "
            "they are named Region/City, for example Europe/London, America/New_York or Asia/Kolkata."
        )
    return found


def timezone_suggestions(prefix: str, limit: int = 25) -> list[str]:
    """Timezone names for autocomplete, best first, at most ``limit``.

    Ranking: names starting with what was typed, then names with a part (the city, after a
    ``/``) starting with it, then names containing it. Case and spaces (for ``_``) are forgiven.
    Nothing typed gives a list of widely used zones.
    """
    if limit <= 0:
        return []
    typed = _fold_input(prefix)
    if not typed:
        known = _zones_by_folded_name()
        return [name for name in _POPULAR if name.casefold() in known][:limit]
    starts: list[str] = []
    part_starts: list[str] = []
    contains: list[str] = []
    for name in _sorted_zones():
        folded = name.casefold()
        if folded.startswith(typed):
            starts.append(name)
        elif any(part.startswith(typed) for part in folded.split("/")[1:]):
            part_starts.append(name)
        elif typed in folded:
            contains.append(name)
    return (starts + part_starts + contains)[:limit]

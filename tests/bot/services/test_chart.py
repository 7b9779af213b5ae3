"""Tests of the history chart: a real PNG of sane size, with gaps, not-sober marks and a legend."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image

from bot.db.connection import Database
from bot.services.chart import render_history_chart
from bot.services.checkins import Checkin, CheckinService, History, HistoryDay, HistorySummary
from bot.services.guidance import GuidanceLibrary
from tests.bot.services.checkin_fakes import G1, U1, FakeClock, at

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MOOD_BLUE = (52, 101, 194)
CRAVING_ORANGE = (222, 118, 22)
NOT_SOBER_RED = (196, 40, 40)


def _history(days: int, checkins: dict[int, tuple[int, int | None, bool | None]]) -> History:
    """A history of ``days`` days ending 30 April 2024, with check-ins at the given day indexes."""
    last = date(2024, 4, 30)
    entries = []
    for index in range(days):
        day = last - timedelta(days=days - 1 - index)
        value = checkins.get(index)
        checkin = None if value is None else Checkin(day, value[0], value[1], value[2], None, datetime.now(UTC))
        entries.append(HistoryDay(day, checkin))
    made = [e.checkin for e in entries if e.checkin is not None]
    summary = HistorySummary(
        first_day=entries[0].day,
        last_day=last,
        day_count=days,
        checkins=len(made),
        not_sober_days=sum(1 for c in made if not c.sober),
        current_streak=0,
        longest_streak=0,
        average_mood=None,
        average_craving=None,
        timezone="UTC",
        timezone_notice=False,
    )
    return History(summary, tuple(entries))


def _decode(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def _colours(image: Image.Image) -> list[tuple[int, tuple[int, ...]]]:
    colours = image.getcolors(maxcolors=image.width * image.height)
    assert colours is not None
    return colours  # type: ignore[return-value]


def _count_near(image: Image.Image, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> int:
    return sum(count for count, pixel in _colours(image.crop(box)) if _near(pixel, colour))


@pytest.mark.parametrize("days", [7, 30, 90])
def test_chart_is_a_real_png_of_sane_size(days: int) -> None:
    """Any period renders to a decodable 800x420 PNG of a reasonable number of bytes."""
    history = _history(days, {i: (1 + i % 5, i % 11, i % 6 != 0) for i in range(0, days, 2)})
    png = render_history_chart(history)
    image = _decode(png)
    assert image.size == (800, 420)
    assert 5_000 < len(png) < 500_000
    assert len(_colours(image)) > 20  # drawn, not a blank canvas


def test_chart_draws_both_series_and_marks_not_sober_days() -> None:
    """Mood (blue) and craving (orange) are drawn; a not-sober day has a red cross under the axis."""
    history = _history(7, {0: (5, 0, True), 1: (4, 2, True), 3: (1, 9, False), 4: (2, 8, True)})
    image = _decode(render_history_chart(history))
    plot = (92, 58, 738, 328)
    assert _count_near(image, MOOD_BLUE, plot) > 100
    assert _count_near(image, CRAVING_ORANGE, plot) > 100
    # The cross sits under the plot, in the slot of day index 3 (of 7).
    slot = (738 - 92) / 7
    cross_x = int(92 + slot * 3.5)
    assert _count_near(image, NOT_SOBER_RED, (cross_x - 8, 330, cross_x + 8, 350)) > 10
    other_x = int(92 + slot * 1.5)
    assert _count_near(image, NOT_SOBER_RED, (other_x - 8, 330, other_x + 8, 350)) == 0


def test_gap_days_leave_a_gap_in_the_lines() -> None:
    """Between two check-ins with missing days in between, no line is drawn across the gap."""
    history = _history(7, {0: (3, 5, True), 1: (3, 5, True), 5: (3, 5, True), 6: (3, 5, True)})
    image = _decode(render_history_chart(history))
    slot = (738 - 92) / 7
    y_mood = int(328 - (3 - 1) / 4 * (328 - 58))
    joined = (int(92 + slot * 0.7), y_mood - 3, int(92 + slot * 1.3), y_mood + 3)
    gap = (int(92 + slot * 2.8), y_mood - 3, int(92 + slot * 4.2), y_mood + 3)
    assert _count_near(image, MOOD_BLUE, joined) > 10
    assert _count_near(image, MOOD_BLUE, gap) == 0


def test_uncompleted_quick_checkin_shows_mood_only() -> None:
    """A quick check-in without craving draws its mood point and leaves the craving line broken."""
    history = _history(7, {2: (3, 5, True), 3: (3, None, None), 4: (3, 5, True)})
    image = _decode(render_history_chart(history))
    slot = (738 - 92) / 7
    x = int(92 + slot * 3.5)
    y_mood = int(328 - (3 - 1) / 4 * (328 - 58))
    y_craving = int(328 - 5 / 10 * (328 - 58))
    assert _count_near(image, MOOD_BLUE, (x - 4, y_mood - 4, x + 4, y_mood + 4)) > 10
    assert _count_near(image, CRAVING_ORANGE, (x - 4, y_craving - 4, x + 4, y_craving + 4)) == 0
    assert _count_near(image, NOT_SOBER_RED, (x - 8, 330, x + 8, 350)) == 0


def test_empty_history_still_renders() -> None:
    """A period without check-ins renders axes and a message, no series."""
    image = _decode(render_history_chart(_history(30, {})))
    plot = (93, 59, 737, 327)
    assert _count_near(image, CRAVING_ORANGE, plot) == 0
    assert _count_near(image, (110, 116, 125), plot) > 50  # the grey "no check-ins" message


def test_chart_size_can_be_chosen() -> None:
    """Width and height are honoured."""
    image = _decode(render_history_chart(_history(14, {3: (3, 3, True)}), width=640, height=360))
    assert image.size == (640, 360)


async def test_chart_of_a_real_history(db: Database) -> None:
    """A history from the service renders, end to end."""
    clock = FakeClock(at("UTC", 2024, 4, 1, 9))
    service = CheckinService(db, clock, GuidanceLibrary.load())
    for n in range(20):
        if n % 4 != 3:
            await service.record_checkin(G1, U1, 1 + n % 5, n % 11, n % 7 != 0)
        clock.advance(days=1)
    history = await service.history(G1, U1, 30)
    assert history.summary.checkins == 15
    assert _decode(render_history_chart(history)).size == (800, 420)

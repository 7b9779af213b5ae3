"""The check-in history chart: a PNG of mood and craving per day, drawn with Pillow.

Mood (1–5, left axis) and craving (0–10, right axis) share the plot; a line joins two points
only on consecutive days, so a day without a check-in is a visible gap. Days not sober are
shaded and marked with a red cross under the axis. Pillow rather than matplotlib: it
imports in a few milliseconds and draws this chart in tens of them. Lines are drawn at twice the
size and scaled down, which smooths them. The default font is Pillow's bundled one, so no
font files are needed.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from bot.services.checkins import MOOD_LABELS, History

__all__ = ["render_history_chart"]

_SCALE = 2  # supersampling factor
_BACKGROUND = (255, 255, 255)
_PLOT_BACKGROUND = (248, 249, 251)
_GRID = (222, 226, 232)
_AXIS = (120, 126, 135)
_TEXT = (40, 44, 52)
_MUTED = (110, 116, 125)
_MOOD = (52, 101, 194)  # blue
_CRAVING = (222, 118, 22)  # orange
_NOT_SOBER_BAND = (251, 226, 226)
_NOT_SOBER_MARK = (196, 40, 40)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True, slots=True)
class _Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    return draw.textlength(text, font=font)


def _label_every(count: int, max_labels: int) -> int:
    for step in (1, 2, 3, 5, 7, 10, 14, 15, 30):
        if (count - 1) // step + 1 <= max_labels:
            return step
    return max(1, count // max_labels)


def _runs(values: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Split points into runs of consecutive days (a ``None`` is a gap)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for value in values:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(value)
    return [run for run in runs if run]


def render_history_chart(history: History, *, width: int = 800, height: int = 420) -> bytes:
    """The PNG bytes of a chart of ``history`` (``width`` x ``height`` pixels)."""
    s = _SCALE
    image = Image.new("RGB", (width * s, height * s), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font, small_font = _font(17 * s), _font(13 * s), _font(12 * s)

    plot = _Box(left=92 * s, top=58 * s, right=(width - 62) * s, bottom=(height - 92) * s)
    days = history.days
    count = len(days)
    slot = plot.width / count

    # Title.
    first, last = history.summary.first_day, history.summary.last_day
    title = f"Mood and craving, last {count} days ({first:%b} {first.day} to {last:%b} {last.day}, {last.year})"
    draw.text((plot.left, 16 * s), title, fill=_TEXT, font=title_font)

    # Plot background, not-sober bands, grid and axes.
    draw.rectangle((plot.left, plot.top, plot.right, plot.bottom), fill=_PLOT_BACKGROUND)

    def x_of(index: int) -> float:
        return plot.left + slot * (index + 0.5)

    def y_mood(mood: float) -> float:
        return plot.bottom - (mood - 1) / 4 * plot.height

    def y_craving(craving: float) -> float:
        return plot.bottom - craving / 10 * plot.height

    for index, entry in enumerate(days):
        if entry.checkin is not None and entry.checkin.sober is False:
            band_left = plot.left + slot * index
            draw.rectangle((band_left, plot.top, band_left + slot, plot.bottom), fill=_NOT_SOBER_BAND)
    for mood in range(1, 6):
        y = y_mood(mood)
        draw.line((plot.left, y, plot.right, y), fill=_GRID, width=s)
        text = f"{mood} {MOOD_LABELS[mood]}"
        draw.text((plot.left - 8 * s, y), text, fill=_MOOD, font=label_font, anchor="rm")
    for craving in range(0, 11, 2):
        y = y_craving(craving)
        draw.line((plot.right, y, plot.right + 5 * s, y), fill=_AXIS, width=s)
        draw.text((plot.right + 9 * s, y), str(craving), fill=_CRAVING, font=label_font, anchor="lm")
    draw.line((plot.left, plot.top, plot.left, plot.bottom), fill=_AXIS, width=s)
    draw.line((plot.right, plot.top, plot.right, plot.bottom), fill=_AXIS, width=s)
    draw.line((plot.left, plot.bottom, plot.right, plot.bottom), fill=_AXIS, width=s)
    draw.text((plot.left, plot.top - 8 * s), "Mood (1-5)", fill=_MOOD, font=label_font, anchor="md")
    draw.text((plot.right, plot.top - 8 * s), "Craving (0-10)", fill=_CRAVING, font=label_font, anchor="md")

    # Day labels on the x axis: today always, then every few days back from it.
    step = _label_every(count, max(2, int(plot.width / (56 * s))))
    for index in range(count - 1, -1, -step):
        x = x_of(index)
        day = days[index].day
        draw.line((x, plot.bottom, x, plot.bottom + 4 * s), fill=_AXIS, width=s)
        draw.text((x, plot.bottom + 24 * s), f"{day:%b} {day.day}", fill=_MUTED, font=small_font, anchor="ma")

    # Series: lines within runs of consecutive days, markers on every point.
    mood_points: list[tuple[float, float] | None] = []
    craving_points: list[tuple[float, float] | None] = []
    for index, entry in enumerate(days):
        if entry.checkin is None:
            mood_points.append(None)
            craving_points.append(None)
        else:
            mood_points.append((x_of(index), y_mood(entry.checkin.mood)))
            told = entry.checkin.craving  # None for a quick check-in not completed: a gap
            craving_points.append(None if told is None else (x_of(index), y_craving(told)))
    radius = max(2, min(5, int(slot / s / 3))) * s
    for run in _runs(craving_points):
        if len(run) > 1:
            draw.line(run, fill=_CRAVING, width=2 * s, joint="curve")
        for x, y in run:
            draw.rectangle((x - radius, y - radius, x + radius, y + radius), fill=_CRAVING)
    for run in _runs(mood_points):
        if len(run) > 1:
            draw.line(run, fill=_MOOD, width=3 * s, joint="curve")
        for x, y in run:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_MOOD, outline=_BACKGROUND, width=s)
    # Not-sober crosses sit under the axis, clear of the points.
    cross = max(3, min(5, int(slot / s / 3))) * s
    for index, entry in enumerate(days):
        if entry.checkin is not None and entry.checkin.sober is False:
            x, y = x_of(index), plot.bottom + 12 * s
            draw.line((x - cross, y - cross, x + cross, y + cross), fill=_NOT_SOBER_MARK, width=2 * s)
            draw.line((x - cross, y + cross, x + cross, y - cross), fill=_NOT_SOBER_MARK, width=2 * s)

    if history.summary.empty:
        message = f"No check-ins in these {count} days yet"
        centre = ((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2)
        draw.text(centre, message, fill=_MUTED, font=title_font, anchor="mm")

    # Legend.
    legend_y = (height - 30) * s
    x = float(plot.left)
    swatch = 14 * s
    entries: list[tuple[str, str]] = [("mood", "Mood"), ("craving", "Craving"), ("band", "Not sober"), ("gap", "")]
    for kind, text in entries:
        if kind == "mood":
            draw.line((x, legend_y, x + 2 * swatch, legend_y), fill=_MOOD, width=3 * s)
            draw.ellipse((x + swatch - radius, legend_y - radius, x + swatch + radius, legend_y + radius), fill=_MOOD)
        elif kind == "craving":
            draw.line((x, legend_y, x + 2 * swatch, legend_y), fill=_CRAVING, width=2 * s)
            draw.rectangle(
                (x + swatch - radius, legend_y - radius, x + swatch + radius, legend_y + radius), fill=_CRAVING
            )
        elif kind == "band":
            draw.rectangle(
                (x, legend_y - swatch / 2 - 2 * s, x + 2 * swatch, legend_y + swatch / 2 + 2 * s), fill=_NOT_SOBER_BAND
            )
            c = swatch / 2 - s
            draw.line((x + swatch - c, legend_y - c, x + swatch + c, legend_y + c), fill=_NOT_SOBER_MARK, width=2 * s)
            draw.line((x + swatch - c, legend_y + c, x + swatch + c, legend_y - c), fill=_NOT_SOBER_MARK, width=2 * s)
        else:
            text = "A gap in the lines: no check-in that day"
            draw.text((x, legend_y), text, fill=_MUTED, font=small_font, anchor="lm")
            break
        draw.text((x + 2 * swatch + 6 * s, legend_y), text, fill=_TEXT, font=label_font, anchor="lm")
        x += 2 * swatch + 6 * s + _text_width(draw, text, label_font) + 22 * s

    image = image.reduce(s)  # box filter: fast, and smooth enough for lines drawn at twice the size
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()

"""What every case shares: the run's configuration, the result rows, statistics and the table.

A *case* measures one or more *metrics*. A metric is computed once per repetition (a p99 over
hundreds of commands, the time of one sweep, an overhead ratio of one alternating pair); its row
reports the median, minimum and maximum over the repetitions, and the target is judged on the
median. A case that goes wrong (a command answered with an error, a sweep that sent the wrong
number of nudges) raises :class:`BenchError`: the run then exits 1. A missed target never does.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "Case",
    "Config",
    "Metric",
    "Result",
    "Target",
    "check",
    "format_table",
    "note",
    "percentile",
    "result_of",
    "seeded",
    "size_label",
]


NOTES: list[str] = []
"""Remarks of this run for the reader (what was not measured and why), printed after the table."""


def note(text: str) -> None:
    """Add a remark to this run's output."""
    if text not in NOTES:
        NOTES.append(text)


class BenchError(Exception):
    """A case did not do what it measures (wrong rows, an error answer): the run fails."""


def seeded(seed: int) -> random.Random:
    """A random generator with a fixed seed: the suite's data and choices are reproducible."""
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def check(condition: object, what: str) -> None:
    """Raise :class:`BenchError` with ``what`` unless ``condition`` holds."""
    if not condition:
        raise BenchError(what)


@dataclass(frozen=True, slots=True)
class Config:
    """One run of the suite: full (for people) or quick (the CI smoke test)."""

    quick: bool = False
    data_dir: Path = Path(__file__).resolve().parent / ".cache"
    repeat: int | None = None
    """Repetitions per case (``None``: each case's own default)."""
    seed: int = 9

    def reps(self, full: int, quick: int = 2) -> int:
        """How many repetitions a case runs."""
        if self.repeat is not None:
            return max(1, self.repeat)
        return quick if self.quick else full

    def size(self, full: int, quick: int) -> int:
        """A case's size (members, samples, …) in this mode."""
        return quick if self.quick else full


@dataclass(frozen=True, slots=True)
class Target:
    """A bound the median must meet: ``value`` (in the metric's unit), ``<=`` or ``<``."""

    value: float
    strict: bool = False
    text: str = ""

    def met(self, measured: float) -> bool:
        """Whether ``measured`` is within the target."""
        return measured < self.value if self.strict else measured <= self.value

    def describe(self, unit: str) -> str:
        """``"≤ 0.5 ms"``."""
        if self.text:
            return self.text
        return f"{'<' if self.strict else '≤'} {_number(self.value)} {unit}".rstrip()


@dataclass(frozen=True, slots=True)
class Metric:
    """What a case reports under one name: its unit and target (``None``: reported only)."""

    name: str
    unit: str
    target: Target | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    """One row of the table (and of the JSON)."""

    name: str
    unit: str
    median: float
    min: float
    max: float
    target: float | None
    target_text: str
    met: bool | None
    samples: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON fields (name, unit, median, min, max, target, met) and the rest."""
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "target": self.target,
            "target_text": self.target_text,
            "met": self.met,
            "samples": self.samples,
            "note": self.note,
            "extra": self.extra,
        }


def result_of(metric: Metric, values: Sequence[float], **extra: Any) -> Result:
    """The row of ``metric`` over the per-repetition ``values``."""
    check(values, f"{metric.name}: no measurement")
    middle = float(statistics.median(values))
    target = metric.target
    return Result(
        name=metric.name,
        unit=metric.unit,
        median=middle,
        min=float(min(values)),
        max=float(max(values)),
        target=None if target is None else target.value,
        target_text="" if target is None else target.describe(metric.unit),
        met=None if target is None else target.met(middle),
        samples=len(values),
        note=metric.note,
        extra=dict(extra),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest-rank (a p99 of 100 values is the 99th)."""
    check(values, "percentile of nothing")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


CaseRun = Callable[[Config], Awaitable[list[Result]]]


@dataclass(frozen=True, slots=True)
class Case:
    """A named group of metrics and the coroutine that measures them."""

    name: str
    summary: str
    run: CaseRun


def size_label(members: int) -> str:
    """``"100k"`` for 100,000 members, ``"500"`` for 500."""
    return f"{members // 1000}k" if members >= 1000 and members % 1000 == 0 else str(members)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(results: Iterable[Result]) -> str:
    """The results as an aligned text table: case, unit, median, min, max, target, met."""
    header = ("case", "unit", "median", "min", "max", "target", "met")
    rows = [header]
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        rows.append((r.name, r.unit, _number(r.median), _number(r.min), _number(r.max), r.target_text or "-", met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i in (0, 1, 5, 6) else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(results: Iterable[Result]) -> str:
    """The results as a Markdown table (for bench/README.md)."""
    lines = ["| case | unit | median | min | max | target | met |", "|---|---|---:|---:|---:|---|---|"]
    for r in results:
        met = "–" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {r.name} | {r.unit} | {_number(r.median)} | {_number(r.min)} | {_number(r.max)} | "
            f"{r.target_text or '–'} | {met} |"
        )
    return "\n".join(lines)

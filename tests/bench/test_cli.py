"""``python -m bench``: arguments, the table, the JSON and its documented fields, the exit status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.core import Metric, Result, Target, format_markdown, format_table, percentile, result_of

FIELDS = {"name", "unit", "median", "min", "max", "target", "met"}


def test_the_json_has_the_documented_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    before = datetime.now(UTC)
    status = main(["--quick", "--case", "dbsize", "matching", "--json", str(out), "--data-dir", str(tmp_path / "d")])
    after = datetime.now(UTC)
    assert status == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["mode"] == "quick"
    # When the run started and ended (whole seconds), and its duration between the two.
    started, ended = datetime.fromisoformat(document["started_at"]), datetime.fromisoformat(document["ended_at"])
    assert before - timedelta(seconds=1) <= started <= before + timedelta(seconds=1)
    assert after - timedelta(seconds=1) <= ended <= after
    assert abs((ended - started).total_seconds() - document["duration_s"]) <= 1.5
    assert {"nproc", "cpu", "python"} <= set(document["machine"])
    names = [r["name"] for r in document["results"]]
    assert names == ["matching.run", "dbsize.checkin_bytes", "dbsize.checkin_bytes_vacuumed"]
    for result in document["results"]:
        assert set(result) >= FIELDS
        assert isinstance(result["median"], float) and isinstance(result["met"], bool)
    assert document["failures"] == []
    table = capsys.readouterr().out
    assert "case" in table and "matching.run" in table and "target" in table


def test_an_unknown_case_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--case", "nonsense"]) == 2
    assert "unknown case" in capsys.readouterr().err


def test_a_missed_target_is_reported_not_failed() -> None:
    metric = Metric("x.p99", "ms", Target(2.0))
    missed = result_of(metric, [3.0, 2.5, 9.0])
    assert (missed.median, missed.min, missed.max, missed.met) == (3.0, 2.5, 9.0, False)
    assert result_of(metric, [1.0]).met is True
    assert result_of(Metric("y", "s"), [1.0]).met is None
    table = format_table([missed])
    assert "NO" in table and "≤ 2.00 ms" in table
    assert "**no**" in format_markdown([missed])


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([5.0], 99) == 5.0


def test_results_serialise_to_json() -> None:
    result = Result("a", "ms", 1.0, 0.5, 2.0, 1.5, "≤ 1.5 ms", True, 3, extra={"k": 1})
    assert set(json.loads(json.dumps(result.as_json()))) >= FIELDS

"""``python -m bench.instructions``: the counted matching run, and when it asks callgrind to count."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import instructions
from bench.cases.common import spec_for
from bench.core import Config
from bench.data import dataset


def test_without_valgrind_it_runs_the_same_matching_uncounted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not under callgrind: the matching run happens (every free place given), and says it was not counted."""
    config = Config(quick=True, data_dir=tmp_path / "d")
    assert instructions.main(["--quick", "--data-dir", str(config.data_dir)]) == 0
    out = capsys.readouterr().out
    _, plan = asyncio.run(dataset(config.data_dir, spec_for(config), "buddies"))
    assert f"{plan.expected_matches()} pairs made" in out
    assert "not counted (not under callgrind)" in out


async def test_the_counted_run_makes_the_warm_up_runs_pairs(tmp_path: Path) -> None:
    """The counted run starts from the same queue as the warm-up (undone) and makes the plan's pairs."""
    config = Config(quick=True, data_dir=tmp_path / "d")
    report = await instructions.matching(config)
    _, plan = await dataset(config.data_dir, spec_for(config), "buddies")
    assert len(report.made) == plan.expected_matches() > 0
    assert report.still_waiting == len(plan.waiting) - plan.expected_matches()


def test_the_sweep_runs_uncounted_and_nudges_who_it_should(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sweep``: the quick server's due members are all looked at and the plan's nudges sent."""
    assert instructions.main(["sweep", "--quick", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sweep of 1000 members: ") and "not counted" in out
    due, sent = (int(part.split()[0]) for part in out.split(": ")[1].split(";")[0].split(", "))
    assert due > 0 and 0 < sent <= 10  # the server's limit of 10 DMs a minute


def test_a_command_runs_a_hundred_times_uncounted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``command``: a hundred of the command, each answered as the commands case checks it."""
    assert instructions.main(["command", "--name", "peersupport quote", "--quick", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("/peersupport quote: 100 answered; not counted")


def test_under_callgrind_is_read_from_valgrinds_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valgrind preloads its core library into the process: that is how the script knows."""
    monkeypatch.setenv("LD_PRELOAD", "/usr/libexec/valgrind/vgpreload_core-amd64-linux.so")
    assert instructions.under_callgrind()
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libjemalloc.so")
    assert not instructions.under_callgrind()
    monkeypatch.delenv("LD_PRELOAD")
    assert not instructions.under_callgrind()


def test_counting_is_switched_on_for_the_block_and_off_however_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under callgrind, on before the block and off after it, even when it raises; otherwise never asked."""
    switched: list[bool] = []
    monkeypatch.setattr(instructions, "_instrument", switched.append)
    monkeypatch.setenv("LD_PRELOAD", "vgpreload_core-amd64-linux.so")
    with instructions.counted():
        assert switched == [True]
    assert switched == [True, False]
    with pytest.raises(ZeroDivisionError), instructions.counted():
        _ = 1 / 0
    assert switched == [True, False, True, False]
    monkeypatch.delenv("LD_PRELOAD")
    with instructions.counted():
        pass
    assert switched == [True, False, True, False]

"""Tests of the offline demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bot.demo
from bot.demo import DemoFailed, World, run_demo


def test_demo_runs_offline_and_exits_0(tmp_path: Path) -> None:
    """`python -m bot demo` plays every step with no token and prints the transcript."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for number, (title, _) in enumerate(bot.demo.SCENE, start=1):
        assert f"Step {number}: {title}" in result.stdout
    assert "(ephemeral)" in result.stdout
    assert "/peersupport what-it-isnt" in result.stdout
    assert "The scene completed." in result.stdout
    assert "Traceback" not in result.stderr


async def test_a_failing_step_is_named_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When a step goes wrong the demo exits 1 and says which step."""

    async def broken(world: World) -> None:
        raise DemoFailed("the bot said nothing")

    monkeypatch.setattr(bot.demo, "SCENE", [*bot.demo.SCENE[:1], ("a step that breaks", broken)])
    lines: list[str] = []
    assert await run_demo(out=lines.append) == 1
    error = capsys.readouterr().err
    assert "step 2 (a step that breaks): the bot said nothing" in error
    assert any("Step 1:" in line for line in lines)

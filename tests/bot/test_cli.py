"""Tests of the command line, run as a real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "MTIz.secret-token-for-tests.xyz"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot`` in an empty folder with only the given settings."""
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    """--help names run, demo, migrate and check."""
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("run", "demo", "migrate", "check"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["run", "demo", "migrate", "check"])
def test_each_command_has_help(tmp_path: Path, command: str) -> None:
    """Each subcommand answers --help."""
    result = run_cli(tmp_path, command, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_run_without_token_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    """A missing token: one line naming the variable, exit 2, no traceback."""
    result = run_cli(tmp_path, "run")
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_default_command_is_run(tmp_path: Path) -> None:
    """No subcommand means run (so a missing token is reported the same way)."""
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEV_GUILD_ID", "not-a-number"),
        ("LOG_LEVEL", "CHATTY"),
        ("DISCORD_API_BASE", "gopher://x"),
        ("DISCORD_GATEWAY_URL", "http://127.0.0.1/gateway"),
    ],
)
def test_bad_setting_exits_2_naming_it_and_never_the_token(tmp_path: Path, variable: str, value: str) -> None:
    """Each bad value: exit 2, the variable named, the token never shown."""
    result = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN, **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_unwritable_database_folder_exits_2(tmp_path: Path) -> None:
    """A database folder that cannot be created is reported against DATABASE_PATH."""
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = run_cli(tmp_path, "migrate", DATABASE_PATH=str(tmp_path / "blocker" / "db.sqlite3"))
    assert result.returncode == 2
    assert "DATABASE_PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_creates_and_reports_the_schema_version(tmp_path: Path) -> None:
    """migrate applies the migrations, prints the version, and a second run applies none."""
    db_path = tmp_path / "data" / "db.sqlite3"
    first = run_cli(tmp_path, "migrate", DATABASE_PATH=str(db_path))
    assert first.returncode == 0, first.stderr
    version = sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0]
    assert version >= 1
    assert f"Schema version: {version}" in first.stdout
    second = run_cli(tmp_path, "migrate", DATABASE_PATH=str(db_path))
    assert second.returncode == 0
    assert "Applied migrations: none" in second.stdout


def test_migrate_refuses_a_newer_database(tmp_path: Path) -> None:
    """A database newer than the code: exit 1, a clear message, nothing changed."""
    db_path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = run_cli(tmp_path, "migrate", DATABASE_PATH=str(db_path))
    assert result.returncode == 1
    assert "newer" in result.stderr
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == 999


def test_check_says_what_run_would_do_without_connecting(tmp_path: Path) -> None:
    """check names the database, the sync scope and the API, hides the token, and creates nothing."""
    db_path = tmp_path / "db.sqlite3"
    result = run_cli(
        tmp_path,
        "check",
        DISCORD_TOKEN=TOKEN,
        DATABASE_PATH=str(db_path),
        DEV_GUILD_ID="42",
        DISCORD_API_BASE="http://127.0.0.1:9/api/v10",
        DISCORD_GATEWAY_URL="ws://127.0.0.1:9/gateway",
    )
    assert result.returncode == 0, result.stderr
    assert str(db_path) in result.stdout
    assert "42" in result.stdout
    assert "http://127.0.0.1:9/api/v10" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert not db_path.exists()


def test_check_without_token_exits_2(tmp_path: Path) -> None:
    """check reports a missing token as run would, with exit 2."""
    result = run_cli(tmp_path, "check")
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr


def test_env_file_in_working_folder_is_read(tmp_path: Path) -> None:
    """Settings come from .env in the working folder."""
    (tmp_path / ".env").write_text("DEV_GUILD_ID=oops\n")
    result = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN)
    assert result.returncode == 2
    assert "DEV_GUILD_ID" in result.stderr


@pytest.mark.parametrize("command", ["check", "run"])
def test_invalid_guidance_file_stops_start_up_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A broken guidance file: one clear message naming the problem, exit 1, nothing started."""
    from bot import cli
    from bot.services.guidance import GuidanceError, GuidanceLibrary

    def broken(cls: object, path: object = None) -> None:
        raise GuidanceError("data/guidance.toml: passage #2 (id 'a'): duplicate id")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    monkeypatch.setattr(GuidanceLibrary, "load", classmethod(broken))
    monkeypatch.setattr(cli, "setup_logging", lambda level, secrets: None)
    assert cli.main([command]) == 1
    error = capsys.readouterr().err
    assert "duplicate id" in error
    assert TOKEN not in error


def test_keygen_prints_a_usable_key(tmp_path: Path) -> None:
    """keygen prints one new key that DATA_KEY accepts, and check then reports encryption on."""
    from bot.crypto import parse_key

    result = run_cli(tmp_path, "keygen")
    assert result.returncode == 0
    key = result.stdout.strip()
    assert len(parse_key(key)) == 32
    check = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN, DATA_KEY=key, DATABASE_PATH=str(tmp_path / "d.sqlite3"))
    assert check.returncode == 0, check.stderr
    assert "at rest: on" in check.stdout
    assert key not in check.stdout + check.stderr


def test_tune_interpreter_shortens_the_gil_switch_interval() -> None:
    """The bot's run sets a 1 ms GIL switch interval, so the event loop gets the GIL back sooner
    from the database thread."""
    from bot import cli

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default (another test may have tuned it already)
        cli.tune_interpreter()
        assert sys.getswitchinterval() == pytest.approx(cli.SWITCH_INTERVAL_S)
        assert sys.getswitchinterval() < 0.005
    finally:
        sys.setswitchinterval(before)

"""Tests of reading and validating the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_DATABASE_PATH, SettingsError, check_database_path, load_settings


def test_defaults_without_anything() -> None:
    """With nothing set, every default applies and the token is absent."""
    settings = load_settings({}, env_file=None)
    assert settings.token is None
    assert settings.database_path == DEFAULT_DATABASE_PATH
    assert settings.dev_guild_id is None
    assert settings.api_base is None and settings.gateway_url is None
    assert settings.log_level == "INFO"


def test_every_variable_is_read() -> None:
    """Each documented variable reaches its field, typed."""
    settings = load_settings(
        {
            "DISCORD_TOKEN": "abc.def",
            "DATABASE_PATH": "/tmp/x.sqlite3",
            "DEV_GUILD_ID": "123456789012345678",
            "DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8080/gateway",
            "LOG_LEVEL": "debug",
        },
        env_file=None,
    )
    assert settings.require_token() == "abc.def"
    assert settings.database_path == Path("/tmp/x.sqlite3")
    assert settings.dev_guild_id == 123456789012345678
    assert settings.api_base == "http://127.0.0.1:8080/api/v10"
    assert settings.gateway_url == "ws://127.0.0.1:8080/gateway"
    assert settings.log_level == "DEBUG"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    """Values come from .env, but the environment overrides them."""
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nLOG_LEVEL=WARNING\n")
    settings = load_settings({"LOG_LEVEL": "ERROR"}, env_file=env_file)
    assert settings.token == "from-file"
    assert settings.log_level == "ERROR"


def test_blank_values_count_as_unset() -> None:
    """An empty or blank variable falls back to its default."""
    settings = load_settings({"DATABASE_PATH": "  ", "DEV_GUILD_ID": "", "DISCORD_TOKEN": " "}, env_file=None)
    assert settings.database_path == DEFAULT_DATABASE_PATH
    assert settings.dev_guild_id is None
    assert settings.token is None


def test_missing_token_names_the_variable() -> None:
    """Asking for a missing token says which variable to set."""
    settings = load_settings({}, env_file=None)
    with pytest.raises(SettingsError) as info:
        settings.require_token()
    assert info.value.variable == "DISCORD_TOKEN"
    assert ".env" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEV_GUILD_ID", "abc"),
        ("DEV_GUILD_ID", "-5"),
        ("DEV_GUILD_ID", "0"),
        ("DEV_GUILD_ID", str(2**64)),
        ("DISCORD_API_BASE", "ftp://example.org/api"),
        ("DISCORD_API_BASE", "127.0.0.1:8080"),
        ("DISCORD_API_BASE", "ws://127.0.0.1:8080/api/v10"),
        ("DISCORD_GATEWAY_URL", "http://127.0.0.1:8080/gateway"),
        ("DISCORD_GATEWAY_URL", "gateway"),
        ("LOG_LEVEL", "LOUD"),
        ("DISCORD_TOKEN", "two words"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(variable: str, value: str) -> None:
    """Each invalid value raises an error that names its variable and quotes no token."""
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value}, env_file=None)
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    if variable == "DISCORD_TOKEN":
        assert value not in str(info.value)


def test_token_is_not_in_the_repr() -> None:
    """Printing the settings never shows the token."""
    settings = load_settings({"DISCORD_TOKEN": "sekrit-token-value"}, env_file=None)
    assert "sekrit-token-value" not in repr(settings)


def test_settings_are_immutable() -> None:
    """The settings object cannot be changed after it is built."""
    settings = load_settings({}, env_file=None)
    with pytest.raises(AttributeError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_database_folder_is_created(tmp_path: Path) -> None:
    """A missing database folder is created."""
    path = tmp_path / "deep" / "er" / "db.sqlite3"
    check_database_path(path)
    assert path.parent.is_dir()


def test_database_folder_that_cannot_exist_is_refused(tmp_path: Path) -> None:
    """A database path under a file cannot be created, and the error says so."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingsError) as info:
        check_database_path(blocker / "db.sqlite3")
    assert info.value.variable == "DATABASE_PATH"


def test_database_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    """A database path naming a folder is refused."""
    with pytest.raises(SettingsError) as info:
        check_database_path(tmp_path)
    assert "folder" in str(info.value)


def test_data_key_is_parsed_and_hidden() -> None:
    """A valid DATA_KEY becomes 32 key bytes and is not in the repr."""
    from bot.crypto import generate_key

    key = generate_key()
    settings = load_settings({"DATA_KEY": key}, env_file=None)
    assert settings.data_key is not None and len(settings.data_key) == 32
    assert key not in repr(settings)


def test_bad_data_key_names_the_variable_and_keygen() -> None:
    """An invalid DATA_KEY says how to make a good one."""
    with pytest.raises(SettingsError) as info:
        load_settings({"DATA_KEY": "not-a-key"}, env_file=None)
    assert info.value.variable == "DATA_KEY"
    assert "keygen" in str(info.value)

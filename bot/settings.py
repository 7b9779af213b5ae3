"""The bot's settings: read once at start-up from the environment and ``.env``, then passed down.

Nothing else in the code reads ``os.environ``. The environment wins over ``.env``. Every
problem is reported as a :class:`SettingsError` that names the variable and says what to do,
and never contains the token.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from dotenv import dotenv_values

from bot.crypto import parse_key

__all__ = ["DEFAULT_DATABASE_PATH", "Settings", "SettingsError", "check_database_path", "load_settings"]

DEFAULT_DATABASE_PATH = Path("data") / "soberpeers.sqlite3"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed, immutable settings, built once by :func:`load_settings`."""

    token: str | None = field(default=None, repr=False)
    database_path: Path = DEFAULT_DATABASE_PATH
    dev_guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    log_level: str = "INFO"
    data_key: bytes | None = field(default=None, repr=False)

    def require_token(self) -> str:
        """The bot token, or a :class:`SettingsError` saying how to provide one."""
        if not self.token:
            raise SettingsError(
                "DISCORD_TOKEN",
                "not set. Put your bot token in the environment or in .env (see .env.example).",
            )
        return self.token

    @property
    def log_level_number(self) -> int:
        """The ``logging`` level number of :attr:`log_level`."""
        return logging.getLevelNamesMapping()[self.log_level]


def _url(variable: str, value: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(variable, f"{value!r} is not a {wanted} URL. Give a full URL, or leave it unset.")
    return value


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build the settings from ``environ`` (default: the process environment) over ``env_file``."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        raw = values.get(name)
        if raw is None or not raw.strip():
            return None
        return raw.strip()

    token = get("DISCORD_TOKEN")
    if token is not None and any(c.isspace() for c in token):
        raise SettingsError("DISCORD_TOKEN", "contains white space. Copy the token again from the Developer Portal.")

    db_raw = get("DATABASE_PATH")
    database_path = Path(db_raw).expanduser() if db_raw else DEFAULT_DATABASE_PATH

    guild_raw = get("DEV_GUILD_ID")
    dev_guild_id: int | None = None
    if guild_raw is not None:
        if not guild_raw.isdigit() or not 0 < int(guild_raw) < 2**64:
            raise SettingsError(
                "DEV_GUILD_ID",
                f"{guild_raw!r} is not a server id. Give the numeric id (Developer Mode → right-click the "
                "server → Copy Server ID), or leave it unset for global commands.",
            )
        dev_guild_id = int(guild_raw)

    api_raw = get("DISCORD_API_BASE")
    api_base = _url("DISCORD_API_BASE", api_raw, ("http", "https")) if api_raw else None
    gateway_raw = get("DISCORD_GATEWAY_URL")
    gateway_url = _url("DISCORD_GATEWAY_URL", gateway_raw, ("ws", "wss")) if gateway_raw else None

    level = (get("LOG_LEVEL") or "INFO").upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"{level!r} is not a log level. Use one of {', '.join(LOG_LEVELS)}.")

    key_raw = get("DATA_KEY")
    data_key: bytes | None = None
    if key_raw is not None:
        try:
            data_key = parse_key(key_raw)
        except ValueError as exc:
            raise SettingsError(
                "DATA_KEY", f"is not a valid key ({exc}). Make one with `python -m bot keygen`, or leave it unset."
            ) from None

    return Settings(
        token=token,
        database_path=database_path,
        dev_guild_id=dev_guild_id,
        api_base=api_base,
        gateway_url=gateway_url,
        log_level=level,
        data_key=data_key,
    )


def check_database_path(path: Path) -> None:
    """Make sure the database's folder exists (creating it) and is writable."""
    folder = path.parent if str(path.parent) else Path()
    if path.exists() and path.is_dir():
        raise SettingsError("DATABASE_PATH", f"{str(path)!r} is a folder. Name a file, e.g. data/soberpeers.sqlite3.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            "DATABASE_PATH", f"cannot create the folder {str(folder)!r} ({exc.strerror}). Choose a writable place."
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise SettingsError(
            "DATABASE_PATH", f"{str(path)!r} is not writable. Fix its permissions or choose another place."
        )

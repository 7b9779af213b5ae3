"""Per-server settings: one typed definition per setting, stored as text, read with defaults.

Every setting of every feature is declared here, so ``/settings show`` lists them all and a value
is parsed and checked in one place. Features read a server's :class:`ServerConfig` inside their
own transactions with :func:`read_config`.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.db.connection import Database
from bot.db.repositories import audit, guilds
from bot.errors import UserError
from bot.timeutil import Clock

__all__ = [
    "CRISIS_RESOURCES_MAX_LENGTH",
    "CRISIS_RESOURCES_SETTING",
    "DEFAULT_CRISIS_RESOURCES",
    "SETTINGS",
    "SETTINGS_CHANGED",
    "Kind",
    "ServerConfig",
    "ServerSettings",
    "SettingDef",
    "SettingValue",
    "read_config",
]

SettingValue = int | bool | str | None

SETTINGS_CHANGED = "settings.change"
"""The audit-log action of a settings change; its detail is ``{key: [before, after]}`` (stored text)."""

CRISIS_RESOURCES_SETTING = "crisis_resources"
CRISIS_RESOURCES_MAX_LENGTH = 1500
DEFAULT_CRISIS_RESOURCES = (
    "If you are in danger or thinking about harming yourself, please call your local emergency number now.\n"
    "• **988 Suicide & Crisis Lifeline** (US and Canada): call or text **988**.\n"
    "• **SAMHSA National Helpline** (US): **1-800-662-4357**, free, confidential, 24/7.\n"
    "• Other countries: https://findahelpline.com lists free helplines near you."
)
"""The crisis resources of a server that set none: the one text check-ins, nudges and ``/sos`` show
(read it through :mod:`bot.services.safety`)."""


class Kind(enum.Enum):
    """How a setting's value is typed."""

    CHANNEL = "channel"
    ROLE = "role"
    INT = "int"
    BOOL = "bool"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class SettingDef:
    """One setting: its key, type, default, label, and bounds."""

    key: str
    kind: Kind
    label: str
    default: SettingValue = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None

    def parse(self, raw: str) -> SettingValue:
        """The typed value of a stored text."""
        if self.kind in (Kind.CHANNEL, Kind.ROLE, Kind.INT):
            return int(raw)
        if self.kind is Kind.BOOL:
            return raw == "1"
        return raw

    def dump(self, value: SettingValue) -> str:
        """The stored text of a valid value."""
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def validate(self, value: SettingValue) -> SettingValue:
        """Check a value given by a moderator; raise :class:`UserError` with the reason."""
        if value is None:
            return None
        if self.kind is Kind.BOOL:
            if not isinstance(value, bool):
                raise UserError(f"{self.label} must be true or false.")
            return value
        if self.kind in (Kind.INT, Kind.CHANNEL, Kind.ROLE):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{self.label} must be a whole number.")
            if self.minimum is not None and value < self.minimum:
                raise UserError(f"{self.label} must be at least {self.minimum}.")
            if self.maximum is not None and value > self.maximum:
                raise UserError(f"{self.label} must be at most {self.maximum}.")
            return value
        text = str(value).strip()
        if not text:
            raise UserError(f"{self.label} cannot be empty.")
        if self.max_length is not None and len(text) > self.max_length:
            raise UserError(f"{self.label} can be at most {self.max_length} characters (this is {len(text)}).")
        return text


def _defs(*defs: SettingDef) -> dict[str, SettingDef]:
    return {d.key: d for d in defs}


SETTINGS: Mapping[str, SettingDef] = _defs(
    SettingDef("moderator_channel", Kind.CHANNEL, "Moderators' channel"),
    SettingDef("moderator_role", Kind.ROLE, "Moderator role"),
    SettingDef("checkin_channel", Kind.CHANNEL, "Check-in channel"),
    SettingDef("celebrations_channel", Kind.CHANNEL, "Celebrations channel"),
    SettingDef("nudges_enabled", Kind.BOOL, "Isolation nudges", default=True),
    SettingDef("quiet_days", Kind.INT, "Quiet days before a nudge", default=3, minimum=1, maximum=60),
    SettingDef("buddy_after_days", Kind.INT, "Quiet days before the buddy's note", default=5, minimum=2, maximum=90),
    SettingDef(
        "moderator_after_days", Kind.INT, "Quiet days before the moderators' notice", default=7, minimum=3, maximum=90
    ),
    # Buddy matching (issue 6): read by bot.services.buddies in the same text form.
    SettingDef("auto_match", Kind.BOOL, "Buddy auto-matching", default=True),
    SettingDef("intro_channel", Kind.CHANNEL, "Buddy introductions channel"),
    SettingDef("max_buddies", Kind.INT, "Most buddies per volunteer", default=2, minimum=1, maximum=5),
    SettingDef(
        "volunteer_min_days", Kind.INT, "Days in the server before volunteering", default=14, minimum=0, maximum=365
    ),
    SettingDef("require_approval", Kind.BOOL, "Buddy pairs need a moderator's approval", default=False),
    # Safety (issue 8): edited with /settings crisis-resources, read by bot.services.safety.
    SettingDef(
        CRISIS_RESOURCES_SETTING,
        Kind.TEXT,
        "Crisis resources",
        default=DEFAULT_CRISIS_RESOURCES,
        max_length=CRISIS_RESOURCES_MAX_LENGTH,
    ),
    # Privacy (issue 8): check-in notes older than this are erased by the daily retention job.
    SettingDef("note_retention_days", Kind.INT, "Days check-in notes are kept", default=90, minimum=7, maximum=3650),
)


class ServerConfig(Mapping[str, SettingValue]):
    """A server's settings, typed, with defaults for what was never set."""

    def __init__(self, guild_id: int, stored: Mapping[str, str]) -> None:
        self.guild_id = guild_id
        self._values: dict[str, SettingValue] = {}
        self._explicit: set[str] = set()
        for key, definition in SETTINGS.items():
            raw = stored.get(key)
            if raw is None:
                self._values[key] = definition.default
            else:
                self._values[key] = definition.parse(raw)
                self._explicit.add(key)

    def __getitem__(self, key: str) -> SettingValue:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def is_set(self, key: str) -> bool:
        """Whether a moderator set this key (rather than it taking its default)."""
        return key in self._explicit

    def snowflake(self, key: str) -> int | None:
        """A channel or role setting's id, if set."""
        value = self._values[key]
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def integer(self, key: str) -> int:
        """An integer setting's value (its default if unset)."""
        value = self._values[key]
        assert isinstance(value, int), key
        return value

    def flag(self, key: str) -> bool:
        """A boolean setting's value (its default if unset)."""
        return bool(self._values[key])


def read_config(conn: sqlite3.Connection, guild_id: int) -> ServerConfig:
    """A server's typed settings, read inside the caller's transaction."""
    return ServerConfig(guild_id, guilds.get_settings(conn, guild_id))


class ServerSettings:
    """Reading and changing the settings of a server."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def get(self, guild_id: int) -> ServerConfig:
        """The server's settings."""
        return await self.db.read(lambda conn: read_config(conn, guild_id))

    async def set(self, guild_id: int, key: str, value: SettingValue, actor_id: int | None) -> ServerConfig:
        """Set (or, with ``None``, reset) one setting, and return the new settings.

        A change is recorded in the moderators' audit log in the same transaction (nothing is
        recorded when the value stays the same)."""
        definition = SETTINGS.get(key)
        if definition is None:
            raise KeyError(key)
        valid = definition.validate(value)
        now: datetime = self.clock()

        stored = None if valid is None else definition.dump(valid)

        def work(conn: sqlite3.Connection) -> ServerConfig:
            current = guilds.get_settings(conn, guild_id)
            before = current.get(key)
            approvals_wait_there = key == "moderator_channel" and current.get("require_approval") == "1"
            if approvals_wait_there and stored is None and actor_id is not None:
                # Proposed buddy pairs wait there for approval: a moderator may move them, not drop them.
                # (The bot itself clears it when the channel was deleted, and tells the owner.)
                raise UserError(
                    "Buddy pairs wait for approval in the moderators' channel, so it can't be unset while "
                    "require_approval is on. Turn it off with /buddyadmin settings first, or choose another channel."
                )
            if stored is None:
                guilds.delete_setting(conn, guild_id, key)
            else:
                guilds.set_setting(conn, guild_id, key, stored, now, actor_id)
            if before != stored:
                audit.record(conn, guild_id, actor_id, SETTINGS_CHANGED, {key: [before, stored]}, now)
            return read_config(conn, guild_id)

        return await self.db.transaction(work)

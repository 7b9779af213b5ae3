"""Tests of the per-server settings service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.db.connection import Database
from bot.errors import UserError
from bot.services.server_settings import SETTINGS, Kind, ServerSettings, SettingDef

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_unset_settings_take_their_defaults(db: Database) -> None:
    """A new server has every setting at its default."""
    config = await ServerSettings(db, lambda: NOW).get(1)
    assert set(config) == set(SETTINGS)
    assert all(config[key] == SETTINGS[key].default for key in SETTINGS)
    assert not any(config.is_set(key) for key in SETTINGS)


async def test_set_reset_and_isolation_between_servers(db: Database) -> None:
    """A channel set in one server is typed, reported as set, absent elsewhere, and resettable."""
    service = ServerSettings(db, lambda: NOW)
    config = await service.set(1, "checkin_channel", 555, actor_id=9)
    assert config.snowflake("checkin_channel") == 555 and config.is_set("checkin_channel")
    assert (await service.get(2)).snowflake("checkin_channel") is None
    config = await service.set(1, "checkin_channel", None, actor_id=9)
    assert config.snowflake("checkin_channel") is None and not config.is_set("checkin_channel")


async def test_unknown_key_is_refused(db: Database) -> None:
    """Only declared settings can be set."""
    with pytest.raises(KeyError):
        await ServerSettings(db, lambda: NOW).set(1, "no_such_setting", 1, actor_id=None)


@pytest.mark.parametrize(
    ("definition", "value", "message"),
    [
        (SettingDef("n", Kind.INT, "Max buddies", minimum=1, maximum=5), 0, "at least 1"),
        (SettingDef("n", Kind.INT, "Max buddies", minimum=1, maximum=5), 6, "at most 5"),
        (SettingDef("n", Kind.INT, "Max buddies"), True, "whole number"),
        (SettingDef("b", Kind.BOOL, "Auto match"), 1, "true or false"),
        (SettingDef("t", Kind.TEXT, "Crisis text", max_length=5), "toolong", "at most 5"),
        (SettingDef("t", Kind.TEXT, "Crisis text"), "   ", "cannot be empty"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(definition: SettingDef, value: object, message: str) -> None:
    """Each invalid value gets a UserError naming the setting and the rule."""
    with pytest.raises(UserError) as info:
        definition.validate(value)  # type: ignore[arg-type]
    assert message in info.value.message
    assert definition.label in info.value.message


@pytest.mark.parametrize(
    ("definition", "value"),
    [
        (SettingDef("b", Kind.BOOL, "B"), True),
        (SettingDef("b", Kind.BOOL, "B"), False),
        (SettingDef("n", Kind.INT, "N"), 42),
        (SettingDef("c", Kind.CHANNEL, "C"), 123456789012345678),
        (SettingDef("t", Kind.TEXT, "T"), "call 988"),
    ],
)
def test_values_survive_storage(definition: SettingDef, value: object) -> None:
    """What is stored reads back as the same typed value."""
    assert definition.parse(definition.dump(value)) == value  # type: ignore[arg-type]


async def test_moderators_channel_cannot_be_unset_while_approvals_wait_there(db: Database) -> None:
    """With require_approval on, unsetting the moderators' channel is refused and nothing changes."""
    service = ServerSettings(db, lambda: NOW)
    await service.set(1, "moderator_channel", 777, actor_id=9)
    await service.set(1, "require_approval", True, actor_id=9)
    with pytest.raises(UserError, match="require_approval"):
        await service.set(1, "moderator_channel", None, actor_id=9)
    assert (await service.get(1)).snowflake("moderator_channel") == 777
    deleted = await service.set(1, "moderator_channel", None, actor_id=None)  # the bot: the channel was deleted
    assert deleted.snowflake("moderator_channel") is None
    await service.set(1, "moderator_channel", 888, actor_id=9)
    await service.set(1, "require_approval", False, actor_id=9)
    assert (await service.set(1, "moderator_channel", None, actor_id=9)).snowflake("moderator_channel") is None

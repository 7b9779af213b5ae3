"""Tests of the bot class that need no connection: intents, extensions, the command hash."""

from __future__ import annotations

import logging

import pytest
from discord import app_commands

from bot.client import SoberPeersBot, build_intents, discover_extensions
from bot.db.connection import Database
from bot.settings import Settings


def test_intents_never_ask_for_message_content() -> None:
    """Guilds, members, guild messages and DMs are on; message content and presences are off."""
    intents = build_intents()
    assert intents.guilds and intents.members and intents.guild_messages and intents.dm_messages
    assert not intents.message_content
    assert not intents.presences


def test_every_cog_module_is_discovered() -> None:
    """Every module in cogs/ is an extension to load, meta among them."""
    names = discover_extensions()
    assert "cogs.meta" in names
    assert names == sorted(names)


async def test_broken_extension_is_logged_and_the_others_load(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """A cog that fails to load is logged with its traceback; the rest are loaded."""
    bot = SoberPeersBot(Settings(), db, extensions=["tests.bot.broken_extension", "cogs.meta"])
    with caplog.at_level(logging.ERROR, logger="bot.client"):
        await bot.setup_hook()
    assert "cogs.meta" in bot.extensions
    assert "tests.bot.broken_extension" in bot.failed_extensions
    assert any("broken_extension" in r.getMessage() and r.exc_info for r in caplog.records)
    assert bot.tree.get_command("about") is not None
    await bot.close()
    assert db.closed


async def test_command_hash_follows_the_schema(db: Database) -> None:
    """The hash is stable for the same commands and changes when a command changes."""
    bot = SoberPeersBot(Settings(), db, extensions=["cogs.meta"])
    await bot.setup_hook()
    first = bot.command_schema_hash(None)
    assert bot.command_schema_hash(None) == first

    @app_commands.command(name="extra", description="An extra command")
    async def extra(interaction: object) -> None:
        """Nothing."""

    bot.tree.add_command(extra)
    assert bot.command_schema_hash(None) != first
    await bot.close()


async def test_dev_guild_scope(db: Database) -> None:
    """With DEV_GUILD_ID the commands go to that one guild."""
    bot = SoberPeersBot(Settings(dev_guild_id=42), db, extensions=[])
    scope, guild = bot.command_scope()
    assert scope == "guild:42"
    assert guild is not None and guild.id == 42
    await bot.close()


async def test_messages_start_no_task_unless_someone_listens(db: Database) -> None:
    """Observers see every message; a task is only scheduled when a listener or wait_for wants it."""
    bot = SoberPeersBot(Settings(), db, extensions=[])
    seen: list[object] = []
    scheduled: list[str] = []
    bot.add_event_observer("message", seen.append)
    bot._schedule_event = lambda coro, name, *a, **k: scheduled.append(name)  # type: ignore[method-assign,assignment]
    bot.dispatch("message", "m1")
    assert seen == ["m1"] and scheduled == []

    async def listener(message: object) -> None:
        """Nothing."""

    bot.add_listener(listener, "on_message")
    bot.dispatch("message", "m2")
    assert seen == ["m1", "m2"]
    assert "on_message" in scheduled
    await bot.close()

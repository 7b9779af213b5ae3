"""Tests of the words the error handler chooses for each kind of failure."""

from __future__ import annotations

import re
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.db.connection import StorageError
from bot.errors import UserError
from bot.tree import STORAGE_MESSAGE, describe_error


def _invoke_error(original: Exception) -> app_commands.CommandInvokeError:
    command: app_commands.Command[Any, ..., None] = app_commands.Command(name="x", description="x", callback=_noop)
    return app_commands.CommandInvokeError(command, original)


async def _noop(interaction: discord.Interaction) -> None:
    """Nothing."""


def test_user_error_message_is_shown_as_is() -> None:
    """A UserError raised by a service reaches the member verbatim, with no error id."""
    assert describe_error(_invoke_error(UserError("That date is in the future."))) == (
        "That date is in the future.",
        None,
    )


def test_storage_error_asks_to_try_again() -> None:
    """A database that cannot be written gives the try-again answer."""
    assert describe_error(_invoke_error(StorageError("disk full"))) == (STORAGE_MESSAGE, None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (app_commands.NoPrivateMessage(), "only works in a server"),
        (app_commands.MissingPermissions(["manage_guild"]), "Manage Server"),
        (app_commands.BotMissingPermissions(["manage_roles"]), "I need the Manage Roles"),
        (app_commands.CommandOnCooldown(app_commands.Cooldown(1, 30), 12.4), "12 seconds"),
        (app_commands.CheckFailure(), "can't use this command here"),
        (app_commands.MissingRole(1), "role"),
    ],
)
def test_known_failures_get_plain_words(error: app_commands.AppCommandError, expected: str) -> None:
    """Each expected failure has its own plain explanation and no error id."""
    message, error_id = describe_error(error)
    assert expected in message
    assert error_id is None


def test_unexpected_error_gets_a_short_id() -> None:
    """A bug gets an apology and a short id to give a moderator, different each time."""
    message, error_id = describe_error(_invoke_error(ZeroDivisionError()))
    assert error_id is not None and re.fullmatch(r"[0-9a-f]{8}", error_id)
    assert error_id in message
    assert describe_error(_invoke_error(ZeroDivisionError()))[1] != error_id


def test_plain_exceptions_from_components_are_understood() -> None:
    """Errors from buttons and modals come unwrapped and are described the same way."""
    assert describe_error(UserError("Already sent.")) == ("Already sent.", None)

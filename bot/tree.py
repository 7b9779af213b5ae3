"""The command tree: one place that answers every failure of every slash command."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.checks import NotModerator
from bot.db.connection import StorageError
from bot.errors import UserError

__all__ = ["SoberPeersTree", "describe_error", "send_ephemeral"]

log = logging.getLogger(__name__)

STORAGE_MESSAGE = "I couldn't save that just now, so nothing was changed. Please try again in a moment."


def _permission_names(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").replace("guild", "server").title() for name in names)


def describe_error(error: BaseException) -> tuple[str, str | None]:
    """The member-facing text for an error, and an error id when it was unexpected."""
    original: BaseException = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, UserError):
        return original.message, None
    if isinstance(original, StorageError):
        return STORAGE_MESSAGE, None
    if isinstance(error, NotModerator):
        return str(error), None
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server, not in direct messages.", None
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {_permission_names(error.missing_permissions)} permission to use this.", None
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"I need the {_permission_names(error.missing_permissions)} permission here to do that. "
            "Please ask a moderator.",
            None,
        )
    if isinstance(error, app_commands.MissingRole | app_commands.MissingAnyRole):
        return "You don't have the role this command needs.", None
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {max(1, round(error.retry_after))} seconds.", None
    if isinstance(error, app_commands.TransformerError):
        return f"{error.value!r} isn't a valid value for that option. Please check it and try again.", None
    if isinstance(error, app_commands.CommandNotFound):
        return "That command is out of date. Please try again in a minute, once Discord refreshed it.", None
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here.", None
    error_id = secrets.token_hex(4)
    return (
        f"Something went wrong on my side, sorry. Nothing you did caused it. If it keeps happening, "
        f"tell a moderator this error id: `{error_id}`.",
        error_id,
    )


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Answer an interaction privately, whether or not it was already acknowledged."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True)
        else:
            await interaction.response.send_message(content, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("Could not send an error answer for interaction %s: %s", interaction.id, exc)


class SoberPeersTree(app_commands.CommandTree[discord.Client]):
    """A command tree whose ``on_error`` answers every failure ephemerally in plain words."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Log unexpected errors with an id, and tell the member what happened."""
        message, error_id = describe_error(error)
        command = interaction.command.qualified_name if interaction.command else "?"
        if error_id is not None:
            original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            log.error(
                "Error id %s in command %s (guild %s, user %s)",
                error_id,
                command,
                interaction.guild_id,
                interaction.user.id,
                exc_info=original,
            )
        else:
            log.info("Command %s refused: %s", command, type(error).__name__)
        await send_ephemeral(interaction, message)

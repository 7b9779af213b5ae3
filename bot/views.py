"""Base classes for buttons, selects and modals: every failure is answered like a command's."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.tree import describe_error, send_ephemeral

__all__ = ["BaseModal", "BaseView"]

log = logging.getLogger(__name__)


async def _answer_failure(interaction: discord.Interaction, error: Exception, where: str) -> None:
    message, error_id = describe_error(error)
    if error_id is not None:
        log.error("Error id %s in %s (user %s)", error_id, where, interaction.user.id, exc_info=error)
    await send_ephemeral(interaction, message)


class BaseView(discord.ui.View):
    """A view whose component callbacks never leave an interaction unanswered on failure."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        """Answer the member privately, logging unexpected errors with an id."""
        await _answer_failure(interaction, error, f"{type(self).__name__}/{type(item).__name__}")


class BaseModal(discord.ui.Modal):
    """A modal whose submit never leaves an interaction unanswered on failure."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        """Answer the member privately, logging unexpected errors with an id."""
        await _answer_failure(interaction, error, type(self).__name__)

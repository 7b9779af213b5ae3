"""The command tree: one place that answers every failure of every slash command."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from bot.checks import NotModerator
from bot.db.connection import StorageError
from bot.errors import UserError

__all__ = [
    "ACK_GUARD_SECONDS",
    "GuardedResponse",
    "SoberPeersTree",
    "describe_error",
    "guard_acknowledgement",
    "send_ephemeral",
]

log = logging.getLogger(__name__)

STORAGE_MESSAGE = "I couldn't save that just now, so nothing was changed. Please try again in a moment."
ACK_GUARD_SECONDS = 1.5
"""Discord drops an interaction not acknowledged within 3 s; one still unanswered after this long is deferred."""
SLOW_FORM_MESSAGE = "That took me too long, so I couldn't open the form. Please try again."


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


class GuardedResponse(discord.InteractionResponse[discord.Client]):
    """An interaction's response that :func:`guard_acknowledgement` may defer when the handler is slow
    (a locked database): the handler's answer then goes out as the follow-up, or edits the message."""

    __slots__ = ("_auto_deferred", "_lock")

    def __init__(self, parent: discord.Interaction[discord.Client]) -> None:
        super().__init__(parent)
        self._lock = asyncio.Lock()
        self._auto_deferred = False

    async def acknowledge(self) -> None:
        """Defer now unless the handler answered already: privately for a command, as an update for a
        component (the handler may still edit its message or send a new one)."""
        async with self._lock:
            if self.is_done():
                return
            parent = self._parent
            if parent.type is discord.InteractionType.application_command or (
                parent.type is discord.InteractionType.modal_submit and parent.message is None
            ):
                await super().defer(ephemeral=True, thinking=True)
            elif parent.type in (discord.InteractionType.component, discord.InteractionType.modal_submit):
                await super().defer()
            else:
                return
            self._auto_deferred = True
        log.info("Interaction %s deferred: its handler took over %.1f s", parent.id, ACK_GUARD_SECONDS)

    async def defer(self, *args: Any, **kwargs: Any) -> Any:
        """Defer, unless the guard did already."""
        async with self._lock:
            if self._auto_deferred:
                return None
            return await super().defer(*args, **kwargs)

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        """Answer; after the guard's deferral, as the follow-up."""
        async with self._lock:
            if not self._auto_deferred:
                return await super().send_message(*args, **kwargs)
        kwargs.pop("delete_after", None)
        return await self._parent.followup.send(*args, **kwargs)

    async def edit_message(self, **kwargs: Any) -> Any:
        """Edit the component's message; after the guard's deferral, through the original response."""
        async with self._lock:
            if not self._auto_deferred:
                return await super().edit_message(**kwargs)
        kwargs.pop("delete_after", None)
        kwargs.pop("suppress_embeds", None)
        return await self._parent.edit_original_response(**kwargs)

    async def send_modal(self, modal: discord.ui.Modal, /) -> Any:
        """Open a form; impossible once deferred, so the member is asked to try again."""
        async with self._lock:
            if not self._auto_deferred:
                return await super().send_modal(modal)
        raise UserError(SLOW_FORM_MESSAGE)


_acknowledging: set[asyncio.Task[None]] = set()


def guard_acknowledgement(interaction: discord.Interaction[Any]) -> None:
    """Make sure ``interaction`` is acknowledged within Discord's 3 seconds, however slow its handler.

    Called synchronously as the interaction arrives, before any handler runs (an event observer of
    ``interaction``): its response becomes a :class:`GuardedResponse`, deferred if still unanswered
    after :data:`ACK_GUARD_SECONDS`. Autocomplete cannot be deferred and is left alone.
    """
    if interaction.type not in (
        discord.InteractionType.application_command,
        discord.InteractionType.component,
        discord.InteractionType.modal_submit,
    ):
        return
    response = GuardedResponse(interaction)
    # discord.py caches Interaction.response in this slot and offers no other way to replace it.
    setattr(interaction, "_cs_response", response)  # noqa: B010 - a slot mypy does not know

    def fire() -> None:
        if response.is_done():
            return
        task = asyncio.get_running_loop().create_task(_acknowledge(response), name="interaction-ack-guard")
        _acknowledging.add(task)
        task.add_done_callback(_acknowledging.discard)

    asyncio.get_running_loop().call_later(ACK_GUARD_SECONDS, fire)


async def _acknowledge(response: GuardedResponse) -> None:
    try:
        await response.acknowledge()
    except Exception as exc:  # noqa: BLE001 - the guard runs on its own: it must never fail loudly
        log.warning("Could not defer a slow interaction: %s", exc)

"""Run-time checks for commands: who counts as a moderator."""

from __future__ import annotations

import discord
from discord import app_commands

__all__ = ["NOT_MODERATOR", "NotModerator", "is_moderator"]

NOT_MODERATOR = (
    "Only moderators can do this: members with the Manage Server permission, or the server's moderator role."
)


class NotModerator(app_commands.CheckFailure):
    """The member is neither a Manage Server holder nor has the server's moderator role."""

    def __init__(self) -> None:
        super().__init__(NOT_MODERATOR)


async def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, or the moderator role set in ``/settings``: checked at run time, whatever the
    server's integration permissions allow. Raises :class:`NotModerator` otherwise."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        raise app_commands.NoPrivateMessage()
    if member.guild_permissions.manage_guild:
        return True
    settings = getattr(interaction.client, "server_settings", None)
    if settings is not None:
        config = await settings.get(interaction.guild_id)
        role_id = config.snowflake("moderator_role")
        if role_id is not None and any(role.id == role_id for role in member.roles):
            return True
    raise NotModerator()

"""An extension with commands that fail on purpose, to test the error handler end to end."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Failing(commands.Cog):
    """Commands that crash."""

    @app_commands.command(name="explode", description="Fail before answering")
    async def explode(self, interaction: discord.Interaction) -> None:
        """Raise at once."""
        raise ZeroDivisionError("on purpose")

    @app_commands.command(name="explode-later", description="Fail after deferring")
    async def explode_later(self, interaction: discord.Interaction) -> None:
        """Defer, then raise."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        raise ZeroDivisionError("on purpose, after deferring")


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(Failing())

"""An extension whose setup fails, to prove one broken cog does not stop the others."""

from __future__ import annotations

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    """Fail on purpose."""
    raise RuntimeError("this cog is broken on purpose")

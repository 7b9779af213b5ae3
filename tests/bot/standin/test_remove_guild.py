"""The bot removed from a guild: GUILD_DELETE reaches discord.py."""

from __future__ import annotations

import pytest

from tests.bot.standin.conftest import TinyBot, World


async def test_removed_guild_leaves_the_cache(world: World, bot: TinyBot) -> None:
    """After remove_guild the client no longer has the guild, and the stand-in forgets it."""
    assert bot.get_guild(world.guild.id) is not None
    await world.standin.remove_guild(world.guild)
    assert bot.get_guild(world.guild.id) is None
    assert world.guild.id not in world.standin.guilds
    with pytest.raises(ValueError, match="not in"):
        await world.standin.remove_guild(world.guild)

"""``/about``: what the bot is, and where to learn more."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot

ABOUT = (
    "SoberPeers helps sober-living and outpatient peer groups stay connected: private daily "
    "check-ins, a peer buddy of your own group, the article's guidance on what peer support is "
    "and isn't, and a gentle, private nudge when someone goes quiet. Peer support is not a "
    "therapist and not only your sponsor: it is people going through the same thing, who listen "
    "and don't judge."
)


class Meta(commands.Cog):
    """Commands about the bot itself."""

    def __init__(self, bot: SoberPeersBot) -> None:
        self.bot = bot

    @app_commands.command(name="about", description="What SoberPeers does and how it treats your data")
    async def about(self, interaction: discord.Interaction) -> None:
        """Show what the bot does and its version, privately."""
        embed = discord.Embed(title="About SoberPeers", description=ABOUT, colour=discord.Colour.teal())
        embed.add_field(
            name="Your privacy",
            value="Your check-ins are visible to you alone unless you choose to share them. "
            "The bot never reads the content of messages. `/privacy info` says what is kept and for how "
            "long, `/privacy export` gives you all of it, `/privacy delete` erases it.",
            inline=False,
        )
        embed.add_field(
            name="If you are struggling",
            value="`/sos` shows crisis resources at once and can let your buddy or the moderators know.",
            inline=False,
        )
        embed.set_footer(text=f"SoberPeers {self.bot.version}")
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Meta(bot))

"""``/peersupport``: the article's guidance on peer support, quoted word for word."""

from __future__ import annotations

import random
from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.services.guidance import GuidanceLibrary, Passage, split_text

FIELD_LIMIT = 1024
QUOTE_PREFIX = "> "
COLOUR = discord.Colour.teal()
PRIVATE_HELP = "Only you see the answer (default: false)"

ISNT_TOPICS = {
    "therapists": "isnt-therapists",
    "sponsors": "isnt-sponsors",
    "opposite-sex": "isnt-opposite-sex",
}


def quote(text: str) -> str:
    """Mark every line of ``text`` as a Discord block quote."""
    return "\n".join(f"{QUOTE_PREFIX}{line}" if line.strip() else ">" for line in text.splitlines())


def passage_embed(passage: Passage, source_title: str) -> discord.Embed:
    """One embed: the title, the passage as a quotation in chunks of at most one field, the source."""
    # Room for the quote marks the chunk gains: one prefix per line.
    budget = FIELD_LIMIT - len(QUOTE_PREFIX) * (passage.text.count("\n") + 1)
    chunks = split_text(passage.text, budget)
    embed = discord.Embed(title=passage.title, colour=COLOUR)
    for chunk in chunks:
        embed.add_field(name="\u200b", value=quote(chunk), inline=False)
    embed.set_footer(text=f"From the article “{source_title}”")
    return embed


def embeds_for(passages: Sequence[Passage], source_title: str) -> list[discord.Embed]:
    """The embeds of several passages, one each."""
    return [passage_embed(p, source_title) for p in passages]


@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class PeerSupport(commands.GroupCog, group_name="peersupport", group_description="What peer support is, and isn't"):
    """Quotes from the article on peer support after inpatient treatment."""

    def __init__(self, bot: SoberPeersBot, rng: random.Random | None = None) -> None:
        super().__init__()
        self.bot = bot
        self.rng = rng or random.Random()  # noqa: S311 - choosing a quote, not a secret

    @property
    def library(self) -> GuidanceLibrary:
        """The bot's guidance library."""
        return self.bot.guidance

    async def _send(self, interaction: discord.Interaction, passages: Sequence[Passage], private: bool) -> None:
        await interaction.response.send_message(
            embeds=embeds_for(passages, self.library.source_title), ephemeral=private
        )

    @app_commands.command(name="what-it-is", description="What peer support is")
    @app_commands.describe(private=PRIVATE_HELP)
    async def what_it_is(self, interaction: discord.Interaction, private: bool = False) -> None:
        """Quote what peer support is."""
        await self._send(interaction, [self.library.get("what-it-is")], private)

    @app_commands.command(
        name="what-it-isnt", description="What peer support is not: therapists, sponsors, the opposite sex"
    )
    @app_commands.describe(topic="One of the three (default: all three)", private=PRIVATE_HELP)
    @app_commands.choices(
        topic=[
            app_commands.Choice(name="therapists", value="therapists"),
            app_commands.Choice(name="sponsors", value="sponsors"),
            app_commands.Choice(name="opposite-sex", value="opposite-sex"),
        ]
    )
    async def what_it_isnt(
        self, interaction: discord.Interaction, topic: app_commands.Choice[str] | None = None, private: bool = False
    ) -> None:
        """Quote what peer support is not."""
        ids = [ISNT_TOPICS[topic.value]] if topic else list(ISNT_TOPICS.values())
        await self._send(interaction, [self.library.get(i) for i in ids], private)

    @app_commands.command(name="why", description="Why peer support matters after inpatient treatment")
    @app_commands.describe(private=PRIVATE_HELP)
    async def why(self, interaction: discord.Interaction, private: bool = False) -> None:
        """Quote the void after treatment, isolation and relapse, and the role of peers."""
        await self._send(interaction, self.library.by_topic("why"), private)

    @app_commands.command(name="stages", description="The stages of drug rehab programs, and where relapse happens")
    @app_commands.describe(private=PRIVATE_HELP)
    async def stages(self, interaction: discord.Interaction, private: bool = False) -> None:
        """Quote the stages of rehab."""
        await self._send(interaction, self.library.by_topic("stages"), private)

    @app_commands.command(name="quote", description="One passage of the article: the best match, or a random one")
    @app_commands.describe(search="Words to look for (suggestions appear as you type)", private=PRIVATE_HELP)
    async def quote_command(
        self,
        interaction: discord.Interaction,
        search: app_commands.Range[str, 1, 100] | None = None,
        private: bool = False,
    ) -> None:
        """Quote the passage matching ``search``, or a random passage."""
        if search is None or not search.strip():
            await self._send(interaction, [self.library.random(rng=self.rng)], private)
            return
        try:
            passage = self.library.get(search)
        except KeyError:
            found = self.library.search(search, limit=1)
            if not found:
                await interaction.response.send_message(
                    f"Nothing in the article matches “{discord.utils.escape_markdown(search)}”. "
                    "Try `/peersupport quote` without a search for a random passage.",
                    ephemeral=True,
                )
                return
            passage = found[0]
        await self._send(interaction, [passage], private)

    @quote_command.autocomplete("search")
    async def quote_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer passage titles matching what was typed so far (all of them when nothing is typed)."""
        passages = self.library.search(current, limit=25) if current.strip() else list(self.library)[:25]
        return [app_commands.Choice(name=p.title, value=p.id) for p in passages]


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(PeerSupport(bot))

"""``/settings``: the server's settings, for moderators only; and settings pointing at a channel or role
that was deleted (now, or while the bot was away) are cleared and the moderators told, once."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_moderator
from bot.client import SoberPeersBot
from bot.services.outbox import MODERATOR_NOTICE, NewPost
from bot.services.server_settings import SETTINGS, Kind, ServerConfig, SettingValue
from cogs.nudges import configure_nudges, show_quiet_members
from cogs.outbox import deliver
from cogs.privacy import confirm_server_erase
from cogs.safety import open_crisis_resources_modal, show_audit_log

log = logging.getLogger(__name__)

TEXT_SHOWN = 100
"""The most characters of a text setting (the crisis resources) shown in ``/settings show``."""
CHOOSE_AGAIN = {
    "moderator_channel": "/settings moderator-channel",
    "moderator_role": "/settings moderator-role",
    "checkin_channel": "/settings checkin-channel",
    "celebrations_channel": "/settings celebrations-channel",
    "intro_channel": "/buddyadmin settings intro_channel",
}
"""The command that sets each channel or role setting again."""


def render_value(kind: Kind, value: SettingValue) -> str:
    """A setting's value as a moderator reads it (mentions in embeds ping nobody)."""
    if value is None:
        return "not set"
    if kind is Kind.CHANNEL:
        return f"<#{value}>"
    if kind is Kind.ROLE:
        return f"<@&{value}>"
    if kind is Kind.BOOL:
        return "on" if value else "off"
    if kind is Kind.TEXT:
        text = " ".join(str(value).split())
        shown = text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"
        return f"“{discord.utils.escape_markdown(shown)}”"
    return str(value)


def settings_embed(config: ServerConfig) -> discord.Embed:
    """Every setting of the server, with its value."""
    embed = discord.Embed(title="SoberPeers settings", colour=discord.Colour.blurple())
    lines = [
        f"**{definition.label}**: {render_value(definition.kind, config[key])}"
        + ("" if config.is_set(key) else " (default)" if definition.default is not None else "")
        for key, definition in SETTINGS.items()
    ]
    embed.description = "\n".join(lines)
    return embed


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Settings(commands.GroupCog, group_name="settings", group_description="The server's SoberPeers settings"):
    """Moderators' settings of the server."""

    def __init__(self, bot: SoberPeersBot) -> None:
        super().__init__()
        self.bot = bot

    # ----------------------------------------------------------------------- channels and roles that vanish

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted channel that a setting points to: clear the setting, tell the moderators."""
        await self.forget_deleted(channel.guild, {channel.id: f"The channel #{channel.name}"})

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        """A deleted role that a setting points to: clear the setting, tell the moderators."""
        await self.forget_deleted(role.guild, {role.id: f"The role @{role.name}"})

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Each new gateway session: settings pointing at what was deleted while the bot was away."""
        for guild in list(self.bot.guilds):
            if guild.unavailable:
                continue
            config = await self.bot.server_settings.get(guild.id)
            gone: dict[int, str] = {}
            for key, definition in SETTINGS.items():
                target = config.snowflake(key) if definition.kind in (Kind.CHANNEL, Kind.ROLE) else None
                if target is None:
                    continue
                if definition.kind is Kind.CHANNEL and guild.get_channel_or_thread(target) is None:
                    gone[target] = f"The channel <#{target}>"
                elif definition.kind is Kind.ROLE and guild.get_role(target) is None:
                    gone[target] = f"The role <@&{target}>"
            if gone:
                await self.forget_deleted(guild, gone)

    async def forget_deleted(self, guild: discord.Guild, gone: dict[int, str]) -> None:
        """Clear the settings pointing at ``gone`` (id → how to name it), recorded in the audit log as the
        bot's change; then tell the moderators once (the owner, if their channel is what went)."""
        config = await self.bot.server_settings.get(guild.id)
        lines = []
        for key, definition in SETTINGS.items():
            target = config.snowflake(key) if definition.kind in (Kind.CHANNEL, Kind.ROLE) else None
            if target is None or target not in gone:
                continue
            await self.bot.server_settings.set(guild.id, key, None, None)
            log.info("Guild %s: %s %s was deleted; the setting is cleared", guild.id, key, target)
            again = CHOOSE_AGAIN.get(key, "/settings")
            lines.append(
                f"⚠️ {gone[target]} was deleted. It was this server's **{definition.label}**, so that setting is "
                f"now cleared. Choose another with `{again}`."
            )
        if lines:
            await self._tell_moderators(guild, "\n".join(lines))

    async def _tell_moderators(self, guild: discord.Guild, text: str) -> None:
        """Through the outbox (retried if Discord fails now; recorded in the audit log if it cannot be
        delivered): in the moderators' channel, or to the owner by DM when there is none."""
        config = await self.bot.server_settings.get(guild.id)
        channel_id = config.snowflake("moderator_channel")
        channel = guild.get_channel_or_thread(channel_id) if channel_id is not None else None
        if isinstance(channel, discord.TextChannel | discord.Thread):
            post = NewPost(guild.id, MODERATOR_NOTICE, "moderator_channel", text)
        elif guild.owner_id is None:
            log.warning("Guild %s has no moderators' channel and no known owner to tell: %s", guild.id, text)
            return
        else:
            post = NewPost(
                guild.id,
                MODERATOR_NOTICE,
                "owner",
                f"{text}\n-# About your server **{discord.utils.escape_markdown(guild.name)}**: it has no "
                "moderators' channel, so I'm telling you, its owner.",
            )
        delivery = await deliver(self.bot, post)
        if delivery.state == "undelivered":
            log.warning(
                "Could not tell the moderators of guild %s about a deleted setting: %s", guild.id, delivery.reason
            )

    # ----------------------------------------------------------------------- checks

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Moderators only, checked at run time (Discord's permission overrides may be loosened)."""
        return await is_moderator(interaction)

    async def _set(self, interaction: discord.Interaction, key: str, value: SettingValue) -> None:
        assert interaction.guild_id is not None
        config = await self.bot.server_settings.set(interaction.guild_id, key, value, interaction.user.id)
        self.bot.dispatch("setting_set", interaction.guild_id, key)  # e.g. buddy proposals wait for a channel
        definition = SETTINGS[key]
        shown = render_value(definition.kind, config[key])
        await interaction.response.send_message(f"{definition.label}: {shown}.", ephemeral=True)

    @app_commands.command(name="show", description="Every setting of this server")
    async def show(self, interaction: discord.Interaction) -> None:
        """List every setting."""
        assert interaction.guild_id is not None
        config = await self.bot.server_settings.get(interaction.guild_id)
        await interaction.response.send_message(embed=settings_embed(config), ephemeral=True)

    @app_commands.command(name="checkin-channel", description="Where shared check-ins are posted")
    @app_commands.describe(channel="The channel (leave out to turn sharing off)")
    async def checkin_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Set the channel where members may share a check-in summary."""
        await self._set(interaction, "checkin_channel", channel.id if channel else None)

    @app_commands.command(name="celebrations-channel", description="Where milestones are celebrated")
    @app_commands.describe(channel="The channel (leave out to turn announcements off)")
    async def celebrations_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Set the channel where milestones are announced, for members who chose to."""
        await self._set(interaction, "celebrations_channel", channel.id if channel else None)

    @app_commands.command(name="moderator-channel", description="Where the bot sends notices for moderators")
    @app_commands.describe(channel="A private channel for moderators (leave out to unset)")
    async def moderator_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Set the moderators' channel."""
        await self._set(interaction, "moderator_channel", channel.id if channel else None)

    @app_commands.command(name="moderator-role", description="A role whose members may use moderator commands")
    @app_commands.describe(role="The role (leave out to rely on Manage Server alone)")
    async def moderator_role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        """Set the moderator role."""
        await self._set(interaction, "moderator_role", role.id if role else None)

    @app_commands.command(name="nudges", description="Isolation nudges: on or off, and the quiet days before each step")
    @app_commands.describe(
        enabled="Nudges in this server (default: on)",
        quiet_days="Quiet days before the member's private message (default 3)",
        buddy_after_days="Quiet days before their buddy's note (default 5)",
        moderator_after_days="Quiet days before the moderators' notice (default 7)",
    )
    async def nudges(
        self,
        interaction: discord.Interaction,
        enabled: bool | None = None,
        quiet_days: app_commands.Range[int, 1, 60] | None = None,
        buddy_after_days: app_commands.Range[int, 2, 90] | None = None,
        moderator_after_days: app_commands.Range[int, 3, 90] | None = None,
    ) -> None:
        """Change (or, with no option, show) the nudge settings; the days must grow step by step."""
        await configure_nudges(
            self.bot,
            interaction,
            enabled=enabled,
            quiet_days=quiet_days,
            buddy_after_days=buddy_after_days,
            moderator_after_days=moderator_after_days,
        )

    @app_commands.command(name="quiet-members", description="Members quiet longer than the nudges' quiet days")
    async def quiet_members(self, interaction: discord.Interaction) -> None:
        """Who has been quiet, how long, and the step reached (paged)."""
        await show_quiet_members(self.bot, interaction)

    @app_commands.command(name="crisis-resources", description="Edit the crisis resources /sos and check-ins show")
    async def crisis_resources(self, interaction: discord.Interaction) -> None:
        """A form with the current text (at most 1500 characters; empty: the default)."""
        await open_crisis_resources_modal(self.bot, interaction)

    @app_commands.command(name="audit-log", description="Moderators' actions and settings changes, newest first")
    async def audit_log(self, interaction: discord.Interaction) -> None:
        """The latest entries of the audit log (paged)."""
        await show_audit_log(self.bot, interaction)

    @app_commands.command(name="note-retention", description="Days check-in notes are kept before they are erased")
    @app_commands.describe(days="7 to 3650 (default 90); leave out to see the current value")
    async def note_retention(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 7, 3650] | None = None
    ) -> None:
        """Set (or, without days, show) how long check-in notes are kept; the numbers always stay."""
        if days is not None:
            await self._set(interaction, "note_retention_days", days)
            return
        assert interaction.guild_id is not None
        config = await self.bot.server_settings.get(interaction.guild_id)
        kept = config.integer("note_retention_days")
        await interaction.response.send_message(
            f"Check-in notes are kept {kept} days here, then erased (mood, craving and sober stay).", ephemeral=True
        )

    @app_commands.command(name="erase-server-data", description="Erase everything SoberPeers stores here (owner)")
    async def erase_server_data(self, interaction: discord.Interaction) -> None:
        """The server's owner only, after a confirmation: every member's data, settings and audit log."""
        await confirm_server_erase(self.bot, interaction)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Settings(bot))

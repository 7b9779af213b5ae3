"""``/privacy``: what the bot keeps about you here, a copy of it, or erasing it; and the retention jobs.

A thin adapter of :class:`bot.services.privacy.PrivacyService`:

* ``/privacy info|export|delete`` work in servers only, and every answer is private. ``export``
  attaches a JSON file; ``delete`` asks first (buttons only the member sees, for two minutes), then
  erases in one transaction, and the member's buddy is told privately that the pairing ended, by the
  buddy cog's own :class:`~cogs.buddies.EffectRunner`, as with ``/buddy end``.
* Members leaving and returning, and the bot being removed from a server and added back, are
  recorded as they happen; after every connection the stored state is compared with what the bot
  sees (events missed while it was away).
* The retention jobs run once the bot is ready, then every day (:data:`RETENTION_INTERVAL`), at the
  bot's clock; :meth:`Privacy.trigger_retention` makes the loop run now, and tests may also call
  :meth:`Privacy.run_retention_now` directly. Before a departed member's data is erased, Discord is asked
  whether they are back.
* ``/settings erase-server-data`` (owner only) and ``/settings note-retention`` live in
  ``cogs.settings`` and call :func:`confirm_server_erase`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.errors import UserError
from bot.services.activity import ActivityBuffer
from bot.services.buddies import BuddyService, Effect, NotifyPairEnded
from bot.services.privacy import DEPARTED_KEEP, SERVER_KEEP, PrivacyInfo, PrivacyService, RetentionReport
from bot.services.reminders import ReminderService
from bot.views import TrackedView
from cogs.buddies import buddy_cog

__all__ = [
    "CONFIRM_SECONDS",
    "RETENTION_INTERVAL",
    "ConfirmView",
    "Privacy",
    "confirm_server_erase",
    "export_filename",
    "info_embed",
    "privacy_cog",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.teal()
RETENTION_INTERVAL = 24 * 3600.0
"""Seconds between two runs of the retention jobs."""
CONFIRM_SECONDS = 120.0
"""How long a confirmation's buttons stay valid."""
POLICY = "The full policy is PRIVACY.md in the SoberPeers repository; ask your moderators for the link."


def export_filename(guild_id: int) -> str:
    """The name of the export's file."""
    return f"soberpeers-my-data-{guild_id}.json"


def _ts(moment: datetime, style: str = "D") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --------------------------------------------------------------------------- rendering (pure)


def _stored_lines(info: PrivacyInfo) -> list[str]:
    lines = []
    if info.checkins:
        lines.append(f"• {_plural(info.checkins, 'check-in')} (mood, craving, sober), {info.notes} with a note")
    if info.timezone_set:
        lines.append("• your timezone")
    if info.reminder_set:
        lines.append("• your daily reminder's time")
    if info.sobriety_set:
        lines.append("• your sobriety date and the milestones celebrated")
    if info.live_pairs or info.past_pairs:
        lines.append(f"• buddy pairings: {info.live_pairs} current, {info.past_pairs} past (who, and since when)")
    if info.waiting:
        lines.append("• your place in the queue for a buddy")
    if info.volunteering:
        lines.append("• your offer to be a buddy")
    if info.nudges_row:
        lines.append("• when you were last active (only that, never what you wrote) and your nudge choices")
    if info.sos_alerts:
        lines.append("• when you last sent a /sos alert (for its 10-minute limit)")
    if info.moderator_records:
        lines.append("• records of what you did as a moderator")
    return lines or ["Nothing at all."]


def info_embed(info: PrivacyInfo, guild_name: str) -> discord.Embed:
    """``/privacy info``: what is stored, why, who sees it, how long; counts only, never content."""
    embed = discord.Embed(
        title="Your data in this server",
        colour=COLOUR,
        description=(
            f"SoberPeers keeps the least it can. This is what it holds about you in "
            f"**{discord.utils.escape_markdown(guild_name)}**, and only here: each server's data is kept apart."
        ),
    )
    embed.add_field(name="What is stored now", value="\n".join(_stored_lines(info))[:1024], inline=False)
    embed.add_field(
        name="Why",
        value="To show you your history and streaks, send your reminder, celebrate your milestones, match and "
        "introduce buddies, and notice (only) that a participating member has gone quiet.",
        inline=False,
    )
    sealed = (
        "Notes are stored encrypted with the operator's key."
        if info.notes_sealed
        else "Notes are stored unencrypted: the bot's operator has not set an encryption key."
    )
    embed.add_field(
        name="Who can see it",
        value="You alone see your check-ins, notes, history and sobriety counter, unless you share a check-in "
        "(mood, craving and sober; never the note). Your buddy knows you are paired. Moderators see buddy "
        "pairings and the queue, who has been quiet and for how long, and their own audit log; never your "
        f"check-ins, notes, moods or cravings. The bot's operator runs its database. {sealed}",
        inline=False,
    )
    embed.add_field(
        name="How long",
        value=f"Check-in notes: {info.note_retention_days} days (this server's setting), then erased; mood, "
        "craving and sober stay for your chart. Everything else: until you erase it. If you leave the "
        f"server: erased {DEPARTED_KEEP.days} days later unless you come back. If the server removes the bot: "
        f"erased {SERVER_KEEP.days} days later.",
        inline=False,
    )
    embed.add_field(
        name="Your choices",
        value="`/privacy export`: a file with all of it. `/privacy delete`: erase all of it here (asks first).",
        inline=False,
    )
    embed.set_footer(text=POLICY)
    return embed


def export_text(checkins: int, notes: int, locked: int, why: str | None, empty: bool) -> str:
    """The message that comes with the export file."""
    if empty:
        return "📄 I hold nothing about you in this server. The file says so too."
    lines = [
        f"📄 Everything I hold about you in this server: {_plural(checkins, 'check-in')} "
        f"({_plural(notes, 'note')}) and the rest, in the attached file. Only you can see this message."
    ]
    if locked:
        lines.append(
            f"⚠️ {_plural(locked, 'note')} couldn't be opened: {why}. They are listed in the file as locked. "
            "Ask the bot's operator to set the DATA_KEY they were stored with, then export again."
        )
    return "\n".join(lines)


DELETE_QUESTION = (
    "🗑️ This erases everything SoberPeers holds about you in this server: check-ins and notes, sobriety date "
    "and milestones, reminder and timezone, buddy pairings (your buddy is told privately that the pairing "
    "ended, as with `/buddy end`), the queue and volunteering, nudge settings and activity. Other servers "
    "are not affected. It can't be undone; `/privacy export` first if you'd like a copy.\n"
    "Erase it all?"
)


def deleted_text(erased: bool, told: int) -> str:
    """The answer once a member's data is erased."""
    if not erased:
        return "There was nothing stored about you here, so nothing changed."
    lines = ["🗑️ Done: everything SoberPeers held about you in this server is erased."]
    if told == 1:
        lines.append("Your buddy pairing ended, and your buddy was told privately, kindly.")
    elif told:
        lines.append(f"Your {told} buddy pairings ended, and each buddy was told privately, kindly.")
    lines.append("If you use SoberPeers here again, it starts afresh.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- confirmation


class ConfirmView(TrackedView):
    """Two buttons for the one member who asked: go ahead, or keep everything. Valid two minutes (a
    press after that, or after a restart, is answered that nothing was done: bot.views.TrackedView).
    ``on_confirm`` does the work and returns the text that replaces the question."""

    def __init__(
        self,
        origin: discord.Interaction,
        confirm_label: str,
        on_confirm: Callable[[discord.Interaction], Awaitable[str]],
    ) -> None:
        super().__init__(origin.client, "confirm", timeout=CONFIRM_SECONDS)
        self.origin = origin
        self.owner_id = origin.user.id
        self.on_confirm = on_confirm
        self.confirm.label = confirm_label

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Only the member who asked."""
        if interaction.user.id != self.owner_id:
            raise UserError("Only the member who asked can answer this.")
        return True

    @discord.ui.button(label="Erase", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Go ahead (once): "Erasing…" at once, then the outcome in its place."""
        self.stop()
        await interaction.response.edit_message(content="Erasing…", view=None)
        try:
            outcome = await self.on_confirm(interaction)
        except Exception:
            # The erasure is one transaction: when it fails, nothing was erased. The error itself is
            # answered by BaseView.on_error.
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content="Nothing was erased.")
            raise
        await interaction.edit_original_response(content=outcome)

    @discord.ui.button(label="Keep everything", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Nothing happens."""
        self.stop()
        await interaction.response.edit_message(content="Nothing was erased.", view=None)

    async def on_timeout(self) -> None:
        """Say the question expired (the buttons go away)."""
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(
                content="This question expired, so nothing was erased. Ask again if you still want to.", view=None
            )


# --------------------------------------------------------------------------- helpers for other cogs


def privacy_cog(client: discord.Client) -> Privacy:
    """The loaded privacy cog; :class:`UserError` if it is not loaded."""
    # Not isinstance: the extension loader executes this module afresh, so its class may differ.
    cog = cast(SoberPeersBot, client).get_cog(Privacy.COG_NAME)
    if cog is None or not isinstance(getattr(cog, "service", None), PrivacyService):
        raise UserError("Privacy tools are not available right now. Please try again in a minute.")
    return cast(Privacy, cog)


async def confirm_server_erase(bot: SoberPeersBot, interaction: discord.Interaction) -> None:
    """``/settings erase-server-data``: the owner only; asks first, then erases everything of the server."""
    guild = interaction.guild
    if guild is None:
        raise app_commands.NoPrivateMessage()
    if interaction.user.id != guild.owner_id:
        raise UserError("Only the server's owner can erase all of SoberPeers' data for this server.")
    cog = privacy_cog(bot)
    members = await cog.service.server_members_with_data(guild.id)

    async def erase(pressed: discord.Interaction) -> str:
        await cog.erase_server(guild.id, pressed.user.id)
        return (
            "🗑️ Everything SoberPeers stored about this server is erased: members' data, settings and the "
            "audit log. The bot stays and starts afresh; remove it from the server if you no longer want it."
        )

    question = (
        "🗑️ This erases everything SoberPeers stores about this server, at once: the data of "
        f"{_plural(members, 'member')} (check-ins and notes, sobriety dates, reminders, buddy pairings, nudges), "
        "every setting and the moderators' audit log. Members are not messaged; current buddy pairings simply "
        "stop (their threads stay). It can't be undone.\nErase all of it?"
    )
    view = ConfirmView(interaction, "Erase all of this server's data", erase)
    await interaction.response.send_message(question, view=view, ephemeral=True)


# --------------------------------------------------------------------------- the cog


@app_commands.guild_only()
class Privacy(commands.GroupCog, group_name="privacy", group_description="Your data here: what is kept, a copy, erase"):
    """Members' data: info, export, delete; departures and servers left; the retention jobs."""

    COG_NAME = "Privacy"

    def __init__(self, bot: SoberPeersBot, *, interval: float = RETENTION_INTERVAL) -> None:
        super().__init__()
        self.bot = bot
        self.service = PrivacyService(
            bot.db, bot.clock, BuddyService(bot.db, bot.clock, bot.guidance), cipher=bot.note_cipher
        )
        self.interval = interval
        self.started = asyncio.Event()
        """Set once the pass after ready (reconcile, then retention) is done."""
        self.runs = 0
        """How many runs of the retention jobs completed."""
        self.last_report: RetentionReport | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        """Start the retention loop (it waits until the bot is ready)."""
        self._task = asyncio.create_task(self._run(), name="privacy-retention")

    async def cog_unload(self) -> None:
        """Stop the retention loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await self.bot.wait_until_ready()  # guilds and members are cached
        try:
            await self.reconcile()
            await self.run_retention_now()
        except Exception:
            log.exception("The privacy pass after ready failed")
        finally:
            self.started.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.run_retention_now()
            except Exception:
                log.exception("The retention jobs failed; they run again in %s s", self.interval)

    def trigger_retention(self) -> None:
        """Make the daily loop run the retention jobs now rather than at its next day (tests, operators)."""
        self._wake.set()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """A later gateway session (after an outage): catch up on what happened meanwhile."""
        if self.started.is_set():
            await self.reconcile()

    async def reconcile(self) -> None:
        """Compare the stored servers and members with those the bot sees (events missed while away)."""
        present = {g.id: [m.id for m in g.members] if g.chunked else None for g in self.bot.guilds}
        await self.service.reconcile(present)

    async def run_retention_now(self) -> RetentionReport:
        """One run of the retention jobs, at the bot's clock; then the buddy effects and the reminders."""
        async with self._lock:
            report = await self.service.run_retention(
                member_present=self._member_present,
                bot_present=lambda guild_id: self.bot.get_guild(guild_id) is not None,
                activity=self._activity(),
            )
            for guild_id, effects in report.effects:
                await self._carry_out(guild_id, effects)
            if report.reminders_removed:
                self._reminders_changed()
            self.last_report = report
            self.runs += 1
            return report

    async def _member_present(self, guild_id: int, user_id: int) -> bool | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return False  # the bot is not in that server: its data goes with the server's
        if guild.get_member(user_id) is not None:
            return True
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("Cannot tell whether member %s is back in guild %s: %s", user_id, guild_id, exc)
            return None
        return True

    # ----------------------------------------------------------------------- the other cogs

    def _activity(self) -> ActivityBuffer | None:
        """The nudges cog's activity buffer, if loaded."""
        buffer = getattr(self.bot.get_cog("Nudges"), "buffer", None)
        return buffer if isinstance(buffer, ActivityBuffer) else None

    def _reminders_changed(self) -> None:
        """Wake the reminder dispatcher: a reminder it may be waiting for is gone."""
        reminders = getattr(self.bot.get_cog("Checkins"), "reminders", None)
        if isinstance(reminders, ReminderService):
            reminders.notify_changed()

    async def _carry_out(self, guild_id: int, effects: tuple[Effect, ...]) -> None:
        """The buddy cog's effects (telling the other member of an ended pairing kindly)."""
        if not effects:
            return
        try:
            runner = buddy_cog(self.bot).effects
        except UserError:
            log.warning("Buddies are not loaded: %s buddy effects in guild %s dropped", len(effects), guild_id)
            return
        await runner.run(guild_id, effects)

    async def erase_server(self, guild_id: int, actor_id: int) -> bool:
        """Erase everything of the server now (the owner confirmed)."""
        erased = await self.service.erase_server(guild_id, actor_id, activity=self._activity())
        log.info("Guild %s: all data erased at the request of the owner %s", guild_id, actor_id)
        self._reminders_changed()
        return erased

    # ----------------------------------------------------------------------- events

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left: their data is erased after 30 days unless they return."""
        if not payload.user.bot:
            await self.service.member_left(payload.guild_id, payload.user.id)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """A member is back: their data is kept."""
        if not member.bot:
            await self.service.member_returned(member.guild.id, member.id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot was removed from a server: its data is erased after 30 days unless the bot returns."""
        await self.service.bot_left(guild.id, activity=self._activity())

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """The bot is in a server (again): its data is kept."""
        await self.service.bot_joined(guild.id)

    # ----------------------------------------------------------------------- /privacy

    @staticmethod
    def _guild(interaction: discord.Interaction) -> discord.Guild:
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        return interaction.guild

    @app_commands.command(name="info", description="What SoberPeers stores about you here, why, who sees it, how long")
    async def info(self, interaction: discord.Interaction) -> None:
        """Counts and the policy, privately."""
        guild = self._guild(interaction)
        info = await self.service.info(guild.id, interaction.user.id)
        await interaction.response.send_message(embed=info_embed(info, guild.name), ephemeral=True)

    @app_commands.command(name="export", description="A file with everything SoberPeers holds about you here")
    async def export(self, interaction: discord.Interaction) -> None:
        """The JSON file, privately."""
        guild = self._guild(interaction)
        data = await self.service.export(guild.id, interaction.user.id)
        file = discord.File(io.BytesIO(data.to_json()), filename=export_filename(guild.id))
        text = export_text(data.checkins, data.notes, data.locked_notes, data.locked_reason, data.empty)
        await interaction.response.send_message(text, file=file, ephemeral=True)

    @app_commands.command(name="delete", description="Erase everything SoberPeers holds about you here (asks first)")
    async def delete(self, interaction: discord.Interaction) -> None:
        """Ask, then erase in one transaction; the buddy is told kindly."""
        guild = self._guild(interaction)
        user_id = interaction.user.id

        async def erase(pressed: discord.Interaction) -> str:
            result = await self.service.delete_member(guild.id, user_id, activity=self._activity())
            await self._carry_out(guild.id, result.effects)
            if result.reminder_removed:
                self._reminders_changed()
            return deleted_text(result.erased, sum(1 for e in result.effects if isinstance(e, NotifyPairEnded)))

        view = ConfirmView(interaction, "Erase my data", erase)
        await interaction.response.send_message(DELETE_QUESTION, view=view, ephemeral=True)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Privacy(bot))

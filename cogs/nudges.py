"""``/nudges`` and the isolation nudges on Discord: activity, the sweep, the DMs and their buttons.

A thin adapter of :mod:`bot.services.nudges` and :mod:`bot.services.activity`:

* Activity is noted by *observers* (``SoberPeersBot.add_event_observer``): plain synchronous calls
  from the gateway dispatch, one dict store each. A listener would cost an asyncio task per
  message, far above the budget of a few percent of discord.py's own per-message cost. No message
  content is read, ever: only that a member posted, reacted, joined voice or used the bot.
* The sweep runs right after the bot is ready, then every 15 minutes (sooner when a step waits
  for a free DM slot); tests call :meth:`Nudges.run_sweep_now`.
* The member's DM carries buttons whose ``custom_id`` encodes the server and the quiet spell
  (dynamic items: they work after any restart). Nothing is ever posted publicly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.db.repositories.nudges import StepRow
from bot.errors import UserError
from bot.nonce import message_nonce
from bot.services.activity import ActivityBuffer, ActivityFlusher
from bot.services.nudges import (
    MAX_PAUSE_DAYS,
    PAUSE_BUTTON_DAYS,
    REASON_ASKED,
    REASON_BUDDY,
    REASON_CHECKIN,
    REASON_SOBRIETY,
    STEP_BUDDY,
    STEP_MEMBER,
    STEP_MODERATORS,
    TRANSIENT,
    NudgeAction,
    NudgeConfig,
    NudgeService,
    NudgeStatus,
    NudgeSweeper,
    QuietPage,
    SweepReport,
)
from bot.services.safety import read_crisis_resources
from bot.views import (
    PagedList,
    SendOutcome,
    answer_failure,
    register_paged_lists,
    send_paged,
    send_with_nonce,
    unregister_paged_lists,
)
from cogs.checkins import crisis_embed
from cogs.guidance import quote

__all__ = [
    "NUDGE_BUTTON_TEMPLATE",
    "QUIET_LIST",
    "NudgeButton",
    "Nudges",
    "buddy_note_embed",
    "configure_nudges",
    "moderator_notice_embed",
    "nudge_dm_embed",
    "show_quiet_members",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.teal()
NUDGE_BUTTON_TEMPLATE = r"nudge:(?P<action>ok|buddy|pause|off):(?P<guild_id>[0-9]+):(?P<spell>[0-9]+)"
HISTORY_LOOKBACK = 50
"""How many recent messages are searched for a step's reference after a crash."""
QUIET_PAGE_SIZE = 10
PRIVACY_LINE = "Only that you were active is noticed, never what you wrote or checked in."
BUTTONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "ok": ("I'm okay", discord.ButtonStyle.success),
    "buddy": ("Ask my buddy to reach out", discord.ButtonStyle.primary),
    "pause": ("Pause for a week", discord.ButtonStyle.secondary),
    "off": ("Turn these off", discord.ButtonStyle.secondary),
}
REASON_TEXT = {
    REASON_ASKED: "you turned nudges on",
    REASON_BUDDY: "you have a buddy",
    REASON_CHECKIN: "you checked in during the last 30 days",
    REASON_SOBRIETY: "you set a sobriety date",
}


def _ts(moment: datetime, style: str = "f") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def _name(text: str) -> str:
    return discord.utils.escape_markdown(text)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _footer(ref: str, text: str = PRIVACY_LINE) -> str:
    return f"{text} · ref {ref}"


# --------------------------------------------------------------------------- messages


def nudge_dm_embed(guild_name: str, member_name: str, action: NudgeAction, source_title: str) -> discord.Embed:
    """The member's DM: warm, short, one passage, and what happens next."""
    embed = discord.Embed(
        title="Thinking of you",
        colour=COLOUR,
        description=(
            f"Hi {_name(member_name)}, it's been a few quiet days for you in **{_name(guild_name)}**. "
            "No pressure and nothing to explain: I'm just checking in. Your peers are there whenever you want "
            "them.\n"
            "-# If it stays quiet, your buddy and later the moderators will hear that you've been quiet (only "
            "that), so someone can say hello."
        ),
    )
    if action.passage is not None:
        embed.add_field(name=action.passage.title, value=quote(action.passage.text)[:1024], inline=False)
        embed.add_field(name="\u200b", value=f"-# From the article “{_name(source_title)}”", inline=False)
    embed.set_footer(text=_footer(action.ref))
    return embed


def buddy_note_embed(guild_name: str, member_mention: str, member_name: str, action: NudgeAction) -> discord.Embed:
    """The buddy's private note."""
    who = f"{member_mention} ({_name(member_name)})"
    if action.requested:
        text = (
            f"{who} from **{_name(guild_name)}** asked me to let you know they'd welcome a message from you. "
            "A simple hello is plenty."
        )
    else:
        text = (
            f"{who} from **{_name(guild_name)}** has been quiet for {_plural(action.quiet_days, 'day')}. "
            "Maybe send them a message: a hello from a peer can mean a lot."
        )
    embed = discord.Embed(title="Your buddy", colour=COLOUR, description=text)
    embed.set_footer(text=_footer(action.ref, "You get this because you are their buddy"))
    return embed


def describe_step(step: StepRow) -> str:
    """One step of a spell as moderators read it (never anything the member wrote)."""
    when = _ts(step.claimed_at, "d")
    if step.step == STEP_MEMBER:
        return {
            "sent": f"Private message: sent {when}",
            "pending": f"Private message: being sent {when}",
            "dm_closed": f"Private message: could not be delivered {when} (their DMs are closed)",
            "unknown": f"Private message: may have been sent {when} (interrupted by a restart)",
        }.get(step.outcome, f"Private message: not delivered {when}")
    if step.step == STEP_BUDDY:
        buddy = f"<@{step.target_id}>" if step.target_id is not None else "their buddy"
        asked = " at the member's request" if step.requested else ""
        return {
            "sent": f"Buddy's note: sent to {buddy}{asked} {when}",
            "pending": f"Buddy's note: being sent to {buddy} {when}",
            "no_buddy": "Buddy's note: they have no buddy",
            "dm_closed": f"Buddy's note: could not be delivered to {buddy} (their DMs are closed)",
            "unknown": f"Buddy's note: may have been sent to {buddy} {when} (interrupted by a restart)",
        }.get(step.outcome, f"Buddy's note: not delivered to {buddy}")
    return {
        "sent": f"Moderators' notice: posted {when}",
        "no_channel": "Moderators' notice: no moderators' channel is set",
    }.get(step.outcome, f"Moderators' notice: {step.outcome.replace('_', ' ')}")


def moderator_notice_embed(member_mention: str, member_name: str, action: NudgeAction) -> discord.Embed:
    """The one notice to the moderators: who, how long, which steps were taken."""
    embed = discord.Embed(
        title="A member has gone quiet",
        colour=discord.Colour.orange(),
        description=(
            f"{member_mention} ({_name(member_name)}) has been quiet for **{_plural(action.quiet_days, 'day')}**. "
            "A friendly, private hello may help."
        ),
    )
    lines = [describe_step(step) for step in action.steps] or ["None: the steps before this one were not due."]
    embed.add_field(name="Steps taken", value="\n".join(f"• {line}" for line in lines), inline=False)
    embed.set_footer(text=_footer(action.ref, "Only activity is noticed, never what members write or check in"))
    return embed


def status_text(status: NudgeStatus) -> str:
    """``/nudges status``."""
    config = status.config
    if status.opt == "off":
        state = "**off**: you get no nudges, and nobody is told when you are quiet. `/nudges on` turns them back on."
    elif status.participating:
        if status.opt == "on":
            state = "**on**: you asked for them."
        else:
            state = "**on** because " + ", ".join(REASON_TEXT[r] for r in status.reasons) + "."
    else:
        state = (
            "**not active**: nudges are for members with a buddy, a check-in in the last 30 days or a sobriety "
            "date. `/nudges on` turns them on anyway."
        )
    lines = [f"Your nudges in this server are {state}"]
    if status.paused_until is not None and status.opt != "off":
        lines.append(f"Paused until {_ts(status.paused_until)}.")
    if not config.enabled:
        lines.append("The moderators have turned nudges off in this server for everyone.")
    else:
        lines.append(
            f"Here, after {_plural(config.quiet_days, 'quiet day')} I send you a private message; after "
            f"{config.buddy_after_days} days your buddy gets a note; after {config.moderator_after_days} days the "
            "moderators are told that you've been quiet. Any activity starts the count again."
        )
    lines.append(f"-# {PRIVACY_LINE}")
    return "\n".join(lines)


def config_text(config: NudgeConfig) -> str:
    """The server's nudge settings, for moderators."""
    if not config.enabled:
        return "Isolation nudges: **off** in this server."
    channel = (
        f"<#{config.moderator_channel_id}>"
        if config.moderator_channel_id is not None
        else "no moderators' channel is set (use `/settings moderator-channel`): the notice cannot be posted"
    )
    return (
        f"Isolation nudges: **on**. A private DM after **{config.quiet_days}** quiet days, the buddy's note after "
        f"**{config.buddy_after_days}**, the moderators' notice after **{config.moderator_after_days}** ({channel})."
    )


def quiet_page_embed(page: QuietPage) -> discord.Embed:
    """One page of ``/settings quiet-members``."""
    embed = discord.Embed(title="Quiet members", colour=COLOUR)
    if not page.members:
        embed.description = f"Nobody taking part in nudges has been quiet longer than {page.quiet_days} days."
        return embed
    lines = []
    for number, member in enumerate(page.members, start=page.page * QUIET_PAGE_SIZE + 1):
        reached = {0: "no step yet", 1: "private message", 2: "buddy's note", 3: "moderators' notice"}[member.step]
        line = f"{number}. <@{member.user_id}>: quiet {_plural(member.quiet_days, 'day')}, reached: {reached}"
        if member.paused_until is not None:
            line += f" (paused until {_ts(member.paused_until, 'd')})"
        details = [describe_step(step) for step in member.steps]
        if details:
            line += "\n" + "\n".join(f"  • {d}" for d in details)
        lines.append(line)
    embed.description = "\n".join(lines)[:4096]
    embed.set_footer(
        text=f"Page {page.page + 1} of {page.pages} · {page.total} in all · quiet > {page.quiet_days} days"
    )
    return embed


# --------------------------------------------------------------------------- components


def _cog(client: discord.Client) -> Nudges:
    # Not isinstance: the extension loader executes this module afresh, so its class may differ.
    cog = cast(SoberPeersBot, client).get_cog(Nudges.COG_NAME)
    if cog is None or not isinstance(getattr(cog, "service", None), NudgeService):
        raise UserError("Nudges are not available right now. Please try again in a minute.")
    return cast(Nudges, cog)


class NudgeButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=NUDGE_BUTTON_TEMPLATE):
    """A button of the member's DM; its ``custom_id`` names the action, the server and the quiet spell."""

    def __init__(self, action: str, guild_id: int, spell: int) -> None:
        label, style = BUTTONS[action]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"nudge:{action}:{guild_id}:{spell}"))
        self.action = action
        self.guild_id = guild_id
        self.spell = spell

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NudgeButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(match["action"], int(match["guild_id"]), int(match["spell"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Answer the member's choice, privately."""
        try:
            cog = _cog(interaction.client)
            user_id = interaction.user.id
            if self.action == "ok":
                await cog.service.active_now(self.guild_id, user_id)
                await interaction.response.send_message(
                    "Thank you for letting me know. I'm glad you're okay. Your peers are there whenever you want them.",
                    ephemeral=True,
                )
            elif self.action == "pause":
                status = await cog.service.pause(self.guild_id, user_id, PAUSE_BUTTON_DAYS)
                until = _ts(status.paused_until) if status.paused_until else "next week"
                await interaction.response.send_message(
                    f"Paused until {until}. Take care. `/nudges status` in the server shows where things stand.",
                    ephemeral=True,
                )
            elif self.action == "off":
                await cog.service.set_opt(self.guild_id, user_id, on=False)
                await interaction.response.send_message(
                    "Nudges are off for you in that server: no more messages like this, and nobody is told when "
                    "you're quiet. `/nudges on` in the server turns them back on.",
                    ephemeral=True,
                )
            else:
                await cog.ask_buddy(interaction, self.guild_id, self.spell)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, f"{type(self).__name__}:{self.action}")


def nudge_view(guild_id: int, spell: int) -> discord.ui.View:
    """The member's DM buttons (fully dynamic: nothing is kept per message)."""
    view = discord.ui.View(timeout=None)
    for action in BUTTONS:
        view.add_item(NudgeButton(action, guild_id, spell))
    return view


# --------------------------------------------------------------------------- moderators' commands


def _service(bot: SoberPeersBot) -> NudgeService:
    service = getattr(bot.get_cog(Nudges.COG_NAME), "service", None)
    if isinstance(service, NudgeService):
        return service
    return NudgeService(bot.db, bot.clock, bot.guidance)  # the settings work without the cog loaded


async def configure_nudges(
    bot: SoberPeersBot,
    interaction: discord.Interaction,
    *,
    enabled: bool | None,
    quiet_days: int | None,
    buddy_after_days: int | None,
    moderator_after_days: int | None,
) -> None:
    """``/settings nudges``: change (or, with no option, show) the server's nudge settings."""
    assert interaction.guild_id is not None
    service = _service(bot)
    if enabled is None and quiet_days is None and buddy_after_days is None and moderator_after_days is None:
        config = await service.get_config(interaction.guild_id)
    else:
        config = await service.configure(
            interaction.guild_id,
            interaction.user.id,
            enabled=enabled,
            quiet_days=quiet_days,
            buddy_after_days=buddy_after_days,
            moderator_after_days=moderator_after_days,
        )
    await interaction.response.send_message(config_text(config), ephemeral=True)


def _fetch_quiet(interaction: discord.Interaction, number: int) -> Awaitable[QuietPage]:
    assert interaction.guild_id is not None
    return _service(cast(SoberPeersBot, interaction.client)).quiet_members(
        interaction.guild_id, number, QUIET_PAGE_SIZE
    )


QUIET_LIST: PagedList[QuietPage] = PagedList("quiet", _fetch_quiet, quiet_page_embed)
"""``/settings quiet-members``: ten a page (its page buttons are handled while this cog is loaded)."""


async def show_quiet_members(bot: SoberPeersBot, interaction: discord.Interaction) -> None:
    """``/settings quiet-members``: the first page, with Previous / Next when there are more."""
    await send_paged(interaction, QUIET_LIST)


# --------------------------------------------------------------------------- the cog


@app_commands.guild_only()
class Nudges(commands.GroupCog, group_name="nudges", group_description="A gentle, private nudge when you go quiet"):
    """Activity, the sweep and its messages, and members' choices."""

    COG_NAME = "Nudges"

    def __init__(self, bot: SoberPeersBot) -> None:
        super().__init__()
        self.bot = bot
        self.service = NudgeService(bot.db, bot.clock, bot.guidance)
        self.buffer = ActivityBuffer(bot.clock)
        self.flusher = ActivityFlusher(self.buffer, self.service.record_activity)
        self.sweeper = NudgeSweeper(self.service, self, flush=self.flusher.flush)
        self._starter: asyncio.Task[None] | None = None
        self._observers: list[tuple[str, Any]] = [
            ("message", self._on_message),
            ("raw_reaction_add", self._on_reaction),
            ("voice_state_update", self._on_voice),
            ("interaction", self._on_interaction),
            ("member_join", self._on_member_join),
            ("raw_member_remove", self._on_member_remove),
        ]

    # ----------------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        """Observe activity, handle the DM buttons, write activity every 30 s, sweep once ready."""
        for event, observer in self._observers:
            self.bot.add_event_observer(event, observer)
        self.bot.add_dynamic_items(NudgeButton)
        register_paged_lists(self.bot, QUIET_LIST)
        self.flusher.start()
        self._starter = asyncio.create_task(self._start_when_ready(), name="nudges-start")

    async def _start_when_ready(self) -> None:
        await self.bot.wait_until_ready()  # members are cached: their join times are known
        for guild in list(self.bot.guilds):
            await self._seed(guild)
        self.sweeper.start()

    async def cog_unload(self) -> None:
        """Stop observing and sweeping, then write the activity still in memory (the shutdown flush)."""
        for event, observer in self._observers:
            self.bot.remove_event_observer(event, observer)
        self.bot.remove_dynamic_items(NudgeButton)
        unregister_paged_lists(self.bot, QUIET_LIST)
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        await self.sweeper.stop()
        await self.flusher.stop()

    async def _seed(self, guild: discord.Guild) -> None:
        members = [(m.id, m.joined_at) for m in guild.members if not m.bot]
        await self.service.seed_members(guild.id, members)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """A new server: members count from now (or their join, if later)."""
        await self._seed(guild)

    async def run_sweep_now(self) -> SweepReport:
        """Run one sweep now (tests; the periodic task does the same)."""
        return await self.sweeper.run_once()

    # ----------------------------------------------------------------------- activity (observers: keep them cheap)

    def _on_message(self, message: discord.Message) -> None:
        author = message.author
        if author.bot:
            return
        guild = message.guild
        if guild is not None:
            self.buffer.note(guild.id, author.id)
        else:
            for shared in author.mutual_guilds:
                self.buffer.note(shared.id, author.id)

    def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or (payload.member is not None and payload.member.bot):
            return
        self.buffer.note(payload.guild_id, payload.user_id)

    def _on_voice(self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState) -> None:
        if after.channel is not None and after.channel != before.channel and not member.bot:
            self.buffer.note(member.guild.id, member.id)

    def _on_interaction(self, interaction: discord.Interaction) -> None:
        user = interaction.user
        if interaction.guild_id is not None:
            self.buffer.note(interaction.guild_id, user.id)
        else:
            for shared in user.mutual_guilds:
                self.buffer.note(shared.id, user.id)

    def _on_member_join(self, member: discord.Member) -> None:
        if not member.bot:
            self.buffer.note_at(member.guild.id, member.id, member.joined_at or self.bot.clock())

    def _on_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        self.buffer.note_left(payload.guild_id, payload.user.id)

    # ----------------------------------------------------------------------- the messenger

    async def deliver(self, action: NudgeAction) -> str:
        """Send one step's message; its outcome."""
        guild = self.bot.get_guild(action.guild_id)
        if guild is None:
            return "gone"
        member = guild.get_member(action.user_id)
        if action.step == STEP_MEMBER:
            if member is None:
                return "gone"
            embed = nudge_dm_embed(guild.name, member.display_name, action, self.bot.guidance.source_title)
            # The server's crisis resources, the same text as /sos and the check-in replies.
            resources = await self.bot.db.read(lambda conn: read_crisis_resources(conn, action.guild_id))
            embeds = [embed, crisis_embed(resources)]
            view = nudge_view(action.guild_id, action.spell)
            return await self._dm(member, embeds=embeds, view=view, nonce=step_nonce(action))
        if action.step == STEP_BUDDY:
            buddy = guild.get_member(action.target_id)
            if buddy is None:
                return "gone"
            name = member.display_name if member is not None else str(action.user_id)
            note = buddy_note_embed(guild.name, f"<@{action.user_id}>", name, action)
            return await self._dm(buddy, embed=note, nonce=step_nonce(action))
        channel = guild.get_channel(action.target_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return "no_channel"
        name = member.display_name if member is not None else str(action.user_id)
        notice = moderator_notice_embed(f"<@{action.user_id}>", name, action)
        outcome = await send_with_nonce(channel, embed=notice, nonce=step_nonce(action))
        if outcome != "sent":
            log.warning("Could not post a quiet-member notice in channel %s (%s)", channel.id, outcome)
        return _step_outcome(outcome, closed="failed")

    @staticmethod
    async def _dm(member: discord.Member, *, nonce: str, **kwargs: Any) -> str:
        """A step's DM: only Discord's "cannot DM this user" (50007) is closed DMs (the ladder moves on);
        any other refusal or failure is claimed again by a later sweep (a minute later the first time it
        failed in passing, while Discord still honours the nonce)."""
        return _step_outcome(await send_with_nonce(member, nonce=nonce, **kwargs), closed="dm_closed")

    async def find_delivered(self, action: NudgeAction) -> bool | None:
        """Whether the step's message (its reference in the footer) is among the recent messages of
        its channel; ``None`` if that cannot be read."""
        guild = self.bot.get_guild(action.guild_id)
        if guild is None:
            return None
        me = self.bot.user
        try:
            if action.step == STEP_MODERATORS:
                channel = guild.get_channel(action.target_id)
                if not isinstance(channel, discord.TextChannel | discord.Thread):
                    return None
                allowed = channel.permissions_for(guild.me)
                if not (allowed.view_channel and allowed.read_message_history):
                    return None
                history: discord.abc.Messageable = channel
            else:
                recipient = guild.get_member(action.target_id) or self.bot.get_user(action.target_id)
                if recipient is None:
                    return None
                history = await recipient.create_dm()
            async for message in history.history(limit=HISTORY_LOOKBACK):
                if me is not None and message.author.id == me.id and _carries(message.embeds, action.ref):
                    return True
        except discord.HTTPException as exc:
            log.warning("Could not read back a nudge step's channel: %s", exc)
            return None
        return False

    # ----------------------------------------------------------------------- "Ask my buddy to reach out"

    async def ask_buddy(self, interaction: discord.Interaction, guild_id: int, spell: int) -> None:
        """Tell the member's buddy now, once per quiet spell."""
        action = await self.service.request_buddy(guild_id, interaction.user.id, spell)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            outcome = await self.deliver(action)
        except Exception:
            await self.service.report(action, "failed")
            raise
        await self.service.report(action, outcome)
        if outcome == "sent":
            text = "I've let your buddy know you'd welcome a message. Hang in there."
        elif outcome == "dm_closed":
            text = (
                "I couldn't reach your buddy: their DMs are closed. You could write to them in the server, "
                "or to anyone there: peers understand."
            )
        else:
            text = "I couldn't reach your buddy just now. You could write to them, or to anyone in the server."
        await interaction.followup.send(text, ephemeral=True)

    # ----------------------------------------------------------------------- /nudges

    @app_commands.command(name="on", description="Get a gentle, private nudge when you go quiet")
    async def on(self, interaction: discord.Interaction) -> None:
        """Opt in (and lift any pause)."""
        assert interaction.guild_id is not None
        status = await self.service.set_opt(interaction.guild_id, interaction.user.id, on=True)
        await interaction.response.send_message(status_text(status), ephemeral=True)

    @app_commands.command(name="off", description="No nudges, and nobody is told when you are quiet")
    async def off(self, interaction: discord.Interaction) -> None:
        """Opt out: everything stops at once."""
        assert interaction.guild_id is not None
        status = await self.service.set_opt(interaction.guild_id, interaction.user.id, on=False)
        await interaction.response.send_message(status_text(status), ephemeral=True)

    @app_commands.command(name="pause", description="Pause your nudges for a few days")
    @app_commands.describe(days=f"How many days (1 to {MAX_PAUSE_DAYS})")
    async def pause(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, MAX_PAUSE_DAYS]) -> None:
        """Pause for 1 to 30 days."""
        assert interaction.guild_id is not None
        status = await self.service.pause(interaction.guild_id, interaction.user.id, days)
        await interaction.response.send_message(status_text(status), ephemeral=True)

    @app_commands.command(name="status", description="Whether you get nudges here, and why")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show the member's nudges."""
        assert interaction.guild_id is not None
        status = await self.service.status(interaction.guild_id, interaction.user.id)
        await interaction.response.send_message(status_text(status), ephemeral=True)


def _step_outcome(outcome: SendOutcome, *, closed: str) -> str:
    """A send's outcome as a step's: failed in passing is :data:`~bot.services.nudges.TRANSIENT`
    (retried soon), another refusal ``failed``."""
    return {"sent": "sent", "closed": closed, "transient": TRANSIENT, "refused": "failed"}[outcome]


def step_nonce(action: NudgeAction) -> str:
    """The nonce of a step's message: the same for every attempt at that step of that quiet spell."""
    return message_nonce("nudge", action.guild_id, action.user_id, action.spell, action.step)


def _carries(embeds: Sequence[discord.Embed], ref: str) -> bool:
    marker = f"ref {ref}"
    return any(embed.footer.text is not None and embed.footer.text.endswith(marker) for embed in embeds)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Nudges(bot))

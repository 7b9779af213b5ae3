"""``/sobriety``: the sobriety counter, and the milestone celebrations (a DM, and a post if chosen).

Thin: parse, call :class:`~bot.services.sobriety.SobrietyService`, render. Milestones are found
by :class:`MilestoneWatcher`, one task started once the bot is ready and stopped with the cog.

Why a watcher that checks at each UTC quarter hour, woken early by ``/sobriety set``: a milestone
becomes due only at a member's local midnight, and every timezone's offset is a multiple of 15
minutes, so every local midnight falls on a quarter hour of UTC. Checking then is exact (no
milestone waits for a polling period to end) and costs one indexed query, which reads only the
members whose next milestone is today or tomorrow — never every member. A date set now may have a
milestone due today (one reached that very day is celebrated), so setting a date wakes the
watcher at once. Each milestone is claimed in the database before anything is sent, so it is
celebrated once, also across restarts. A DM that fails is released and sent at a later check; the
first time it fails in passing (Discord may have made it while its answer was lost), the watcher
also looks a minute later (:data:`~bot.services.retry.FIRST_RETRY`), so that the retry's nonce is
still within Discord's window and gets the DM already made instead of a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.db.connection import StorageError
from bot.nonce import message_nonce
from bot.services.background import WakeableLoop
from bot.services.outbox import MILESTONE, NewPost
from bot.services.sobriety import (
    CELEBRATIONS_CHANNEL_SETTING,
    DueMilestone,
    SobrietyService,
    SobrietySet,
    SobrietyStatus,
)
from bot.timeutil import Clock
from bot.views import send_with_nonce
from cogs.checkins import timezone_notice
from cogs.outbox import deliver

__all__ = [
    "CHECK_EVERY",
    "MilestoneWatcher",
    "Sobriety",
    "announcement_text",
    "milestone_dm_text",
    "seconds_until_next_check",
    "sobriety_set_reply",
    "status_lines",
]

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(minutes=15)
"""Every local midnight falls on a UTC quarter hour: the watcher looks then."""


# --------------------------------------------------------------------------- rendering (pure)


def _date_text(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def status_lines(status: SobrietyStatus, celebrations_channel_id: int | None) -> list[str]:
    """Days sober, the last and the next milestone, and how milestones are celebrated."""
    if status.days == 0:
        lines = [f"🌱 Sober since {_date_text(status.since)}: today is day one."]
    else:
        lines = [f"🌱 Sober since {_date_text(status.since)}: **{_days(status.days)}**."]
    if status.last_milestone is not None:
        lines.append(f"🏅 Last milestone reached: {status.last_milestone.label}.")
    lines.append(
        f"🎯 Next milestone: {status.next_milestone.label}, on {_date_text(status.next_milestone_date)} "
        f"({_days(status.days_until_next)} to go)."
    )
    if not status.announce:
        lines.append("🎉 Milestones are celebrated privately: I'll send you a DM.")
    elif celebrations_channel_id is None:
        lines.append(
            "🎉 You chose to share your milestones, but this server has no celebrations channel yet, "
            "so for now I'll only send you a DM."
        )
    else:
        lines.append(f"🎉 At each milestone I'll send you a DM and post a short note in <#{celebrations_channel_id}>.")
    if status.timezone_notice:
        lines.append(timezone_notice(status.since + timedelta(days=status.days)))
    return lines


def sobriety_set_reply(result: SobrietySet, celebrations_channel_id: int | None) -> str:
    """The answer to ``/sobriety set``: kind after a relapse, plain otherwise."""
    if result.after_relapse:
        since = _date_text(result.status.since)
        head = (
            f"💛 A new start takes courage, and it counts. Your sobriety date is now {since}. "
            "Recovery is rarely a straight line; what matters is that you're here and still showing up. "
            "Your peers are with you."
        )
    elif result.previous is not None and result.previous != result.status.since:
        head = f"Your sobriety date is changed to {_date_text(result.status.since)}."
    else:
        head = f"Your sobriety date is set: {_date_text(result.status.since)}."
    return "\n".join([head, *status_lines(result.status, celebrations_channel_id)])


def milestone_dm_text(guild_name: str, due: DueMilestone) -> str:
    """The congratulation DM."""
    return (
        f"🎉 Congratulations: **{due.milestone.label} sober** today! Every one of those days took strength. "
        f"Your peers in **{discord.utils.escape_markdown(guild_name)}** are glad you're here."
    )


def announcement_text(member_mention: str, due: DueMilestone) -> str:
    """The short post in the celebrations channel (the member chose ``announce``)."""
    return f"🎉 {member_mention} reached **{due.milestone.label} sober** today. Congratulations!"


def milestone_nonce(due: DueMilestone) -> str:
    """The milestone DM's nonce: one per member, server, sobriety date and milestone."""
    return message_nonce("milestone", due.guild_id, due.user_id, due.since.isoformat(), due.milestone.days)


def seconds_until_next_check(now: datetime, every: timedelta = CHECK_EVERY) -> float:
    """Seconds from ``now`` to the next multiple of ``every`` since the Unix epoch (a UTC quarter hour)."""
    step = every.total_seconds()
    stamp = now.timestamp()
    return (math.floor(stamp / step) + 1) * step - stamp


# --------------------------------------------------------------------------- the watcher


class MilestoneWatcher(WakeableLoop):
    """One task: ``check`` at each UTC quarter hour, at an early retry ``next_retry()`` asks for, and at
    once when woken (see the module docstring)."""

    name = "milestone watcher"

    def __init__(
        self,
        check: Callable[[], Awaitable[int]],
        clock: Clock,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        every: timedelta = CHECK_EVERY,
        next_retry: Callable[[], datetime | None] | None = None,
    ) -> None:
        super().__init__(sleep=sleep)
        self._check = check
        self._clock = clock
        self._every = every
        self._next_retry = next_retry

    async def round(self) -> float:
        """Celebrate what is due; wait until the next quarter hour."""
        try:
            await self._check()
        except StorageError as exc:
            log.warning("Milestone watcher cannot read the milestones, retrying later: %s", exc)
        except Exception:
            log.exception("Milestone watcher failed; retrying at the next check")
        now = self._clock()
        seconds = seconds_until_next_check(now, self._every)
        retry_at = None if self._next_retry is None else self._next_retry()
        if retry_at is not None:
            seconds = min(seconds, max(0.0, (retry_at - now).total_seconds()))
        return seconds


# --------------------------------------------------------------------------- the cog


@app_commands.guild_only()
class Sobriety(commands.GroupCog, group_name="sobriety", group_description="Your sobriety counter and milestones"):
    """The sobriety counter."""

    COG_NAME = "Sobriety"

    def __init__(self, bot: SoberPeersBot) -> None:
        super().__init__()
        self.bot = bot
        self.sobriety = SobrietyService(bot.db, bot.clock)
        self.watcher = MilestoneWatcher(self.celebrate_due, bot.clock, next_retry=self.sobriety.next_retry_at)
        self._lock = asyncio.Lock()
        self._starter: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        """Start the watcher once the bot is ready (members cached)."""
        self._starter = asyncio.create_task(self._start_watcher(), name="sobriety-start-watcher")

    async def _start_watcher(self) -> None:
        await self.bot.wait_until_ready()
        self.watcher.start()

    async def cog_unload(self) -> None:
        """Stop the watcher."""
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        await self.watcher.stop()

    # ----------------------------------------------------------------------- celebrations

    async def celebrate_due(self) -> int:
        """Celebrate every milestone due now; the number of members congratulated by DM or post."""
        async with self._lock:
            celebrated = 0
            for due in await self.sobriety.due_milestones():
                if await self._celebrate(due):
                    celebrated += 1
            return celebrated

    async def _celebrate(self, due: DueMilestone) -> bool:
        guild = self.bot.get_guild(due.guild_id)
        if guild is not None and guild.unavailable:
            return False  # Discord's outage: try again at the next check
        member = None if guild is None else await _find_member(guild, due.user_id)
        if not await self.sobriety.mark_celebrated(due):
            return False
        if guild is None or member is None:
            log.info("Milestone of member %s in guild %s not celebrated: no longer there", due.user_id, due.guild_id)
            return False
        outcome = await send_with_nonce(member, content=milestone_dm_text(guild.name, due), nonce=milestone_nonce(due))
        if outcome in ("transient", "refused"):  # any refusal but closed DMs, or no answer: sent at a later check
            retry_at = await self.sobriety.release_celebration(due, transient=outcome == "transient")
            log.warning("Milestone DM to member %s failed, will retry (early check: %s)", due.user_id, retry_at)
            return False
        sent = outcome == "sent"
        if not sent:
            log.info("Milestone DM to member %s skipped: their DMs are closed", due.user_id)
        if due.announce and due.celebrations_channel_id is not None:
            sent = await self._announce(guild, member, due) or sent
        log.info("Celebrated %s of member %s in guild %s", due.milestone.label, due.user_id, due.guild_id)
        return sent

    async def _announce(self, guild: discord.Guild, member: discord.Member, due: DueMilestone) -> bool:
        """The post in the celebrations channel, through the outbox: retried later if Discord fails now."""
        post = NewPost(
            guild.id, MILESTONE, "celebrations_channel", announcement_text(member.mention, due), user_id=member.id
        )
        delivery = await deliver(self.bot, post)
        if delivery.state == "undelivered":
            log.warning("Could not post a milestone in guild %s: %s", guild.id, delivery.reason)
            return False
        return True

    async def _celebrations_channel(self, guild_id: int) -> int | None:
        config = await self.bot.server_settings.get(guild_id)
        return config.snowflake(CELEBRATIONS_CHANNEL_SETTING)

    # ----------------------------------------------------------------------- commands

    @app_commands.command(name="set", description="Set your sobriety date (private)")
    @app_commands.describe(
        date="The day your sobriety began, as YYYY-MM-DD (for example 2024-03-15)",
        announce="Also celebrate milestones with a short post in the celebrations channel (default: no)",
    )
    async def set_date(
        self, interaction: discord.Interaction, date: app_commands.Range[str, 1, 40], announce: bool = False
    ) -> None:
        """Set the sobriety date; kind words after a relapse."""
        assert interaction.guild_id is not None
        result = await self.sobriety.set_date(interaction.guild_id, interaction.user.id, date, announce=announce)
        self.watcher.wake()  # a milestone reached today is celebrated today
        channel = await self._celebrations_channel(interaction.guild_id)
        await interaction.response.send_message(sobriety_set_reply(result, channel), ephemeral=True)

    @app_commands.command(name="show", description="Your days sober and the next milestone (private)")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show days sober and the next milestone."""
        assert interaction.guild_id is not None
        status = await self.sobriety.show(interaction.guild_id, interaction.user.id)
        if status is None:
            text = "You haven't set a sobriety date. Whenever you're ready: /sobriety set date:YYYY-MM-DD"
        else:
            channel = await self._celebrations_channel(interaction.guild_id) if status.announce else None
            text = "\n".join(status_lines(status, channel))
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="clear", description="Remove your sobriety date")
    async def clear(self, interaction: discord.Interaction) -> None:
        """Remove the sobriety date."""
        assert interaction.guild_id is not None
        removed = await self.sobriety.clear(interaction.guild_id, interaction.user.id)
        text = (
            "Your sobriety date is removed. You can set one again whenever you like."
            if removed
            else "You had no sobriety date set, so nothing changed."
        )
        await interaction.response.send_message(text, ephemeral=True)


async def _find_member(guild: discord.Guild, user_id: int) -> discord.Member | None:
    member = guild.get_member(user_id)
    if member is not None:
        return member
    try:
        return await guild.fetch_member(user_id)
    except discord.NotFound:
        return None


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Sobriety(bot))

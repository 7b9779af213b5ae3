"""``/checkin``: daily check-ins, their history chart, the reminder DM and its quick check-in.

Thin: parse, call :class:`~bot.services.checkins.CheckinService` or
:class:`~bot.services.reminders.ReminderService`, render. The reminder DMs are sent by one
:class:`~bot.services.reminders.ReminderDispatcher` that this cog starts once the bot is ready and
stops when it is unloaded. The mood buttons of a reminder DM are a :class:`discord.ui.DynamicItem`
whose ``custom_id`` carries the server and the mood, so they work after a restart too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from datetime import date, datetime
from typing import Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.errors import UserError
from bot.nonce import message_nonce
from bot.services.chart import render_history_chart
from bot.services.checkins import (
    HISTORY_DAYS_DEFAULT,
    HISTORY_DAYS_MAX,
    HISTORY_DAYS_MIN,
    MAX_NOTE_LENGTH,
    MOOD_LABELS,
    Checkin,
    CheckinResult,
    CheckinService,
    History,
    HistorySummary,
    TimezoneResult,
)
from bot.services.guidance import Passage
from bot.services.outbox import CHECKIN_SHARE, NewPost
from bot.services.reminders import DueReminder, ReminderDispatcher, ReminderInfo, ReminderService
from bot.services.retry import RefusedSendError, TransientSendError
from bot.tree import send_ephemeral
from bot.views import (
    FormValues,
    TrackedModal,
    answer_failure,
    register_form_recovery,
    send_with_nonce,
    unregister_form_recovery,
)
from cogs.buddies import support_view
from cogs.guidance import passage_embed
from cogs.outbox import deliver

__all__ = [
    "CHART_FILENAME",
    "LEFT_SERVER_REASON",
    "Checkins",
    "CompleteCheckinModal",
    "QuickMoodButton",
    "ReminderView",
    "buddy_support_view",
    "chart_embed",
    "checkin_line",
    "checkin_reply",
    "crisis_embed",
    "history_embed",
    "mood_text",
    "reminder_dm_text",
    "reminder_set_reply",
    "share_summary",
    "support_embeds",
    "timezone_notice",
    "timezone_reply",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.teal()
SUPPORT_COLOUR = discord.Colour.gold()
CHART_FILENAME = "checkin-history.png"
CHART_FAILED = (
    "🖼️ I couldn't draw your chart this time; your numbers above are complete. "
    "Please try /checkin history again in a little while."
)
"""The private note after the numbers of ``/checkin history`` when its chart could not be drawn or sent."""
QUICK_MOOD_TEMPLATE = r"checkin:mood:(?P<guild_id>[0-9]{1,20}):(?P<mood>[1-5])"
CHECKIN_FORM = "checkin"
"""The kind of the form that completes a quick check-in (:class:`bot.views.TrackedModal`)."""
LEFT_SERVER_REASON = (
    "Your daily check-in reminder stopped when you left this server. "
    "If you'd like it back, set it again with /checkin reminder."
)
"""The pause reason stored when a member leaves: shown once if they come back and check in."""


# --------------------------------------------------------------------------- rendering (pure)


def mood_text(mood: int) -> str:
    """``"4/5 (good)"``."""
    return f"{mood}/5 ({MOOD_LABELS.get(mood, '?')})"


def _day_text(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def _timestamp(moment: datetime, style: str = "f") -> str:
    """A Discord timestamp: every reader sees it in their own local time."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def checkin_line(checkin: Checkin) -> str:
    """Mood, craving and sober of a check-in, as one phrase (never the note)."""
    parts = [f"mood {mood_text(checkin.mood)}"]
    if checkin.craving is not None:
        parts.append(f"craving {checkin.craving}/10")
    if checkin.sober is not None:
        parts.append("sober today" if checkin.sober else "not sober today")
    return ", ".join(parts)


def timezone_notice(today: date) -> str:
    """The once-only notice that the member's timezone is not set."""
    return (
        f"ℹ️ You haven't set your timezone, so I count your days in UTC (where it is {_day_text(today)}). "
        "Set yours with /checkin timezone so your days and streaks follow your own clock."
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _support_words(checkin: Checkin) -> str:
    if checkin.sober is False:
        return (
            "Thank you for being honest with yourself today. One hard day doesn't erase the work you've done, "
            "and checking in like this is part of recovery. Be gentle with yourself, and reach out to someone "
            "you trust if you can."
        )
    return (
        "Cravings that strong are hard, and they do pass. Checking in was the right thing to do. "
        "Talking to someone you trust can make the next few hours easier."
    )


def checkin_reply(result: CheckinResult, share_line: str | None = None, *, replaced: bool | None = None) -> str:
    """The private answer to a check-in: what was recorded, streak, sober days, notices (≤ 2000 characters).

    ``replaced`` overrides ``result.replaced`` (a completed quick check-in replaced only if its mood did).
    """
    checkin = result.checkin
    if result.replaced if replaced is None else replaced:
        head = f"🔁 You already checked in today — I replaced it: {checkin_line(checkin)}."
    else:
        head = f"✅ Check-in saved for {_day_text(checkin.day)}: {checkin_line(checkin)}."
    lines = [head]
    if result.streak > 1:
        lines.append(f"🔥 {result.streak} days in a row (your longest: {_plural(result.longest_streak, 'day')}).")
    else:
        lines.append(f"🔥 Streak: 1 day (your longest: {_plural(result.longest_streak, 'day')}).")
    if result.sober_days is not None:
        lines.append(f"🌱 Sober days: {result.sober_days}.")
    if share_line:
        lines.append(share_line)
    if result.needs_support:
        lines.append("")
        lines.append(_support_words(checkin))
    if result.timezone_notice:
        lines.append(timezone_notice(result.day))
    if result.reminder_notice:
        lines.append(f"⏸️ {result.reminder_notice}")
    return "\n".join(lines)


def crisis_embed(resources: str) -> discord.Embed:
    """The server's crisis resources."""
    return discord.Embed(title="If you need someone right now", description=resources, colour=SUPPORT_COLOUR)


def support_embeds(passage: Passage | None, resources: str | None, source_title: str) -> list[discord.Embed]:
    """The passage to quote and the crisis resources, for a member who is struggling."""
    embeds: list[discord.Embed] = []
    if passage is not None:
        embeds.append(passage_embed(passage, source_title))
    if resources:
        embeds.append(crisis_embed(resources))
    return embeds


def share_summary(member_mention: str, checkin: Checkin) -> str:
    """The short public summary of a shared check-in: mood, craving, sober — never the note."""
    return f"📋 {member_mention} checked in: {checkin_line(checkin)}."


def history_embed(history: HistorySummary) -> discord.Embed:
    """The numbers of a history (answered at once; the chart follows in :func:`chart_embed`)."""
    days = history.day_count
    embed = discord.Embed(
        title=f"Your check-ins, last {days} days",
        description=f"{history.first_day:%d %b %Y} – {history.last_day:%d %b %Y} ({history.timezone})",
        colour=COLOUR,
    )
    embed.add_field(name="Check-ins made", value=f"{history.checkins} of {days} days")
    embed.add_field(name="Current streak", value=_plural(history.current_streak, "day"))
    embed.add_field(name="Longest streak", value=_plural(history.longest_streak, "day"))
    mood = "—" if history.average_mood is None else f"{history.average_mood:.1f} / 5"
    craving = "—" if history.average_craving is None else f"{history.average_craving:.1f} / 10"
    embed.add_field(name="Average mood", value=mood)
    embed.add_field(name="Average craving", value=craving)
    embed.add_field(name="Days not sober", value=str(history.not_sober_days))
    return embed


def chart_embed(history: History) -> discord.Embed:
    """The chart of a history, as the image of its own embed (the follow-up carrying the PNG)."""
    embed = discord.Embed(title=f"Your chart, last {len(history.days)} days", colour=COLOUR)
    embed.set_image(url=f"attachment://{CHART_FILENAME}")
    embed.set_footer(text="Blue: mood (1–5) · orange: craving (0–10) · gaps: no check-in · red: not sober")
    return embed


def reminder_set_reply(info: ReminderInfo) -> str:
    """The answer to ``/checkin reminder``."""
    lines = [f"⏰ Your daily check-in reminder is set for {info.time} ({info.timezone})."]
    when = f", the next one {_timestamp(info.next_due_at, 'R')}" if info.next_due_at is not None else ""
    lines.append(
        f"I'll send you a direct message at that time on days you haven't checked in yet{when}. "
        "Please allow direct messages from this server, or I can't reach you."
    )
    if info.timezone_notice:
        lines.append(
            "ℹ️ You haven't set your timezone, so that time is UTC. Set yours with /checkin timezone "
            "and the reminder follows."
        )
    return "\n".join(lines)


def timezone_reply(result: TimezoneResult) -> str:
    """The answer to ``/checkin timezone``."""
    lines = [
        f"🌍 Your timezone is now {result.timezone}; today there is {_day_text(result.today)}. "
        "Your past check-ins keep their days."
    ]
    if result.reminder_next_due_at is not None:
        lines.append(f"⏰ Your reminder follows: the next one comes {_timestamp(result.reminder_next_due_at)}.")
    return "\n".join(lines)


def reminder_dm_text(guild_name: str) -> str:
    """The reminder DM."""
    return (
        f"👋 Time for your daily check-in in **{discord.utils.escape_markdown(guild_name)}**. How are you today?\n"
        "Tap your mood below and I'll ask the rest in a moment. Only you see your answers.\n"
        "-# To stop these reminders, use /checkin reminder-off in the server."
    )


def reminder_nonce(due: DueReminder) -> str:
    """The reminder DM's nonce: one per member, server and local day (the same at its next chance)."""
    return message_nonce("reminder", due.guild_id, due.user_id, due.day.isoformat())


async def buddy_support_view(client: discord.Client, guild_id: int, user_id: int) -> discord.ui.View | None:
    """The "Let my buddy know" button for a member who is struggling, if they have a buddy (issue 6).

    Nothing is told to anyone without the press; then the buddy gets a private note that the member
    could use support, never what they checked in (:mod:`cogs.buddies`). No buddy, no button.
    """
    return await support_view(client, guild_id, user_id)


# --------------------------------------------------------------------------- components


def _cog(interaction: discord.Interaction) -> Checkins:
    cog = cast(SoberPeersBot, interaction.client).get_cog(Checkins.COG_NAME)
    if not isinstance(cog, Checkins):
        raise UserError("Check-ins are not available right now. Please try again in a minute.")
    return cog


class QuickMoodButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=QUICK_MOOD_TEMPLATE,
):
    """A mood button of the reminder DM: records today's mood in its server, then asks the rest in a modal."""

    def __init__(self, guild_id: int, mood: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{mood} · {MOOD_LABELS[mood]}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"checkin:mood:{guild_id}:{mood}",
            )
        )
        self.guild_id = guild_id
        self.mood = mood

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> QuickMoodButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(int(match["guild_id"]), int(match["mood"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Record the mood, then open the modal for craving, sober and a note."""
        try:
            cog = _cog(interaction)
            await cog.member_guild(self.guild_id, interaction.user.id)
            result = await cog.checkins.record_quick_checkin(self.guild_id, interaction.user.id, self.mood)
            await interaction.response.send_modal(CompleteCheckinModal(interaction.client, self.guild_id, result))
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, type(self).__name__)


class ReminderView(discord.ui.View):
    """The mood buttons of a reminder DM (fully dynamic: nothing is kept per message)."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(timeout=None)
        for mood in MOOD_LABELS:
            self.add_item(QuickMoodButton(guild_id, mood))


class CompleteCheckinModal(TrackedModal):
    """Craving, sober and a note, completing the quick check-in a mood button recorded.

    Its ``custom_id`` carries the server, the day and whether the quick check-in replaced one, so a
    form sent after it closed (its hour, or a restart) still completes the check-in
    (:meth:`Checkins.complete_closed_form`): what the member wrote is not lost."""

    def __init__(self, client: discord.Client, guild_id: int, quick: CheckinResult) -> None:
        day = quick.day
        super().__init__(
            client,
            CHECKIN_FORM,
            timeout=3600,
            key=(str(guild_id), day.isoformat(), "r" if quick.replaced else "n"),
            title=f"Check-in: mood {mood_text(quick.checkin.mood)}"[:45],
        )
        self.guild_id = guild_id
        self.day = day
        self.quick = quick
        self.craving: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id="craving",
            placeholder="0 = none, 10 = the strongest",
            options=[discord.SelectOption(label=str(value), value=str(value)) for value in range(11)],
        )
        self.sober: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id="sober",
            options=[
                discord.SelectOption(label="Yes, I stayed sober today", value="yes"),
                discord.SelectOption(label="No, not today", value="no"),
            ],
        )
        self.note: discord.ui.TextInput[discord.ui.View] = discord.ui.TextInput(
            custom_id="note",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=MAX_NOTE_LENGTH,
            placeholder="Only you see it",
        )
        self.add_item(discord.ui.Label(text="How strong is your craving today?", component=self.craving))
        self.add_item(discord.ui.Label(text="Did you stay sober today?", component=self.sober))
        self.add_item(discord.ui.Label(text="A note for yourself (optional)", component=self.note))

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Complete the check-in and answer like ``/checkin today``."""
        values: FormValues = {"craving": self.craving.values, "sober": self.sober.values, "note": self.note.value}
        await _cog(interaction).complete_checkin_form(
            interaction, self.guild_id, self.day, values, replaced=self.quick.replaced, quick=self.quick
        )


# --------------------------------------------------------------------------- the cog


@app_commands.guild_only()
class Checkins(commands.GroupCog, group_name="checkin", group_description="Your private daily check-in"):
    """Daily check-ins, history, reminder and timezone."""

    COG_NAME = "Checkins"

    def __init__(self, bot: SoberPeersBot) -> None:
        super().__init__()
        self.bot = bot
        self.reminders = ReminderService(bot.db, bot.clock)
        self.checkins = CheckinService(
            bot.db,
            bot.clock,
            bot.guidance,
            on_reminders_changed=self.reminders.notify_changed,
            cipher=bot.note_cipher,
        )
        self.dispatcher = ReminderDispatcher(self.reminders, self.send_reminder, clock=bot.clock)
        self._starter: asyncio.Task[None] | None = None
        self._charts: asyncio.Queue[tuple[discord.Interaction, HistorySummary]] = asyncio.Queue()
        """History charts to draw and send, after their numbers were answered: one at a time, by
        :meth:`_chart_worker`, so that members asking together get their numbers first (with a task
        per chart, 50 members asking at once had their answers wait behind each other's charts:
        bench ``command.checkin_history.p99_burst50``). The answer reads only the numbers; the worker
        reads the period's days just before drawing."""
        self._chart_task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        """Handle mood buttons of any reminder DM, and start the dispatcher once the bot is ready."""
        self.bot.add_dynamic_items(QuickMoodButton)
        register_form_recovery(self.bot, CHECKIN_FORM, self.complete_closed_form)
        self._starter = asyncio.create_task(self._start_dispatcher(), name="checkins-start-dispatcher")
        self._chart_task = asyncio.create_task(self._chart_worker(), name="checkins-history-charts")

    async def _start_dispatcher(self) -> None:
        await self.bot.wait_until_ready()  # members are cached: a reminder for one who left is caught
        self.dispatcher.start()

    async def cog_unload(self) -> None:
        """Stop the dispatcher (a DM being sent is cancelled) and stop handling the buttons."""
        self.bot.remove_dynamic_items(QuickMoodButton)
        unregister_form_recovery(self.bot, CHECKIN_FORM)
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self._chart_task is not None:
            self._chart_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._chart_task
        await self.dispatcher.stop()

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member who left gets no more reminders from this server (told once if they come back)."""
        await self.reminders.pause_reminder(payload.guild_id, payload.user.id, LEFT_SERVER_REASON)

    # ----------------------------------------------------------------------- helpers

    async def member_guild(self, guild_id: int, user_id: int) -> discord.Guild:
        """The server, if the member is still in it and the bot too; :class:`UserError` otherwise."""
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            raise UserError("I'm no longer in that server, so I can't record a check-in there.")
        if await self._find_member(guild, user_id) is None:
            raise UserError(
                f"You're no longer a member of {discord.utils.escape_markdown(guild.name)}, "
                "so I can't record a check-in there."
            )
        return guild

    @staticmethod
    async def _find_member(guild: discord.Guild, user_id: int) -> discord.Member | None:
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            return None

    async def complete_checkin_form(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        day: date,
        values: FormValues,
        *,
        replaced: bool,
        quick: CheckinResult | None = None,
    ) -> None:
        """Complete the quick check-in of ``day`` from its form's fields and answer like ``/checkin
        today``; ``quick``, the button press's result when the form is still open, adds the notices
        that press could not show."""
        craving, sober, note = values.get("craving"), values.get("sober"), values.get("note")
        if not isinstance(craving, list) or not craving or not isinstance(sober, list) or not sober:
            raise UserError("Please choose your craving and whether you stayed sober today.")
        if not craving[0].isdigit():
            raise UserError("Please choose your craving from 0 to 10.")
        guild = await self.member_guild(guild_id, interaction.user.id)
        result = await self.checkins.complete_checkin(
            guild_id,
            interaction.user.id,
            day,
            int(craving[0]),
            sober[0] == "yes",
            note if isinstance(note, str) and note else None,
        )
        content = checkin_reply(result, replaced=replaced)
        if quick is not None:  # the quick check-in (the button press) could only open the form: its notices come now
            if quick.timezone_notice and not result.timezone_notice:
                content += "\n" + timezone_notice(result.day)
            if quick.reminder_notice and not result.reminder_notice:
                content += f"\n⏸️ {quick.reminder_notice}"
        content = f"-# {discord.utils.escape_markdown(guild.name)}\n{content}"
        await self.send_checkin_answer(interaction, guild_id, result, content)

    async def complete_closed_form(self, interaction: discord.Interaction, key: list[str], values: FormValues) -> None:
        """A check-in form sent after it closed (its hour passed, or the bot restarted): completed from
        its submission alone, the server, day and replacement read from its ``custom_id``."""
        try:
            guild_id, day, replaced = int(key[0]), date.fromisoformat(key[1]), key[2] == "r"
        except (IndexError, ValueError) as exc:
            raise UserError(
                "I couldn't read this check-in form. Please press a mood button again, or use /checkin today."
            ) from exc
        await self.complete_checkin_form(interaction, guild_id, day, values, replaced=replaced)

    async def send_checkin_answer(
        self, interaction: discord.Interaction, guild_id: int, result: CheckinResult, content: str
    ) -> None:
        """The private answer to a check-in, with the passage and crisis resources when it needs support."""
        kwargs: dict[str, Any] = {"content": content, "ephemeral": True}
        if result.needs_support:
            kwargs["embeds"] = support_embeds(result.passage, result.crisis_resources, self.bot.guidance.source_title)
            view = await buddy_support_view(self.bot, guild_id, interaction.user.id)
            if view is not None:
                kwargs["view"] = view
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)

    async def _share(self, guild: discord.Guild, member: discord.abc.User, result: CheckinResult) -> str:
        """Post the short summary in the check-in channel; the line telling the member what happened."""
        if result.share_channel_id is None:
            return "📣 This server has no check-in channel, so nothing was shared. Moderators can set one."
        channel = guild.get_channel(result.share_channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return "📣 The check-in channel moderators chose no longer exists, so nothing was shared."
        # Through the outbox: if Discord fails now, the summary is posted at the next attempt (never the note).
        summary = share_summary(member.mention, result.checkin)
        delivery = await deliver(self.bot, NewPost(guild.id, CHECKIN_SHARE, "checkin_channel", summary, member.id))
        if delivery.state == "retrying":
            return (
                f"📣 Discord didn't take the summary just now; I'll post it in {channel.mention} shortly "
                "(mood, craving and sober — not your note)."
            )
        if delivery.state == "undelivered":
            log.warning(
                "Could not share a check-in in channel %s of guild %s: %s", channel.id, guild.id, delivery.reason
            )
            return f"📣 I couldn't post in {channel.mention} (I may lack permission there), so nothing was shared."
        return f"📣 Shared a short summary in {channel.mention}: mood, craving and sober — not your note."

    async def send_reminder(self, due: DueReminder) -> bool:
        """Send one reminder DM (the dispatcher's ``send``); ``False`` if the member's DMs are closed."""
        guild = self.bot.get_guild(due.guild_id)
        if guild is not None and guild.unavailable:
            log.warning("Skipped the reminder of member %s: guild %s is unavailable", due.user_id, due.guild_id)
            return True  # Discord's outage: not the member's doing, so nothing is paused
        member = None if guild is None else await self._find_member(guild, due.user_id)
        if guild is None or member is None:
            log.info("Not reminding member %s of guild %s: no longer there", due.user_id, due.guild_id)
            await self.reminders.pause_reminder(due.guild_id, due.user_id, LEFT_SERVER_REASON)
            return True
        outcome = await send_with_nonce(
            member, content=reminder_dm_text(guild.name), view=ReminderView(guild.id), nonce=reminder_nonce(due)
        )
        if outcome == "closed":
            return False
        # Given back either way: soon after a failure in passing (Discord may have made it: the retry's
        # nonce gets that DM back), later after another refusal (nothing was made).
        if outcome == "transient":
            raise TransientSendError(f"the reminder DM to member {due.user_id} failed in passing")
        if outcome == "refused":
            raise RefusedSendError(f"Discord refused the reminder DM to member {due.user_id}")
        log.info("Sent the check-in reminder of member %s in guild %s", due.user_id, due.guild_id)
        return True

    # ----------------------------------------------------------------------- commands

    @app_commands.command(name="today", description="Check in for today: mood, craving, sober (private)")
    @app_commands.describe(
        mood="How you feel today",
        craving="How strong your craving is: 0 = none, 10 = the strongest",
        sober="Did you stay sober today?",
        note="A note for yourself; never shared (at most 1000 characters)",
        share="Post a short summary (never the note) in the server's check-in channel (default: no)",
    )
    @app_commands.choices(
        mood=[app_commands.Choice(name=f"{value} · {label}", value=value) for value, label in MOOD_LABELS.items()]
    )
    async def today(
        self,
        interaction: discord.Interaction,
        mood: int,
        craving: app_commands.Range[int, 0, 10],
        sober: bool,
        note: app_commands.Range[str, 1, MAX_NOTE_LENGTH] | None = None,
        share: bool = False,
    ) -> None:
        """Record today's check-in and answer privately."""
        guild = interaction.guild
        assert guild is not None
        result = await self.checkins.record_checkin(guild.id, interaction.user.id, mood, craving, sober, note)
        share_line = None
        if share:
            await interaction.response.defer(ephemeral=True, thinking=True)  # posting first may take a moment
            share_line = await self._share(guild, interaction.user, result)
        await self.send_checkin_answer(interaction, guild.id, result, checkin_reply(result, share_line))

    @app_commands.command(name="history", description="A chart of your check-ins and your numbers (private)")
    @app_commands.describe(days=f"How many days back ({HISTORY_DAYS_MIN}–{HISTORY_DAYS_MAX}, default 30)")
    async def history(
        self,
        interaction: discord.Interaction,
        days: app_commands.Range[int, HISTORY_DAYS_MIN, HISTORY_DAYS_MAX] = HISTORY_DAYS_DEFAULT,
    ) -> None:
        """Answer the numbers at once (or a clear message when there is nothing to show); the chart
        follows privately once drawn (:meth:`_send_chart`)."""
        assert interaction.guild_id is not None
        history = await self.checkins.history_summary(interaction.guild_id, interaction.user.id, days)
        notices = []
        if history.timezone_notice:
            notices.append(timezone_notice(history.last_day))
        if history.reminder_notice:
            notices.append(f"⏸️ {history.reminder_notice}")
        if history.empty:
            lines = [
                f"You have no check-ins in the last {days} days, so there's no chart yet. "
                "Your first one is a /checkin today away."
            ]
            if history.longest_streak:
                lines.append(f"Your longest streak so far: {_plural(history.longest_streak, 'day')}.")
            await interaction.response.send_message("\n".join(lines + notices), ephemeral=True)
            return
        kwargs: dict[str, Any] = {"content": "\n".join(notices)} if notices else {}
        await interaction.response.send_message(embed=history_embed(history), ephemeral=True, **kwargs)
        self._charts.put_nowait((interaction, history))

    async def _chart_worker(self) -> None:
        """Draw and send the queued charts, one at a time, for as long as the cog is loaded."""
        while True:
            interaction, history = await self._charts.get()
            try:
                await self._send_chart(interaction, history)
            except Exception:  # even the note about a failed chart failed: the next member's goes on
                log.exception("Could not tell member %s that their chart failed", interaction.user.id)

    async def _send_chart(self, interaction: discord.Interaction, summary: HistorySummary) -> None:
        """Read the period's days, draw their chart on a worker thread and send it as a private
        follow-up; if any of that fails, the member (who has the numbers already) gets a short private note."""
        try:
            assert interaction.guild_id is not None
            history = await self.checkins.history_days(interaction.guild_id, interaction.user.id, summary)
            png = await asyncio.to_thread(render_history_chart, history)
            await interaction.followup.send(
                embed=chart_embed(history),
                file=discord.File(io.BytesIO(png), filename=CHART_FILENAME, description="Mood and craving per day"),
                ephemeral=True,
            )
        except Exception:  # after the answer: nobody else would tell the member
            log.exception("Could not draw or send the history chart of member %s", interaction.user.id)
            await send_ephemeral(interaction, CHART_FAILED)

    @app_commands.command(name="reminder", description="A daily DM at your local time, if you haven't checked in")
    @app_commands.describe(time="Local time as HH:MM on the 24-hour clock, for example 21:00")
    async def reminder(self, interaction: discord.Interaction, time: app_commands.Range[str, 1, 20]) -> None:
        """Set (or change) the daily reminder."""
        assert interaction.guild_id is not None
        info = await self.reminders.set_reminder(interaction.guild_id, interaction.user.id, time)
        await interaction.response.send_message(reminder_set_reply(info), ephemeral=True)

    @app_commands.command(name="reminder-off", description="Stop your daily check-in reminder")
    async def reminder_off(self, interaction: discord.Interaction) -> None:
        """Remove the daily reminder."""
        assert interaction.guild_id is not None
        removed = await self.reminders.remove_reminder(interaction.guild_id, interaction.user.id)
        text = "🔕 Your daily reminder is off." if removed else "You had no daily reminder set, so nothing changed."
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="timezone", description="Your timezone, so your days and streaks follow your clock")
    @app_commands.describe(zone="Your timezone, for example Europe/London (suggestions appear as you type)")
    async def timezone(self, interaction: discord.Interaction, zone: app_commands.Range[str, 1, 100]) -> None:
        """Set the member's timezone (an unknown one gets a clear error)."""
        assert interaction.guild_id is not None
        result = await self.checkins.set_timezone(interaction.guild_id, interaction.user.id, zone)
        content = timezone_reply(result)
        paused = await self.reminders.take_notice(interaction.guild_id, interaction.user.id)
        if paused:
            content += f"\n⏸️ {paused}"
        await interaction.response.send_message(content, ephemeral=True)

    @timezone.autocomplete("zone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Timezone names matching what was typed."""
        return [app_commands.Choice(name=name, value=name) for name in self.checkins.timezone_suggestions(current)]


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Checkins(bot))

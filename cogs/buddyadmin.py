"""``/buddyadmin``: buddy matching for moderators, and the Approve / Reject buttons of proposals.

Hidden by Discord from members without Manage Server (``default_member_permissions``) *and*
checked again at run time (:func:`bot.checks.is_moderator`), since a server may open the command
to everyone. The service refuses non-moderators too; it is only ever given
``Actor(user_id, is_moderator=True)`` after the run-time check passed. Every action is recorded in
the audit log by the service.

The Approve / Reject buttons posted in the moderators' channel are a
:class:`discord.ui.DynamicItem` whose ``custom_id`` carries the server and the pair, so they work
after a restart too; each press is checked at run time like a command. ``/buddyadmin proposals`` lists
the proposals awaiting a decision (posted or not) with Approve / Reject of its own, which take the very
same decision (:func:`carry_out`) and mark the post decided too: a moderator can decide while no
moderators' channel is set, or after a post was deleted by hand. The lists' buttons (Approve / Reject,
Previous / Next) are dynamic items too, carrying the moderator who asked and the page: they work at any
time, after a restart too, for that moderator only, while still a moderator.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_moderator
from bot.client import SoberPeersBot
from bot.errors import UserError
from bot.services.buddies import (
    Actor,
    BuddySettings,
    DecisionResult,
    GroupResult,
    MatchReport,
    PairInfo,
    PairResult,
    PairsPage,
    ProposalEntry,
    ProposalsPage,
    QueueView,
    SettingsResult,
    SettingsUpdate,
    UnpairResult,
)
from bot.views import (
    PagedList,
    answer_failure,
    check_list_owner,
    register_paged_lists,
    send_paged,
    unregister_paged_lists,
)
from cogs.buddies import Buddies, EffectReport, buddy_cog, member_facts

__all__ = [
    "PAIRS_LIST",
    "PAIRS_PER_PAGE",
    "PROPOSALS_LIST",
    "PROPOSALS_PER_PAGE",
    "PROPOSAL_LIST_TEMPLATE",
    "PROPOSAL_TEMPLATE",
    "BuddyAdmin",
    "ProposalButton",
    "ProposalListButton",
    "admin_intro_line",
    "pairs_embed",
    "proposal_embed",
    "proposal_view",
    "proposals_embed",
    "queue_embed",
    "settings_embed",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.blurple()
PROPOSAL_TEMPLATE = r"buddy:proposal:(?P<action>approve|reject):(?P<guild_id>[0-9]{1,20}):(?P<pair_id>[0-9]{1,20})"
PROPOSAL_LIST_TEMPLATE = (
    r"buddy:plist:(?P<action>approve|reject):(?P<guild_id>[0-9]{1,20}):(?P<owner_id>[0-9]{1,20})"
    r":(?P<page>[0-9]{1,6}):(?P<pair_id>[0-9]{1,20})"
)
"""Approve / Reject on ``/buddyadmin proposals``: the server, the moderator who asked, the page shown, the
pair (at most 89 characters)."""
PAIRS_PER_PAGE = 10
PROPOSALS_PER_PAGE = 4
"""Four a page: a row of Approve / Reject for each, and a fifth row for Previous / Next."""
QUEUE_SHOWN = 20


def _user(user_id: int) -> str:
    return f"<@{user_id}>"


def _role(role_id: int) -> str:
    return f"<@&{role_id}>"


def _ts(moment: datetime, style: str = "f") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _duration(delta: timedelta) -> str:
    if delta.days >= 1:
        return _plural(delta.days, "day")
    hours = int(delta.total_seconds() // 3600)
    if hours >= 1:
        return _plural(hours, "hour")
    return _plural(max(0, int(delta.total_seconds() // 60)), "minute")


def _channel_exists(guild: discord.Guild | None) -> Callable[[int], bool]:
    """Whether a channel (or thread) of ``guild`` still exists, as far as the bot can see."""
    return lambda channel_id: guild is not None and guild.get_channel_or_thread(channel_id) is not None


def _actor(interaction: discord.Interaction) -> tuple[int, Actor]:
    """The server and the moderator: only called once the run-time check passed."""
    assert interaction.guild_id is not None
    return interaction.guild_id, Actor(interaction.user.id, is_moderator=True)


# --------------------------------------------------------------------------- rendering (pure)


def admin_intro_line(pair: PairInfo, report: EffectReport) -> str:
    """Where a pair was introduced, for the moderator."""
    done = report.introductions.get(pair.pair_id)
    if done is None:
        return "Their introduction will follow shortly."
    if done.thread_id is not None:
        return f"Introduced in a private thread: <#{done.thread_id}>."
    if done.dms_closed:
        closed = " and ".join(_user(uid) for uid in done.dms_closed)
        return f"Introduced by direct message; {closed} could not be reached (DMs closed)."
    return "Introduced by direct message."


def _made_lines(made: Sequence[PairInfo], report: EffectReport) -> list[str]:
    lines = []
    for pair in made:
        if pair.status == "proposed":
            lines.append(f"• {_user(pair.member_id)} with {_user(pair.buddy_id)}: proposed, awaiting approval")
        else:
            lines.append(f"• {_user(pair.member_id)} with {_user(pair.buddy_id)}: {admin_intro_line(pair, report)}")
    return lines


def proposal_embed(pair: PairInfo) -> discord.Embed:
    """A proposed pairing, for the moderators' approval."""
    return discord.Embed(
        title="Proposed buddy pairing",
        colour=discord.Colour.gold(),
        description=(
            f"{_user(pair.member_id)}, waiting for a buddy, with the volunteer {_user(pair.buddy_id)}, both in "
            f"{_role(pair.group_role_id)}.\n"
            f"**Approve** to introduce them privately; **Reject** to put {_user(pair.member_id)} back in their place "
            "in the queue (this pairing will not be proposed again)."
        ),
    )


def proposal_view(pair: PairInfo) -> discord.ui.View:
    """The Approve / Reject buttons of a proposal (fully dynamic: nothing is kept per message)."""
    view = discord.ui.View(timeout=None)
    view.add_item(ProposalButton("approve", pair.guild_id, pair.pair_id))
    view.add_item(ProposalButton("reject", pair.guild_id, pair.pair_id))
    return view


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def settings_embed(settings: BuddySettings, groups: Sequence[int]) -> discord.Embed:
    """The buddy settings and the matching groups."""
    embed = discord.Embed(title="Buddy matching settings", colour=COLOUR)
    intro = (
        f"<#{settings.intro_channel_id}>"
        if settings.intro_channel_id is not None
        else "not set: introductions go by direct message"
    )
    moderators = (
        f"<#{settings.moderator_channel_id}>"
        if settings.moderator_channel_id is not None
        else "not set (`/settings moderator-channel`)"
    )
    embed.description = "\n".join(
        [
            f"**Auto-matching**: {_on_off(settings.auto_match)}",
            f"**Introductions channel**: {intro}",
            f"**Most buddies per volunteer**: {settings.max_buddies}",
            f"**Days in the server before volunteering**: {settings.volunteer_min_days}",
            f"**Pairs need a moderator's approval**: {_on_off(settings.require_approval)}",
            f"**Moderators' channel**: {moderators}",
            "**Matching groups**: "
            + (", ".join(_role(r) for r in groups) if groups else "none yet (`/buddyadmin group-add`)"),
        ]
    )
    return embed


_SETTING_LABELS = {
    "auto_match": "Auto-matching",
    "intro_channel_id": "Introductions channel",
    "max_buddies": "Most buddies per volunteer",
    "volunteer_min_days": "Days before volunteering",
    "require_approval": "Approval",
    "moderator_channel_id": "Moderators' channel",
}


def _setting_value(name: str, value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return _on_off(value)
    if name.endswith("_channel_id"):
        return f"<#{value}>"
    return str(value)


def settings_changes_text(result: SettingsResult) -> str:
    """What ``/buddyadmin settings`` changed."""
    if not result.changes:
        return "Nothing changed: the settings already had those values."
    return "\n".join(
        f"{_SETTING_LABELS.get(name, name)}: {_setting_value(name, before)} → {_setting_value(name, after)}"
        for name, (before, after) in result.changes.items()
    )


def queue_embed(view: QueueView) -> discord.Embed:
    """Who waits, in which group, for how long, and why no match yet."""
    embed = discord.Embed(title="Buddy queue", colour=COLOUR)
    if not view.entries:
        embed.description = "Nobody is waiting for a buddy."
        return embed
    lines = []
    for number, entry in enumerate(view.entries, start=view.offset + 1):
        group = _role(entry.group_role_id) if entry.group_role_id is not None else "no group"
        first = ", first in line" if entry.first_in_line else ""
        lines.append(
            f"{number}. {_user(entry.user_id)} · {group} · waiting {_duration(entry.waited)}{first}\n"
            f"   why no match yet: {entry.reason.text}"
        )
    more = view.total - view.offset - len(view.entries)
    if more > 0:
        lines.append(f"… and {more} more.")
    embed.description = "\n".join(lines)[:4096]
    embed.set_footer(text=f"{view.total} waiting")
    return embed


def pairs_embed(page: PairsPage) -> discord.Embed:
    """One page of the active pairs."""
    embed = discord.Embed(title="Buddy pairs", colour=COLOUR)
    if not page.pairs:
        embed.description = "There are no active buddy pairs."
        return embed
    lines = []
    for number, pair in enumerate(page.pairs, start=page.page * PAIRS_PER_PAGE + 1):
        since = _ts(pair.started_at or pair.created_at, "D")
        extras = []
        if pair.created_by is not None:
            extras.append("paired by hand")
        if pair.forced:
            extras.append("over the maximum")
        if pair.intro_thread_id is not None:
            extras.append(f"<#{pair.intro_thread_id}>")
        extra = f" · {', '.join(extras)}" if extras else ""
        lines.append(
            f"{number}. {_user(pair.member_id)} with buddy {_user(pair.buddy_id)} · {_role(pair.group_role_id)} "
            f"· since {since}{extra}"
        )
    embed.description = "\n".join(lines)[:4096]
    embed.set_footer(text=f"Page {page.page + 1} of {page.pages} · {_plural(page.total, 'pair')}")
    return embed


def group_text(result: GroupResult, report: EffectReport, *, added: bool, holders: int) -> str:
    """``/buddyadmin group-add`` / ``group-remove``."""
    role = _role(result.role_id)
    if not result.changed:
        return f"{role} {'already is' if added else 'is not'} a matching group: nothing changed."
    if added:
        lines = [
            f"✅ {role} is now a matching group ({_plural(holders, 'member')} hold it). Members who join with it, or "
            "are given it later, are queued for a buddy automatically while auto-matching is on."
        ]
    else:
        lines = [f"✅ {role} is no longer a matching group."]
    if result.ended:
        lines.append(
            f"{_plural(len(result.ended), 'pairing')} ended, since a pairing never spans two groups; "
            "each member was told privately."
        )
    lines.extend(_made_lines(result.matched, report))
    groups = ", ".join(_role(r) for r in result.groups) or "none"
    lines.append(f"Matching groups now: {groups}.")
    return "\n".join(lines)


def match_text(report: MatchReport, effects: EffectReport) -> str:
    """``/buddyadmin match-now``."""
    if not report.made:
        return (
            f"Matching ran: no new pairs. {_plural(report.still_waiting, 'member')} still waiting; "
            "`/buddyadmin queue` shows why."
        )
    verb = "proposed for approval" if report.proposed else "made"
    lines = [f"Matching ran: {_plural(len(report.made), 'pairing')} {verb}."]
    lines.extend(_made_lines(report.made, effects))
    lines.append(f"{_plural(report.still_waiting, 'member')} still waiting.")
    return "\n".join(lines)


def _where_posted(entry: ProposalEntry, moderator_channel_id: int | None) -> str:
    if entry.channel_id is not None and entry.message_id is not None:
        link = f"https://discord.com/channels/{entry.pair.guild_id}/{entry.channel_id}/{entry.message_id}"
        return f"[its post in <#{entry.channel_id}>]({link})"
    if moderator_channel_id is None:
        return (
            "not posted yet: it will be posted in the moderators' channel once one is set "
            "(`/settings moderator-channel`)"
        )
    return f"not posted yet: I'll post it in <#{moderator_channel_id}> (check that I may send messages there)"


def proposals_embed(page: ProposalsPage) -> discord.Embed:
    """One page of the proposals awaiting a decision, oldest first (no check-in data: the pairs only)."""
    embed = discord.Embed(title="Buddy proposals awaiting approval", colour=discord.Colour.gold())
    if not page.proposals:
        embed.description = "No proposed buddy pairings are waiting for a decision."
        return embed
    lines = []
    for number, entry in enumerate(page.proposals, start=page.page * PROPOSALS_PER_PAGE + 1):
        pair = entry.pair
        lines.append(
            f"{number}. {_user(pair.member_id)} with the volunteer {_user(pair.buddy_id)} · {_role(pair.group_role_id)}"
            f" · waiting {_duration(entry.waited)}\n   {_where_posted(entry, page.moderator_channel_id)}"
        )
    lines.append(
        "\n**Approve** introduces them privately; **Reject** puts the member back in their place in the queue. "
        "The buttons below do the same as those on each post."
    )
    embed.description = "\n".join(lines)[:4096]
    embed.set_footer(text=f"Page {page.page + 1} of {page.pages} · {_plural(page.total, 'proposal')}")
    return embed


# --------------------------------------------------------------------------- approvals


class ProposalButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=PROPOSAL_TEMPLATE):
    """Approve or Reject of a proposed pairing, in the moderators' channel."""

    def __init__(self, action: str, guild_id: int, pair_id: int) -> None:
        label, style = (
            ("Approve", discord.ButtonStyle.success) if action == "approve" else ("Reject", discord.ButtonStyle.danger)
        )
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"buddy:proposal:{action}:{guild_id}:{pair_id}")
        )
        self.action = action
        self.guild_id = guild_id
        self.pair_id = pair_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ProposalButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(match["action"], int(match["guild_id"]), int(match["pair_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Moderators only (checked now); approve or reject, mark the proposal, carry out the effects."""
        try:
            if interaction.guild_id != self.guild_id:
                raise UserError("This proposal belongs to another server.")
            await is_moderator(interaction)
            await decide(interaction, self.action, self.guild_id, self.pair_id)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, f"{type(self).__name__}:{self.action}")


async def decide(interaction: discord.Interaction, action: str, guild_id: int, pair_id: int) -> None:
    """Approve or reject a proposal from its post (the moderator check passed)."""
    await interaction.response.defer(ephemeral=True, thinking=True)  # an introduction may follow
    text = await carry_out(interaction, action, guild_id, pair_id, interaction.message)
    await interaction.followup.send(text, ephemeral=True)


async def carry_out(
    interaction: discord.Interaction,
    action: str,
    guild_id: int,
    pair_id: int,
    post: discord.Message | discord.PartialMessage | None,
) -> str:
    """The decision itself, wherever it was taken (its post or ``/buddyadmin proposals``; the moderator
    check passed, the interaction deferred): the service's approve / reject (audited there), the post
    marked decided, the effects carried out. The moderator's answer."""
    cog = buddy_cog(interaction.client)
    actor = Actor(interaction.user.id, is_moderator=True)
    result: DecisionResult
    if action == "approve":
        result = await cog.service.approve(guild_id, actor, pair_id)
    else:
        result = await cog.service.reject(guild_id, actor, pair_id)
    pair = result.pair
    mark = "✅ Approved" if action == "approve" else "❌ Rejected"
    if post is not None:
        try:
            await post.edit(content=f"{mark} by {_user(interaction.user.id)} {_ts(cog.bot.clock(), 'R')}.", view=None)
        except discord.HTTPException as exc:
            log.warning("Could not mark proposal %s decided: %s", pair_id, exc)
    report = await cog.effects.run(guild_id, result.effects)
    if action == "approve":
        text = (
            f"Approved: {_user(pair.member_id)} and {_user(pair.buddy_id)} are buddies now. "
            f"{admin_intro_line(pair, report)}"
        )
    else:
        text = (
            f"Rejected: {_user(pair.member_id)} is back in their place in the queue, and this pairing won't be "
            "proposed again."
        )
        made = _made_lines(result.matched, report)
        if made:
            text += "\n" + "\n".join(made)
    return text


# --------------------------------------------------------------------------- the proposals' list


class ProposalListButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=PROPOSAL_LIST_TEMPLATE):
    """Approve or Reject of one proposal shown in ``/buddyadmin proposals``: the same decision as its
    post's buttons (:func:`carry_out`: the same service call and audit entry), and its post, if any, is
    marked decided too. Its ``custom_id`` carries the server, the moderator who asked for the list, the
    page shown and the pair, so it works at any time, after a restart too; only that moderator may
    press it, while a moderator (checked at every press)."""

    def __init__(self, action: str, guild_id: int, owner_id: int, page: int, pair_id: int, number: int = 0) -> None:
        label, style = (
            ("Approve", discord.ButtonStyle.success) if action == "approve" else ("Reject", discord.ButtonStyle.danger)
        )
        custom_id = f"buddy:plist:{action}:{guild_id}:{owner_id}:{page}:{pair_id}"
        super().__init__(
            discord.ui.Button(label=f"{label} {number}" if number else label, style=style, custom_id=custom_id)
        )
        self.action = action
        self.guild_id = guild_id
        self.owner_id = owner_id
        self.page = page
        self.pair_id = pair_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ProposalListButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(
            match["action"], int(match["guild_id"]), int(match["owner_id"]), int(match["page"]), int(match["pair_id"])
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        """The moderator who asked, still a moderator: decide, then show the list again."""
        try:
            await check_list_owner(interaction, self.guild_id, self.owner_id)
            await self.decide(interaction)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, f"{type(self).__name__}:{self.action}")

    async def decide(self, interaction: discord.Interaction) -> None:
        """Decide, then show the list again without the proposal decided (by anyone meanwhile too)."""
        await interaction.response.defer()  # the list is updated in place; the answer follows privately
        post = None
        guild_id, actor = _actor(interaction)
        where = await buddy_cog(interaction.client).service.proposal_post(
            guild_id, actor, self.pair_id, _channel_exists(interaction.guild)
        )
        if where is not None and interaction.guild is not None:
            channel = interaction.guild.get_channel_or_thread(where[0])
            if isinstance(channel, discord.TextChannel | discord.Thread):
                post = channel.get_partial_message(where[1])
        try:
            text = await carry_out(interaction, self.action, self.guild_id, self.pair_id, post)
        finally:
            await _list_again(interaction, self.page)
        await interaction.followup.send(text, ephemeral=True)


async def _list_again(interaction: discord.Interaction, number: int) -> None:
    """The list's page ``number`` again (the last page if it has fewer now), in place."""
    assert interaction.guild_id is not None
    page = await PROPOSALS_LIST.fetch(interaction, number)
    embed, view = PROPOSALS_LIST.message(interaction.guild_id, interaction.user.id, page)
    try:
        await interaction.edit_original_response(embed=embed, view=view)
    except discord.HTTPException as exc:
        log.warning("Could not refresh the proposals list: %s", exc)


def _fetch_proposals(interaction: discord.Interaction, number: int) -> Awaitable[ProposalsPage]:
    guild_id, actor = _actor(interaction)
    service = buddy_cog(interaction.client).service
    return service.proposals_page(guild_id, actor, _channel_exists(interaction.guild), number, PROPOSALS_PER_PAGE)


def _decision_buttons(page: ProposalsPage, guild_id: int, owner_id: int) -> list[discord.ui.Item[Any]]:
    """A row of Approve / Reject for each proposal shown."""
    start = page.page * PROPOSALS_PER_PAGE + 1
    items: list[discord.ui.Item[Any]] = []
    for row, entry in enumerate(page.proposals):
        for action in ("approve", "reject"):
            button = ProposalListButton(action, guild_id, owner_id, page.page, entry.pair.pair_id, start + row)
            button.row = row
            items.append(button)
    return items


PROPOSALS_LIST: PagedList[ProposalsPage] = PagedList(
    "proposals", _fetch_proposals, proposals_embed, items=_decision_buttons
)
"""``/buddyadmin proposals``: four a page, each with Approve / Reject."""


# --------------------------------------------------------------------------- pages of pairs


def _fetch_pairs(interaction: discord.Interaction, number: int) -> Awaitable[PairsPage]:
    guild_id, actor = _actor(interaction)
    return buddy_cog(interaction.client).service.pairs_page(guild_id, actor, number, PAIRS_PER_PAGE)


PAIRS_LIST: PagedList[PairsPage] = PagedList("pairs", _fetch_pairs, pairs_embed)
"""``/buddyadmin pairs``: ten a page."""


# --------------------------------------------------------------------------- the cog


def _intro_channel_warning(channel: discord.TextChannel) -> str | None:
    """What the bot lacks to open private introduction threads in ``channel``."""
    me = channel.guild.me
    allowed = channel.permissions_for(me)
    missing = [
        name
        for name, ok in (
            ("View Channel", allowed.view_channel),
            ("Create Private Threads", allowed.create_private_threads),
            ("Send Messages in Threads", allowed.send_messages_in_threads),
        )
        if not ok
    ]
    if not missing:
        return None
    return (
        f"⚠️ I can't open private threads in {channel.mention} yet: please give me {', '.join(missing)} there. "
        "Until then, introductions go by direct message."
    )


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class BuddyAdmin(commands.GroupCog, group_name="buddyadmin", group_description="Buddy matching, for moderators"):
    """Groups, settings, pairing by hand, the queue, the pairs, matching, approvals."""

    COG_NAME = "BuddyAdmin"

    def __init__(self, bot: SoberPeersBot) -> None:
        super().__init__()
        self.bot = bot

    async def cog_load(self) -> None:
        """Handle the Approve / Reject buttons of any proposal and of the proposals' list, and the pages of
        the lists, sent before a restart too."""
        self.bot.add_dynamic_items(ProposalButton, ProposalListButton)
        register_paged_lists(self.bot, PAIRS_LIST, PROPOSALS_LIST)

    async def cog_unload(self) -> None:
        """Stop handling the buttons."""
        self.bot.remove_dynamic_items(ProposalButton, ProposalListButton)
        unregister_paged_lists(self.bot, PAIRS_LIST, PROPOSALS_LIST)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Moderators only, checked at run time (Discord's permission overrides may be loosened)."""
        return await is_moderator(interaction)

    @property
    def buddies(self) -> Buddies:
        """The buddies cog: its service and effect runner."""
        return buddy_cog(self.bot)

    # ----------------------------------------------------------------------- groups

    @app_commands.command(name="group-add", description="Make a role a matching group (buddies share a group)")
    @app_commands.describe(role="A role moderators assign, for example a house")
    async def group_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Add a matching group; the members holding it are recorded (not queued)."""
        guild_id, actor = _actor(interaction)
        if role.is_default():
            raise UserError("@everyone can't be a matching group: choose a role that only some members hold.")
        if role.managed:
            raise UserError(f"{role.mention} is managed by an integration, so it can't be a matching group.")
        cog = self.buddies
        holders = [member_facts(m) for m in role.members if not m.bot]
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await cog.service.add_group(guild_id, actor, role.id, holders)
        report = await cog.effects.run(guild_id, result.effects)
        await interaction.followup.send(group_text(result, report, added=True, holders=len(holders)), ephemeral=True)

    @app_commands.command(name="group-remove", description="Stop a role being a matching group (its pairs end)")
    @app_commands.describe(role="The matching group's role")
    async def group_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Remove a matching group; its pairs end and both members are told privately."""
        guild_id, actor = _actor(interaction)
        cog = self.buddies
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await cog.service.remove_group(guild_id, actor, role.id)
        report = await cog.effects.run(guild_id, result.effects)
        await interaction.followup.send(group_text(result, report, added=False, holders=0), ephemeral=True)

    # ----------------------------------------------------------------------- settings

    @app_commands.command(name="settings", description="Buddy matching settings (no option: show them)")
    @app_commands.describe(
        auto_match="Queue members for a buddy when they join with, or are given, a group role (default: on)",
        intro_channel="Where private introduction threads are opened (not set: introductions by DM)",
        clear_intro_channel="Unset the introductions channel (introductions go by DM)",
        max_buddies="How many newcomers a volunteer supports at most, unless they say (1–5, default 2)",
        volunteer_min_days="Days in the server before a member may volunteer (0–365, default 14)",
        require_approval="Each proposed pair waits for a moderator's approval (default: off)",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        auto_match: bool | None = None,
        intro_channel: discord.TextChannel | None = None,
        clear_intro_channel: bool = False,
        max_buddies: app_commands.Range[int, 1, 5] | None = None,
        volunteer_min_days: app_commands.Range[int, 0, 365] | None = None,
        require_approval: bool | None = None,
    ) -> None:
        """Show, or change, the buddy settings."""
        guild_id, actor = _actor(interaction)
        cog = self.buddies
        if intro_channel is not None and clear_intro_channel:
            raise UserError("Choose either an introductions channel or clear_intro_channel, not both.")
        nothing = (
            auto_match is None
            and intro_channel is None
            and not clear_intro_channel
            and max_buddies is None
            and volunteer_min_days is None
            and require_approval is None
        )
        if nothing:
            view = await cog.service.settings_view(guild_id, actor)
            await interaction.response.send_message(embed=settings_embed(view.settings, view.groups), ephemeral=True)
            return
        update = SettingsUpdate(
            auto_match=auto_match,
            intro_channel_id=None if intro_channel is None else intro_channel.id,
            clear_intro_channel=clear_intro_channel,
            max_buddies=max_buddies,
            volunteer_min_days=volunteer_min_days,
            require_approval=require_approval,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await cog.service.update_settings(guild_id, actor, update)
        report = await cog.effects.run(guild_id, result.effects)
        lines = [settings_changes_text(result)]
        if intro_channel is not None:
            warning = _intro_channel_warning(intro_channel)
            if warning is not None:
                lines.append(warning)
        made = _made_lines(result.matched, report)
        if made:
            lines.append("Matching ran:")
            lines.extend(made)
        view = await cog.service.settings_view(guild_id, actor)
        await interaction.followup.send(
            "\n".join(lines), embed=settings_embed(view.settings, view.groups), ephemeral=True
        )

    # ----------------------------------------------------------------------- pairs by hand

    @app_commands.command(name="pair", description="Pair two members by hand (never across groups)")
    @app_commands.describe(
        member="The member to support",
        buddy="Their buddy",
        force="Pair even over the buddy's maximum (default: no)",
    )
    async def pair(
        self, interaction: discord.Interaction, member: discord.Member, buddy: discord.Member, force: bool = False
    ) -> None:
        """Pair ``buddy`` with ``member``; introduced at once."""
        guild_id, actor = _actor(interaction)
        if member.bot or buddy.bot:
            raise UserError("Bots can't be buddies.")
        cog = self.buddies
        await interaction.response.defer(ephemeral=True, thinking=True)
        result: PairResult = await cog.service.pair(guild_id, actor, member_facts(member), member_facts(buddy), force)
        report = await cog.effects.run(guild_id, result.effects)
        notes = []
        if result.forced:
            notes.append("over their maximum, as you forced")
        if result.paired_before:
            notes.append("they were paired before")
        extra = f" ({'; '.join(notes)})" if notes else ""
        intro = admin_intro_line(result.pair, report)
        await interaction.followup.send(
            f"🤝 Paired {member.mention} with the buddy {buddy.mention}{extra}. {intro}", ephemeral=True
        )

    @app_commands.command(name="unpair", description="End a buddy pairing; both are told privately")
    @app_commands.describe(
        member="A member of the pairing",
        buddy="The other member (if they have several pairings)",
        requeue="Put the supported member back in the queue, first in line (default: yes)",
    )
    async def unpair(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        buddy: discord.User | None = None,
        requeue: bool = True,
    ) -> None:
        """End one pairing of ``member``."""
        guild_id, actor = _actor(interaction)
        cog = self.buddies
        await interaction.response.defer(ephemeral=True, thinking=True)
        result: UnpairResult = await cog.service.unpair(
            guild_id, actor, member.id, None if buddy is None else buddy.id, requeue
        )
        report = await cog.effects.run(guild_id, result.effects)
        ended = result.ended
        lines = [
            f"Ended the pairing of {_user(ended.member_id)} with {_user(ended.buddy_id)}; both were told privately."
        ]
        if result.requeued:
            lines.append(f"{_user(ended.member_id)} is back in the queue, first in line.")
        lines.extend(_made_lines(result.matched, report))
        await interaction.followup.send("\n".join(lines), ephemeral=True)

    # ----------------------------------------------------------------------- views

    @app_commands.command(name="queue", description="Who waits for a buddy, for how long, and why")
    async def queue(self, interaction: discord.Interaction) -> None:
        """The queue, in order, with the reason each member has no match yet."""
        guild_id, actor = _actor(interaction)
        view = await self.buddies.service.queue_view(guild_id, actor, limit=QUEUE_SHOWN)
        await interaction.response.send_message(embed=queue_embed(view), ephemeral=True)

    @app_commands.command(name="pairs", description="The current buddy pairs (pages)")
    async def pairs(self, interaction: discord.Interaction) -> None:
        """The first page of the active pairs, with Previous / Next when there are more."""
        await send_paged(interaction, PAIRS_LIST)

    @app_commands.command(name="proposals", description="The buddy pairings awaiting approval, to approve or reject")
    async def proposals(self, interaction: discord.Interaction) -> None:
        """The first page of the proposals awaiting a decision, oldest first, each with Approve / Reject."""
        await send_paged(interaction, PROPOSALS_LIST, allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="match-now", description="Run buddy matching now and say what it did")
    async def match_now(self, interaction: discord.Interaction) -> None:
        """Run matching for every group."""
        guild_id, actor = _actor(interaction)
        cog = self.buddies
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await cog.service.match_now(guild_id, actor)
        effects = await cog.effects.run(guild_id, report.effects)
        await interaction.followup.send(match_text(report, effects), ephemeral=True)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(BuddyAdmin(bot))

"""``/buddy`` and buddy matching on Discord: member events, the effects, introductions, reminders.

A thin adapter of :class:`bot.services.buddies.BuddyService`, which decides everything and returns
*effects*; this module only turns Discord events into facts and carries the effects out
(:class:`EffectRunner`, shared with ``/buddyadmin``):

* Introductions go in a private thread of the introductions channel with both members added, a
  warm welcome and the article's words on what peer support is and is not. Without that channel,
  or when the thread cannot be made, each member gets a DM; closed DMs are reported to the
  moderators' channel. Nothing is ever posted publicly.
* Member events: joining, a role change (a pair that would span two matching groups ends at
  once), leaving (pairs end, the buddy is told privately, the thread is archived).
* The private notice that a pairing ended and the welcome saying what a buddy is go through the
  outbox (:func:`cogs.outbox.deliver`, destination ``'member'``): retried when Discord fails in
  passing, recorded when they cannot succeed (closed DMs, the member gone).
* A message in an introduction thread only notes *that* one of the two wrote (an event observer,
  no task per message elsewhere; the bot never reads message content).
* After ready, every member's roles are reconciled (changes made while the bot was away). The
  sweep, every 15 minutes (tests call :meth:`Buddies.run_sweep_now`), sends the one gentle reminder
  three days after a silent introduction, retries introductions that could not be made, and posts
  the proposals awaiting approval that no moderator can see (never posted: no moderators' channel
  then, or Discord failed; or posted in a channel since deleted). Setting the moderators' channel
  posts them at once. Each proposal is posted once: claimed while posting, checked again first, its
  message recorded, and sent with a nonce of its own (a lost answer is handed back, not repeated);
  after a failure in passing they are tried again a minute later, while Discord honours that nonce.
* The "Let my buddy know" button shown after a hard check-in (:func:`support_view`): only when
  pressed, the member's buddy gets a private note that they could use support, never what they
  checked in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.errors import UserError
from bot.nonce import message_nonce
from bot.services.buddies import (
    MAX_BUDDIES_RANGE,
    Actor,
    ArchiveThread,
    BuddyLink,
    BuddyService,
    Effect,
    EndReason,
    EndResult,
    Introduce,
    MemberFacts,
    NotifyModerators,
    NotifyPairEnded,
    PairInfo,
    ProposePair,
    QueuePlace,
    RequestResult,
    StatusResult,
    TellMemberWhatABuddyIs,
    VolunteerResult,
    WaitReason,
    WithdrawProposal,
)
from bot.services.outbox import MODERATOR_NOTICE, PAIR_ENDED, WHAT_A_BUDDY_IS, NewPost, Post
from bot.services.retry import FIRST_RETRY
from bot.views import SEND_ERRORS, DmOutcome, answer_failure, is_transient, send_dm
from cogs.guidance import passage_embed
from cogs.outbox import deliver

__all__ = [
    "SUPPORT_BUTTON_TEMPLATE",
    "SWEEP_INTERVAL",
    "Buddies",
    "BuddySupportButton",
    "EffectReport",
    "EffectRunner",
    "Introduction",
    "SweepReport",
    "buddy_cog",
    "ended_dm_text",
    "find_member",
    "introduction_line",
    "member_facts",
    "request_text",
    "status_text",
    "support_view",
    "volunteer_text",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.teal()
SWEEP_INTERVAL = 15 * 60.0
"""Seconds between two sweeps (reminders due, introductions to retry, proposals to post)."""
PROPOSAL_RETRY = FIRST_RETRY.total_seconds()
"""Seconds before proposals are tried again after one failed in passing: its nonce still counts then."""
THREAD_ARCHIVE_MINUTES: Final = 10080
"""A week: the thread is still open when the three-day reminder comes."""
SUPPORT_BUTTON_TEMPLATE = r"buddy:support:(?P<guild_id>[0-9]{1,20})"
EMBEDS_PER_MESSAGE = 10
EMBED_CHARACTERS_PER_MESSAGE = 6000

MEMBER_WAIT_TEXT = {
    WaitReason.NO_GROUP: "You're not in a matching group yet: please ask a moderator to give you your group's role.",
    WaitReason.SEVERAL_GROUPS: (
        "You hold more than one matching group role, so I can't tell which group to match you in. "
        "The moderators have been told."
    ),
    WaitReason.NO_VOLUNTEER: (
        "Nobody in your group is offering to be a buddy right now; I'll introduce you as soon as someone is."
    ),
    WaitReason.VOLUNTEERS_FULL: (
        "Everyone offering to be a buddy in your group is supporting as many people as they can right now; "
        "I'll introduce you as soon as one has room."
    ),
    WaitReason.ONLY_PAST_PARTNERS: (
        "The buddies with room right now were paired with you before; I'll introduce you to someone new as "
        "soon as I can, or a moderator can pair you by hand."
    ),
    WaitReason.AWAITING_APPROVAL: "A pairing for you is waiting for a moderator's approval.",
    WaitReason.MATCHABLE: "A buddy should be found for you very soon.",
}


# --------------------------------------------------------------------------- small helpers


def _ts(moment: datetime, style: str = "f") -> str:
    """A Discord timestamp: every reader sees it in their own local time."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def _user(user_id: int) -> str:
    return f"<@{user_id}>"


def _name(text: str) -> str:
    return discord.utils.escape_markdown(text)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def member_facts(member: discord.Member) -> MemberFacts:
    """What the buddy service needs to know of a member: id, role ids, join time."""
    return MemberFacts(member.id, frozenset(role.id for role in member.roles), member.joined_at)


def _embed_batches(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped so that each message stays within Discord's limits (10 embeds, 6000 characters)."""
    batches: list[list[discord.Embed]] = [[]]
    size = 0
    for embed in embeds:
        length = len(embed)
        if batches[-1] and (len(batches[-1]) >= EMBEDS_PER_MESSAGE or size + length > EMBED_CHARACTERS_PER_MESSAGE):
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += length
    return batches


# --------------------------------------------------------------------------- messages (pure)


def welcome_text(pair: PairInfo, guild_name: str) -> str:
    """The welcome posted in a new introduction thread (it mentions, and only it pings, the two)."""
    member, buddy = _user(pair.member_id), _user(pair.buddy_id)
    return (
        f"👋 Welcome, {member} and {buddy}! You're buddies now in **{_name(guild_name)}**.\n"
        f"{member}, {buddy} offered to walk alongside newcomers of your group. {buddy}, thank you for offering "
        "your time.\n"
        "This thread is private: only the two of you (and the server's moderators) can see it. There's no "
        "script: a hello and how your week is going is a great start. Here's what peer support is, and what it "
        "isn't:"
    )


def intro_dm_text(pair: PairInfo, user_id: int, guild_name: str) -> str:
    """The introduction by DM, for one of the two."""
    server = f"**{_name(guild_name)}**"
    if user_id == pair.member_id:
        return (
            f"👋 Meet your buddy in {server}: {_user(pair.buddy_id)}. They offered to walk alongside newcomers of "
            "your group. Say hello whenever you're ready: a short message is plenty.\n"
            "Here's what peer support is, and what it isn't:"
        )
    return (
        f"👋 You have a new buddy to support in {server}: {_user(pair.member_id)}. Thank you for offering your "
        "time. A warm hello goes a long way.\n"
        "Here's what peer support is, and what it isn't:"
    )


def reminder_text(pair: PairInfo) -> str:
    """The one gentle reminder in a thread where neither has written yet (mentions, but pings nobody)."""
    return (
        f"🌱 Hi {_user(pair.member_id)} and {_user(pair.buddy_id)}, just a gentle nudge: this thread is here "
        "whenever you're ready. A short hello is plenty; peer support often starts with small things."
    )


CLOSING_TEXT = "This buddy pairing has ended, so I'm closing this thread. Thank you both for the support you shared. 💚"


def ended_dm_text(effect: NotifyPairEnded, guild_name: str) -> str:
    """The kind, private word that a pairing ended."""
    other = _user(effect.other_id)
    server = f"**{_name(guild_name)}**"
    why = {
        EndReason.ENDED_BY_MEMBER: f"{other} decided to end it. That happens, and it says nothing about you.",
        EndReason.ENDED_BY_MODERATOR: "a moderator ended it.",
        EndReason.GROUPS_CHANGED: "your matching groups changed, and buddies always share a group.",
        EndReason.GROUP_REMOVED: "the moderators changed the server's matching groups.",
        EndReason.MEMBER_LEFT: f"{other} has left the server.",
    }[effect.reason]
    lines = [f"💚 Your buddy pairing with {other} in {server} has ended: {why}"]
    if effect.requeued:
        lines.append(
            "You're back in the queue, first in line, and I'll introduce you to a new buddy as soon as one is free. "
            "`/buddy status` in the server shows where things stand."
        )
    else:
        lines.append("Thank you for the support you shared. Your peers in the server are still there for you.")
    return "\n".join(lines)


def what_a_buddy_is_text(guild_name: str) -> str:
    """Told once, privately, to a member queued automatically."""
    return (
        f"👋 Welcome to **{_name(guild_name)}**! Here, newcomers get a peer buddy: a member of your group who has "
        "been around a while and offered to walk alongside you. Not a therapist or a sponsor; a peer who "
        "understands.\n"
        "You're in the queue now, and I'll introduce you as soon as a buddy is free. `/buddy status` in the server "
        "shows where things stand."
    )


def _place_text(place: QueuePlace) -> str:
    where = f"number {place.place} of {place.of} in your group" if place.place is not None else "in the queue"
    first = ", first in line" if place.first_in_line else ""
    since = _ts(place.queued_at, "R")
    return f"You're waiting for a buddy ({where}{first}) since {since}. {MEMBER_WAIT_TEXT[place.reason]}"


def _link_line(link: BuddyLink) -> str:
    since = _ts(link.since, "D")
    if link.role == "your_buddy":
        return f"• {_user(link.other_id)} is your buddy, since {since}"
    return f"• you're a buddy to {_user(link.other_id)}, since {since}"


def status_text(result: StatusResult, now: datetime) -> str:
    """``/buddy status``: buddies and since when, or the wait, or why no match is possible yet."""
    lines: list[str] = []
    if result.buddies:
        lines.append("🤝 Your buddy pairings:")
        lines.extend(_link_line(link) for link in result.buddies)
    if result.awaiting_approval:
        lines.append("⏳ A buddy has been proposed for you; a moderator will confirm the pairing soon.")
    if result.waiting is not None:
        lines.append(f"⏳ {_place_text(result.waiting)}")
    elif result.not_matchable is not None:
        lines.append(result.not_matchable.text)
    elif not result.buddies and not result.awaiting_approval and not (result.volunteer and result.volunteer.available):
        lines.append("You don't have a buddy yet. `/buddy request` asks for one.")
    offer = result.volunteer
    if offer is not None:
        if offer.available:
            lines.append(
                f"💚 You offer to be a buddy for up to {_plural(offer.max_buddies, 'newcomer')} "
                f"(you support {offer.current} now)."
            )
            if offer.eligible_from is not None and offer.eligible_from > now:
                lines.append(f"You can be matched from {_ts(offer.eligible_from, 'D')}.")
        else:
            lines.append("You're not offering to be a buddy at the moment. `/buddy volunteer` changes that.")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Introduction:
    """How a pair was introduced: in a thread, or by DM (with the members whose DMs were closed)."""

    pair_id: int
    thread_id: int | None
    dms_closed: tuple[int, ...] = ()


@dataclass
class EffectReport:
    """What carrying out a batch of effects did, for the answer to whoever caused it."""

    introductions: dict[int, Introduction] = field(default_factory=dict)
    proposals_posted: dict[int, bool] = field(default_factory=dict)


def introduction_line(pair: PairInfo, report: EffectReport, viewer_id: int) -> str:
    """Where the pair was introduced, from the viewer's side."""
    done = report.introductions.get(pair.pair_id)
    if done is None:
        return "I'll introduce you both shortly."
    if done.thread_id is not None:
        return f"I opened a private thread for you both: <#{done.thread_id}>."
    if viewer_id in done.dms_closed:
        return "Your DMs are closed, so I couldn't introduce you by DM; the moderators will help you connect."
    return "I've introduced you to each other by direct message."


def request_text(result: RequestResult, report: EffectReport, user_id: int) -> str:
    """``/buddy request``."""
    if result.outcome == "matched" and result.pair is not None:
        return f"🤝 You have a buddy: {_user(result.pair.buddy_id)}. {introduction_line(result.pair, report, user_id)}"
    if result.outcome in ("proposed", "awaiting_approval"):
        return "⏳ I've found a possible buddy for you; a moderator will confirm the pairing soon."
    head = "You're already in the queue." if result.outcome == "already_waiting" else "✅ You're in the queue."
    lines = [head]
    if result.waiting is not None:
        lines.append(_place_text(result.waiting))
    elif result.not_matchable is not None:
        lines.append(result.not_matchable.text)
    return " ".join(lines)


def volunteer_text(result: VolunteerResult, report: EffectReport, user_id: int) -> str:
    """``/buddy volunteer``."""
    offer = result.volunteer
    if not offer.available:
        return (
            "You're no longer offering to be a buddy. Your current pairings stay as they are; "
            "`/buddy end` ends one if you need to."
        )
    lines = [
        f"💚 Thank you for offering to be a buddy! You can support up to {_plural(offer.max_buddies, 'newcomer')} "
        f"of your group (you support {offer.current} now)."
    ]
    if result.not_matchable is not None:
        lines.append(result.not_matchable.text)
    for pair in result.matched:
        if pair.buddy_id != user_id:
            continue
        if pair.status == "proposed":
            lines.append(f"A pairing with {_user(pair.member_id)} awaits a moderator's approval.")
        else:
            lines.append(f"🤝 You're now {_user(pair.member_id)}'s buddy. {introduction_line(pair, report, user_id)}")
    return "\n".join(lines)


def end_text(result: EndResult, user_id: int) -> str:
    """``/buddy end``."""
    other = _user(result.ended.other(user_id))
    lines = [f"Your pairing with {other} has ended. I've let them know kindly, in private."]
    if result.other_requeued:
        lines.append("They're back in the queue, first in line for a new buddy.")
    if result.requeued:
        lines.append("You're back in the queue for a new buddy. `/buddy status` shows where you stand.")
    return "\n".join(lines)


def support_note_embed(member_id: int, member_name: str, guild_name: str) -> discord.Embed:
    """The buddy's private note after the member pressed "Let my buddy know" (never their check-in)."""
    embed = discord.Embed(
        title="Your buddy could use some support",
        colour=COLOUR,
        description=(
            f"{_user(member_id)} ({_name(member_name)}) from **{_name(guild_name)}** is having a hard day and asked "
            "me to let you know. A message or a call from you could help; a simple hello is plenty."
        ),
    )
    embed.set_footer(text="You get this because you are their buddy. Nothing they checked in is shared.")
    return embed


# --------------------------------------------------------------------------- carrying out effects


async def find_member(guild: discord.Guild, user_id: int) -> discord.Member | None:
    """The member, or None if they are not in the server (any other failure raises)."""
    member = guild.get_member(user_id)
    if member is not None:
        return member
    try:
        return await guild.fetch_member(user_id)
    except discord.NotFound:
        return None


async def _has_left(guild: discord.Guild, user_id: int) -> bool:
    """Whether the member is known to have left the server (nobody to tell). If Discord cannot say now,
    they are taken to be there: the outbox looks again at each attempt."""
    try:
        return await find_member(guild, user_id) is None
    except SEND_ERRORS as exc:
        log.info("Could not look member %s of guild %s up (%s); the outbox will", user_id, guild.id, exc)
        return False


def what_a_buddy_is_extras(bot: SoberPeersBot, service: BuddyService) -> Callable[[Post], dict[str, Any]]:
    """What each attempt at the "what a buddy is" DM adds to its text: the article's words on what peer
    support is, as embeds (never stored: made from the guidance the bot holds)."""

    def extras(post: Post) -> dict[str, Any]:
        embeds = [passage_embed(p, bot.guidance.source_title) for p in service.buddy_quotes()]
        return {"embeds": _embed_batches(embeds)[0]} if embeds else {}

    return extras


def _thread_opened_before(channel: discord.TextChannel, name: str) -> discord.Thread | None:
    """A private thread the bot opened in ``channel`` under ``name`` that is still open: an introduction
    interrupted (a crash, a restart) after the thread was made and before it was recorded."""
    me = channel.guild.me
    for thread in channel.threads:
        if (
            thread.name == name
            and thread.owner_id == me.id
            and thread.type is discord.ChannelType.private_thread
            and not thread.archived
        ):
            return thread
    return None


def _channel_exists(guild: discord.Guild) -> Callable[[int], bool]:
    """Whether a channel (or thread) of ``guild`` still exists, as far as the bot can see."""
    return lambda channel_id: guild.get_channel_or_thread(channel_id) is not None


def intro_nonce(pair: PairInfo, where_id: int, index: int) -> str:
    """The nonce of an introduction message: per pair, recipient (or thread) and part (its embeds may
    take several messages)."""
    return message_nonce("intro", pair.guild_id, pair.pair_id, where_id, index)


def proposal_nonce(pair: PairInfo, channel_id: int) -> str:
    """The nonce of a proposal's Approve / Reject message: per pair and channel (the same at every
    attempt there; a proposal posted again after its channel was deleted goes elsewhere anyway)."""
    return message_nonce("proposal", pair.guild_id, pair.pair_id, channel_id)


async def _has_posted(thread: discord.Thread) -> bool:
    """Whether the bot already posted in ``thread`` (its welcome)."""
    me = thread.guild.me
    async for message in thread.history(limit=10, oldest_first=True):
        if message.author.id == me.id:
            return True
    return False


class EffectRunner:
    """Carries out the service's effects, one by one, in order; a failing one is logged and the rest
    still run. An introduction in progress or just made in this process is never made twice."""

    def __init__(self, bot: SoberPeersBot, service: BuddyService) -> None:
        self.bot = bot
        self.service = service
        self._introducing: set[int] = set()
        self._introduced: set[int] = set()
        self._proposing: set[int] = set()
        self.on_proposal_failed_in_passing: Callable[[], None] | None = None
        """Called when posting a proposal failed in passing (Discord may have made it): sweep again soon."""

    async def run(self, guild_id: int, effects: Iterable[Effect]) -> EffectReport:
        """Carry out ``effects`` in server ``guild_id``."""
        report = EffectReport()
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            log.warning("Guild %s is not available: buddy effects dropped", guild_id)
            return report
        for effect in effects:
            try:
                await self._one(guild, effect, report)
            except Exception:
                log.exception("Could not carry out %s in guild %s", type(effect).__name__, guild_id)
        return report

    async def _one(self, guild: discord.Guild, effect: Effect, report: EffectReport) -> None:
        if isinstance(effect, Introduce):
            done = await self.introduce(guild, effect)
            if done is not None:
                report.introductions[effect.pair.pair_id] = done
        elif isinstance(effect, ProposePair):
            report.proposals_posted[effect.pair.pair_id] = await self.propose(guild, effect)
        elif isinstance(effect, WithdrawProposal):
            await self._withdraw(guild, effect)
        elif isinstance(effect, NotifyPairEnded):
            await self._pair_ended(guild, effect)
        elif isinstance(effect, ArchiveThread):
            await self._archive(guild, effect)
        elif isinstance(effect, NotifyModerators):
            await self.notify_moderators(guild, effect.channel_id, effect.text)
        else:
            await self._tell_what_a_buddy_is(guild, effect)

    # ----------------------------------------------------------------------- lookups

    async def notify_moderators(self, guild: discord.Guild, channel_id: int | None, text: str) -> bool:
        """Post in the moderators' channel, pinging nobody, through the outbox (if Discord fails now, it is
        posted at the next attempt); False if there is no such channel or it was given up (then recorded)."""
        if channel_id is None:
            log.info("Guild %s has no moderators' channel: a buddy notice was not posted", guild.id)
            return False
        delivery = await deliver(self.bot, NewPost(guild.id, MODERATOR_NOTICE, "moderator_channel", text))
        if delivery.state == "undelivered":
            log.warning("Could not post a buddy notice in guild %s: %s", guild.id, delivery.reason)
            return False
        return True

    async def _moderator_channel(self, guild: discord.Guild) -> int | None:
        config = await self.bot.server_settings.get(guild.id)
        return config.snowflake("moderator_channel")

    # ----------------------------------------------------------------------- introductions

    async def introduce(self, guild: discord.Guild, effect: Introduce) -> Introduction | None:
        """Introduce a pair: a private thread, else a DM to each. None if it was not done (it will be
        retried by the sweep) or is being done already."""
        pair = effect.pair
        if pair.pair_id in self._introducing or pair.pair_id in self._introduced:
            return None
        self._introducing.add(pair.pair_id)
        try:
            done = await self._introduce(guild, effect)
        finally:
            self._introducing.discard(pair.pair_id)
        if done is not None:
            self._introduced.add(pair.pair_id)
        return done

    async def _introduce(self, guild: discord.Guild, effect: Introduce) -> Introduction | None:
        pair = effect.pair
        member = await find_member(guild, pair.member_id)
        buddy = await find_member(guild, pair.buddy_id)
        for user_id, found in ((pair.member_id, member), (pair.buddy_id, buddy)):
            if found is None:
                # They left while the bot could not see it: end their pairs now, as if it had.
                log.info("Member %s of pair %s is no longer in guild %s", user_id, pair.pair_id, guild.id)
                result = await self.service.member_left(guild.id, user_id)
                await self.run(guild.id, result.effects)
                return None
        assert member is not None and buddy is not None
        embeds = [passage_embed(p, self.bot.guidance.source_title) for p in effect.quotes]
        problem: str | None = None
        if effect.intro_channel_id is not None:
            thread, problem = await self._open_thread(guild, effect.intro_channel_id, pair, member, buddy, embeds)
            if thread is not None:
                await self.service.record_introduction(guild.id, pair.pair_id, thread.id)
                log.info("Guild %s: pair %s introduced in thread %s", guild.id, pair.pair_id, thread.id)
                return Introduction(pair.pair_id, thread.id)
        outcomes: dict[int, DmOutcome] = {}
        for who in (member, buddy):
            text = intro_dm_text(pair, who.id, guild.name)
            batches = _embed_batches(embeds)
            outcome = await send_dm(who, content=text, embeds=batches[0], nonce=intro_nonce(pair, who.id, 0))
            for index, batch in enumerate(batches[1:], start=1):
                if outcome == "sent":
                    outcome = await send_dm(who, embeds=batch, nonce=intro_nonce(pair, who.id, index))
            outcomes[who.id] = outcome
        closed = tuple(uid for uid, outcome in outcomes.items() if outcome == "closed")
        failed = tuple(uid for uid, outcome in outcomes.items() if outcome == "failed")
        notes = []
        if problem is not None:
            notes.append(
                f"I couldn't open a private introduction thread for {_user(pair.member_id)} and "
                f"{_user(pair.buddy_id)} ({problem}), so I introduced them by direct message."
            )
        if closed:
            who_text = " and ".join(_user(uid) for uid in closed)
            notes.append(
                f"I couldn't introduce {_user(pair.member_id)} and their new buddy {_user(pair.buddy_id)} by direct "
                f"message: {who_text} {'has' if len(closed) == 1 else 'have'} DMs closed. Please help them connect."
            )
        if failed and len(failed) < len(outcomes):
            # The other one was told: introducing both again would write to them twice.
            who_text = " and ".join(_user(uid) for uid in failed)
            notes.append(
                f"I couldn't reach {who_text} by direct message just now (Discord refused it), so they may not "
                f"know about their buddy pairing of {_user(pair.member_id)} with {_user(pair.buddy_id)}. "
                "Please make sure they know."
            )
        if notes:
            await self.notify_moderators(guild, effect.moderator_channel_id, "\n".join(notes))
        if all(outcome == "failed" for outcome in outcomes.values()):
            log.warning("Guild %s: pair %s could not be introduced; the sweep retries", guild.id, pair.pair_id)
            return None
        await self.service.record_introduction(guild.id, pair.pair_id, None)
        log.info("Guild %s: pair %s introduced by DM (closed: %s)", guild.id, pair.pair_id, closed)
        return Introduction(pair.pair_id, None, closed)

    async def _open_thread(
        self,
        guild: discord.Guild,
        channel_id: int,
        pair: PairInfo,
        member: discord.Member,
        buddy: discord.Member,
        embeds: list[discord.Embed],
    ) -> tuple[discord.Thread | None, str | None]:
        """The private thread with both members and the welcome; or None and why it could not be made."""
        channel = guild.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            return None, "the introductions channel no longer exists"
        name = f"Buddies: {member.display_name} & {buddy.display_name}"[:100]
        thread = _thread_opened_before(channel, name)
        welcomed = False
        try:
            if thread is None:
                thread = await channel.create_thread(
                    name=name,
                    type=discord.ChannelType.private_thread,
                    invitable=False,
                    auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                    reason="Buddy introduction",
                )
            else:
                # The bot stopped after opening it, before recording the introduction: carry on there.
                log.info("Guild %s: pair %s: resuming the introduction in thread %s", guild.id, pair.pair_id, thread.id)
                welcomed = await _has_posted(thread)
        except discord.Forbidden:
            return None, f"I'm not allowed to open private threads in <#{channel.id}>"
        except discord.NotFound:
            return None, "the introductions channel no longer exists"
        except discord.HTTPException as exc:
            log.warning("Could not open an intro thread in channel %s of guild %s: %s", channel.id, guild.id, exc)
            return None, "Discord refused to open the thread"
        try:
            await thread.add_user(member)
            await thread.add_user(buddy)
            batches = _embed_batches(embeds)
            if not welcomed:  # thread creation takes no nonce; the welcome does (per pair)
                await thread.send(
                    welcome_text(pair, guild.name),
                    embeds=batches[0],
                    allowed_mentions=discord.AllowedMentions(users=[member, buddy]),
                    nonce=intro_nonce(pair, thread.id, 0),
                )
                for index, batch in enumerate(batches[1:], start=1):
                    await thread.send(embeds=batch, nonce=intro_nonce(pair, thread.id, index))
        except discord.HTTPException as exc:
            log.warning("Could not set up intro thread %s in guild %s: %s", thread.id, guild.id, exc)
            with contextlib.suppress(discord.HTTPException):
                await thread.edit(archived=True, locked=True)
            return None, f"I couldn't add them to a thread in <#{channel.id}>"
        return thread, None

    # ----------------------------------------------------------------------- proposals

    async def propose(self, guild: discord.Guild, effect: ProposePair) -> bool:
        """Post a proposal with its Approve / Reject buttons in the moderators' channel, once: claimed
        while posting (in this process), skipped if it no longer needs posting (posted meanwhile, decided,
        withdrawn), sent with its nonce, its message recorded. Whether this call posted it; if not, the
        sweep posts it later (:meth:`Buddies.run_sweep_now`)."""
        pair_id = effect.pair.pair_id
        if pair_id in self._proposing:
            return False
        self._proposing.add(pair_id)
        try:
            return await self._propose(guild, effect)
        finally:
            self._proposing.discard(pair_id)

    async def _propose(self, guild: discord.Guild, effect: ProposePair) -> bool:
        from cogs.buddyadmin import proposal_embed, proposal_view  # buddyadmin imports this module

        pair = effect.pair
        if effect.moderator_channel_id is None:
            log.warning("Guild %s: pair %s awaits approval but there is no moderators' channel", guild.id, pair.pair_id)
            return False
        channel = guild.get_channel_or_thread(effect.moderator_channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            log.warning("Guild %s: the moderators' channel is gone; pair %s awaits approval", guild.id, pair.pair_id)
            return False
        if not await self.service.needs_posting(guild.id, pair.pair_id, _channel_exists(guild)):
            return False
        try:
            message = await channel.send(
                embed=proposal_embed(pair),
                view=proposal_view(pair),
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=proposal_nonce(pair, channel.id),
            )
        except SEND_ERRORS as exc:
            log.warning(
                "Could not post the proposal of pair %s in guild %s (the sweep tries again): %r",
                pair.pair_id,
                guild.id,
                exc,
            )
            if is_transient(exc) and self.on_proposal_failed_in_passing is not None:
                self.on_proposal_failed_in_passing()
            return False
        if not await self.service.record_proposal_message(guild.id, pair.pair_id, channel.id, message.id):
            # Decided or withdrawn while it was being posted: its buttons would only say so.
            log.info("Guild %s: proposal %s was settled while being posted", guild.id, pair.pair_id)
            with contextlib.suppress(*SEND_ERRORS):
                await message.edit(
                    content="This proposed pairing is no longer waiting for approval.", embed=None, view=None
                )
            return False
        log.info("Guild %s: proposal %s posted in channel %s", guild.id, pair.pair_id, channel.id)
        return True

    async def _withdraw(self, guild: discord.Guild, effect: WithdrawProposal) -> None:
        if effect.channel_id is None or effect.message_id is None:
            return
        channel = guild.get_channel_or_thread(effect.channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return
        why = {
            EndReason.GROUPS_CHANGED: "a member's matching group changed",
            EndReason.GROUP_REMOVED: "their group is no longer a matching group",
            EndReason.MEMBER_LEFT: "a member left the server",
            EndReason.ENDED_BY_MEMBER: "a member ended it",
            EndReason.ENDED_BY_MODERATOR: "a moderator ended it",
        }[effect.reason]
        text = (
            f"~~Proposed buddy pairing of {_user(effect.pair.member_id)} with {_user(effect.pair.buddy_id)}~~: "
            f"withdrawn, because {why}."
        )
        try:
            await channel.get_partial_message(effect.message_id).edit(content=text, embed=None, view=None)
        except discord.HTTPException as exc:
            log.warning("Could not mark proposal %s withdrawn in guild %s: %s", effect.pair.pair_id, guild.id, exc)

    # ----------------------------------------------------------------------- endings

    async def _pair_ended(self, guild: discord.Guild, effect: NotifyPairEnded) -> None:
        """Through the outbox (a DM with no next chance of its own): retried if Discord fails in passing;
        closed DMs at the first attempt are reported to the moderators (and recorded)."""
        if await _has_left(guild, effect.user_id):
            return
        text = ended_dm_text(effect, guild.name)
        delivery = await deliver(self.bot, NewPost(guild.id, PAIR_ENDED, "member", text, effect.user_id))
        if delivery.dms_closed:
            await self.notify_moderators(
                guild,
                await self._moderator_channel(guild),
                f"I couldn't tell {_user(effect.user_id)} privately that their buddy pairing with "
                f"{_user(effect.other_id)} ended: their DMs are closed. Please let them know kindly.",
            )

    async def _archive(self, guild: discord.Guild, effect: ArchiveThread) -> None:
        thread = guild.get_thread(effect.thread_id)
        if thread is None:
            try:
                found = await self.bot.fetch_channel(effect.thread_id)
            except discord.NotFound:
                return
            if not isinstance(found, discord.Thread):
                return
            thread = found
        if thread.locked:
            return
        try:
            await thread.send(CLOSING_TEXT)
        except discord.HTTPException as exc:
            log.info("Could not post the closing note in thread %s: %s", thread.id, exc)
        try:
            await thread.edit(archived=True, locked=True, reason="The buddy pairing ended")
        except discord.Forbidden:  # locking needs Manage Threads; the owner may still archive
            await thread.edit(archived=True, reason="The buddy pairing ended")

    async def _tell_what_a_buddy_is(self, guild: discord.Guild, effect: TellMemberWhatABuddyIs) -> None:
        """Through the outbox, with the article's words as embeds (:func:`what_a_buddy_is_extras`, made
        afresh at each attempt): retried if Discord fails in passing, recorded if it cannot succeed."""
        if await _has_left(guild, effect.user_id):
            return
        new = NewPost(guild.id, WHAT_A_BUDDY_IS, "member", what_a_buddy_is_text(guild.name), effect.user_id)
        delivery = await deliver(self.bot, new)
        if delivery.state == "undelivered":
            log.info(
                "Could not tell member %s of guild %s what a buddy is (%s)", effect.user_id, guild.id, delivery.reason
            )

    # ----------------------------------------------------------------------- reminders

    async def remind(self, pair: PairInfo) -> bool:
        """Post the one gentle reminder in the pair's thread (pinging nobody)."""
        guild = self.bot.get_guild(pair.guild_id)
        if guild is None or pair.intro_thread_id is None:
            return False
        thread = guild.get_thread(pair.intro_thread_id)
        try:
            if thread is None:
                found = await self.bot.fetch_channel(pair.intro_thread_id)
                if not isinstance(found, discord.Thread):
                    return False
                thread = found
            await thread.send(reminder_text(pair), allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("Could not remind pair %s in thread %s: %s", pair.pair_id, pair.intro_thread_id, exc)
            return False
        return True


# --------------------------------------------------------------------------- "Let my buddy know"


def buddy_cog(client: discord.Client) -> Buddies:
    """The loaded buddies cog; :class:`UserError` if it is not loaded."""
    # Not isinstance: the extension loader executes this module afresh, so its class may differ.
    cog = cast(SoberPeersBot, client).get_cog(Buddies.COG_NAME)
    if cog is None or not isinstance(getattr(cog, "service", None), BuddyService):
        raise UserError("Buddies are not available right now. Please try again in a minute.")
    return cast(Buddies, cog)


class BuddySupportButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=SUPPORT_BUTTON_TEMPLATE,
):
    """ "Let my buddy know": only when pressed, the member's buddy gets a private note."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Let my buddy know",
                emoji="💬",
                style=discord.ButtonStyle.primary,
                custom_id=f"buddy:support:{guild_id}",
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BuddySupportButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(int(match["guild_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Send the note, then say privately whether it reached the buddy."""
        try:
            await buddy_cog(interaction.client).let_buddy_know(interaction, self.guild_id)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, type(self).__name__)


async def support_view(client: discord.Client, guild_id: int, user_id: int) -> discord.ui.View | None:
    """The "Let my buddy know" button for a member who has a buddy in this server; None otherwise
    (or when buddies are not loaded)."""
    try:
        cog = buddy_cog(client)
    except UserError:
        return None
    if await cog.support_recipient(guild_id, user_id) is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(BuddySupportButton(guild_id))
    return view


# --------------------------------------------------------------------------- the cog


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    reminded: int
    introduced: int
    proposed: int = 0


@app_commands.guild_only()
class Buddies(commands.GroupCog, group_name="buddy", group_description="Your peer buddy"):
    """Members' buddy commands, member events, introductions and reminders."""

    COG_NAME = "Buddies"

    def __init__(self, bot: SoberPeersBot, *, sweep_interval: float = SWEEP_INTERVAL) -> None:
        super().__init__()
        self.bot = bot
        self.service = BuddyService(bot.db, bot.clock, bot.guidance)
        self.effects = EffectRunner(bot, self.service)
        self.sweep_interval = sweep_interval
        self.started = asyncio.Event()
        """Set once the pass after ready (members' roles reconciled) is done."""
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active_threads: set[int] = set()
        self._sweep_lock = asyncio.Lock()
        self.proposal_retry = PROPOSAL_RETRY
        self._retry_timer: asyncio.TimerHandle | None = None
        self.effects.on_proposal_failed_in_passing = self._sweep_soon

    # ----------------------------------------------------------------------- lifecycle

    async def cog_load(self) -> None:
        """Observe messages (intro threads only), handle the support button, start the sweep once ready."""
        self.bot.add_event_observer("message", self._on_message)
        self.bot.add_dynamic_items(BuddySupportButton)
        self.bot.outbox.set_extras(WHAT_A_BUDDY_IS, what_a_buddy_is_extras(self.bot, self.service))
        self._loop_task = asyncio.create_task(self._run(), name="buddies-sweep")

    async def cog_unload(self) -> None:
        """Stop observing and sweeping; cancel what is in flight."""
        self.bot.remove_event_observer("message", self._on_message)
        self.bot.remove_dynamic_items(BuddySupportButton)
        self.bot.outbox.set_extras(WHAT_A_BUDDY_IS, None)
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        await self.bot.wait_until_ready()  # members are cached
        try:
            for guild in list(self.bot.guilds):
                await self.reconcile(guild)
        except Exception:
            log.exception("The buddy pass after ready failed")
        finally:
            self.started.set()
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.run_sweep_now()
            except Exception:
                log.exception("The buddy sweep failed; it runs again in %s s", self.sweep_interval)

    @commands.Cog.listener()
    async def on_setting_set(self, guild_id: int, key: str) -> None:
        """A moderator set a setting (``/settings``): the moderators' channel set, the proposals waiting for
        one are posted there now (the sweep's proposal part, for this server only)."""
        guild = self.bot.get_guild(guild_id)
        if key == "moderator_channel" and guild is not None:
            async with self._sweep_lock:
                await self.post_proposals([guild])

    def _sweep_soon(self) -> None:
        """A proposal failed in passing: the sweep's proposal part again :data:`PROPOSAL_RETRY` seconds
        later, while Discord still honours its nonce (a message made though its answer was lost is
        handed back)."""
        if self._retry_timer is None:
            self._retry_timer = asyncio.get_running_loop().call_later(self.proposal_retry, self._retry_due)

    def _retry_due(self) -> None:
        self._retry_timer = None
        task = asyncio.create_task(self._retry_proposals(), name="buddies-proposal-retry")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry_proposals(self) -> None:
        try:
            async with self._sweep_lock:
                await self.post_proposals()
        except Exception:
            log.exception("Posting the buddy proposals again failed; the sweep tries again")

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """A later gateway session (after an outage): catch up on what happened meanwhile."""
        if self.started.is_set():
            for guild in list(self.bot.guilds):
                await self.reconcile(guild)

    async def reconcile(self, guild: discord.Guild) -> None:
        """Tell the service every member's roles (changes made while the bot was away), then match."""
        view = await self.service.settings_view(guild.id, self._as_bot())
        gone = [role_id for role_id in view.groups if guild.get_role(role_id) is None]
        if gone:
            await self.drop_deleted_groups(guild, dict.fromkeys(gone, "A matching group's role"))
        for member in list(guild.members):
            if member.bot:
                continue
            result = await self.service.member_updated(guild.id, member_facts(member))
            if result.effects:
                await self.effects.run(guild.id, result.effects)
        report = await self.service.run_matching(guild.id)
        if report.effects:
            await self.effects.run(guild.id, report.effects)

    async def run_sweep_now(self) -> SweepReport:
        """One sweep: the reminders due, the introductions still to make, then the proposals no moderator
        can see, posted in the moderators' channel (tests call this)."""
        async with self._sweep_lock:
            reminded = 0
            while True:
                due = await self.service.due_reminders()
                for pair in due:
                    if await self.service.mark_reminded(pair.guild_id, pair.pair_id) and await self.effects.remind(
                        pair
                    ):
                        reminded += 1
                if len(due) < 100:
                    break
            introduced = 0
            for guild in list(self.bot.guilds):
                pending = await self.service.pending_introductions(guild.id)
                if pending:
                    report = await self.effects.run(guild.id, pending)
                    introduced += len(report.introductions)
            proposed = await self.post_proposals()
            if reminded or introduced or proposed:
                log.info(
                    "Buddy sweep: %s reminder(s), %s introduction(s) retried, %s proposal(s) posted",
                    reminded,
                    introduced,
                    proposed,
                )
            return SweepReport(reminded, introduced, proposed)

    async def post_proposals(self, guilds: Iterable[discord.Guild] | None = None) -> int:
        """Post the proposals no moderator can see (never posted, or in a channel since deleted) in the
        moderators' channel of each server (or of ``guilds``); how many were posted. The caller holds
        the sweep lock."""
        proposed = 0
        for guild in list(self.bot.guilds) if guilds is None else guilds:
            if guild.unavailable:  # its channels are unknown now, not deleted
                continue
            unposted = await self.service.unposted_proposals(guild.id, _channel_exists(guild))
            if unposted:
                report = await self.effects.run(guild.id, unposted)
                proposed += sum(report.proposals_posted.values())
        return proposed

    # ----------------------------------------------------------------------- events

    def _on_message(self, message: discord.Message) -> None:
        """An observer (a plain call per message): only a member's message in a private thread the bot
        opened (an introduction thread) costs more. Never reads the content."""
        if message.author.bot or message.guild is None:
            return
        channel = message.channel
        if isinstance(channel, discord.Thread):
            me = self.bot.user
            if channel.type is not discord.ChannelType.private_thread or me is None or channel.owner_id != me.id:
                return
        elif not isinstance(channel, discord.PartialMessageable):  # an uncached channel could be a thread
            return
        if channel.id in self._active_threads:
            return
        task = asyncio.create_task(
            self._note_thread_activity(message.guild.id, channel.id, message.author.id), name="buddies-thread-activity"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until the notes of thread activity in flight are written (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _note_thread_activity(self, guild_id: int, thread_id: int, author_id: int) -> None:
        try:
            if await self.service.thread_activity(guild_id, thread_id, author_id):
                self._active_threads.add(thread_id)
        except Exception:
            log.exception("Could not note activity in thread %s of guild %s", thread_id, guild_id)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """A newcomer holding a group role is queued (auto-matching) and told what a buddy is."""
        if member.bot:
            return
        result = await self.service.member_joined(member.guild.id, member_facts(member))
        await self.effects.run(member.guild.id, result.effects)

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        """Roles changed: a pair that would span two groups ends at once; a new group role queues them."""
        if after.bot or {r.id for r in before.roles} == {r.id for r in after.roles}:
            return
        result = await self.service.member_updated(after.guild.id, member_facts(after))
        await self.effects.run(after.guild.id, result.effects)

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        """A matching group's role was deleted: it stops being a group (its pairs end, kindly)."""
        await self.drop_deleted_groups(role.guild, {role.id: f"The role @{role.name}"})

    def _as_bot(self) -> Actor:
        """The bot itself, acting on what moderators did in Discord."""
        return Actor(self.bot.user.id if self.bot.user is not None else 0, is_moderator=True)

    async def drop_deleted_groups(self, guild: discord.Guild, gone: dict[int, str]) -> None:
        """Remove the groups whose role is gone (id → how to name it), and tell the moderators once each."""
        for role_id, what in gone.items():
            result = await self.service.remove_group(guild.id, self._as_bot(), role_id)
            if not result.changed:
                continue
            # One notice, naming the role: the service's own summary would mention a role that is gone.
            summary = f"<@&{role_id}> is no longer a matching group"
            effects = [e for e in result.effects if not (isinstance(e, NotifyModerators) and summary in e.text)]
            await self.effects.run(guild.id, effects)
            text = f"⚠️ {what} was deleted, so it is no longer a matching group."
            if result.ended:
                text += (
                    f" {len(result.ended)} buddy pairing(s) in it ended; each member was told privately, and those "
                    "who were being supported are back in the queue."
                )
            text += " `/buddyadmin group-add` makes another role a group."
            config = await self.bot.server_settings.get(guild.id)
            await self.effects.notify_moderators(guild, config.snowflake("moderator_channel"), text)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left: their pairs end, each buddy is told privately, the threads are archived."""
        if payload.user.bot:
            return
        result = await self.service.member_left(payload.guild_id, payload.user.id)
        await self.effects.run(payload.guild_id, result.effects)

    # ----------------------------------------------------------------------- "Let my buddy know"

    async def support_recipient(self, guild_id: int, user_id: int) -> int | None:
        """Who gets the note: the member's buddy (the one supporting them, the earliest pairing first);
        else the other member of their earliest pairing; None without an active pairing."""
        result = await self.service.status(guild_id, MemberFacts(user_id, frozenset(), None))
        links = sorted(result.buddies, key=lambda link: (link.role != "your_buddy", link.pair_id))
        return links[0].other_id if links else None

    async def let_buddy_know(self, interaction: discord.Interaction, guild_id: int) -> None:
        """The button: the note to the buddy, then a private word to the member; the button goes away."""
        guild = self.bot.get_guild(guild_id)
        buddy_id = None if guild is None else await self.support_recipient(guild_id, interaction.user.id)
        if guild is None or buddy_id is None:
            raise UserError(
                "You don't have a buddy in that server right now, so there's nobody to tell. "
                "`/buddy request` asks for one."
            )
        await interaction.response.edit_message(view=None)  # once: the note is not sent twice
        buddy = await find_member(guild, buddy_id)
        member = guild.get_member(interaction.user.id)
        name = member.display_name if member is not None else interaction.user.display_name
        outcome: DmOutcome = "failed"
        if buddy is not None:
            outcome = await send_dm(buddy, embed=support_note_embed(interaction.user.id, name, guild.name))
        if outcome == "sent":
            text = f"💚 I've let {_user(buddy_id)} know you could use some support. Only that: nothing you checked in."
        elif outcome == "closed":
            text = (
                f"I couldn't reach {_user(buddy_id)}: their DMs are closed. You could write to them in the server, "
                "or to anyone there: peers understand."
            )
        else:
            text = f"I couldn't reach {_user(buddy_id)} just now. You could write to them, or to anyone in the server."
        log.info("Guild %s: member %s asked to tell their buddy (%s)", guild_id, interaction.user.id, outcome)
        await interaction.followup.send(text, ephemeral=True)

    # ----------------------------------------------------------------------- /buddy

    @staticmethod
    def _facts(interaction: discord.Interaction) -> tuple[int, MemberFacts]:
        member = interaction.user
        if interaction.guild_id is None or not isinstance(member, discord.Member):
            raise app_commands.NoPrivateMessage()
        return interaction.guild_id, member_facts(member)

    @app_commands.command(name="status", description="Your buddies, or your place in the queue (private)")
    async def status(self, interaction: discord.Interaction) -> None:
        """Buddies and since when; or the wait; or why no match is possible yet."""
        guild_id, facts = self._facts(interaction)
        result = await self.service.status(guild_id, facts)
        await interaction.response.send_message(status_text(result, self.bot.clock()), ephemeral=True)

    @app_commands.command(name="request", description="Ask for a peer buddy from your group")
    async def request(self, interaction: discord.Interaction) -> None:
        """Join the queue; matching runs at once."""
        guild_id, facts = self._facts(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # an introduction may follow
        result = await self.service.request(guild_id, facts)
        report = await self.effects.run(guild_id, result.effects)
        await interaction.followup.send(request_text(result, report, facts.user_id), ephemeral=True)

    @app_commands.command(name="volunteer", description="Offer (or stop offering) to be a buddy for newcomers")
    @app_commands.rename(max_buddies="max")
    @app_commands.describe(
        available="Whether you offer to be a buddy now",
        max_buddies=f"How many newcomers you can support at once ({MAX_BUDDIES_RANGE.start}–"
        f"{MAX_BUDDIES_RANGE.stop - 1}; default: the server's setting)",
    )
    async def volunteer(
        self,
        interaction: discord.Interaction,
        available: bool,
        max_buddies: app_commands.Range[int, 1, 5] | None = None,
    ) -> None:
        """Offer or stop offering; matching runs when offering."""
        guild_id, facts = self._facts(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.volunteer(guild_id, facts, available, max_buddies)
        report = await self.effects.run(guild_id, result.effects)
        await interaction.followup.send(volunteer_text(result, report, facts.user_id), ephemeral=True)

    @app_commands.command(name="end", description="End a buddy pairing; the other person is told kindly, in private")
    @app_commands.describe(
        member="Which buddy (if you have several)",
        requeue="If you were the one supported: look for a new buddy (default: yes)",
    )
    async def end(
        self, interaction: discord.Interaction, member: discord.User | None = None, requeue: bool = True
    ) -> None:
        """End one of the member's pairings."""
        guild_id, facts = self._facts(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.end(guild_id, facts.user_id, None if member is None else member.id, requeue)
        await self.effects.run(guild_id, result.effects)
        await interaction.followup.send(end_text(result, facts.user_id), ephemeral=True)


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Buddies(bot))

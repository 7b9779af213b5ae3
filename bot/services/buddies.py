"""Buddy matching: newcomers paired with a peer of their own matching group (issue 6).

The service knows nothing of Discord. The cog hands it plain facts (the server, the member,
the member's role ids and join time, whether the actor is a moderator) and gets back a result
describing what happened, with the **effects** to carry out (introduce a pair, tell a member
kindly that a pairing ended, notify the moderators, …), so the cog only renders and sends.

The invariant: **no live pair ever spans two matching groups.** A pair stays only while both
members hold exactly one group role, the pair's own. Any change that breaks that (a role given
or taken, a group added or removed) ends the pair in the same transaction, tells both members
privately and notifies the moderators.

Every operation is one transaction (:meth:`Database.transaction`), and every operation that
could let a waiting member be matched runs the matcher for the groups concerned inside that
same transaction. Moderator actions are recorded in the audit log in that transaction too.

Decisions where the issue is silent (each also in the docstring of the operation concerned):

* A member holding several group roles is in no group: they are not matchable, and their live
  pairs end (the ambiguity is resolved towards safety); the moderators get one notice per
  episode (sent again only after the member held one or no group role in between).
* Removing a group ends its pairs (their members now have no group); adding a group does not
  queue the members already holding the role: only joining with a group role, or gaining one,
  queues a member automatically. A member who is an available volunteer is not auto-queued.
* A pairing ended by something other than the supported member's own choice (their buddy left,
  ended it, a moderator unpaired them, a group change) puts the supported member back in the
  queue, first in line.
* A member has at most one buddy from the queue at a time (``/buddy request`` refuses while
  they have one); moderators may pair by hand beyond that.
* A volunteer's maximum counts the pairs in which they are the buddy; proposals awaiting
  approval count too.
* Proposed pairs hold the member out of the queue; a rejection puts them back in their old
  place and that pairing is never proposed again. Turning ``require_approval`` off leaves the
  proposals already made to the moderators.
"""

from __future__ import annotations

import enum
import functools
import itertools
import logging
import math
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from operator import itemgetter
from typing import Literal, NamedTuple, TypeVar

from bot.db.connection import Database
from bot.db.repositories import audit, guilds
from bot.db.repositories import buddies as repo
from bot.errors import UserError
from bot.services.guidance import GuidanceLibrary, Passage
from bot.services.matching import match_groups, places_in_rank_order
from bot.timeutil import Clock, to_timestamp

__all__ = [
    "MAX_BUDDIES_RANGE",
    "REMINDER_AFTER",
    "Actor",
    "ArchiveThread",
    "BuddyLink",
    "BuddyService",
    "BuddySettings",
    "DecisionResult",
    "Effect",
    "EndReason",
    "EndResult",
    "GroupResult",
    "Introduce",
    "MatchReport",
    "MemberFacts",
    "MemberResult",
    "NotMatchable",
    "NotifyModerators",
    "NotifyPairEnded",
    "PairInfo",
    "PairResult",
    "PairsPage",
    "ProposalEntry",
    "ProposalsPage",
    "ProposePair",
    "QueueEntry",
    "QueuePlace",
    "QueueView",
    "RequestResult",
    "SettingsResult",
    "SettingsUpdate",
    "SettingsView",
    "StatusResult",
    "TellMemberWhatABuddyIs",
    "UnpairResult",
    "VolunteerInfo",
    "VolunteerResult",
    "WaitReason",
    "WithdrawProposal",
    "read_settings",
]

log = logging.getLogger(__name__)

_USER_ID = itemgetter(0)
_MEMBER, _BUDDY, _GROUP = itemgetter(0), itemgetter(1), itemgetter(2)  # of a matcher's pair

MAX_BUDDIES_RANGE = range(1, 6)
"""A volunteer's maximum, and the server's default for it: 1 to 5."""
MIN_DAYS_RANGE = range(0, 366)
"""``volunteer_min_days``: 0 to 365."""
REMINDER_AFTER = timedelta(days=3)
"""An introduction in which neither member has written gets one gentle reminder after this."""


# =========================================================================== facts in


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the cog knows of a member right now."""

    user_id: int
    role_ids: frozenset[int]
    joined_at: datetime | None
    """When they joined the server (aware), if Discord says."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who runs a moderator command, and whether the run-time check found them a moderator."""

    user_id: int
    is_moderator: bool


# =========================================================================== settings


@dataclass(frozen=True, slots=True)
class BuddySettings:
    """A server's buddy settings (defaults for what was never set)."""

    auto_match: bool = True
    intro_channel_id: int | None = None
    max_buddies: int = 2
    volunteer_min_days: int = 14
    require_approval: bool = False
    moderator_channel_id: int | None = None


# Storage keys in guild_settings, and their text forms (the same as bot.services.server_settings:
# booleans as "1"/"0", numbers and snowflakes in decimal).
KEYS = {
    "auto_match": "auto_match",
    "intro_channel_id": "intro_channel",
    "max_buddies": "max_buddies",
    "volunteer_min_days": "volunteer_min_days",
    "require_approval": "require_approval",
    "moderator_channel_id": "moderator_channel",
}


def _parse_settings(stored: dict[str, str]) -> BuddySettings:
    defaults = BuddySettings()

    def number(key: str, default: int, valid: range | None) -> int:
        raw = stored.get(KEYS[key])
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            log.warning("Ignoring the stored %s %r: not a number", key, raw)
            return default
        if valid is not None and value not in valid:
            log.warning("Ignoring the stored %s %r: out of range", key, raw)
            return default
        return value

    def snowflake(key: str) -> int | None:
        raw = stored.get(KEYS[key])
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            log.warning("Ignoring the stored %s %r: not an id", key, raw)
            return None

    def flag(key: str, default: bool) -> bool:
        raw = stored.get(KEYS[key])
        return default if raw is None else raw == "1"

    return BuddySettings(
        auto_match=flag("auto_match", defaults.auto_match),
        intro_channel_id=snowflake("intro_channel_id"),
        max_buddies=number("max_buddies", defaults.max_buddies, MAX_BUDDIES_RANGE),
        volunteer_min_days=number("volunteer_min_days", defaults.volunteer_min_days, MIN_DAYS_RANGE),
        require_approval=flag("require_approval", defaults.require_approval),
        moderator_channel_id=snowflake("moderator_channel_id"),
    )


def read_settings(conn: sqlite3.Connection, guild_id: int) -> BuddySettings:
    """A server's buddy settings, read inside the caller's transaction."""
    return _parse_settings(guilds.get_settings(conn, guild_id))


@dataclass(frozen=True, slots=True)
class SettingsUpdate:
    """A moderator's changes: ``None`` leaves a setting as it is; ``clear_*`` unsets a channel."""

    auto_match: bool | None = None
    intro_channel_id: int | None = None
    clear_intro_channel: bool = False
    max_buddies: int | None = None
    volunteer_min_days: int | None = None
    require_approval: bool | None = None
    moderator_channel_id: int | None = None
    clear_moderator_channel: bool = False


# =========================================================================== reasons


class NotMatchable(enum.Enum):
    """Why a member cannot be matched at all."""

    NO_GROUP = "no_group"
    SEVERAL_GROUPS = "several_groups"

    @property
    def text(self) -> str:
        """Kind words for the member (and the moderators)."""
        if self is NotMatchable.NO_GROUP:
            return (
                "You're not in a matching group yet, so I can't find you a buddy. "
                "Please ask a moderator to give you your group's role."
            )
        return (
            "You hold more than one matching group role, so I can't tell which group to match you in. "
            "The moderators have been told and will sort it out."
        )


class WaitReason(enum.Enum):
    """Why a waiting member has no buddy yet."""

    NO_GROUP = "no_group"
    SEVERAL_GROUPS = "several_groups"
    NO_VOLUNTEER = "no_volunteer"
    VOLUNTEERS_FULL = "volunteers_full"
    ONLY_PAST_PARTNERS = "only_past_partners"
    AWAITING_APPROVAL = "awaiting_approval"
    MATCHABLE = "matchable"

    @property
    def text(self) -> str:
        """A short explanation for the queue view."""
        return _WAIT_TEXT[self]


_WAIT_TEXT = {
    WaitReason.NO_GROUP: "not in a matching group (no group role)",
    WaitReason.SEVERAL_GROUPS: "holds several matching group roles",
    WaitReason.NO_VOLUNTEER: "no available volunteer in that group",
    WaitReason.VOLUNTEERS_FULL: "every volunteer in that group has as many buddies as they offered",
    WaitReason.ONLY_PAST_PARTNERS: "the volunteers with room were already paired with them before",
    WaitReason.AWAITING_APPROVAL: "a proposed pairing awaits a moderator's approval",
    WaitReason.MATCHABLE: "a volunteer has room: the next matching run pairs them",
}


class EndReason(enum.Enum):
    """Why a pairing ended (or a proposal was withdrawn)."""

    ENDED_BY_MEMBER = "ended_by_member"
    ENDED_BY_MODERATOR = "ended_by_moderator"
    GROUPS_CHANGED = "groups_changed"
    GROUP_REMOVED = "group_removed"
    MEMBER_LEFT = "member_left"


# =========================================================================== pairs and effects


class PairInfo(NamedTuple):
    """A pairing as the cog sees it: ``member_id`` is supported by ``buddy_id``.

    A named tuple rather than a frozen dataclass: a first matching run in a large server makes
    thousands at once, and a named tuple costs a fifth as much to build (issue 9)."""

    pair_id: int
    guild_id: int
    member_id: int
    buddy_id: int
    group_role_id: int
    status: str
    created_at: datetime
    started_at: datetime | None
    created_by: int | None = None
    forced: bool = False
    intro_thread_id: int | None = None

    @classmethod
    def of(cls, row: repo.PairRow) -> PairInfo:
        """The public view of a stored pair."""
        return cls(
            pair_id=row.pair_id,
            guild_id=row.guild_id,
            member_id=row.member_id,
            buddy_id=row.buddy_id,
            group_role_id=row.group_role_id,
            status=row.status,
            created_at=row.created_at,
            started_at=row.started_at,
            created_by=row.created_by,
            forced=row.forced,
            intro_thread_id=row.intro_thread_id,
        )

    def other(self, user_id: int) -> int:
        """The other member of the pair."""
        return self.buddy_id if user_id == self.member_id else self.member_id


class Introduce(NamedTuple):
    """Introduce a new active pair: a private thread in ``intro_channel_id`` with both members, a
    warm welcome and ``quotes`` (what peer support is and is not); without a channel, or if the
    thread cannot be made, a DM to each; closed DMs are reported to ``moderator_channel_id``.
    Then call :meth:`BuddyService.record_introduction`. (A named tuple, as :class:`PairInfo`: one
    per pair made.)"""

    pair: PairInfo
    intro_channel_id: int | None
    moderator_channel_id: int | None
    quotes: tuple[Passage, ...]


@dataclass(frozen=True, slots=True)
class ProposePair:
    """Post the proposal with Approve / Reject buttons to the moderators' channel, then call
    :meth:`BuddyService.record_proposal_message`."""

    pair: PairInfo
    moderator_channel_id: int | None


@dataclass(frozen=True, slots=True)
class WithdrawProposal:
    """A proposal became impossible before a decision: edit its message (if posted) to say so."""

    pair: PairInfo
    channel_id: int | None
    message_id: int | None
    reason: EndReason


@dataclass(frozen=True, slots=True)
class NotifyPairEnded:
    """Tell ``user_id`` kindly, in private, that their pairing with ``other_id`` ended, and whether
    they are back in the queue for a new buddy."""

    user_id: int
    other_id: int
    pair_id: int
    reason: EndReason
    requeued: bool


@dataclass(frozen=True, slots=True)
class ArchiveThread:
    """Archive (and lock) the introduction thread of a pair that ended."""

    pair_id: int
    thread_id: int


@dataclass(frozen=True, slots=True)
class NotifyModerators:
    """Post ``text`` in the moderators' channel (if set). Mentions are ``<@user>`` / ``<@&role>``;
    send them without pinging (the ids mentioned are in ``user_ids``)."""

    channel_id: int | None
    text: str
    user_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TellMemberWhatABuddyIs:
    """Tell the member, once, in private, what a buddy is, quoting what peer support is."""

    user_id: int
    quotes: tuple[Passage, ...]


Effect = (
    Introduce
    | ProposePair
    | WithdrawProposal
    | NotifyPairEnded
    | ArchiveThread
    | NotifyModerators
    | TellMemberWhatABuddyIs
)


# =========================================================================== results


@dataclass(frozen=True, slots=True)
class GroupResult:
    """What adding or removing a group did."""

    role_id: int
    changed: bool
    """False if the role already was (for add) or was not (for remove) a group."""
    groups: tuple[int, ...]
    ended: tuple[PairInfo, ...] = ()
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberResult:
    """What a member joining, changing roles or leaving did."""

    user_id: int
    group_role_id: int | None
    not_matchable: NotMatchable | None
    queued: bool = False
    ended: tuple[PairInfo, ...] = ()
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """A member's wait: since when, for how long, and their place in their group's line."""

    queued_at: datetime
    waited: timedelta
    place: int | None
    """1-based place among the members waiting in their group; None without a group."""
    of: int | None
    first_in_line: bool
    reason: WaitReason


@dataclass(frozen=True, slots=True)
class RequestResult:
    """What ``/buddy request`` did."""

    outcome: Literal["matched", "proposed", "queued", "already_waiting", "awaiting_approval"]
    pair: PairInfo | None
    waiting: QueuePlace | None
    not_matchable: NotMatchable | None
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class BuddyLink:
    """One of the member's pairings, from their side."""

    pair_id: int
    other_id: int
    role: Literal["your_buddy", "you_support"]
    """``your_buddy``: the other supports the member; ``you_support``: the member supports them."""
    since: datetime
    status: str


@dataclass(frozen=True, slots=True)
class VolunteerInfo:
    """A member's offer to be a buddy."""

    available: bool
    max_buddies: int
    """Their maximum in effect (their own, or the server's default)."""
    own_max: int | None
    current: int
    eligible_from: datetime | None
    """When they will have been in the server long enough to be matched (None: unknown join time)."""


@dataclass(frozen=True, slots=True)
class StatusResult:
    """``/buddy status``: the member's buddies, or their wait, or why they cannot be matched."""

    user_id: int
    group_role_id: int | None
    not_matchable: NotMatchable | None
    buddies: tuple[BuddyLink, ...]
    awaiting_approval: bool
    waiting: QueuePlace | None
    volunteer: VolunteerInfo | None


@dataclass(frozen=True, slots=True)
class VolunteerResult:
    """What ``/buddy volunteer`` did."""

    volunteer: VolunteerInfo
    not_matchable: NotMatchable | None
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class EndResult:
    """What ``/buddy end`` did."""

    ended: PairInfo
    requeued: bool
    """Whether the member who ended it is back in the queue."""
    other_requeued: bool
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class PairResult:
    """What ``/buddyadmin pair`` did."""

    pair: PairInfo
    forced: bool
    paired_before: bool
    """The two had a pairing that ended (allowed by hand; never made again automatically)."""
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class UnpairResult:
    """What ``/buddyadmin unpair`` did."""

    ended: PairInfo
    requeued: bool
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One waiting member, for the moderators' queue view."""

    user_id: int
    group_role_id: int | None
    queued_at: datetime
    waited: timedelta
    first_in_line: bool
    origin: str
    reason: WaitReason


@dataclass(frozen=True, slots=True)
class QueueView:
    """A page of the queue, in order."""

    entries: tuple[QueueEntry, ...]
    total: int
    offset: int


@dataclass(frozen=True, slots=True)
class PairsPage:
    """A page of the active pairs (``page`` is 0-based)."""

    pairs: tuple[PairInfo, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class ProposalEntry:
    """A proposal awaiting a decision, for the moderators' list: where its Approve / Reject post is
    (``channel_id``/``message_id``, both None while no moderator can see one: never posted, or posted
    in a channel since deleted) and how long it has waited."""

    pair: PairInfo
    waited: timedelta
    channel_id: int | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class ProposalsPage:
    """A page of the proposals awaiting a decision, oldest first (``page`` is 0-based), with the
    moderators' channel they are (or will be) posted in."""

    proposals: tuple[ProposalEntry, ...]
    page: int
    pages: int
    total: int
    moderator_channel_id: int | None


@dataclass(frozen=True, slots=True)
class MatchReport:
    """What a matching run did."""

    made: tuple[PairInfo, ...]
    proposed: bool
    """The pairs await approval (``require_approval``) rather than being introduced."""
    still_waiting: int
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class SettingsView:
    """The server's buddy settings and groups."""

    settings: BuddySettings
    groups: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SettingsResult:
    """What a settings change did: ``changes`` maps each changed field to (before, after)."""

    settings: BuddySettings
    changes: dict[str, tuple[object, object]]
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What approving or rejecting a proposal did."""

    pair: PairInfo
    matched: tuple[PairInfo, ...] = ()
    effects: tuple[Effect, ...] = ()


# =========================================================================== helpers


def _user(user_id: int) -> str:
    return f"<@{user_id}>"


def _role(role_id: int) -> str:
    return f"<@&{role_id}>"


def _not_matchable(group_count: int) -> NotMatchable | None:
    if group_count == 1:
        return None
    return NotMatchable.NO_GROUP if group_count == 0 else NotMatchable.SEVERAL_GROUPS


def _unposted(pair: repo.PairRow, channel_exists: Callable[[int], bool]) -> bool:
    """A proposal awaiting a decision that no moderator can see: its message was never recorded, or it
    is in a channel that no longer exists (deleted with its buttons)."""
    if pair.status != "proposed":
        return False
    if pair.proposal_message_id is None or pair.proposal_channel_id is None:
        return True
    return not channel_exists(pair.proposal_channel_id)


def _taken_from_queue(
    read_in: dict[int, list[tuple[int, int, int]]], taken: AbstractSet[int]
) -> tuple[dict[int, tuple[int, int, int]], list[int]]:
    """How to take a matching run's members out of the queue: from each group's rows read (in queue
    order), the last row of the run of taken members at its head (taken out as one range), and the
    taken members behind a member who stays (one whom no place fitted), by id."""
    heads: dict[int, tuple[int, int, int]] = {}
    others: list[int] = []
    for group, rows in read_in.items():
        head = len(list(itertools.takewhile(taken.__contains__, map(_USER_ID, rows))))
        if head:
            heads[group] = rows[head - 1]
        others += [uid for uid in map(_USER_ID, rows[head:]) if uid in taken]
    return heads, others


def _require_moderator(actor: Actor) -> None:
    if not actor.is_moderator:
        raise UserError(
            "Only moderators can do this: members with the Manage Server permission, or the server's moderator role."
        )


@dataclass
class _Work:
    """The state of one transaction: what it changed, and the effects to return."""

    conn: sqlite3.Connection
    guild_id: int
    now: datetime
    settings: BuddySettings
    groups: frozenset[int]
    effects: list[Effect] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)
    """Groups in which a match may now succeed."""
    ended: list[PairInfo] = field(default_factory=list)
    made: list[PairInfo] = field(default_factory=list)


_R = TypeVar("_R")


# =========================================================================== the service


class BuddyService:
    """Buddy matching for every server: each public method is one transaction."""

    def __init__(self, db: Database, clock: Clock, guidance: GuidanceLibrary) -> None:
        self._db = db
        self._clock = clock
        self._guidance = guidance
        self._intro_quotes = tuple(guidance.by_topic("what-it-is") + guidance.by_topic("what-it-isnt"))
        try:
            self._buddy_quotes: tuple[Passage, ...] = (guidance.get("what-it-is"),)
        except KeyError:
            self._buddy_quotes = tuple(guidance.by_topic("what-it-is")[:1])

    # ----------------------------------------------------------------------- guidance

    def intro_quotes(self) -> tuple[Passage, ...]:
        """The passages an introduction quotes: what peer support is, then what it is not."""
        return self._intro_quotes

    def buddy_quotes(self) -> tuple[Passage, ...]:
        """The passage quoted when telling a member what a buddy is: what peer support is."""
        return self._buddy_quotes

    # ----------------------------------------------------------------------- plumbing

    def _now(self) -> datetime:
        now = self._clock()
        to_timestamp(now)  # refuses a naive datetime
        return now

    async def _write(self, guild_id: int, work: Callable[[_Work], _R], *, bulk: bool = False) -> _R:
        now = self._now()

        def unit(conn: sqlite3.Connection) -> _R:
            # The server's row is needed by the foreign keys; only written when missing, so a member
            # event that changes nothing writes nothing.
            if not repo.guild_known(conn, guild_id):
                guilds.ensure_guild(conn, guild_id, now)
            state = _Work(
                conn=conn,
                guild_id=guild_id,
                now=now,
                settings=read_settings(conn, guild_id),
                groups=frozenset(repo.list_groups(conn, guild_id)),
            )
            return work(state)

        return await self._db.transaction(unit, bulk=bulk)

    # ----------------------------------------------------------------------- groups

    async def add_group(
        self, guild_id: int, actor: Actor, role_id: int, holders: Sequence[MemberFacts] = ()
    ) -> GroupResult:
        """Make a role a matching group. ``holders`` are the members holding it now: their groups are
        updated (a member who now holds two group roles has their pairs ended). Holders are not
        queued automatically (they are not newcomers); matching runs for the group."""
        _require_moderator(actor)

        def work(w: _Work) -> GroupResult:
            added = repo.add_group(w.conn, w.guild_id, role_id, w.now, actor.user_id)
            if added:
                w.groups = w.groups | {role_id}
                for facts in holders:
                    self._sync_member(w, facts, create=True)
                w.touched.add(role_id)
                audit.record(w.conn, w.guild_id, actor.user_id, "buddy.group_add", {"role_id": role_id}, w.now)
                log.info("Guild %s: role %s is now a matching group", w.guild_id, role_id)
            self._finish(w)
            return GroupResult(
                role_id=role_id,
                changed=added,
                groups=tuple(repo.list_groups(w.conn, w.guild_id)),
                ended=tuple(w.ended),
                matched=tuple(w.made),
                effects=tuple(w.effects),
            )

        return await self._write(guild_id, work)

    async def remove_group(self, guild_id: int, actor: Actor, role_id: int) -> GroupResult:
        """Stop a role being a matching group. Its members are left with no group (or with their other
        one), so the group's pairs end: both members are told privately, the moderators get one
        summary, and each supported member goes back to the queue first in line (waiting, not
        matchable, until they are given a group again). Nobody is taken out of the queue."""
        _require_moderator(actor)

        def work(w: _Work) -> GroupResult:
            if role_id not in w.groups:
                return GroupResult(role_id=role_id, changed=False, groups=tuple(sorted(w.groups)))
            holders = repo.remove_group(w.conn, w.guild_id, role_id)
            w.groups = w.groups - {role_id}
            stale = repo.live_pairs_in_group(w.conn, w.guild_id, role_id)
            for pair in stale:
                self._end(w, pair, EndReason.GROUP_REMOVED, actor.user_id, tell=(pair.member_id, pair.buddy_id))
            for user_id in holders:
                member = repo.get_member(w.conn, w.guild_id, user_id)
                if member is None:  # pragma: no cover - held roles imply a stored member
                    continue
                self._enforce(w, user_id, EndReason.GROUP_REMOVED, notify_moderators=False)
                self._several_notice(w, member)
                if member.group_role_id is not None:
                    w.touched.add(member.group_role_id)
            if w.ended:
                names = ", ".join(f"{_user(p.member_id)} & {_user(p.buddy_id)}" for p in w.ended[:10])
                more = f" and {len(w.ended) - 10} more" if len(w.ended) > 10 else ""
                ids = tuple(sorted({u for p in w.ended for u in (p.member_id, p.buddy_id)}))
                w.effects.append(
                    NotifyModerators(
                        w.settings.moderator_channel_id,
                        f"{_role(role_id)} is no longer a matching group, so {len(w.ended)} buddy pairing(s) "
                        f"ended: {names}{more}. Each member was told privately; those who were being supported "
                        "are back in the queue and will be matched once they are in a group again.",
                        ids,
                    )
                )
            audit.record(
                w.conn,
                w.guild_id,
                actor.user_id,
                "buddy.group_remove",
                {"role_id": role_id, "pairs_ended": [p.pair_id for p in w.ended]},
                w.now,
            )
            log.info(
                "Guild %s: role %s is no longer a matching group (%s pairs ended)", w.guild_id, role_id, len(w.ended)
            )
            self._finish(w)
            return GroupResult(
                role_id=role_id,
                changed=True,
                groups=tuple(repo.list_groups(w.conn, w.guild_id)),
                ended=tuple(w.ended),
                matched=tuple(w.made),
                effects=tuple(w.effects),
            )

        return await self._write(guild_id, work)

    # ----------------------------------------------------------------------- member events

    async def member_joined(self, guild_id: int, facts: MemberFacts) -> MemberResult:
        """A member joined the server. Holding one group role and with ``auto_match`` on, they are
        queued (and told once what a buddy is); holding several, the moderators are told once."""
        return await self._write(guild_id, lambda w: self._member_event(w, facts, joined=True))

    async def member_updated(self, guild_id: int, facts: MemberFacts) -> MemberResult:
        """A member's roles changed. A pair that would now span groups ends at once (both told, the
        moderators notified); a member who becomes matchable is queued with ``auto_match`` on."""
        return await self._write(guild_id, lambda w: self._member_event(w, facts, joined=False))

    def _member_event(self, w: _Work, facts: MemberFacts, *, joined: bool) -> MemberResult:
        before = repo.get_member(w.conn, w.guild_id, facts.user_id)
        member = self._sync_member(w, facts, create=False)
        if member is None:
            return MemberResult(facts.user_id, None, NotMatchable.NO_GROUP)
        became_matchable = member.group_role_id is not None and (
            joined or before is None or before.group_role_id is None or before.left_at is not None
        )
        queued = False
        if became_matchable and w.settings.auto_match:
            queued = self._auto_queue(w, member)
        self._finish(w)
        return MemberResult(
            user_id=facts.user_id,
            group_role_id=member.group_role_id,
            not_matchable=_not_matchable(member.group_count),
            queued=queued,
            ended=tuple(w.ended),
            matched=tuple(w.made),
            effects=tuple(w.effects),
        )

    async def member_left(self, guild_id: int, user_id: int) -> MemberResult:
        """A member left the server: their pairs end, each buddy is told privately (and, if that buddy
        was the one being supported, queued again first in line); intro threads are archived; the
        member leaves the queue and stops volunteering."""

        def work(w: _Work) -> MemberResult:
            if repo.get_member(w.conn, w.guild_id, user_id) is None:
                return MemberResult(user_id, None, None)
            for pair in repo.live_pairs_of(w.conn, w.guild_id, user_id):
                self._end(w, pair, EndReason.MEMBER_LEFT, None, tell=(pair.other(user_id),), gone=user_id)
            repo.dequeue(w.conn, w.guild_id, [user_id])
            repo.mark_left(w.conn, w.guild_id, user_id, w.now)
            log.info("Guild %s: member %s left (%s pairs ended)", w.guild_id, user_id, len(w.ended))
            self._finish(w)
            return MemberResult(
                user_id=user_id,
                group_role_id=None,
                not_matchable=None,
                ended=tuple(w.ended),
                matched=tuple(w.made),
                effects=tuple(w.effects),
            )

        return await self._write(guild_id, work)

    # ----------------------------------------------------------------------- member commands

    async def request(self, guild_id: int, facts: MemberFacts) -> RequestResult:
        """``/buddy request``: join the queue (matching runs at once). Refused while the member already
        has a buddy; a member already waiting or awaiting approval is told so."""

        def work(w: _Work) -> RequestResult:
            member = self._sync_member(w, facts, create=True)
            assert member is not None
            uid = facts.user_id
            not_matchable = _not_matchable(member.group_count)
            if repo.queue_entry(w.conn, w.guild_id, uid) is not None:
                self._finish(w)
                return RequestResult(
                    "already_waiting",
                    None,
                    self._place(w, uid),
                    not_matchable,
                    matched=tuple(w.made),
                    effects=tuple(w.effects),
                )
            supported = [p for p in repo.live_pairs_of(w.conn, w.guild_id, uid) if p.member_id == uid]
            active = [p for p in supported if p.status == "active"]
            if active:
                raise UserError(
                    f"You already have a buddy: {_user(active[0].buddy_id)}. If it isn't working out, "
                    "`/buddy end` ends the pairing, and you can ask for someone new."
                )
            if supported:
                self._finish(w)
                return RequestResult(
                    "awaiting_approval",
                    PairInfo.of(supported[0]),
                    None,
                    not_matchable,
                    matched=tuple(w.made),
                    effects=tuple(w.effects),
                )
            repo.enqueue(w.conn, w.guild_id, uid, w.now, "request")
            if member.group_role_id is not None:
                w.touched.add(member.group_role_id)
            self._finish(w)
            mine = next((p for p in w.made if p.member_id == uid), None)
            if mine is not None:
                outcome: Literal["matched", "proposed", "queued"] = (
                    "proposed" if mine.status == "proposed" else "matched"
                )
                return RequestResult(outcome, mine, None, None, matched=tuple(w.made), effects=tuple(w.effects))
            return RequestResult(
                "queued", None, self._place(w, uid), not_matchable, matched=tuple(w.made), effects=tuple(w.effects)
            )

        return await self._write(guild_id, work)

    async def status(self, guild_id: int, facts: MemberFacts) -> StatusResult:
        """``/buddy status`` (a read): buddies and since when; or place and wait in the queue; or why
        the member cannot be matched. The group is taken from ``facts``, the roles held now."""
        now = self._now()

        def read(conn: sqlite3.Connection) -> StatusResult:
            settings = read_settings(conn, guild_id)
            held = repo.groups_among(conn, guild_id, facts.role_ids)
            group = next(iter(held)) if len(held) == 1 else None
            links: list[BuddyLink] = []
            awaiting = False
            for pair in repo.live_pairs_of(conn, guild_id, facts.user_id):
                if pair.status == "proposed":
                    awaiting = awaiting or pair.member_id == facts.user_id
                    continue
                links.append(
                    BuddyLink(
                        pair_id=pair.pair_id,
                        other_id=pair.other(facts.user_id),
                        role="your_buddy" if pair.member_id == facts.user_id else "you_support",
                        since=pair.started_at or pair.created_at,
                        status=pair.status,
                    )
                )
            w = _Work(conn, guild_id, now, settings, held)  # (no matching runs in this read)
            waiting = self._place(w, facts.user_id)
            offer = self._volunteer_info(w, facts.user_id, facts.joined_at)
            return StatusResult(
                user_id=facts.user_id,
                group_role_id=group,
                not_matchable=_not_matchable(len(held)),
                buddies=tuple(links),
                awaiting_approval=awaiting,
                waiting=waiting,
                volunteer=offer,
            )

        return await self._db.read(read)

    async def volunteer(
        self, guild_id: int, facts: MemberFacts, available: bool, max_buddies: int | None = None
    ) -> VolunteerResult:
        """``/buddy volunteer``: offer (or stop offering) to be a buddy for newcomers of one's group.
        ``max_buddies`` 1-5, None for the server's default. Offering needs ``volunteer_min_days`` in
        the server. Stopping keeps the current pairings."""
        if max_buddies is not None and max_buddies not in MAX_BUDDIES_RANGE:
            raise UserError("The most buddies you can offer to support is between 1 and 5.")

        def work(w: _Work) -> VolunteerResult:
            member = self._sync_member(w, facts, create=True)
            assert member is not None
            uid = facts.user_id
            current = repo.get_volunteer(w.conn, w.guild_id, uid)
            if available:
                joined = member.joined_at
                if joined is None:
                    raise UserError(
                        "I can't tell when you joined this server, so I can't check how long you've been here. "
                        "Please ask a moderator."
                    )
                ready = joined + timedelta(days=w.settings.volunteer_min_days)
                if w.now < ready:
                    raise UserError(
                        "Thank you for offering! Volunteers need to have been in this server for "
                        f"{w.settings.volunteer_min_days} days, so you can volunteer from {ready:%d %B %Y}."
                    )
                repo.set_volunteer(w.conn, w.guild_id, uid, True, max_buddies, w.now)
                if member.group_role_id is not None:
                    w.touched.add(member.group_role_id)
            elif current is not None:
                repo.set_volunteer(w.conn, w.guild_id, uid, False, current.max_buddies, w.now)
            self._finish(w)
            info = self._volunteer_info(w, uid, member.joined_at)
            assert info is not None or not available
            return VolunteerResult(
                volunteer=info
                or VolunteerInfo(False, w.settings.max_buddies, None, repo.buddy_load(w.conn, w.guild_id, uid), None),
                not_matchable=_not_matchable(member.group_count),
                matched=tuple(w.made),
                effects=tuple(w.effects),
            )

        return await self._write(guild_id, work)

    async def end(self, guild_id: int, user_id: int, other_id: int | None = None, requeue: bool = True) -> EndResult:
        """``/buddy end``: end one of the member's pairings (``other_id`` says which when there are
        several). The other member is told kindly in private. ``requeue`` puts the member back in
        the queue when they were the one supported; if the other was, they are queued again first
        in line (they did not choose this)."""

        def work(w: _Work) -> EndResult:
            active = [p for p in repo.live_pairs_of(w.conn, w.guild_id, user_id) if p.status == "active"]
            if not active:
                raise UserError("You don't have a buddy right now, so there's no pairing to end.")
            if other_id is None:
                if len(active) > 1:
                    names = ", ".join(_user(p.other(user_id)) for p in active)
                    raise UserError(f"You have {len(active)} buddies ({names}). Please say which pairing to end.")
                pair = active[0]
            else:
                found = [p for p in active if p.other(user_id) == other_id]
                if not found:
                    raise UserError(f"{_user(other_id)} isn't one of your buddies, so there's nothing to end.")
                pair = found[0]
            self_requeue = requeue and pair.member_id == user_id
            self._end(w, pair, EndReason.ENDED_BY_MEMBER, user_id, tell=(pair.other(user_id),), ender=user_id)
            if self_requeue:
                repo.enqueue(w.conn, w.guild_id, user_id, w.now, "request")
                member = repo.get_member(w.conn, w.guild_id, user_id)
                if member is not None and member.group_role_id is not None:
                    w.touched.add(member.group_role_id)
            self._finish(w)
            return EndResult(
                ended=w.ended[0],
                requeued=self_requeue,
                other_requeued=pair.member_id != user_id,
                matched=tuple(w.made),
                effects=tuple(w.effects),
            )

        return await self._write(guild_id, work)

    # ----------------------------------------------------------------------- moderator commands

    async def pair(
        self, guild_id: int, actor: Actor, member: MemberFacts, buddy: MemberFacts, force: bool = False
    ) -> PairResult:
        """``/buddyadmin pair``: pair two members by hand (``buddy`` supports ``member``); introduced at
        once. Refused across groups, for a member without exactly one group, for a pair that already
        exists; over the buddy's maximum only with ``force``. Allowed for a pair that ended before."""
        _require_moderator(actor)
        if member.user_id == buddy.user_id:
            raise UserError("A member can't be their own buddy.")

        def work(w: _Work) -> PairResult:
            m = self._sync_member(w, member, create=True)
            b = self._sync_member(w, buddy, create=True)
            assert m is not None and b is not None
            for who in (m, b):
                reason = _not_matchable(who.group_count)
                if reason is NotMatchable.NO_GROUP:
                    raise UserError(
                        f"{_user(who.user_id)} isn't in a matching group, so they can't be paired. "
                        "Give them their group's role first."
                    )
                if reason is NotMatchable.SEVERAL_GROUPS:
                    raise UserError(
                        f"{_user(who.user_id)} holds more than one matching group role, so they can't be paired "
                        "until they hold exactly one."
                    )
            if m.group_role_id != b.group_role_id:
                assert m.group_role_id is not None and b.group_role_id is not None
                raise UserError(
                    "Pairing across matching groups is never allowed: "
                    f"{_user(m.user_id)} is in {_role(m.group_role_id)} and {_user(b.user_id)} is in "
                    f"{_role(b.group_role_id)}. In early recovery, support comes from peers of one's own group."
                )
            assert m.group_role_id is not None
            if repo.live_pair_between(w.conn, w.guild_id, m.user_id, b.user_id) is not None:
                raise UserError(f"{_user(m.user_id)} and {_user(b.user_id)} are already paired.")
            limit = self._limit(w, b.user_id)
            load = repo.buddy_load(w.conn, w.guild_id, b.user_id)
            over = load >= limit
            if over and not force:
                raise UserError(
                    f"{_user(b.user_id)} already supports {load} member(s), their maximum of {limit}. "
                    "To pair them anyway, use force."
                )
            before = repo.paired_before(w.conn, w.guild_id, m.user_id, b.user_id)
            pair_id = repo.insert_pair(
                w.conn,
                w.guild_id,
                m.user_id,
                b.user_id,
                m.group_role_id,
                status="active",
                now=w.now,
                created_by=actor.user_id,
                forced=over,
            )
            repo.dequeue(w.conn, w.guild_id, [m.user_id])
            row = repo.get_pair(w.conn, w.guild_id, pair_id)
            assert row is not None
            info = PairInfo.of(row)
            w.effects.append(self._introduce(w, info))
            audit.record(
                w.conn,
                w.guild_id,
                actor.user_id,
                "buddy.pair",
                {
                    "pair_id": pair_id,
                    "member_id": m.user_id,
                    "buddy_id": b.user_id,
                    "group_role_id": m.group_role_id,
                    "forced": over,
                    "paired_before": before,
                },
                w.now,
            )
            log.info("Guild %s: moderator %s paired %s with %s", w.guild_id, actor.user_id, m.user_id, b.user_id)
            return PairResult(pair=info, forced=over, paired_before=before, effects=tuple(w.effects))

        return await self._write(guild_id, work)

    async def unpair(
        self, guild_id: int, actor: Actor, member_id: int, buddy_id: int | None = None, requeue: bool = True
    ) -> UnpairResult:
        """``/buddyadmin unpair``: end a pairing of ``member_id`` (with ``buddy_id`` when they have
        several). Both are told privately; the supported member is queued again first in line
        unless ``requeue`` is False."""
        _require_moderator(actor)

        def work(w: _Work) -> UnpairResult:
            active = [p for p in repo.live_pairs_of(w.conn, w.guild_id, member_id) if p.status == "active"]
            if buddy_id is not None:
                active = [p for p in active if p.other(member_id) == buddy_id]
            if not active:
                who = f" with {_user(buddy_id)}" if buddy_id is not None else ""
                raise UserError(f"{_user(member_id)} has no active pairing{who}.")
            if len(active) > 1:
                names = ", ".join(_user(p.other(member_id)) for p in active)
                raise UserError(f"{_user(member_id)} has {len(active)} pairings ({names}). Please say which buddy.")
            pair = active[0]
            self._end(
                w,
                pair,
                EndReason.ENDED_BY_MODERATOR,
                actor.user_id,
                tell=(pair.member_id, pair.buddy_id),
                requeue=requeue,
            )
            audit.record(
                w.conn,
                w.guild_id,
                actor.user_id,
                "buddy.unpair",
                {"pair_id": pair.pair_id, "member_id": pair.member_id, "buddy_id": pair.buddy_id, "requeue": requeue},
                w.now,
            )
            self._finish(w)
            return UnpairResult(ended=w.ended[0], requeued=requeue, matched=tuple(w.made), effects=tuple(w.effects))

        return await self._write(guild_id, work)

    async def queue_view(self, guild_id: int, actor: Actor, limit: int = 25, offset: int = 0) -> QueueView:
        """``/buddyadmin queue``: who waits, in which group, for how long, and why no match yet."""
        _require_moderator(actor)
        now = self._now()

        def read(conn: sqlite3.Connection) -> QueueView:
            w = _Work(conn, guild_id, now, read_settings(conn, guild_id), frozenset(repo.list_groups(conn, guild_id)))
            rows = repo.list_queue(conn, guild_id, max(limit, 0), max(offset, 0))
            reasons = self._wait_reasons(w, rows)
            entries = tuple(
                QueueEntry(
                    user_id=row.user_id,
                    group_role_id=row.group_role_id,
                    queued_at=row.queued_at,
                    waited=now - row.queued_at,
                    first_in_line=row.first_in_line,
                    origin=row.origin,
                    reason=reason,
                )
                for row, reason in zip(rows, reasons, strict=True)
            )
            return QueueView(entries=entries, total=repo.count_queue(conn, guild_id), offset=max(offset, 0))

        return await self._db.read(read)

    async def pairs_page(self, guild_id: int, actor: Actor, page: int = 0, per_page: int = 10) -> PairsPage:
        """``/buddyadmin pairs``: one page of the active pairs, oldest first (a page out of range gives
        the last one)."""
        _require_moderator(actor)
        per_page = max(1, per_page)

        def read(conn: sqlite3.Connection) -> PairsPage:
            total = repo.count_active_pairs(conn, guild_id)
            pages = max(1, math.ceil(total / per_page))
            index = min(max(page, 0), pages - 1)
            rows = repo.list_active_pairs(conn, guild_id, per_page, index * per_page)
            return PairsPage(tuple(PairInfo.of(r) for r in rows), index, pages, total)

        return await self._db.read(read)

    async def match_now(self, guild_id: int, actor: Actor) -> MatchReport:
        """``/buddyadmin match-now``: run matching for every group and say what it did."""
        _require_moderator(actor)

        def work(w: _Work) -> MatchReport:
            made = self._match(w, None)
            audit.record(
                w.conn, w.guild_id, actor.user_id, "buddy.match_now", {"pairs": [p.pair_id for p in made]}, w.now
            )
            return self._report(w)

        return await self._write(guild_id, work)

    async def run_matching(self, guild_id: int) -> MatchReport:
        """Run matching for every group of the server (a sweep, a restart): pairs made or proposed."""

        def work(w: _Work) -> MatchReport:
            self._match(w, None)
            return self._report(w)

        # Thousands of pairs at once in a large server (a first run): a bulk unit of work.
        return await self._write(guild_id, work, bulk=True)

    def _report(self, w: _Work) -> MatchReport:
        return MatchReport(
            made=tuple(w.made),
            proposed=w.settings.require_approval,
            still_waiting=repo.count_queue(w.conn, w.guild_id),
            effects=tuple(w.effects),
        )

    # ----------------------------------------------------------------------- settings

    async def settings_view(self, guild_id: int, actor: Actor) -> SettingsView:
        """``/buddyadmin settings`` without options: the settings and the groups."""
        _require_moderator(actor)

        def read(conn: sqlite3.Connection) -> SettingsView:
            return SettingsView(read_settings(conn, guild_id), tuple(repo.list_groups(conn, guild_id)))

        return await self._db.read(read)

    async def update_settings(self, guild_id: int, actor: Actor, update: SettingsUpdate) -> SettingsResult:
        """``/buddyadmin settings`` with options: validated, recorded in the audit log; matching runs
        when more volunteers may now be matched (a higher maximum, fewer days required)."""
        _require_moderator(actor)
        if update.max_buddies is not None and update.max_buddies not in MAX_BUDDIES_RANGE:
            raise UserError("max_buddies must be between 1 and 5.")
        if update.volunteer_min_days is not None and update.volunteer_min_days not in MIN_DAYS_RANGE:
            raise UserError("volunteer_min_days must be between 0 and 365.")
        for name, channel in (
            ("intro_channel", update.intro_channel_id),
            ("moderator_channel", update.moderator_channel_id),
        ):
            if channel is not None and channel <= 0:
                raise UserError(f"{name} must be a channel.")

        def work(w: _Work) -> SettingsResult:
            old = w.settings
            new = BuddySettings(
                auto_match=old.auto_match if update.auto_match is None else update.auto_match,
                intro_channel_id=None
                if update.clear_intro_channel
                else (update.intro_channel_id if update.intro_channel_id is not None else old.intro_channel_id),
                max_buddies=old.max_buddies if update.max_buddies is None else update.max_buddies,
                volunteer_min_days=old.volunteer_min_days
                if update.volunteer_min_days is None
                else update.volunteer_min_days,
                require_approval=old.require_approval if update.require_approval is None else update.require_approval,
                moderator_channel_id=None
                if update.clear_moderator_channel
                else (
                    update.moderator_channel_id if update.moderator_channel_id is not None else old.moderator_channel_id
                ),
            )
            if new.require_approval and new.moderator_channel_id is None:
                raise UserError(
                    "Approvals are posted in the moderators' channel, so require_approval needs one: "
                    "set the moderators' channel first."
                )
            changes: dict[str, tuple[object, object]] = {}
            for name, key in KEYS.items():
                before, after = getattr(old, name), getattr(new, name)
                if before == after:
                    continue
                changes[name] = (before, after)
                if after is None:
                    guilds.delete_setting(w.conn, w.guild_id, key)
                else:
                    text = ("1" if after else "0") if isinstance(after, bool) else str(after)
                    guilds.set_setting(w.conn, w.guild_id, key, text, w.now, actor.user_id)
            w.settings = new
            if changes:
                audit.record(
                    w.conn,
                    w.guild_id,
                    actor.user_id,
                    "buddy.settings",
                    {name: [before, after] for name, (before, after) in changes.items()},
                    w.now,
                )
            if new.max_buddies > old.max_buddies or new.volunteer_min_days < old.volunteer_min_days:
                self._match(w, None)
            return SettingsResult(new, changes, matched=tuple(w.made), effects=tuple(w.effects))

        return await self._write(guild_id, work)

    # ----------------------------------------------------------------------- approvals

    async def record_proposal_message(self, guild_id: int, pair_id: int, channel_id: int, message_id: int) -> bool:
        """Remember where a proposal's Approve / Reject message was posted; False if it is no longer
        proposed (decided or withdrawn while it was being posted: nothing is recorded)."""
        return await self._db.transaction(
            lambda c: repo.set_proposal_message(c, guild_id, pair_id, channel_id, message_id)
        )

    async def unposted_proposals(self, guild_id: int, channel_exists: Callable[[int], bool]) -> list[ProposePair]:
        """Proposals no moderator can see, oldest first, to post in the moderators' channel: never posted
        (there was no moderators' channel then, Discord failed, the bot stopped first) or posted in a
        channel that no longer exists (``channel_exists`` says which channels do). Empty while the server
        has no moderators' channel: they wait for one (setting it wakes the sweep that posts them)."""

        def read(conn: sqlite3.Connection) -> tuple[int | None, list[repo.PairRow]]:
            channel_id = read_settings(conn, guild_id).moderator_channel_id
            return channel_id, [] if channel_id is None else repo.proposals_of(conn, guild_id)

        channel_id, rows = await self._db.read(read)
        return [ProposePair(PairInfo.of(r), channel_id) for r in rows if _unposted(r, channel_exists)]

    async def proposals_page(
        self, guild_id: int, actor: Actor, channel_exists: Callable[[int], bool], page: int = 0, per_page: int = 4
    ) -> ProposalsPage:
        """``/buddyadmin proposals``: one page of the proposals awaiting a decision, oldest first (a page
        out of range gives the last one); a post in a channel that no longer exists (``channel_exists``)
        counts as not posted, as for :meth:`unposted_proposals`."""
        _require_moderator(actor)
        per_page = max(1, per_page)
        now = self._now()

        def read(conn: sqlite3.Connection) -> tuple[list[repo.PairRow], int, int, int, int | None]:
            total = repo.count_proposals(conn, guild_id)
            pages = max(1, math.ceil(total / per_page))
            index = min(max(page, 0), pages - 1)
            rows = repo.list_proposals(conn, guild_id, per_page, index * per_page)
            return rows, index, pages, total, read_settings(conn, guild_id).moderator_channel_id

        rows, index, pages, total, channel_id = await self._db.read(read)
        entries = []
        for row in rows:  # on the event loop: channel_exists may look at the bot's cache
            visible = not _unposted(row, channel_exists)
            entries.append(
                ProposalEntry(
                    PairInfo.of(row),
                    now - row.created_at,
                    row.proposal_channel_id if visible else None,
                    row.proposal_message_id if visible else None,
                )
            )
        return ProposalsPage(tuple(entries), index, pages, total, channel_id)

    async def proposal_post(
        self, guild_id: int, actor: Actor, pair_id: int, channel_exists: Callable[[int], bool]
    ) -> tuple[int, int] | None:
        """Where the Approve / Reject post of a proposal awaiting a decision is, as ``(channel_id,
        message_id)``; None when it awaits none or no moderator can see a post (as for :meth:`proposals_page`)."""
        _require_moderator(actor)
        row = await self._db.read(lambda c: repo.get_pair(c, guild_id, pair_id))
        if row is None or row.status != "proposed" or _unposted(row, channel_exists):
            return None
        assert row.proposal_channel_id is not None and row.proposal_message_id is not None  # posted
        return row.proposal_channel_id, row.proposal_message_id

    async def needs_posting(self, guild_id: int, pair_id: int, channel_exists: Callable[[int], bool]) -> bool:
        """Whether this proposal is still one to post (see :meth:`unposted_proposals`): asked again just
        before posting, so that a proposal posted or decided meanwhile is not posted (again)."""
        row = await self._db.read(lambda c: repo.get_pair(c, guild_id, pair_id))
        return row is not None and _unposted(row, channel_exists)

    async def approve(self, guild_id: int, actor: Actor, pair_id: int) -> DecisionResult:
        """Approve a proposed pair: it becomes active and is introduced."""
        _require_moderator(actor)

        def work(w: _Work) -> DecisionResult:
            pair = self._proposal(w, pair_id)
            for uid in (pair.member_id, pair.buddy_id):
                m = repo.get_member(w.conn, w.guild_id, uid)
                if m is None or m.left_at is not None or m.group_role_id != pair.group_role_id:
                    raise UserError(f"{_user(uid)} can no longer be paired in {_role(pair.group_role_id)}.")
            repo.activate_pair(w.conn, w.guild_id, pair_id, w.now, actor.user_id)
            row = repo.get_pair(w.conn, w.guild_id, pair_id)
            assert row is not None
            info = PairInfo.of(row)
            w.effects.append(self._introduce(w, info))
            audit.record(
                w.conn,
                w.guild_id,
                actor.user_id,
                "buddy.approve",
                {"pair_id": pair_id, "member_id": pair.member_id, "buddy_id": pair.buddy_id},
                w.now,
            )
            return DecisionResult(info, effects=tuple(w.effects))

        return await self._write(guild_id, work)

    async def reject(self, guild_id: int, actor: Actor, pair_id: int) -> DecisionResult:
        """Reject a proposed pair: the member goes back to their place in the queue, and this pairing
        is never proposed again (matching may propose another volunteer at once)."""
        _require_moderator(actor)

        def work(w: _Work) -> DecisionResult:
            pair = self._proposal(w, pair_id)
            repo.close_pair(w.conn, w.guild_id, pair_id, "rejected", w.now, actor.user_id, "rejected")
            self._restore_to_queue(w, pair)
            audit.record(
                w.conn,
                w.guild_id,
                actor.user_id,
                "buddy.reject",
                {"pair_id": pair_id, "member_id": pair.member_id, "buddy_id": pair.buddy_id},
                w.now,
            )
            row = repo.get_pair(w.conn, w.guild_id, pair_id)
            assert row is not None
            self._finish(w)
            return DecisionResult(PairInfo.of(row), matched=tuple(w.made), effects=tuple(w.effects))

        return await self._write(guild_id, work)

    def _proposal(self, w: _Work, pair_id: int) -> repo.PairRow:
        pair = repo.get_pair(w.conn, w.guild_id, pair_id)
        if pair is None:
            raise UserError("I can't find that proposed pairing.")
        if pair.status != "proposed":
            state = {"active": "approved", "rejected": "rejected", "withdrawn": "withdrawn", "ended": "approved"}
            raise UserError(f"This proposed pairing was already {state.get(pair.status, pair.status)}.")
        return pair

    # ----------------------------------------------------------------------- introductions

    async def record_introduction(self, guild_id: int, pair_id: int, thread_id: int | None) -> None:
        """Record that a pair was introduced (in ``thread_id``, or by DM when None)."""
        now = self._now()
        await self._db.transaction(lambda c: repo.record_introduction(c, guild_id, pair_id, thread_id, now))

    async def thread_activity(self, guild_id: int, thread_id: int, author_id: int) -> bool:
        """A message in a thread: counts as activity if it is a pair's intro thread and the author one
        of the two. Returns whether it counted."""
        now = self._now()
        return await self._db.transaction(lambda c: repo.record_thread_activity(c, guild_id, thread_id, author_id, now))

    async def due_reminders(self, limit: int = 100) -> list[PairInfo]:
        """Pairs of every server introduced in a thread at least three days ago in which neither member
        has written and no reminder was sent: each gets one gentle reminder in the thread."""
        before = self._now() - REMINDER_AFTER
        rows = await self._db.read(lambda c: repo.due_reminders(c, before, limit))
        return [PairInfo.of(r) for r in rows]

    async def mark_reminded(self, guild_id: int, pair_id: int) -> bool:
        """Record the reminder; False if it was already recorded (then do not send another)."""
        now = self._now()
        return await self._db.transaction(lambda c: repo.mark_reminded(c, guild_id, pair_id, now))

    async def pending_introductions(self, guild_id: int) -> list[Introduce]:
        """Introductions still to make (they failed, or the bot stopped before recording them)."""

        def read(conn: sqlite3.Connection) -> list[Introduce]:
            w = _Work(conn, guild_id, self._now(), read_settings(conn, guild_id), frozenset())
            return [self._introduce(w, PairInfo.of(r)) for r in repo.pairs_to_introduce(conn, guild_id)]

        return await self._db.read(read)

    # ----------------------------------------------------------------------- erasure (privacy)

    def end_for_erasure(
        self, conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime, *, left: bool = False
    ) -> tuple[Effect, ...]:
        """Inside the caller's transaction, just before the member's buddy data is erased (``/privacy
        delete``; or, with ``left``, 30 days after they left the server): they leave the queue and stop
        volunteering, and each of their live pairs ends kindly, as with ``/buddy end`` (as when a member
        leaves, with ``left``): the other member is told in private and, if they were the one
        supported, queued again first in line; the intro thread is archived; a proposal is withdrawn.
        Matching then runs for the groups concerned. Returns the effects for the cog to carry out."""
        if not repo.guild_known(conn, guild_id):
            return ()
        w = _Work(conn, guild_id, now, read_settings(conn, guild_id), frozenset(repo.list_groups(conn, guild_id)))
        repo.dequeue(conn, guild_id, [user_id])
        repo.mark_left(conn, guild_id, user_id, now)  # out of matching: no longer waiting nor volunteering
        reason = EndReason.MEMBER_LEFT if left else EndReason.ENDED_BY_MEMBER
        for pair in repo.live_pairs_of(conn, guild_id, user_id):
            by = None if left else user_id
            self._end(w, pair, reason, by, tell=(pair.other(user_id),), ender=user_id, gone=user_id if left else None)
        self._finish(w)
        return tuple(w.effects)

    # ======================================================================= inside a transaction

    def _sync_member(self, w: _Work, facts: MemberFacts, *, create: bool) -> repo.MemberRow | None:
        """Store what the cog reports of a member and enforce the invariant on their pairs. Without
        ``create``, a member with no group role and no stored state is left unstored (None)."""
        before = repo.get_member(w.conn, w.guild_id, facts.user_id)
        held = facts.role_ids & w.groups
        if before is None and not held and not create:
            return None
        repo.upsert_member(w.conn, w.guild_id, facts.user_id, facts.joined_at, w.now)
        old_roles = repo.group_roles_of(w.conn, w.guild_id, facts.user_id) if before is not None else frozenset()
        if held != old_roles:
            repo.set_member_groups(w.conn, w.guild_id, facts.user_id, held)
        member = repo.get_member(w.conn, w.guild_id, facts.user_id)
        assert member is not None
        old_group = None if before is None else before.group_role_id
        if member.group_role_id != old_group or (before is not None and before.left_at is not None):
            self._enforce(w, facts.user_id, EndReason.GROUPS_CHANGED, notify_moderators=True)
            if member.group_role_id is not None:
                w.touched.add(member.group_role_id)
        return self._several_notice(w, member)

    def _several_notice(self, w: _Work, member: repo.MemberRow) -> repo.MemberRow:
        """One moderators' notice per member holding several group roles (again after a fix)."""
        if member.group_count >= 2 and member.several_notice_at is None:
            roles = ", ".join(_role(r) for r in sorted(repo.group_roles_of(w.conn, w.guild_id, member.user_id)))
            w.effects.append(
                NotifyModerators(
                    w.settings.moderator_channel_id,
                    f"{_user(member.user_id)} holds several matching group roles ({roles}), so I can't match them "
                    "with a buddy. Please leave them exactly one.",
                    (member.user_id,),
                )
            )
            repo.set_several_notice(w.conn, w.guild_id, member.user_id, w.now)
        elif member.group_count < 2 and member.several_notice_at is not None:
            repo.set_several_notice(w.conn, w.guild_id, member.user_id, None)
        return member

    def _enforce(self, w: _Work, user_id: int, reason: EndReason, *, notify_moderators: bool) -> None:
        """End the member's live pairs that no longer have both members in the pair's group."""
        for pair in repo.live_pairs_of(w.conn, w.guild_id, user_id):
            groups = {}
            for uid in (pair.member_id, pair.buddy_id):
                m = repo.get_member(w.conn, w.guild_id, uid)
                groups[uid] = None if m is None or m.left_at is not None else m.group_role_id
            if groups[pair.member_id] == groups[pair.buddy_id] == pair.group_role_id:
                continue
            self._end(w, pair, reason, None, tell=(pair.member_id, pair.buddy_id))
            if notify_moderators:
                what = "ended" if pair.status == "active" else "was withdrawn"
                w.effects.append(
                    NotifyModerators(
                        w.settings.moderator_channel_id,
                        f"The buddy pairing of {_user(pair.member_id)} and {_user(pair.buddy_id)} {what} because "
                        f"{_user(user_id)}'s matching group changed, and a pairing never spans two groups. "
                        "Both were told privately.",
                        (pair.member_id, pair.buddy_id),
                    )
                )

    def _end(
        self,
        w: _Work,
        pair: repo.PairRow,
        reason: EndReason,
        by: int | None,
        *,
        tell: Iterable[int],
        ender: int | None = None,
        gone: int | None = None,
        requeue: bool = True,
    ) -> None:
        """End an active pair (or withdraw a proposal): tell ``tell`` kindly, archive the thread, and
        put the supported member back in the queue first in line unless they ended it themselves
        (``ender``), left (``gone``), or ``requeue`` is False."""
        requeue_member = requeue and pair.member_id not in (ender, gone)
        if pair.status == "proposed":
            repo.close_pair(w.conn, w.guild_id, pair.pair_id, "withdrawn", w.now, by, reason.value)
            info = PairInfo.of(pair)
            w.effects.append(WithdrawProposal(info, pair.proposal_channel_id, pair.proposal_message_id, reason))
            if requeue_member:
                self._restore_to_queue(w, pair)
        else:
            repo.close_pair(w.conn, w.guild_id, pair.pair_id, "ended", w.now, by, reason.value)
            info = PairInfo.of(pair)
            if requeue_member:
                repo.enqueue(w.conn, w.guild_id, pair.member_id, w.now, "requeue", first_in_line=True)
            for uid in tell:
                w.effects.append(
                    NotifyPairEnded(
                        uid, pair.other(uid), pair.pair_id, reason, requeue_member and uid == pair.member_id
                    )
                )
            if pair.intro_thread_id is not None:
                w.effects.append(ArchiveThread(pair.pair_id, pair.intro_thread_id))
        w.ended.append(info)
        w.touched.add(pair.group_role_id)
        if requeue_member:
            member = repo.get_member(w.conn, w.guild_id, pair.member_id)
            if member is not None and member.group_role_id is not None:
                w.touched.add(member.group_role_id)
        log.info("Guild %s: pair %s ended (%s)", w.guild_id, pair.pair_id, reason.value)

    def _restore_to_queue(self, w: _Work, pair: repo.PairRow) -> None:
        """Give the member of a proposal that did not go ahead their old place in the queue."""
        member = repo.get_member(w.conn, w.guild_id, pair.member_id)
        if member is None or member.left_at is not None:
            return
        queued_at = pair.queued_at or w.now
        repo.enqueue(w.conn, w.guild_id, pair.member_id, queued_at, "requeue", first_in_line=pair.first_in_line)
        w.touched.add(pair.group_role_id)
        if member.group_role_id is not None:
            w.touched.add(member.group_role_id)

    def _auto_queue(self, w: _Work, member: repo.MemberRow) -> bool:
        """Queue a member who became matchable (auto_match): not if already waiting, supported, or an
        available volunteer. Tell them once what a buddy is."""
        uid = member.user_id
        if repo.queue_entry(w.conn, w.guild_id, uid) is not None:
            return False
        if any(p.member_id == uid for p in repo.live_pairs_of(w.conn, w.guild_id, uid)):
            return False
        offer = repo.get_volunteer(w.conn, w.guild_id, uid)
        if offer is not None and offer.available:
            return False
        repo.enqueue(w.conn, w.guild_id, uid, w.now, "auto")
        assert member.group_role_id is not None
        w.touched.add(member.group_role_id)
        if member.told_at is None:
            w.effects.append(TellMemberWhatABuddyIs(uid, self.buddy_quotes()))
            repo.mark_told(w.conn, w.guild_id, uid, w.now)
        return True

    def _finish(self, w: _Work) -> None:
        """Run matching for the groups this transaction may have made a match possible in."""
        groups = w.touched & w.groups
        w.touched.clear()
        if groups:
            self._match(w, groups)

    def _match(self, w: _Work, groups: Collection[int] | None) -> list[PairInfo]:
        """Run the matcher (for ``groups``, or all) and store its pairs: active and introduced, or
        proposed to the moderators with ``require_approval``."""
        # The rows go to the matcher as they come (the shapes of its Waiting and Volunteer). The
        # volunteers and live pairs first: they give each group's free places; then each group with
        # a place reads its queue in order only until its places are given (issue 9: a long queue
        # behind full volunteers is never read).
        if not repo.anyone_waiting(w.conn, w.guild_id, groups):
            return []
        cutoff = w.now - timedelta(days=w.settings.volunteer_min_days)
        volunteers = repo.matching_volunteers(w.conn, w.guild_id, cutoff, groups)
        if not volunteers:
            return []
        current = repo.matching_current(w.conn, w.guild_id, groups)
        places = places_in_rank_order(volunteers, current, w.settings.max_buddies)
        if not places:
            return []
        past = repo.matching_past(w.conn, w.guild_id, {uid for order in places.values() for uid in order})
        cursors: list[sqlite3.Cursor] = []
        read: dict[int, tuple[int, int, int]] = {}  # each waiting member read: their row
        read_in: dict[int, list[tuple[int, int, int]]] = {}  # the rows read of each group, in queue order

        def waiting_of(group: int) -> Iterator[tuple[int, int, int]]:
            # Fetched in chunks (the first as large as the group's places), all in C: no Python
            # call per waiting member.
            cursor = repo.waiting_in_group(w.conn, w.guild_id, group)
            cursors.append(cursor)
            sizes = itertools.chain((len(places[group]) + 8,), itertools.repeat(64))
            in_group = read_in[group] = []

            def chunk() -> list[tuple[int, int, int]]:
                rows = cursor.fetchmany(next(sizes))
                read.update(zip(map(_USER_ID, rows), rows, strict=True))
                in_group.extend(rows)
                return rows

            return itertools.chain.from_iterable(iter(chunk, []))

        try:
            pairs = match_groups(places, waiting_of, current, past)
        finally:
            for cursor in cursors:
                cursor.close()  # their statements are reset before the pairs are written
        if not pairs:
            return []
        status = "proposed" if w.settings.require_approval else "active"
        ids = repo.insert_pairs(w.conn, w.guild_id, pairs, read, status=status, now=w.now)
        heads, others = _taken_from_queue(read_in, set(map(_USER_ID, pairs)))
        repo.dequeue_heads(w.conn, w.guild_id, heads)
        if others:
            repo.dequeue(w.conn, w.guild_id, others)
        started = w.now if status == "active" else None
        # Built without PairInfo's Python-level __new__ (thousands in a first run): every field, in
        # order, zipped in C (zip hands the same row tuple back while nothing else holds it, and
        # tuple.__new__ copies it: one allocation a pair).
        new_info = functools.partial(tuple.__new__, PairInfo)
        fields = (
            ids,
            repeat(w.guild_id),
            map(_MEMBER, pairs),
            map(_BUDDY, pairs),
            map(_GROUP, pairs),
            repeat(status),
            repeat(w.now),
            repeat(started),
            repeat(None),
            repeat(False),
            repeat(None),
        )
        made = list(map(new_info, zip(*fields, strict=False)))  # endless repeats; one id a pair
        if status == "active":
            new_intro = functools.partial(tuple.__new__, Introduce)
            intro, moderators, quotes = w.settings.intro_channel_id, w.settings.moderator_channel_id, self._intro_quotes
            w.effects.extend(map(new_intro, zip(made, repeat(intro), repeat(moderators), repeat(quotes))))
        else:
            w.effects.extend(ProposePair(info, w.settings.moderator_channel_id) for info in made)
        w.made.extend(made)
        log.info("Guild %s: matching made %s %s pair(s)", w.guild_id, len(made), status)
        return made

    def _introduce(self, w: _Work, pair: PairInfo) -> Introduce:
        return Introduce(pair, w.settings.intro_channel_id, w.settings.moderator_channel_id, self._intro_quotes)

    def _limit(self, w: _Work, user_id: int) -> int:
        offer = repo.get_volunteer(w.conn, w.guild_id, user_id)
        if offer is not None and offer.max_buddies is not None:
            return offer.max_buddies
        return w.settings.max_buddies

    def _volunteer_info(self, w: _Work, user_id: int, joined_at: datetime | None) -> VolunteerInfo | None:
        offer = repo.get_volunteer(w.conn, w.guild_id, user_id)
        if offer is None:
            return None
        joined = joined_at or offer.joined_at
        return VolunteerInfo(
            available=offer.available,
            max_buddies=offer.max_buddies or w.settings.max_buddies,
            own_max=offer.max_buddies,
            current=repo.buddy_load(w.conn, w.guild_id, user_id),
            eligible_from=None if joined is None else joined + timedelta(days=w.settings.volunteer_min_days),
        )

    def _place(self, w: _Work, user_id: int) -> QueuePlace | None:
        entry = repo.queue_entry(w.conn, w.guild_id, user_id)
        if entry is None:
            return None
        place = repo.place_in_group(w.conn, w.guild_id, entry)
        (reason,) = self._wait_reasons(w, [entry])
        return QueuePlace(
            queued_at=entry.queued_at,
            waited=w.now - entry.queued_at,
            place=None if place is None else place[0],
            of=None if place is None else place[1],
            first_in_line=entry.first_in_line,
            reason=reason,
        )

    def _wait_reasons(self, w: _Work, entries: Sequence[repo.QueueRow]) -> list[WaitReason]:
        """Why each waiting member has no buddy yet.

        Only the volunteers and live pairs of the entries' groups are read, as the matcher reads
        them (``/buddy status`` reads one group, not every volunteer of the server: issue 9)."""
        if not entries:
            return []
        cutoff = w.now - timedelta(days=w.settings.volunteer_min_days)
        groups = {e.group_role_id for e in entries if e.group_role_id is not None}
        by_group: dict[int, list[tuple[int, int | None]]] = {}
        load: dict[int, int] = {}
        if groups:
            for uid, group, max_buddies in repo.matching_volunteers(w.conn, w.guild_id, cutoff, groups):
                by_group.setdefault(group, []).append((uid, max_buddies))
            for _, buddy_id in repo.matching_current(w.conn, w.guild_id, groups):
                load[buddy_id] = load.get(buddy_id, 0) + 1
        ids = [e.user_id for e in entries]
        ruled_out = repo.partners_of(w.conn, w.guild_id, ids, repo.LIVE + repo.PAST)
        reasons: list[WaitReason] = []
        for entry in entries:
            if entry.group_role_id is None:
                reasons.append(WaitReason.NO_GROUP if entry.group_count == 0 else WaitReason.SEVERAL_GROUPS)
                continue
            offers = [o for o in by_group.get(entry.group_role_id, []) if o[0] != entry.user_id]
            with_room = [uid for uid, most in offers if load.get(uid, 0) < (most or w.settings.max_buddies)]
            partners = ruled_out.get(entry.user_id, set())
            if not offers:
                reasons.append(WaitReason.NO_VOLUNTEER)
            elif not with_room:
                reasons.append(WaitReason.VOLUNTEERS_FULL)
            elif all(uid in partners for uid in with_room):
                reasons.append(WaitReason.ONLY_PAST_PARTNERS)
            else:
                reasons.append(WaitReason.MATCHABLE)
        return reasons

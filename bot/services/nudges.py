"""Isolation nudges: notice when a participating member goes quiet, and reach out in steps.

"If and when they fail to do this, they isolate … making it only a matter of time before they
relapse." The bot notices silence (only *that* a member was active, never what they wrote: see
:mod:`bot.services.activity`) and reaches out, privately, in a ladder per quiet spell:

1. after ``quiet_days``: a DM to the member — warm, short, one passage of the article, and buttons
   "I'm okay", "Ask my buddy to reach out", "Pause for a week" (and "Turn these off");
2. after ``buddy_after_days``: a private note to their buddy, if they have one;
3. after ``moderator_after_days``: one notice in the moderators' channel: who, how long, which
   steps were taken (never any check-in content).

Rules, all enforced here (no Discord in this module; the cog is the :class:`Messenger`):

* Participants only: a buddy pairing, a check-in in the last 30 days, a sobriety date, or
  ``/nudges on``. ``/nudges off`` stops everything at once; ``/nudges pause`` pauses it.
* A quiet spell is identified by the member's last activity. Any activity starts a new one; each
  step happens at most once per spell (a key of ``nudge_steps``).
* A step that cannot reach anyone (closed DMs, the recipient left) makes the next one due at
  once, and is listed in the moderators' notice. Nothing is ever posted publicly instead.
* Each step leaves the member the time to answer: the next one comes on its day, but never
  sooner after this one than the days between the two (which matters after a downtime).
* DMs go out only from 09:00 to 21:00 in the recipient's timezone (``/checkin timezone``, else
  UTC), and at most :data:`DMS_PER_MINUTE` a minute per server: the rest of a large batch waits
  for a free slot (it is spread out, never dropped).

The sweep reads only the due members (``next_check_at`` through its index), so its cost grows
with the members due, not with the size of the server. A member found due but not (yet) to be
nudged gets a later ``next_check_at``: the time their next step is due, 09:00 their time, the
end of a pause, a free slot, or (non-participants) a day later.

At most once, without losing a step. One transaction decides a step and *claims* it (a
``pending`` row) before anything is sent; the send's outcome is recorded afterwards. A crash or
restart between the two leaves the claim pending. The next run does not send it blindly: it asks
Discord whether the message is there (each message carries a reference: the member DM's button
ids, the footer of the buddy's note and of the moderators' notice). Found: recorded as sent.
Not found: sent now (unless the member became active or opted out meanwhile). Cannot tell
(Discord unreachable, history not readable): recorded as ``unknown`` and *not* sent — a lost
message is preferred to a repeated one. A step whose message failed (after discord.py's own
retries) is recorded as ``failed`` and claimed again by the sweep :data:`RETRY_AFTER_FAILURE` later,
for a day at most; then the failure stands and the ladder goes on. Except the first time a step fails
*in passing* (:data:`TRANSIENT`: a 5xx, a timeout, a dropped connection; Discord may have made the
message while its answer was lost): then it is claimed again :data:`~bot.services.retry.FIRST_RETRY`
later, so that the retry's nonce (the same: server, member, spell, step) is still within Discord's
window and gets the message already made instead of a second one. A sweep that came due while the
bot was down simply runs when it is back: due rows stay due.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from random import Random
from typing import Protocol

from bot.db.connection import Database, StorageError
from bot.db.repositories import audit
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import checkins as checkins_repo
from bot.db.repositories import guilds as guilds_repo
from bot.db.repositories import nudges as repo
from bot.errors import UserError
from bot.services.activity import ActivityBatch
from bot.services.background import Sleep, WakeableLoop
from bot.services.guidance import GuidanceLibrary, Passage
from bot.services.localtime import next_local_occurrence, zone_for
from bot.services.retry import FIRST_RETRY
from bot.services.server_settings import SETTINGS, SETTINGS_CHANGED, ServerConfig, read_config
from bot.timeutil import Clock, to_timestamp, utc_now

__all__ = [
    "DAYTIME_END",
    "DAYTIME_START",
    "DMS_PER_MINUTE",
    "GUIDANCE_TOPIC",
    "MAX_PAUSE_DAYS",
    "PARTICIPATION_DAYS",
    "PAUSE_BUTTON_DAYS",
    "REASON_ASKED",
    "REASON_BUDDY",
    "REASON_CHECKIN",
    "REASON_SOBRIETY",
    "RETRY_AFTER_FAILURE",
    "RETRY_FAILED_FOR",
    "STEP_BUDDY",
    "STEP_MEMBER",
    "STEP_MODERATORS",
    "TRANSIENT",
    "DmThrottle",
    "Messenger",
    "NudgeAction",
    "NudgeConfig",
    "NudgeService",
    "NudgeStatus",
    "NudgeSweeper",
    "QuietMember",
    "QuietPage",
    "SweepReport",
    "in_daytime",
    "next_daytime",
    "retry_delay",
]

log = logging.getLogger(__name__)

STEP_MEMBER, STEP_BUDDY, STEP_MODERATORS = 1, 2, 3
DAY = timedelta(days=1)
DAY_SECONDS = 86_400
DAYTIME_START = 9 * 60
"""09:00, as a minute of the day: the first minute a DM may be sent, in the recipient's time."""
DAYTIME_END = 21 * 60
"""21:00: DMs stop."""
DMS_PER_MINUTE = 10
"""At most this many nudge DMs a minute per server."""
PARTICIPATION_DAYS = 30
"""A check-in in the last this many days makes a member a participant."""
NON_PARTICIPANT_RECHECK_SECONDS = DAY_SECONDS
"""How long until a quiet member who does not participate is looked at again (they may get a buddy)."""
PAUSE_BUTTON_DAYS = 7
MAX_PAUSE_DAYS = 30
KEEP_STEPS = timedelta(days=180)
"""Steps of spells older than this are forgotten."""
ROWS_PER_CLAIM = 1000
"""At most this many due members are looked at in one transaction (a few milliseconds of write lock)."""
RETRY_AFTER_FAILURE = timedelta(minutes=15)
"""A step Discord refused is carried out again by the sweep this much later (the sweep's interval)…"""
RETRY_FAILED_FOR = timedelta(days=1)
"""…for at most this long after its first attempt."""
TRANSIENT = "transient"
"""The messenger's outcome for a message that failed in passing (Discord may have made it): recorded as
``failed``; the step's first attempt failing so is claimed again :data:`~bot.services.retry.FIRST_RETRY`
later, with the same nonce."""
GUIDANCE_TOPIC = "why"
"""The guidance topic quoted in the member's DM: isolation, and the peers who fill the void."""

REASON_ASKED = "asked"
REASON_BUDDY = "buddy"
REASON_CHECKIN = "checkin"
REASON_SOBRIETY = "sobriety"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class NudgeConfig:
    """A server's nudge settings."""

    enabled: bool
    quiet_days: int
    buddy_after_days: int
    moderator_after_days: int
    moderator_channel_id: int | None

    @classmethod
    def of(cls, config: ServerConfig) -> NudgeConfig:
        """The nudge settings among a server's settings."""
        return cls(
            enabled=config.flag("nudges_enabled"),
            quiet_days=config.integer("quiet_days"),
            buddy_after_days=config.integer("buddy_after_days"),
            moderator_after_days=config.integer("moderator_after_days"),
            moderator_channel_id=config.snowflake("moderator_channel"),
        )

    def days_before(self, step: int) -> int:
        """Quiet days before ``step`` (1, 2 or 3) is due."""
        return (self.quiet_days, self.buddy_after_days, self.moderator_after_days)[step - 1]

    def seconds_before(self, step: int) -> int:
        """Quiet seconds before ``step`` is due."""
        return self.days_before(step) * DAY_SECONDS


def _check_order(quiet: int, buddy: int, moderator: int) -> None:
    if not quiet < buddy < moderator:
        raise UserError(
            "The days must grow from one step to the next: quiet_days < buddy_after_days < "
            f"moderator_after_days. That would be {quiet}, {buddy} and {moderator}."
        )


# --------------------------------------------------------------------------- quiet hours, throttle


def in_daytime(moment: datetime, zone: tzinfo) -> bool:
    """Whether ``moment`` is between 09:00 and 21:00 in ``zone``."""
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return DAYTIME_START <= minute < DAYTIME_END


def next_daytime(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` if it is daytime in ``zone``, else the next 09:00 there."""
    if in_daytime(moment, zone):
        return moment
    _, instant = next_local_occurrence(moment, zone, DAYTIME_START)
    return instant


class DmThrottle:
    """At most ``limit`` DMs per ``window`` per server (a sliding window); safe across threads.

    The sweep takes slots inside its transaction (on the database thread); buttons record theirs
    on the event loop.
    """

    def __init__(self, limit: int = DMS_PER_MINUTE, window: timedelta = timedelta(minutes=1)) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._sent: dict[int, deque[datetime]] = {}

    def _trim(self, guild_id: int, now: datetime) -> deque[datetime]:
        sent = self._sent.setdefault(guild_id, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        return sent

    def try_take(self, guild_id: int, now: datetime) -> datetime | None:
        """Take a slot for a DM now: ``None`` if taken, else the instant the next slot frees."""
        with self._lock:
            sent = self._trim(guild_id, now)
            if len(sent) < self.limit:
                sent.append(now)
                return None
            return sent[0] + self.window

    def record(self, guild_id: int, now: datetime) -> None:
        """Count a DM sent outside the sweep (a member asked for it), even over the limit."""
        with self._lock:
            self._trim(guild_id, now).append(now)

    def used(self, guild_id: int, now: datetime) -> int:
        """How many slots are taken in the window ending ``now``."""
        with self._lock:
            return len(self._trim(guild_id, now))


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class NudgeAction:
    """One step to carry out: a DM to the member (1), a note to the buddy (2), a notice to the
    moderators (3)."""

    guild_id: int
    user_id: int
    spell: int
    """The quiet spell (its start, Unix seconds)."""
    step: int
    target_id: int
    """The member, the buddy, or the moderators' channel."""
    quiet_days: int
    passage: Passage | None = None
    """The member's DM: the passage to quote."""
    steps: tuple[repo.StepRow, ...] = ()
    """The moderators' notice: the steps taken before it in this spell."""
    requested: bool = False
    """The buddy's note: the member asked for it (a button)."""
    claimed_at: datetime | None = None
    """When this attempt was claimed; the step's first claim (kept by a claim again) on its first attempt."""

    @property
    def ref(self) -> str:
        """A short reference carried by the message, to find it again after a crash."""
        key = f"{self.guild_id}:{self.user_id}:{self.spell}:{self.step}".encode()
        return hashlib.blake2s(key, digest_size=5).hexdigest()


class Messenger(Protocol):
    """Carries out steps on Discord (the cog)."""

    async def deliver(self, action: NudgeAction) -> str:
        """Send the step's message; the outcome: 'sent', 'dm_closed', 'gone', 'no_channel', 'failed' (refused)
        or :data:`TRANSIENT` (failed in passing)."""
        ...

    async def find_delivered(self, action: NudgeAction) -> bool | None:
        """Whether the step's message is on Discord (``None``: cannot tell)."""
        ...


@dataclass(frozen=True, slots=True)
class NudgeStatus:
    """A member's nudges in one server, as ``/nudges status`` shows them."""

    opt: str
    paused_until: datetime | None
    reasons: tuple[str, ...]
    config: NudgeConfig
    last_active_at: datetime | None

    @property
    def participating(self) -> bool:
        """Whether the ladder applies to the member (ignoring a pause)."""
        return self.config.enabled and self.opt != "off" and bool(self.reasons)


@dataclass(frozen=True, slots=True)
class QuietMember:
    """One line of ``/settings quiet-members``."""

    user_id: int
    last_active_at: datetime
    quiet_days: int
    step: int
    steps: tuple[repo.StepRow, ...]
    paused_until: datetime | None


@dataclass(frozen=True, slots=True)
class QuietPage:
    """A page of quiet members."""

    members: tuple[QuietMember, ...]
    total: int
    page: int
    pages: int
    quiet_days: int


@dataclass(slots=True)
class SweepReport:
    """What one sweep did."""

    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    rounds: int = 0

    def count(self, outcome: str) -> None:
        """Count one carried-out step."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome == "sent":
            self.sent += 1


@dataclass(frozen=True, slots=True)
class _Claimed:
    actions: list[NudgeAction]
    more: bool


# --------------------------------------------------------------------------- the service


def _quiet_days(spell: int, now: datetime) -> int:
    return max(0, (to_timestamp(now) - spell) // DAY_SECONDS)


def _active_buddy(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int | None:
    """The member's buddy: the other member of their active pairing (the one supporting them first)."""
    pairs = [p for p in buddies_repo.live_pairs_of(conn, guild_id, user_id) if p.status == "active"]
    if not pairs:
        return None
    supported = [p for p in pairs if p.member_id == user_id]
    chosen = min(supported or pairs, key=lambda p: p.pair_id)
    return chosen.other(user_id)


def _zone(conn: sqlite3.Connection, guild_id: int, user_id: int) -> tzinfo:
    member = checkins_repo.get_member(conn, guild_id, user_id)
    return zone_for(None if member is None else member.timezone)


def _reasons(opt: str, facts: repo.Participation | None) -> tuple[str, ...]:
    """Why the member participates (none: they don't)."""
    reasons: list[str] = []
    if opt == "on":
        reasons.append(REASON_ASKED)
    if facts is not None:
        if facts.buddy:
            reasons.append(REASON_BUDDY)
        if facts.latest_checkin is not None:
            reasons.append(REASON_CHECKIN)
        if facts.sobriety:
            reasons.append(REASON_SOBRIETY)
    return tuple(reasons)


def retry_delay(action: NudgeAction, first_claimed_at: datetime, *, transient: bool) -> timedelta:
    """How long after a failed attempt at a step it is claimed again: :data:`~bot.services.retry.FIRST_RETRY`
    if it was the step's first attempt (claimed when the step was first claimed) and failed in passing,
    within Discord's nonce window; else :data:`RETRY_AFTER_FAILURE`."""
    if action.claimed_at is None or to_timestamp(action.claimed_at) != to_timestamp(first_claimed_at):
        return RETRY_AFTER_FAILURE  # claimed again after an earlier failure: back off
    return FIRST_RETRY if transient else RETRY_AFTER_FAILURE


def _retry_later(conn: sqlite3.Connection, action: NudgeAction, now: datetime, *, transient: bool = False) -> None:
    """A step whose message failed: step the member's ladder back, so that a later sweep claims it again
    (a failed step may be claimed again; see :func:`retry_delay` for when), unless its first attempt is a
    day old or the spell moved on. A step the member asked for (the buddy's note) is not retried: they
    were told, and may press again."""
    first = next(
        (s for s in repo.spell_steps(conn, action.guild_id, action.user_id, action.spell) if s.step == action.step),
        None,
    )
    if first is None or now - first.claimed_at >= RETRY_FAILED_FOR:
        return
    row = repo.get_member(conn, action.guild_id, action.user_id)
    if row is not None and row.spell == action.spell and row.step == action.step:
        repo.update_ladder(
            conn,
            action.guild_id,
            action.user_id,
            action.spell,
            step=action.step - 1,
            hurry=row.hurry,
            next_check_at=now + retry_delay(action, first.claimed_at, transient=transient),
        )


def _facts(
    conn: sqlite3.Connection, members: Sequence[tuple[int, int]], now: datetime
) -> dict[tuple[int, int], repo.Participation]:
    return repo.participation(conn, members, now - timedelta(days=PARTICIPATION_DAYS))


@dataclass(slots=True)
class _Sweep:
    """The state of one claim transaction: settings per server, and the next checks to write."""

    now: datetime
    facts: dict[tuple[int, int], repo.Participation]
    configs: dict[int, NudgeConfig] = field(default_factory=dict)
    checks: list[tuple[int | None, bool | None, int, int]] = field(default_factory=list)
    stamp: int = 0
    """``now`` in Unix seconds."""

    def __post_init__(self) -> None:
        self.stamp = to_timestamp(self.now)

    def check(self, row: repo.MemberRow, at: int | None, participant: bool | None = None) -> None:
        """Check the member next at ``at`` (Unix seconds; written at the end of the transaction, all
        at once); record whether they participate if that changed."""
        flag = None if participant is None or participant == row.participant else participant
        self.checks.append((at, flag, row.guild_id, row.user_id))


class NudgeService:
    """Members' nudge choices, the activity they leave, and the ladder's decisions.

    Each public method is one unit of work. ``run_id`` names this run of the bot in the claims it
    makes, so that the next run knows which claims a crash left behind.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock = utc_now,
        guidance: GuidanceLibrary | None = None,
        *,
        throttle: DmThrottle | None = None,
        rng: Random | None = None,
        run_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.guidance = GuidanceLibrary.load() if guidance is None else guidance
        self.throttle = DmThrottle() if throttle is None else throttle
        self.rng = Random() if rng is None else rng  # noqa: S311 - choosing a quote, not a secret
        self.run_id = secrets.token_hex(8) if run_id is None else run_id

    # ------------------------------------------------------------------ settings

    async def get_config(self, guild_id: int) -> NudgeConfig:
        """The server's nudge settings."""
        return await self.db.read(lambda conn: NudgeConfig.of(read_config(conn, guild_id)))

    async def configure(
        self,
        guild_id: int,
        actor_id: int | None,
        *,
        enabled: bool | None = None,
        quiet_days: int | None = None,
        buddy_after_days: int | None = None,
        moderator_after_days: int | None = None,
    ) -> NudgeConfig:
        """Change any of the server's nudge settings at once (the days must grow step by step)."""
        given: dict[str, bool | int] = {}
        for key, value in (
            ("nudges_enabled", enabled),
            ("quiet_days", quiet_days),
            ("buddy_after_days", buddy_after_days),
            ("moderator_after_days", moderator_after_days),
        ):
            if value is not None:
                checked = SETTINGS[key].validate(value)
                assert isinstance(checked, bool | int)
                given[key] = checked
        now = self.clock()

        def work(conn: sqlite3.Connection) -> NudgeConfig:
            before = NudgeConfig.of(read_config(conn, guild_id))
            days = {
                "quiet_days": before.quiet_days,
                "buddy_after_days": before.buddy_after_days,
                "moderator_after_days": before.moderator_after_days,
            }
            days.update({k: int(v) for k, v in given.items() if k in days})
            _check_order(days["quiet_days"], days["buddy_after_days"], days["moderator_after_days"])
            stored = guilds_repo.get_settings(conn, guild_id)
            changes: dict[str, list[str | None]] = {}
            for key, value in given.items():
                text = SETTINGS[key].dump(value)
                guilds_repo.set_setting(conn, guild_id, key, text, now, actor_id)
                if stored.get(key) != text:
                    changes[key] = [stored.get(key), text]
            if changes:  # the moderators' audit log, in the same transaction
                audit.record(conn, guild_id, actor_id, SETTINGS_CHANGED, changes, now)
            after = NudgeConfig.of(read_config(conn, guild_id))
            if after.enabled and not before.enabled:
                repo.rearm_guild(conn, guild_id, after.seconds_before(STEP_MEMBER))
            if after.enabled:
                repo.pull_checks_forward(
                    conn,
                    guild_id,
                    after.seconds_before(STEP_MEMBER),
                    after.seconds_before(STEP_BUDDY),
                    after.seconds_before(STEP_MODERATORS),
                )
            return after

        config = await self.db.transaction(work)
        log.info("Nudge settings of guild %s changed by %s: %s", guild_id, actor_id, given)
        return config

    # ------------------------------------------------------------------ members' choices

    def _status(self, conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime) -> NudgeStatus:
        config = NudgeConfig.of(read_config(conn, guild_id))
        row = repo.get_member(conn, guild_id, user_id)
        opt = "auto" if row is None else row.opt
        reasons = _reasons(opt, _facts(conn, [(guild_id, user_id)], now).get((guild_id, user_id)))
        paused = None if row is None or row.paused_until is None or row.paused_until <= now else row.paused_until
        return NudgeStatus(
            opt=opt,
            paused_until=paused,
            reasons=reasons,
            config=config,
            last_active_at=None if row is None else row.last_active_at,
        )

    async def status(self, guild_id: int, user_id: int) -> NudgeStatus:
        """The member's nudges: on, off or automatic, paused, and why they participate."""
        now = self.clock()
        return await self.db.read(lambda conn: self._status(conn, guild_id, user_id, now))

    async def set_opt(self, guild_id: int, user_id: int, on: bool) -> NudgeStatus:
        """``/nudges on`` (participate, and lift any pause) or ``/nudges off`` (stop everything now)."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> NudgeStatus:
            guilds_repo.ensure_guild(conn, guild_id, now)
            config = NudgeConfig.of(read_config(conn, guild_id))
            next_check = None
            if on and config.enabled:
                row = repo.get_member(conn, guild_id, user_id)
                start = now if row is None else row.last_active_at
                next_check = max(now, start + timedelta(seconds=config.seconds_before(max(1, self._next_step(row)))))
            repo.set_opt(conn, guild_id, user_id, "on" if on else "off", now, next_check)
            return self._status(conn, guild_id, user_id, now)

        status = await self.db.transaction(work)
        log.info("Member %s in guild %s turned nudges %s", user_id, guild_id, "on" if on else "off")
        return status

    @staticmethod
    def _next_step(row: repo.MemberRow | None) -> int:
        return 1 if row is None else min(row.step + 1, STEP_MODERATORS)

    async def pause(self, guild_id: int, user_id: int, days: int) -> NudgeStatus:
        """Pause the member's nudges for ``days`` (1–30)."""
        if not 1 <= days <= MAX_PAUSE_DAYS:
            raise UserError(f"A pause is 1 to {MAX_PAUSE_DAYS} days.")
        now = self.clock()

        def work(conn: sqlite3.Connection) -> NudgeStatus:
            guilds_repo.ensure_guild(conn, guild_id, now)
            repo.set_pause(conn, guild_id, user_id, now + timedelta(days=days), now)
            return self._status(conn, guild_id, user_id, now)

        return await self.db.transaction(work)

    # ------------------------------------------------------------------ activity

    async def record_activity(self, batch: ActivityBatch) -> None:
        """Write a batch of activity (the buffer's flush): one transaction for every server."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> None:
            for guild_id, active, left in batch.by_guild():
                guilds_repo.ensure_guild(conn, guild_id, now)
                config = NudgeConfig.of(read_config(conn, guild_id))
                quiet = config.seconds_before(STEP_MEMBER) if config.enabled else None
                if active:
                    repo.apply_activity(conn, guild_id, active, quiet, now)
                if left:
                    repo.mark_absent(conn, guild_id, left, now)

        await self.db.transaction(work)

    async def active_now(self, guild_id: int, user_id: int) -> None:
        """The member is active right now ("I'm okay"): written at once, not only buffered."""
        now = self.clock()
        await self.record_activity(ActivityBatch({(guild_id, user_id): now}))

    async def seed_members(self, guild_id: int, members: Sequence[tuple[int, datetime | None]]) -> None:
        """Members present in the server, with their join time: those the bot has not seen yet count
        as active since they joined, or since the bot started watching the server if that is later."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> None:
            guilds_repo.ensure_guild(conn, guild_id, now)
            since = to_timestamp(repo.ensure_watching(conn, guild_id, now))
            config = NudgeConfig.of(read_config(conn, guild_id))
            quiet = config.seconds_before(STEP_MEMBER) if config.enabled else None
            entries = [
                (user_id, max(since, to_timestamp(joined) if joined is not None else since))
                for user_id, joined in members
            ]
            repo.apply_activity(conn, guild_id, entries, quiet, now)

        await self.db.transaction(work)

    async def watching_since(self, guild_id: int) -> datetime:
        """Since when the bot watches the server (recorded now if never)."""
        now = self.clock()
        return await self.db.transaction(lambda conn: repo.ensure_watching(conn, guild_id, now))

    # ------------------------------------------------------------------ the ladder

    def _claim_one(
        self, conn: sqlite3.Connection, row: repo.MemberRow, sweep: _Sweep
    ) -> tuple[NudgeAction | None, bool]:
        """Decide about one due member inside the sweep's transaction; claim the step if it is to
        be carried out now. Either way the member's next check is set. Returns the step to carry
        out, if any, and whether the member is due again at once (a step that needed no message)."""
        guild_id, user_id, spell, now, stamp = row.guild_id, row.user_id, row.spell, sweep.now, sweep.stamp
        config = sweep.configs.get(guild_id)
        if config is None:
            config = sweep.configs[guild_id] = NudgeConfig.of(read_config(conn, guild_id))
        if not config.enabled or row.opt == "off" or not row.present or row.step >= STEP_MODERATORS:
            sweep.check(row, None)
            return None, False
        if row.paused is not None and row.paused > stamp:
            sweep.check(row, row.paused)
            return None, False
        facts = sweep.facts.get((guild_id, user_id))
        latest_checkin = None if facts is None else facts.latest_checkin
        if latest_checkin is not None and to_timestamp(latest_checkin) > spell:
            # A check-in (perhaps from a DM button, which names no server) is activity too.
            repo.apply_activity(
                conn, guild_id, [(user_id, to_timestamp(latest_checkin))], config.seconds_before(STEP_MEMBER), now
            )
            return None, True  # the new spell may be due already (a check-in days ago)
        step = row.step + 1
        due_at = spell + config.seconds_before(step)
        if row.opt != "on" and (facts is None or not (facts.buddy or latest_checkin is not None or facts.sobriety)):
            # No reason to participate (see _reasons). Looked at again a day later, or on the day of
            # their next step if that is later: nothing could be due for them before it.
            recheck = stamp + NON_PARTICIPANT_RECHECK_SECONDS
            sweep.check(row, recheck if row.hurry else max(recheck, due_at), participant=False)
            return None, False
        if due_at > stamp and not row.hurry:
            sweep.check(row, due_at, participant=True)
            return None, False
        quiet = _quiet_days(spell, now)

        def advance(next_check: datetime | None, *, hurry: bool = False) -> None:
            repo.update_ladder(conn, guild_id, user_id, spell, step=step, hurry=hurry, next_check_at=next_check)

        def day_of(next_step: int) -> datetime:
            return row.last_active_at + timedelta(seconds=config.seconds_before(next_step))

        def after(next_step: int) -> datetime:
            # The next step's day, but never sooner after this step than the days between the two
            # (after a downtime the member still gets the time to answer before their buddy hears).
            gap = timedelta(seconds=config.seconds_before(next_step) - config.seconds_before(step))
            return max(day_of(next_step), now + gap)

        if step == STEP_MEMBER:
            zone = _zone(conn, guild_id, user_id)
            return self._claim_dm(conn, row, sweep, zone, step, user_id, after(STEP_BUDDY), advance, quiet), False
        if step == STEP_BUDDY:
            buddy = _active_buddy(conn, guild_id, user_id)
            if buddy is None:
                repo.claim_step(
                    conn,
                    guild_id,
                    user_id,
                    spell,
                    step,
                    target_id=None,
                    run_id=self.run_id,
                    now=now,
                    outcome="no_buddy",
                )
                next_check = now if row.hurry else day_of(STEP_MODERATORS)
                advance(next_check, hurry=row.hurry)
                return None, next_check <= now
            buddy_zone = _zone(conn, guild_id, buddy)
            action = self._claim_dm(conn, row, sweep, buddy_zone, step, buddy, after(STEP_MODERATORS), advance, quiet)
            return action, False
        channel = config.moderator_channel_id
        taken = tuple(repo.spell_steps(conn, guild_id, user_id, spell))
        if channel is None:
            repo.claim_step(
                conn, guild_id, user_id, spell, step, target_id=None, run_id=self.run_id, now=now, outcome="no_channel"
            )
            advance(None)
            log.warning("Guild %s has no moderators' channel: a quiet-member notice was not sent", guild_id)
            return None, False
        claimed = repo.claim_step(conn, guild_id, user_id, spell, step, target_id=channel, run_id=self.run_id, now=now)
        advance(None)
        if not claimed:
            return None, False
        return NudgeAction(guild_id, user_id, spell, step, channel, quiet, steps=taken, claimed_at=now), False

    def _claim_dm(
        self,
        conn: sqlite3.Connection,
        row: repo.MemberRow,
        sweep: _Sweep,
        zone: tzinfo,
        step: int,
        recipient: int,
        next_check: datetime,
        advance: Callable[..., None],
        quiet: int,
    ) -> NudgeAction | None:
        guild_id, user_id, now = row.guild_id, row.user_id, sweep.now
        if not in_daytime(now, zone):
            sweep.check(row, to_timestamp(next_daytime(now, zone)), participant=True)
            return None
        wait = self.throttle.try_take(guild_id, now)
        if wait is not None:
            sweep.check(row, to_timestamp(wait), participant=True)
            return None
        claimed = repo.claim_step(
            conn, guild_id, user_id, row.spell, step, target_id=recipient, run_id=self.run_id, now=now
        )
        advance(next_check)
        if not claimed:  # e.g. the member already asked for the buddy's note in this spell
            return None
        passage = self._passage() if step == STEP_MEMBER else None
        return NudgeAction(guild_id, user_id, row.spell, step, recipient, quiet, passage=passage, claimed_at=now)

    def _passage(self) -> Passage | None:
        try:
            return self.guidance.random(GUIDANCE_TOPIC, rng=self.rng)
        except KeyError:
            return None

    async def claim_due(self, limit: int = 100, *, max_rows: int = ROWS_PER_CLAIM) -> _Claimed:
        """One transaction: look at the due members, ``limit`` at a time, and claim the steps to carry
        out now; stop once ``limit`` steps are claimed or ``max_rows`` members looked at (the write
        lock is held meanwhile). ``more``: members may still be due."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> _Claimed:
            actions: list[NudgeAction] = []
            seen: set[tuple[int, int]] = set()
            while True:
                due = repo.due_with_participation(conn, now, limit, now - timedelta(days=PARTICIPATION_DAYS))
                facts = {(r.guild_id, r.user_id): f for r, f in due if (r.guild_id, r.user_id) not in seen}
                rows = [r for r, _ in due if (r.guild_id, r.user_id) in facts]
                if not rows:  # only members looked at already are due (e.g. a step left them due)
                    return _Claimed(actions, more=len(due) >= limit)
                seen.update(facts)
                sweep = _Sweep(now, facts)
                for row in rows:
                    current: repo.MemberRow | None = row
                    # A step that needs no message (no buddy) may make the next one due at once
                    # (after closed DMs): decide it too, in the same transaction.
                    for _ in range(STEP_MODERATORS):
                        assert current is not None
                        action, again = self._claim_one(conn, current, sweep)
                        if action is not None:
                            actions.append(action)
                        if not again:
                            break
                        current = repo.get_member(conn, row.guild_id, row.user_id)
                        if current is None:
                            break
                repo.schedule_many(conn, sweep.checks)
                if len(rows) < limit:
                    return _Claimed(actions, more=False)
                if len(actions) >= limit or len(seen) >= max_rows:
                    return _Claimed(actions, more=True)

        return await self.db.transaction(work)

    async def report(self, action: NudgeAction, outcome: str) -> None:
        """Record how a claimed step went. One that reached nobody makes the next step due now; one that
        failed (:data:`TRANSIENT` is recorded as ``failed``) is claimed again later."""
        now = self.clock()
        transient = outcome == TRANSIENT
        if transient:
            outcome = "failed"

        def work(conn: sqlite3.Connection) -> None:
            repo.finish_step(conn, action.guild_id, action.user_id, action.spell, action.step, outcome, now)
            if action.step == STEP_MEMBER and outcome == "gone":
                repo.mark_absent(conn, action.guild_id, [action.user_id], now)
            elif action.step < STEP_MODERATORS and outcome in ("dm_closed", "gone") and not action.requested:
                row = repo.get_member(conn, action.guild_id, action.user_id)
                if row is not None and row.spell == action.spell and row.step == action.step:
                    repo.update_ladder(
                        conn, action.guild_id, action.user_id, action.spell, step=action.step, hurry=True,
                        next_check_at=now,
                    )  # fmt: skip
            elif outcome == "failed" and not action.requested:
                _retry_later(conn, action, now, transient=transient)

        await self.db.transaction(work)

    async def next_check_at(self) -> datetime | None:
        """When the earliest member is due."""
        return await self.db.read(repo.earliest_check)

    async def prune(self) -> int:
        """Forget the steps of long-past spells."""
        before = self.clock() - KEEP_STEPS
        return await self.db.transaction(lambda conn: repo.prune_steps(conn, before))

    # ------------------------------------------------------------------ crash recovery

    async def stale_claims(self, limit: int = 100) -> list[NudgeAction]:
        """Claims an earlier run left pending, taken over by this run."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> list[NudgeAction]:
            out: list[NudgeAction] = []
            for step in repo.stale_pending_steps(conn, self.run_id, limit):
                if not repo.take_over_step(
                    conn, step.guild_id, step.user_id, step.spell, step.step, step.run_id, self.run_id
                ):
                    continue
                taken = tuple(
                    s for s in repo.spell_steps(conn, step.guild_id, step.user_id, step.spell) if s.step < step.step
                )
                out.append(
                    NudgeAction(
                        step.guild_id,
                        step.user_id,
                        step.spell,
                        step.step,
                        step.target_id if step.target_id is not None else step.user_id,
                        _quiet_days(step.spell, now),
                        passage=self._passage() if step.step == STEP_MEMBER else None,
                        steps=taken,
                        requested=step.requested,
                        claimed_at=step.claimed_at,
                    )
                )
            return out

        return await self.db.transaction(work)

    async def still_wanted(self, action: NudgeAction) -> bool:
        """Whether a step found not sent after a crash should still go out: the spell goes on (or the
        member asked) and they have not opted out."""

        def work(conn: sqlite3.Connection) -> bool:
            row = repo.get_member(conn, action.guild_id, action.user_id)
            if row is None or row.opt == "off" or not row.present:
                return False
            config = NudgeConfig.of(read_config(conn, action.guild_id))
            return config.enabled and (action.requested or row.spell == action.spell)

        return await self.db.read(work)

    # ------------------------------------------------------------------ "Ask my buddy to reach out"

    async def request_buddy(self, guild_id: int, user_id: int, spell: int) -> NudgeAction:
        """The member asked for their buddy's note now: claim it (once per spell) and return it.

        Raises :class:`UserError` if they have no buddy or the note was already sent in this spell.
        """
        now = self.clock()

        def work(conn: sqlite3.Connection) -> NudgeAction:
            buddy = _active_buddy(conn, guild_id, user_id)
            if buddy is None:
                raise UserError(
                    "You don't have a buddy right now. You can ask for one with `/buddy request` in the server, "
                    "or reach out to anyone there: peers understand."
                )
            if not repo.claim_step(
                conn, guild_id, user_id, spell, STEP_BUDDY, target_id=buddy, run_id=self.run_id, now=now, requested=True
            ):
                raise UserError("Your buddy already got a note from me. They'll reach out soon, I'm sure.")
            return NudgeAction(guild_id, user_id, spell, STEP_BUDDY, buddy, _quiet_days(spell, now), requested=True)

        action = await self.db.transaction(work)
        self.throttle.record(guild_id, now)
        return action

    # ------------------------------------------------------------------ moderators' view

    async def quiet_members(self, guild_id: int, page: int = 0, per_page: int = 10) -> QuietPage:
        """Participating members quiet longer than ``quiet_days``, the quietest first, one page."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> QuietPage:
            config = NudgeConfig.of(read_config(conn, guild_id))
            since = now - timedelta(days=config.quiet_days)
            total = repo.count_quiet_members(conn, guild_id, since)
            pages = max(1, -(-total // per_page))
            number = min(max(0, page), pages - 1)
            rows = repo.quiet_members(conn, guild_id, since, per_page, number * per_page)
            members = tuple(
                QuietMember(
                    user_id=row.user_id,
                    last_active_at=row.last_active_at,
                    quiet_days=_quiet_days(row.spell, now),
                    step=row.step,
                    steps=tuple(repo.spell_steps(conn, guild_id, row.user_id, row.spell)),
                    paused_until=row.paused_until if row.paused_until and row.paused_until > now else None,
                )
                for row in rows
            )
            return QuietPage(members, total, number, pages, config.quiet_days)

        return await self.db.read(work)


# --------------------------------------------------------------------------- the sweep


Flush = Callable[[], Awaitable[object]]


class NudgeSweeper(WakeableLoop):
    """Runs the sweep: right after start, then every ``interval`` seconds (sooner when a member is
    due sooner, e.g. a DM waiting for a free slot). One sweep at a time."""

    name = "nudge sweeper"

    def __init__(
        self,
        service: NudgeService,
        messenger: Messenger,
        *,
        flush: Flush | None = None,
        interval: float = 900.0,
        batch: int = 100,
        max_rounds: int = 100,
        sleep: Sleep = asyncio.sleep,
        retry_delay: float = 60.0,
        min_delay: float = 5.0,
    ) -> None:
        super().__init__(sleep=sleep, retry_delay=retry_delay)
        self.service = service
        self.messenger = messenger
        self._flush = flush
        self._interval = interval
        self._batch = batch
        self._max_rounds = max_rounds
        self._min_delay = min_delay
        self._lock = asyncio.Lock()
        self._recovered = False
        self._pruned_at: datetime | None = None

    @property
    def idle(self) -> bool:
        """Whether the periodic task is asleep between two sweeps (and no sweep is running)."""
        return super().idle and not self._lock.locked()

    async def round(self) -> float:
        """One sweep, then the seconds until the next."""
        await self.run_once()
        return await self._delay()

    async def run_once(self) -> SweepReport:
        """One sweep: write the buffered activity, finish what a crash left, then carry out every
        step due now (round after round, until nothing due is left)."""
        async with self._lock:
            report = SweepReport()
            if self._flush is not None:
                try:
                    await self._flush()
                except StorageError as exc:
                    log.warning("Sweep: could not write the buffered activity first: %s", exc)
            if not self._recovered:
                await self._recover(report)
                self._recovered = True
            now = self.service.clock()
            if self._pruned_at is None or now - self._pruned_at >= DAY:
                await self.service.prune()
                self._pruned_at = now
            for _ in range(self._max_rounds):
                claimed = await self.service.claim_due(self._batch)
                report.rounds += 1
                for action in claimed.actions:
                    await self._carry_out(action, report)
                if not claimed.actions and not claimed.more:
                    break
            if report.outcomes:
                log.info("Nudge sweep: %s", report.outcomes)
            return report

    async def _carry_out(self, action: NudgeAction, report: SweepReport) -> None:
        try:
            outcome = await self.messenger.deliver(action)
        except Exception:
            log.exception(
                "Nudge step %s for member %s in guild %s failed", action.step, action.user_id, action.guild_id
            )
            outcome = "failed"
        report.count(outcome)
        await self.service.report(action, outcome)

    async def _recover(self, report: SweepReport) -> None:
        for action in await self.service.stale_claims():
            try:
                found = await self.messenger.find_delivered(action)
            except Exception:
                log.exception("Could not check whether a nudge step was sent before the restart")
                found = None
            if found is True:
                await self.service.report(action, "sent")
            elif found is None:
                log.warning(
                    "Nudge step %s for member %s in guild %s may or may not have been sent before a restart; "
                    "not sending it again",
                    action.step,
                    action.user_id,
                    action.guild_id,
                )
                await self.service.report(action, "unknown")
            elif await self.service.still_wanted(action):
                await self._carry_out(action, report)
            else:
                await self.service.report(action, "dropped")
            report.recovered += 1

    async def _delay(self) -> float:
        earliest = await self.service.next_check_at()
        if earliest is None:
            return self._interval
        seconds = (earliest - self.service.clock()).total_seconds()
        return min(self._interval, max(self._min_delay, seconds))

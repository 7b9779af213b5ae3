"""The outbox: posts and DMs that are not answers to an interaction, delivered at least once, shown once.

A milestone celebration, a shared check-in summary and a notice to the moderators (in a channel, or to
the server's owner by DM), and a DM to a member that has no next chance of its own (the notice that a
buddy pairing ended, what a buddy is) are written to the outbox before they are sent
(:meth:`OutboxService.add`), so nothing is lost when Discord fails:

* **An attempt at once** by the caller, who learns the :class:`Delivery`: delivered, retrying, or
  undelivered (and why).
* **A transient failure** (a 5xx, a timeout, a broken connection; a 429 is waited out by discord.py
  itself) keeps the post and tries again after :data:`BACKOFF` (1 min, 5 min, 30 min, 2 h, 6 h,
  12 h): at most :data:`MAX_ATTEMPTS` attempts, and never once it is older than :data:`MAX_AGE`.
* **A permanent failure** (Discord refuses it: no access, the channel is gone, the DMs are closed; the
  setting naming the channel is no longer set; the member has left the server), or the attempts used
  up, is *recorded*: logged, and an entry in the
  server's audit log (``/settings audit-log``) says what could not be posted, where, and why — never
  the post itself, nor whom it was about. Then the post is forgotten.
* **Delivered** posts are deleted at once: the outbox keeps nothing longer than it must.
* **Never twice**: each attempt *claims* the post first (attempts + 1, and not due again for
  :data:`CLAIM_LEASE`), and the sender passes the post's :attr:`Post.nonce` to Discord with
  ``enforce_nonce``: if an earlier attempt did create the message but its answer was lost, Discord
  returns that message instead of a second one. A process killed mid-send leaves the claim, and the
  post is tried again (same nonce) when the lease ends, after a restart too.

:class:`OutboxDispatcher` is the one background task that sends what is due (the bot starts it once
ready): it sleeps until the next due post, and is woken when one is added or put off. No Discord here:
the sender, given by the cog, turns a :class:`Post` into an :class:`Attempt`; what a kind of post adds
to its text at each attempt (embeds quoting the article) is given by the cog that owns the kind
(:meth:`OutboxService.set_extras`), made afresh from what the bot holds, never stored.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.db.connection import Database
from bot.db.repositories import audit
from bot.db.repositories import outbox as repo
from bot.db.repositories.outbox import OutboxRow
from bot.services.background import ScheduleListeners, Sleep, WakeableLoop
from bot.timeutil import Clock

__all__ = [
    "BACKOFF",
    "CHECKIN_SHARE",
    "CLAIM_LEASE",
    "DESTINATION_LABELS",
    "KIND_LABELS",
    "MAX_AGE",
    "MAX_ATTEMPTS",
    "MILESTONE",
    "MODERATOR_NOTICE",
    "PAIR_ENDED",
    "UNDELIVERED_ACTION",
    "WHAT_A_BUDDY_IS",
    "Attempt",
    "Delivery",
    "Extras",
    "NewPost",
    "OutboxDispatcher",
    "OutboxService",
    "Post",
    "Send",
    "attempt",
]

log = logging.getLogger(__name__)

MILESTONE = "milestone"
CHECKIN_SHARE = "checkin_share"
MODERATOR_NOTICE = "moderator_notice"
PAIR_ENDED = "pair_ended"
WHAT_A_BUDDY_IS = "what_a_buddy_is"
KIND_LABELS = {
    MILESTONE: "a milestone celebration",
    CHECKIN_SHARE: "a shared check-in summary",
    MODERATOR_NOTICE: "a notice to the moderators",
    PAIR_ENDED: "a private notice that a buddy pairing ended",
    WHAT_A_BUDDY_IS: "a private welcome saying what a buddy is",
}
"""How the audit log and the export name each kind of post."""

DESTINATION_LABELS = {
    "channel": "the channel",
    "moderator_channel": "the moderators' channel",
    "celebrations_channel": "the celebrations channel",
    "checkin_channel": "the check-in channel",
    "owner": "the server owner's direct messages",
    "member": "a member's direct messages",
}
"""How the audit log names each destination."""

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
"""The wait after the 1st, 2nd, … transient failure. The first is short enough that a retry still
falls within the few minutes Discord honours a nonce."""
MAX_ATTEMPTS = len(BACKOFF) + 1
"""Attempts in all (the last about 21 hours after the first); then the post is given up."""
MAX_AGE = timedelta(hours=24)
"""A post still pending this long after it was written is given up, not sent late (the bot was away)."""
CLAIM_LEASE = timedelta(minutes=2)
"""A claimed post is not due again for this long: longer than discord.py's own retries of one send,
short enough that a retry after a kill mid-send still reuses the nonce within Discord's window."""
UNDELIVERED_ACTION = "outbox.undelivered"
"""The audit-log action of a post that was given up."""


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post to deliver. ``destination``: ``'channel'`` (with ``channel_id``), a setting naming a channel
    (``'moderator_channel'``, ``'celebrations_channel'``, ``'checkin_channel'``; read when it is sent),
    ``'owner'``, or ``'member'`` (a DM to ``user_id``). ``user_id``: the member it is about or for, if any
    (export, erasure)."""

    guild_id: int
    kind: str
    destination: str
    content: str
    user_id: int | None = None
    channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """A pending post, claimed for an attempt."""

    id: int
    guild_id: int
    user_id: int | None
    kind: str
    destination: str
    channel_id: int | None
    content: str
    attempts: int
    created_at: datetime

    @property
    def nonce(self) -> str:
        """The same for every attempt at this post (Discord returns the message already made with it)."""
        return f"ob{self.id}"

    @classmethod
    def of(cls, row: OutboxRow) -> Post:
        """The post of a stored row."""
        return cls(
            id=row.id,
            guild_id=row.guild_id,
            user_id=row.user_id,
            kind=row.kind,
            destination=row.destination,
            channel_id=row.channel_id,
            content=row.content,
            attempts=row.attempts,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: ``sent``; ``transient`` (try again later); ``permanent`` (it cannot
    succeed: Discord refused it, or there is nowhere to send it). ``channel_id``: where it was to go.
    ``dms_closed``: refused because the recipient's DMs are closed (Discord's 50007)."""

    outcome: Literal["sent", "transient", "permanent"]
    reason: str = ""
    channel_id: int | None = None
    dms_closed: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of a post after an attempt: ``delivered``; ``retrying`` at ``retry_at``;
    ``undelivered`` (recorded and given up, ``reason`` says why; ``dms_closed`` if it was because the
    recipient's DMs are closed)."""

    state: Literal["delivered", "retrying", "undelivered"]
    reason: str = ""
    retry_at: datetime | None = None
    dms_closed: bool = False


Send = Callable[[Post], Awaitable[Attempt]]
"""The sender: one attempt at a post (never raises for Discord's failures)."""

Extras = Callable[[Post], Mapping[str, Any]]
"""What the sender adds to a kind of post's text at each attempt (keyword arguments of the send, such as
embeds quoting the article): made from what the bot holds, so nothing more is stored."""


class OutboxService(ScheduleListeners):
    """Adds, claims and settles posts; each public method is one unit of work."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock
        super().__init__()
        self._in_flight: set[int] = set()
        self._extras: dict[str, Extras] = {}

    # ----------------------------------------------------------------------- what a kind adds

    def set_extras(self, kind: str, extras: Extras | None) -> None:
        """Have ``extras(post)`` added to every attempt at a post of ``kind`` (``None``: no longer)."""
        if extras is None:
            self._extras.pop(kind, None)
        else:
            self._extras[kind] = extras

    def extras(self, post: Post) -> Mapping[str, Any]:
        """What an attempt at the post adds to its text (nothing, unless its kind's owner said)."""
        extras = self._extras.get(post.kind)
        return {} if extras is None else extras(post)

    # ----------------------------------------------------------------------- adding and claiming

    async def add(self, new: NewPost) -> Post:
        """Write the post, claimed for its first attempt, which the caller makes now."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> OutboxRow:
            return repo.insert(
                conn,
                new.guild_id,
                user_id=new.user_id,
                kind=new.kind,
                destination=new.destination,
                channel_id=new.channel_id,
                content=new.content,
                attempts=1,
                next_attempt_at=now + CLAIM_LEASE,
                now=now,
            )

        post = Post.of(await self._db.transaction(work))
        self._in_flight.add(post.id)
        return post

    async def claim_due(self, limit: int = 50) -> list[Post]:
        """Claim up to ``limit`` posts due now for an attempt; those past :data:`MAX_AGE` or out of
        attempts (a process killed during the last one) are recorded and given up instead."""
        now = self.clock()
        busy = frozenset(self._in_flight)

        def work(conn: sqlite3.Connection) -> list[Post]:
            claimed: list[Post] = []
            for row in repo.due(conn, now, limit + len(busy)):
                if row.id in busy:
                    continue
                if row.attempts >= MAX_ATTEMPTS or now - row.created_at >= MAX_AGE:
                    why = "too late to post it now" if row.attempts < MAX_ATTEMPTS else "out of attempts"
                    self._give_up(conn, Post.of(row), why, None, now)
                    continue
                taken = repo.claim(conn, row, now, now + CLAIM_LEASE)
                if taken is not None:
                    claimed.append(Post.of(taken))
                if len(claimed) >= limit:
                    break
            return claimed

        claimed = await self._db.transaction(work)
        self._in_flight.update(post.id for post in claimed)
        return claimed

    # ----------------------------------------------------------------------- settling an attempt

    async def settle(self, post: Post, attempt: Attempt) -> Delivery:
        """Record what the attempt came to: delivered (forgotten), retrying (put off), or undelivered
        (recorded in the audit log, forgotten). A post erased meanwhile (``/privacy delete``) stays gone."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> Delivery:
            if attempt.outcome == "sent":
                repo.delete(conn, post.id)
                return Delivery("delivered")
            if attempt.outcome == "transient" and post.attempts < MAX_ATTEMPTS:
                retry_at = now + BACKOFF[post.attempts - 1]
                if retry_at - post.created_at < MAX_AGE:
                    if not repo.reschedule(conn, post.id, retry_at):
                        return Delivery("undelivered", "it was erased meanwhile")
                    return Delivery("retrying", attempt.reason, retry_at)
            if attempt.outcome == "permanent":
                why, closed = attempt.reason, attempt.dms_closed
            else:
                why, closed = f"{attempt.reason}, and out of attempts", False
            self._give_up(conn, post, why, attempt.channel_id, now)
            return Delivery("undelivered", why, dms_closed=closed)

        try:
            delivery = await self._db.transaction(work)
        finally:
            self._in_flight.discard(post.id)
        if delivery.state == "retrying":
            log.warning(
                "Outbox post %s (%s, guild %s) failed (%s); attempt %s of %s at %s",
                post.id,
                post.kind,
                post.guild_id,
                attempt.reason,
                post.attempts + 1,
                MAX_ATTEMPTS,
                delivery.retry_at,
            )
            self.notify_changed()
        elif delivery.state == "delivered" and post.attempts > 1:
            log.info(
                "Outbox post %s (%s, guild %s) delivered at attempt %s",
                post.id,
                post.kind,
                post.guild_id,
                post.attempts,
            )
        return delivery

    def release(self, post: Post) -> None:
        """The attempt could not be settled (the database was unavailable): the claim's lease brings it back."""
        self._in_flight.discard(post.id)

    def _give_up(self, conn: sqlite3.Connection, post: Post, why: str, channel_id: int | None, now: datetime) -> None:
        """Forget the post, and say so in the server's audit log (not what it said, nor about whom)."""
        if not repo.delete(conn, post.id):
            return  # erased meanwhile: nothing to record
        log.warning(
            "Outbox post %s (%s, guild %s, %s) not delivered after %s attempt(s): %s",
            post.id,
            post.kind,
            post.guild_id,
            post.destination,
            post.attempts,
            why,
        )
        if not repo.guild_present(conn, post.guild_id):
            return  # the bot left the server: an entry would mark it present again
        detail: dict[str, object] = {
            "post": KIND_LABELS.get(post.kind, post.kind),
            "to": DESTINATION_LABELS.get(post.destination, post.destination),
        }
        channel = post.channel_id if post.channel_id is not None else channel_id
        if channel is not None:
            detail["channel_id"] = channel
        detail["reason"] = why
        detail["attempts"] = post.attempts
        audit.record(conn, post.guild_id, None, UNDELIVERED_ACTION, detail, now)

    # ----------------------------------------------------------------------- reading

    async def next_due_at(self) -> datetime | None:
        """When the next pending post is due."""
        return await self._db.read(repo.next_due_at)

    async def pending(self, guild_id: int, user_id: int) -> list[OutboxRow]:
        """The server's pending posts about the member (theirs, or naming them)."""
        return await self._db.read(lambda conn: repo.member_rows(conn, guild_id, user_id))


class OutboxDispatcher(WakeableLoop):
    """The one task that attempts the posts due: it sleeps until the next, and is woken by changes."""

    name = "outbox dispatcher"

    def __init__(
        self,
        service: OutboxService,
        send: Send,
        *,
        sleep: Sleep = asyncio.sleep,
        max_sleep: float = 900.0,
        retry_delay: float = 30.0,
        batch: int = 50,
    ) -> None:
        super().__init__(sleep=sleep, retry_delay=retry_delay, schedule=service)
        self._service = service
        self._send = send
        self._max_sleep = max_sleep
        self._batch = batch

    async def round(self) -> float | None:
        """Attempt what is due; the seconds to wait before looking again."""
        due = await self._service.claim_due(self._batch)
        for post in due:
            await self.attempt(post)
        if len(due) >= self._batch:
            return None
        next_at = await self._service.next_due_at()
        if next_at is None:
            return self._max_sleep
        seconds = (next_at - self._service.clock()).total_seconds()
        return None if seconds <= 0 else min(seconds, self._max_sleep)

    async def attempt(self, post: Post) -> Delivery | None:
        """One attempt at a claimed post, settled; ``None`` if it could not be settled now."""
        return await attempt(self._service, self._send, post)


async def attempt(service: OutboxService, send: Send, post: Post) -> Delivery | None:
    """Send a claimed post once and settle it; ``None`` if the outcome could not be recorded now (the
    claim's lease brings it back, and the nonce keeps a second attempt from posting twice)."""
    try:
        try:
            result = await send(post)
        except Exception:
            log.exception("Outbox post %s (%s): the attempt failed unexpectedly", post.id, post.kind)
            result = Attempt("transient", "an unexpected error")
        return await service.settle(post, result)
    except Exception:
        log.exception("Outbox post %s: its outcome could not be recorded; retried after its lease", post.id)
        return None
    finally:
        service.release(post)

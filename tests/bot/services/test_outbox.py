"""Tests of the outbox: the first attempt, back-off, bounded attempts, permanent against transient
failures, recovery after a restart, the dispatcher, and privacy (export, delete, retention), on a real
temporary SQLite database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.db.connection import Database
from bot.db.repositories import audit
from bot.db.repositories import guilds as guilds_repo
from bot.db.repositories import outbox as repo
from bot.db.repositories import privacy as privacy_repo
from bot.services.buddies import BuddyService
from bot.services.guidance import GuidanceLibrary
from bot.services.outbox import (
    BACKOFF,
    CHECKIN_SHARE,
    CLAIM_LEASE,
    MAX_AGE,
    MAX_ATTEMPTS,
    MILESTONE,
    MODERATOR_NOTICE,
    PAIR_ENDED,
    UNDELIVERED_ACTION,
    WHAT_A_BUDDY_IS,
    Attempt,
    NewPost,
    OutboxDispatcher,
    OutboxService,
    Post,
)
from bot.services.privacy import DEPARTED_KEEP, PrivacyService
from tests.e2e import FakeClock

G1, G2 = 1_200_000_000_000_000_001, 1_200_000_000_000_000_002
ALICE, BOB = 910_000_000_000_000_001, 910_000_000_000_000_002
CELEBRATIONS = 810_000_000_000_000_001
SENT = Attempt("sent")
BUSY = Attempt("transient", "Discord answered 503")


@pytest.fixture
def service(db: Database, clock: FakeClock) -> OutboxService:
    """An outbox on the test database and the test's clock."""
    return OutboxService(db, clock)


def share(user_id: int = ALICE, guild_id: int = G1) -> NewPost:
    """A shared check-in summary of the member."""
    return NewPost(guild_id, CHECKIN_SHARE, "checkin_channel", f"📋 <@{user_id}> checked in: mood 4/5", user_id)


async def rows(db: Database) -> list[repo.OutboxRow]:
    """Every pending post."""
    return await db.read(lambda conn: repo.due(conn, FakeClock().now + timedelta(days=3650), 1000))


async def undelivered_entries(db: Database, guild_id: int = G1) -> list[audit.AuditEntry]:
    """The server's audit entries of posts given up."""
    entries = await db.read(lambda conn: audit.latest(conn, guild_id, 100))
    return [e for e in entries if e.action == UNDELIVERED_ACTION]


# --------------------------------------------------------------------------- the first attempt


async def test_a_new_post_is_claimed_for_its_first_attempt(service: OutboxService, db: Database) -> None:
    """add() stores it with one attempt made; it is not due again before the claim's lease ends."""
    post = await service.add(share())
    assert post.attempts == 1 and post.nonce == f"ob{post.id}"
    assert await service.claim_due() == []
    (row,) = await rows(db)
    assert (row.id, row.user_id, row.kind, row.destination) == (post.id, ALICE, CHECKIN_SHARE, "checkin_channel")
    assert row.next_attempt_at == row.created_at + CLAIM_LEASE


async def test_a_delivered_post_is_deleted_at_once(service: OutboxService, db: Database) -> None:
    """Sent: nothing of it is kept, and nothing is recorded."""
    post = await service.add(share())
    assert (await service.settle(post, SENT)).state == "delivered"
    assert await rows(db) == []
    assert await service.next_due_at() is None
    assert await undelivered_entries(db) == []


async def test_nonces_are_never_reused_after_a_delivery(service: OutboxService) -> None:
    """Ids (and so nonces) keep growing after the outbox empties: a reused nonce would return an old message."""
    first = await service.add(share())
    await service.settle(first, SENT)
    second = await service.add(share())
    assert second.nonce != first.nonce


async def test_a_destination_must_be_known_and_carry_a_channel_only_when_explicit(
    db: Database, clock: FakeClock
) -> None:
    """The repository refuses an unknown destination, and a channel id without 'channel' (or the reverse)."""
    service = OutboxService(db, clock)
    with pytest.raises(ValueError, match="destination"):
        await service.add(NewPost(G1, MILESTONE, "somewhere", "x"))
    with pytest.raises(ValueError, match="channel id"):
        await service.add(NewPost(G1, MILESTONE, "channel", "x"))
    with pytest.raises(ValueError, match="channel id"):
        await service.add(NewPost(G1, MILESTONE, "celebrations_channel", "x", channel_id=CELEBRATIONS))
    post = await service.add(NewPost(G1, MILESTONE, "channel", "x", channel_id=CELEBRATIONS))
    assert post.channel_id == CELEBRATIONS


# --------------------------------------------------------------------------- transient failures


async def test_transient_failures_back_off_then_give_up_and_are_recorded(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Each 5xx puts the post off by the next step of BACKOFF; after MAX_ATTEMPTS it is given up, recorded
    in the audit log (what, where, why, how many attempts: not the text, not the member), and deleted."""
    post = await service.add(share())
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        delivery = await service.settle(post, BUSY)
        assert delivery.state == "retrying" and delivery.retry_at is not None
        waits.append(delivery.retry_at - clock())
        clock.now = delivery.retry_at - timedelta(seconds=1)
        assert await service.claim_due() == []  # not before its time
        clock.now = delivery.retry_at
        (post,) = await service.claim_due()
        assert post.attempts == attempt + 1
    assert tuple(waits) == BACKOFF
    assert post.attempts == MAX_ATTEMPTS and clock() - post.created_at < MAX_AGE
    given_up = await service.settle(post, BUSY)
    assert given_up.state == "undelivered" and "out of attempts" in given_up.reason
    assert await rows(db) == []
    (entry,) = await undelivered_entries(db)
    assert entry.actor_id is None
    assert entry.detail == {
        "post": "a shared check-in summary",
        "to": "the check-in channel",
        "reason": "Discord answered 503, and out of attempts",
        "attempts": MAX_ATTEMPTS,
    }
    assert await db.read(lambda conn: audit.entries_naming(conn, G1, ALICE)) == []


async def test_a_post_delivered_at_its_second_attempt_is_sent_once_and_forgotten(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """A 503, then the next attempt succeeds: one more claim with the same nonce, then nothing pending."""
    post = await service.add(share())
    await service.settle(post, BUSY)
    clock.advance(minutes=1)
    (again,) = await service.claim_due()
    assert again.nonce == post.nonce
    assert (await service.settle(again, SENT)).state == "delivered"
    clock.advance(days=1)
    assert await service.claim_due() == [] and await rows(db) == []


# --------------------------------------------------------------------------- permanent failures


async def test_a_permanent_failure_is_recorded_once_and_not_retried(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """A deleted channel (404) on the first attempt: undelivered, recorded with the channel, deleted."""
    post = await service.add(NewPost(G1, MILESTONE, "celebrations_channel", f"🎉 <@{ALICE}> 7 days", ALICE))
    gone = Attempt("permanent", "the channel no longer exists", CELEBRATIONS)
    delivery = await service.settle(post, gone)
    assert (delivery.state, delivery.reason) == ("undelivered", "the channel no longer exists")
    clock.advance(days=2)
    assert await service.claim_due() == [] and await rows(db) == []
    (entry,) = await undelivered_entries(db)
    assert entry.detail["channel_id"] == CELEBRATIONS and entry.detail["post"] == "a milestone celebration"


async def test_a_server_the_bot_left_gets_no_audit_entry_and_stays_left(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Given up after the bot left the server: logged only, so the server is not marked present again."""
    post = await service.add(share())
    await db.transaction(lambda conn: guilds_repo.mark_bot_left(conn, G1, clock()))
    await service.settle(post, Attempt("permanent", "the bot is no longer in the server"))
    assert await undelivered_entries(db) == []
    assert (await db.read(guilds_repo.guild_states))[G1] is not None


# --------------------------------------------------------------------------- restarts


async def test_a_post_claimed_by_a_killed_process_is_retried_after_the_lease_with_its_nonce(
    db: Database, clock: FakeClock
) -> None:
    """The process died during the first attempt (nothing settled): the next process claims it once the
    lease ends, with the same nonce, so Discord returns the message if it had been created."""
    post = await OutboxService(db, clock).add(share())
    restarted = OutboxService(db, clock)
    assert await restarted.claim_due() == []
    clock.advance(seconds=CLAIM_LEASE.total_seconds())
    (again,) = await restarted.claim_due()
    assert (again.id, again.nonce, again.attempts) == (post.id, post.nonce, 2)


async def test_pending_posts_are_sent_after_a_restart(db: Database, clock: FakeClock) -> None:
    """A post put off by a 503 is claimed by a new process when it is due, and delivered."""
    before = OutboxService(db, clock)
    post = await before.add(share())
    await before.settle(post, BUSY)
    clock.advance(minutes=2)
    after = OutboxService(db, clock)
    (again,) = await after.claim_due()
    assert (await after.settle(again, SENT)).state == "delivered"
    assert await rows(db) == []


async def test_a_post_older_than_a_day_is_given_up_not_sent_late(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """The bot was away for two days: the post is recorded as too late instead of being posted now."""
    post = await service.add(share())
    await service.settle(post, BUSY)
    clock.advance(days=2)
    assert await service.claim_due() == []
    assert await rows(db) == []
    (entry,) = await undelivered_entries(db)
    assert entry.detail["reason"] == "too late to post it now"


async def test_two_processes_never_claim_the_same_attempt(db: Database, clock: FakeClock) -> None:
    """A claim is conditional: of two claims of one due post, one wins; a post in flight in this process
    is not claimed again by it."""
    one, two = OutboxService(db, clock), OutboxService(db, clock)
    post = await one.add(share())
    await one.settle(post, BUSY)
    clock.advance(minutes=1)
    first, second = await asyncio.gather(one.claim_due(), two.claim_due())
    assert len(first) + len(second) == 1
    clock.advance(seconds=CLAIM_LEASE.total_seconds())
    owner = one if first else two
    assert await owner.claim_due() == []  # still in flight here, though its lease ended


# --------------------------------------------------------------------------- the dispatcher


class FakeSender:
    """Answers each attempt from a script (default: sent), recording the nonces it was given."""

    def __init__(self, *answers: Attempt | Exception) -> None:
        self.answers = list(answers)
        self.nonces: list[str] = []

    async def __call__(self, post: Post) -> Attempt:
        self.nonces.append(post.nonce)
        answer = self.answers.pop(0) if self.answers else SENT
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeper:
    """The dispatcher's sleep: records the seconds asked, then waits until released."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.Event().wait()


async def idle(dispatcher: OutboxDispatcher) -> None:
    """Wait until the dispatcher sleeps."""
    for _ in range(500):
        if dispatcher.idle:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the dispatcher never went to sleep")


async def test_the_dispatcher_sends_what_is_due_and_sleeps_until_the_next(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Pending posts go out when the dispatcher starts (after a restart); one put off is retried when
    due, with its nonce; an unexpected error in the sender counts as transient."""
    a = await service.add(share(ALICE))
    b = await service.add(share(BOB))
    await service.settle(a, BUSY)
    await service.settle(b, BUSY)
    clock.advance(minutes=1)
    sender = FakeSender(RuntimeError("bug"), SENT)
    sleeper = Sleeper()
    dispatcher = OutboxDispatcher(service, sender, sleep=sleeper)
    dispatcher.start()
    try:
        await idle(dispatcher)
        assert sender.nonces == [a.nonce, b.nonce]
        (left,) = await rows(db)
        assert left.id == a.id and left.attempts == 2
        assert sleeper.asked[-1] == BACKOFF[1].total_seconds()
        clock.advance(minutes=5)
        dispatcher.wake()
        await asyncio.sleep(0)
        await idle(dispatcher)
        assert sender.nonces == [a.nonce, b.nonce, a.nonce]
        assert await rows(db) == []
        assert sleeper.asked[-1] == 900.0
    finally:
        await dispatcher.stop()


async def test_a_post_put_off_wakes_the_dispatcher(service: OutboxService, clock: FakeClock) -> None:
    """A first attempt that fails wakes the sleeping dispatcher, which then sleeps until its retry."""
    sleeper = Sleeper()
    dispatcher = OutboxDispatcher(service, FakeSender(), sleep=sleeper)
    dispatcher.start()
    try:
        await idle(dispatcher)
        assert sleeper.asked == [900.0]
        post = await service.add(share())
        await service.settle(post, BUSY)
        await asyncio.sleep(0)
        await idle(dispatcher)
        assert sleeper.asked == [900.0, BACKOFF[0].total_seconds()]
    finally:
        await dispatcher.stop()


# --------------------------------------------------------------------------- privacy


# --------------------------------------------------------------------------- DMs to a member


def pair_ended(user_id: int = ALICE, other_id: int = BOB) -> NewPost:
    """The private notice to the member that their pairing with the other ended."""
    text = f"💚 Your buddy pairing with <@{other_id}> in **Home** has ended: a moderator ended it."
    return NewPost(G1, PAIR_ENDED, "member", text, user_id)


async def test_a_dm_to_a_member_needs_the_members_id(service: OutboxService) -> None:
    """The 'member' destination is known, takes no channel, and must say whose DMs it goes to."""
    with pytest.raises(ValueError, match="user id"):
        await service.add(NewPost(G1, PAIR_ENDED, "member", "x"))
    with pytest.raises(ValueError, match="channel id"):
        await service.add(NewPost(G1, PAIR_ENDED, "member", "x", ALICE, channel_id=CELEBRATIONS))
    post = await service.add(pair_ended())
    assert (post.destination, post.user_id, post.channel_id) == ("member", ALICE, None)


async def test_a_member_dm_that_fails_in_passing_is_retried_a_minute_later_with_its_nonce(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """A 503 on the DM: kept, due again a minute later (inside Discord's nonce window), claimed with the
    same nonce; delivered then, it is forgotten and nothing is recorded."""
    post = await service.add(pair_ended())
    delivery = await service.settle(post, BUSY)
    assert delivery.state == "retrying" and not delivery.dms_closed
    assert delivery.retry_at == clock() + BACKOFF[0] == clock() + timedelta(minutes=1)
    clock.advance(seconds=59)
    assert await service.claim_due() == []
    clock.advance(seconds=1)
    (again,) = await service.claim_due()
    assert (again.nonce, again.attempts, again.content) == (post.nonce, 2, post.content)
    assert (await service.settle(again, SENT)).state == "delivered"
    assert await rows(db) == [] and await undelivered_entries(db) == []


async def test_a_member_dm_to_closed_dms_is_recorded_once_and_not_retried(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Closed DMs (50007) at the first attempt: undelivered, flagged for the caller, recorded once in the
    audit log (what and where, not the text nor whom), and never tried again."""
    post = await service.add(pair_ended())
    closed = Attempt("permanent", "the member's direct messages are closed", dms_closed=True)
    delivery = await service.settle(post, closed)
    assert (delivery.state, delivery.dms_closed) == ("undelivered", True)
    assert delivery.reason == "the member's direct messages are closed"
    (entry,) = await undelivered_entries(db)
    assert entry.detail == {
        "post": "a private notice that a buddy pairing ended",
        "to": "a member's direct messages",
        "reason": "the member's direct messages are closed",
        "attempts": 1,
    }
    assert await db.read(lambda conn: audit.entries_naming(conn, G1, ALICE)) == []
    clock.advance(days=2)
    assert await service.claim_due() == [] and await rows(db) == []
    assert len(await undelivered_entries(db)) == 1


async def test_a_member_dm_after_the_member_left_is_recorded_not_retried(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """A 503, then the member leaves before the next attempt: that attempt finds nobody to send to, and
    the DM is recorded as undelivered (not as closed DMs) and forgotten."""
    post = await service.add(NewPost(G1, WHAT_A_BUDDY_IS, "member", "👋 Welcome to **Home**!", ALICE))
    await service.settle(post, BUSY)
    clock.advance(minutes=1)
    (again,) = await service.claim_due()
    delivery = await service.settle(again, Attempt("permanent", "the member is no longer in the server"))
    assert (delivery.state, delivery.dms_closed) == ("undelivered", False)
    (entry,) = await undelivered_entries(db)
    assert entry.detail["post"] == "a private welcome saying what a buddy is"
    assert entry.detail["reason"] == "the member is no longer in the server" and entry.detail["attempts"] == 2
    clock.advance(days=1)
    assert await service.claim_due() == [] and await rows(db) == []


async def test_a_member_dm_out_of_attempts_is_not_taken_for_closed_dms(
    service: OutboxService, clock: FakeClock
) -> None:
    """Only a refusal for closed DMs is flagged as such: failures in passing until the attempts run out are not."""
    post = await service.add(pair_ended())
    for _ in range(1, MAX_ATTEMPTS):
        delivery = await service.settle(post, BUSY)
        assert delivery.retry_at is not None
        clock.now = delivery.retry_at
        (post,) = await service.claim_due()
    given_up = await service.settle(post, BUSY)
    assert (given_up.state, given_up.dms_closed) == ("undelivered", False)


async def test_a_kinds_extras_are_made_at_each_attempt_until_withdrawn(service: OutboxService) -> None:
    """What the owner of a kind adds is asked for each attempt at a post of that kind only, and not once
    withdrawn."""
    asked: list[int] = []

    def extras(post: Post) -> dict[str, object]:
        asked.append(post.id)
        return {"embeds": ["what peer support is"]}

    service.set_extras(WHAT_A_BUDDY_IS, extras)
    welcome = await service.add(NewPost(G1, WHAT_A_BUDDY_IS, "member", "👋", ALICE))
    assert service.extras(welcome) == {"embeds": ["what peer support is"]}
    assert service.extras(await service.add(pair_ended())) == {}
    assert asked == [welcome.id]
    service.set_extras(WHAT_A_BUDDY_IS, None)
    assert service.extras(welcome) == {}


async def test_a_pending_member_dm_is_in_the_members_export_and_erased_with_their_data(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Alice's pending notice is in her export (and in Bob's, whom it names); her /privacy delete erases it."""
    await service.add(pair_ended(ALICE, BOB))
    (mine,) = (await privacy(db, clock).export(G1, ALICE)).document["pending_posts"]
    assert mine["what"] == "a private notice that a buddy pairing ended" and f"<@{BOB}>" in mine["content"]
    assert len((await privacy(db, clock).export(G1, BOB)).document["pending_posts"]) == 1
    assert (await privacy(db, clock).delete_member(G1, ALICE)).erased
    assert await rows(db) == []


def privacy(db: Database, clock: FakeClock) -> PrivacyService:
    """The privacy service on the same database."""
    return PrivacyService(db, clock, BuddyService(db, clock, GuidanceLibrary.load()))


async def test_export_shows_the_members_pending_posts_and_no_one_elses(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """Her shared summary and a notice naming her are in her export; Bob's post is not."""
    await service.add(share(ALICE))
    await service.add(NewPost(G1, MODERATOR_NOTICE, "moderator_channel", f"I couldn't reach <@{ALICE}>"))
    await service.add(share(BOB))
    await service.add(share(ALICE, G2))
    export = await privacy(db, clock).export(G1, ALICE)
    posts = export.document["pending_posts"]
    assert [p["what"] for p in posts] == ["a shared check-in summary", "a notice to the moderators"]
    assert all(str(BOB) not in p["content"] for p in posts)
    assert not export.empty
    assert (await privacy(db, clock).export(G1, 123)).document["pending_posts"] == []


async def test_privacy_delete_removes_the_members_pending_posts(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """/privacy delete erases her posts (and notices naming her), not Bob's nor her other server's; an
    attempt in flight then finds nothing to put off and records nothing."""
    mine = await service.add(share(ALICE))
    await service.add(NewPost(G1, MODERATOR_NOTICE, "moderator_channel", f"I couldn't reach <@{ALICE}>"))
    await service.add(share(BOB))
    await service.add(share(ALICE, G2))
    result = await privacy(db, clock).delete_member(G1, ALICE)
    assert result.erased
    assert sorted((r.guild_id, r.user_id) for r in await rows(db)) == [(G1, BOB), (G2, ALICE)]
    assert (await service.settle(mine, BUSY)).state == "undelivered"
    assert await undelivered_entries(db) == []


async def test_retention_erases_a_departed_members_pending_posts(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """A member gone for 30 days: their pending post goes with the rest of their data."""
    post = await service.add(share(ALICE))
    await service.settle(post, BUSY)
    assert await db.read(lambda conn: privacy_repo.known_members(conn, G1)) == {ALICE}
    service_privacy = privacy(db, clock)
    assert await service_privacy.member_left(G1, ALICE)
    clock.advance(days=DEPARTED_KEEP.days + 1)
    report = await service_privacy.run_retention()
    assert report.members_erased == 1
    assert await rows(db) == []


async def test_erasing_a_server_removes_its_pending_posts(
    service: OutboxService, db: Database, clock: FakeClock
) -> None:
    """The owner's erase cascades to the outbox."""
    await service.add(share(ALICE))
    await service.add(share(ALICE, G2))
    assert await privacy(db, clock).erase_server(G1)
    assert [r.guild_id for r in await rows(db)] == [G2]

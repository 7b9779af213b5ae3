"""Tests of the buddy-matching service: every rule of issue 6, through a real migrated database."""

from __future__ import annotations

import gc
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from bot.db.connection import Database
from bot.db.repositories import audit, guilds
from bot.db.repositories import buddies as repo
from bot.errors import UserError
from bot.services.buddies import (
    Actor,
    ArchiveThread,
    BuddyService,
    BuddySettings,
    Effect,
    EndReason,
    Introduce,
    MemberFacts,
    NotifyModerators,
    NotifyPairEnded,
    NotMatchable,
    PairInfo,
    ProposePair,
    SettingsUpdate,
    TellMemberWhatABuddyIs,
    WaitReason,
    WithdrawProposal,
    read_settings,
)
from bot.services.guidance import GuidanceLibrary

T = TypeVar("T")
E = TypeVar("E")

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
G, OTHER_GUILD = 10, 20
MEN, WOMEN, STAFF = 501, 502, 777  # two matching groups, and a role that is not one
MOD = Actor(900, is_moderator=True)
MEMBER_ACTOR = Actor(901, is_moderator=False)
MOD_CHANNEL = 4000
INTRO_CHANNEL = 4001


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def guidance() -> GuidanceLibrary:
    return GuidanceLibrary.load()


@pytest.fixture
async def svc(db: Database, clock: FakeClock, guidance: GuidanceLibrary) -> BuddyService:
    """A service for a server with the men's and women's groups and a moderators' channel."""
    service = BuddyService(db, clock, guidance)
    await service.add_group(G, MOD, MEN)
    await service.add_group(G, MOD, WOMEN)
    await service.update_settings(G, MOD, SettingsUpdate(moderator_channel_id=MOD_CHANNEL))
    return service


def facts(user_id: int, *roles: int, days: float = 30) -> MemberFacts:
    """A member who joined ``days`` before the start, holding ``roles``."""
    return MemberFacts(user_id, frozenset(roles), START - timedelta(days=days))


def of_type(effects: tuple[Effect, ...], kind: type[E]) -> list[E]:
    """The effects of one kind, in order."""
    return [e for e in effects if isinstance(e, kind)]


async def volunteer(svc: BuddyService, user_id: int, group: int, max_buddies: int | None = None) -> None:
    """A long-standing member of ``group`` offering to be a buddy."""
    await svc.volunteer(G, facts(user_id, group, days=100), True, max_buddies)


async def read(db: Database, fn: Callable[[sqlite3.Connection], T]) -> T:
    return await db.read(fn)


async def assert_invariant(db: Database, guild: int = G) -> None:
    """No live pair spans groups: both members are in the server and hold exactly the pair's group."""

    def check(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute(
            "SELECT p.pair_id FROM buddy_pairs p "
            "LEFT JOIN buddy_members a ON a.guild_id = p.guild_id AND a.user_id = p.member_id "
            "LEFT JOIN buddy_members b ON b.guild_id = p.guild_id AND b.user_id = p.buddy_id "
            "WHERE p.guild_id = ? AND p.status IN ('proposed', 'active') AND NOT ("
            "  a.group_role_id IS p.group_role_id AND b.group_role_id IS p.group_role_id "
            "  AND a.left_at IS NULL AND b.left_at IS NULL)",
            (guild,),
        ).fetchall()

    assert await db.read(check) == []


async def queue_ids(db: Database, guild: int = G) -> list[int]:
    return [r.user_id for r in await db.read(lambda c: repo.list_queue(c, guild))]


async def live_pairs(db: Database, user_id: int, guild: int = G) -> list[repo.PairRow]:
    return await db.read(lambda c: repo.live_pairs_of(c, guild, user_id))


async def audit_actions(db: Database, guild: int = G) -> list[str]:
    return [e.action for e in await db.read(lambda c: audit.latest(c, guild, 100))]


# =========================================================================== groups


async def test_group_commands_need_a_moderator(svc: BuddyService, db: Database) -> None:
    """A non-moderator is refused by the service itself, and nothing is recorded."""
    with pytest.raises(UserError, match="Only moderators"):
        await svc.add_group(G, MEMBER_ACTOR, STAFF)
    with pytest.raises(UserError, match="Only moderators"):
        await svc.remove_group(G, MEMBER_ACTOR, MEN)
    assert (await svc.settings_view(G, MOD)).groups == (MEN, WOMEN)
    assert (await audit_actions(db)).count("buddy.group_add") == 2


async def test_group_add_is_audited_once_and_idempotent(svc: BuddyService, db: Database) -> None:
    """Adding a group that exists changes nothing and records nothing."""
    again = await svc.add_group(G, MOD, MEN)
    assert again.changed is False and again.groups == (MEN, WOMEN)
    entries = await db.read(lambda c: audit.latest(c, G, 100))
    adds = [e for e in entries if e.action == "buddy.group_add"]
    assert [e.detail for e in adds] == [{"role_id": WOMEN}, {"role_id": MEN}]
    assert all(e.actor_id == MOD.user_id for e in adds)


async def test_group_add_does_not_queue_holders_but_matches_waiting(svc: BuddyService, db: Database) -> None:
    """Holders of a new group are not queued; a member already waiting in it is matched at once."""
    house = 503
    await svc.request(G, facts(1, house))  # waits, not matchable yet
    result = await svc.add_group(
        G, MOD, house, holders=[facts(1, house), facts(2, house, days=100), facts(3, house, days=100)]
    )
    assert result.matched == ()
    await svc.volunteer(G, facts(2, house, days=100), True)
    assert [(p.member_id, p.buddy_id) for p in await live_pairs(db, 1)] == [(1, 2)]
    assert 3 not in await queue_ids(db)


async def test_group_add_ends_pairs_of_members_now_in_two_groups(svc: BuddyService, db: Database) -> None:
    """A pair member who turns out to hold the new group's role too is in two groups: the pair ends."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN, 9))
    assert len(await live_pairs(db, 1)) == 1
    result = await svc.add_group(G, MOD, 9, holders=[facts(1, MEN, 9)])
    assert [p.member_id for p in result.ended] == [1]
    notices = of_type(result.effects, NotifyModerators)
    assert len(notices) == 2  # the pair ended, and the member holds several group roles
    assert all(n.channel_id == MOD_CHANNEL for n in notices)
    assert any("several matching group roles" in n.text for n in notices)
    await assert_invariant(db)


async def test_group_remove_ends_its_pairs_kindly(svc: BuddyService, db: Database) -> None:
    """Removing a group ends its pairs: both told, one summary to moderators, supported member requeued."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await volunteer(svc, 4, WOMEN)
    await svc.request(G, facts(3, WOMEN))
    result = await svc.remove_group(G, MOD, MEN)
    assert result.changed and result.groups == (WOMEN,)
    assert [(p.member_id, p.buddy_id) for p in result.ended] == [(1, 2)]
    told = of_type(result.effects, NotifyPairEnded)
    assert {(t.user_id, t.other_id, t.reason) for t in told} == {
        (1, 2, EndReason.GROUP_REMOVED),
        (2, 1, EndReason.GROUP_REMOVED),
    }
    assert [t.requeued for t in told if t.user_id == 1] == [True]
    (notice,) = of_type(result.effects, NotifyModerators)
    assert "<@&501> is no longer a matching group" in notice.text and notice.user_ids == (1, 2)
    assert await queue_ids(db) == [1]
    (entry,) = (await svc.queue_view(G, MOD)).entries
    assert entry.reason is WaitReason.NO_GROUP and entry.first_in_line
    assert len(await live_pairs(db, 3)) == 1  # the other group is untouched
    detail = (await db.read(lambda c: audit.latest(c, G, 1)))[0].detail
    assert detail["role_id"] == MEN and len(detail["pairs_ended"]) == 1
    await assert_invariant(db)


async def test_group_remove_of_a_non_group_changes_nothing(svc: BuddyService) -> None:
    """Removing a role that is not a group reports it."""
    result = await svc.remove_group(G, MOD, STAFF)
    assert result.changed is False and result.groups == (MEN, WOMEN)


async def test_group_remove_gives_two_group_members_their_other_group(svc: BuddyService, db: Database) -> None:
    """A member holding two groups is matchable in the remaining one after a removal, and matched."""
    await volunteer(svc, 2, WOMEN)
    result = await svc.member_updated(G, facts(1, MEN, WOMEN))
    assert result.not_matchable is NotMatchable.SEVERAL_GROUPS
    await svc.request(G, facts(1, MEN, WOMEN))
    removed = await svc.remove_group(G, MOD, MEN)
    assert [(p.member_id, p.buddy_id, p.group_role_id) for p in removed.matched] == [(1, 2, WOMEN)]


# =========================================================================== members joining and changing


async def test_joining_with_a_group_role_queues_and_tells_once(svc: BuddyService, db: Database) -> None:
    """A newcomer with a group role is queued, told what a buddy is (quoting the article), and matched."""
    await volunteer(svc, 2, MEN)
    result = await svc.member_joined(G, facts(1, MEN, STAFF, days=0))
    assert result.queued and result.group_role_id == MEN
    (told,) = of_type(result.effects, TellMemberWhatABuddyIs)
    assert told.user_id == 1 and [q.id for q in told.quotes] == ["what-it-is"]
    (intro,) = of_type(result.effects, Introduce)
    assert (intro.pair.member_id, intro.pair.buddy_id, intro.pair.status) == (1, 2, "active")
    assert intro.moderator_channel_id == MOD_CHANNEL and intro.intro_channel_id is None
    ids = [q.id for q in intro.quotes]
    assert ids[0] == "what-it-is" and {"isnt-therapists", "isnt-sponsors", "isnt-opposite-sex"} <= set(ids)
    assert await queue_ids(db) == []


async def test_told_what_a_buddy_is_only_once(svc: BuddyService, db: Database) -> None:
    """A member who leaves and joins again is queued again but not told again."""
    first = await svc.member_joined(G, facts(1, MEN, days=0))
    await svc.member_left(G, 1)
    again = await svc.member_joined(G, facts(1, MEN, days=0))
    assert len(of_type(first.effects, TellMemberWhatABuddyIs)) == 1
    assert again.queued and of_type(again.effects, TellMemberWhatABuddyIs) == []


async def test_joining_without_a_group_role_stores_nothing(svc: BuddyService, db: Database) -> None:
    """A member with no group role is not matchable, and the bot keeps nothing about them."""
    result = await svc.member_joined(G, facts(1, STAFF, days=0))
    assert result.not_matchable is NotMatchable.NO_GROUP and result.effects == () and not result.queued
    assert await db.read(lambda c: repo.get_member(c, G, 1)) is None


async def test_auto_match_off_does_not_queue(svc: BuddyService, db: Database) -> None:
    """With auto_match off, joining or gaining a group queues nobody."""
    await svc.update_settings(G, MOD, SettingsUpdate(auto_match=False))
    joined = await svc.member_joined(G, facts(1, MEN, days=0))
    await svc.member_joined(G, facts(2, days=0))
    gained = await svc.member_updated(G, facts(2, WOMEN, days=0))
    assert not joined.queued and not gained.queued
    assert await queue_ids(db) == []
    assert of_type(joined.effects + gained.effects, TellMemberWhatABuddyIs) == []


async def test_gaining_a_group_role_later_queues(svc: BuddyService, db: Database) -> None:
    """A member given a group role later is queued without asking; another role change does not requeue."""
    await svc.member_joined(G, facts(1, STAFF, days=0))
    gained = await svc.member_updated(G, facts(1, STAFF, MEN, days=0))
    assert gained.queued and await queue_ids(db) == [1]
    unrelated = await svc.member_updated(G, facts(1, MEN, days=0))
    assert not unrelated.queued and unrelated.effects == ()


async def test_an_available_volunteer_is_not_auto_queued(svc: BuddyService, db: Database) -> None:
    """A volunteer who regains their group role is a giver, not a newcomer: not queued."""
    await volunteer(svc, 2, MEN)
    await svc.member_updated(G, facts(2, days=100))
    result = await svc.member_updated(G, facts(2, MEN, days=100))
    assert not result.queued and await queue_ids(db) == []


async def test_several_group_roles_notify_moderators_once(svc: BuddyService, db: Database) -> None:
    """Two group roles: one notice, not repeated on later updates; again only after a fix and a relapse."""
    first = await svc.member_joined(G, facts(1, MEN, WOMEN, days=0))
    same = await svc.member_updated(G, facts(1, MEN, WOMEN, STAFF, days=0))
    fixed = await svc.member_updated(G, facts(1, MEN, days=0))
    again = await svc.member_updated(G, facts(1, MEN, WOMEN, days=0))
    assert first.not_matchable is NotMatchable.SEVERAL_GROUPS and not first.queued
    (notice,) = of_type(first.effects, NotifyModerators)
    assert "<@1>" in notice.text and "<@&501>" in notice.text and "<@&502>" in notice.text
    assert of_type(same.effects, NotifyModerators) == []
    assert of_type(fixed.effects, NotifyModerators) == [] and fixed.queued
    assert len(of_type(again.effects, NotifyModerators)) == 1


async def test_role_change_splitting_a_pair_ends_it_at_once(svc: BuddyService, db: Database) -> None:
    """A pair that would span groups ends in the same transaction: both told, moderators told, thread
    archived, the supported member requeued first and matched in their new group."""
    await volunteer(svc, 2, MEN)
    await volunteer(svc, 4, WOMEN)
    await svc.request(G, facts(1, MEN))
    (pair,) = await live_pairs(db, 1)
    await svc.record_introduction(G, pair.pair_id, 7000)
    result = await svc.member_updated(G, facts(1, WOMEN))
    assert [p.pair_id for p in result.ended] == [pair.pair_id]
    told = of_type(result.effects, NotifyPairEnded)
    assert {(t.user_id, t.reason) for t in told} == {(1, EndReason.GROUPS_CHANGED), (2, EndReason.GROUPS_CHANGED)}
    (notice,) = of_type(result.effects, NotifyModerators)
    assert "never spans two groups" in notice.text and notice.user_ids == (1, 2)
    assert of_type(result.effects, ArchiveThread) == [ArchiveThread(pair.pair_id, 7000)]
    assert [(p.member_id, p.buddy_id, p.group_role_id) for p in result.matched] == [(1, 4, WOMEN)]
    await assert_invariant(db)


async def test_role_change_of_the_volunteer_splits_too(svc: BuddyService, db: Database) -> None:
    """The volunteer losing their group role ends their pairs; the member is requeued first in line."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))
    await svc.request(G, facts(5, MEN))  # waits: the volunteer is full
    result = await svc.member_updated(G, facts(2, days=100))
    assert sorted(p.member_id for p in result.ended) == [1, 3]
    assert await queue_ids(db) == [1, 3, 5]
    assert all(e.first_in_line for e in (await svc.queue_view(G, MOD)).entries[:2])
    await assert_invariant(db)


# =========================================================================== members leaving


async def test_member_leaving_ends_pairs_and_requeues_the_supported_buddy_first(
    svc: BuddyService, db: Database
) -> None:
    """The volunteer leaves: their newcomer is told, archived, requeued ahead of older waiting members."""
    await volunteer(svc, 2, MEN, max_buddies=1)
    await svc.request(G, facts(1, MEN))
    clock_waiting = facts(3, MEN)
    await svc.request(G, clock_waiting)  # waits longer than 1 will, from now on
    (pair,) = await live_pairs(db, 1)
    await svc.record_introduction(G, pair.pair_id, 7001)
    result = await svc.member_left(G, 2)
    (told,) = of_type(result.effects, NotifyPairEnded)
    assert (told.user_id, told.other_id, told.reason, told.requeued) == (1, 2, EndReason.MEMBER_LEFT, True)
    assert of_type(result.effects, ArchiveThread) == [ArchiveThread(pair.pair_id, 7001)]
    assert await queue_ids(db) == [1, 3]
    offer = await db.read(lambda c: repo.get_volunteer(c, G, 2))
    assert offer is not None and not offer.available


async def test_newcomer_leaving_frees_the_volunteer_for_the_next(svc: BuddyService, db: Database) -> None:
    """The supported member leaves: the volunteer is told, not queued, and takes the next newcomer."""
    await volunteer(svc, 2, MEN, max_buddies=1)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))
    result = await svc.member_left(G, 1)
    (told,) = of_type(result.effects, NotifyPairEnded)
    assert (told.user_id, told.requeued) == (2, False)
    assert [(p.member_id, p.buddy_id) for p in result.matched] == [(3, 2)]
    assert await queue_ids(db) == []


async def test_leaver_leaves_the_queue(svc: BuddyService, db: Database) -> None:
    """A waiting member who leaves is no longer waiting; an unknown member leaving changes nothing."""
    await svc.request(G, facts(1, MEN))
    await svc.member_left(G, 1)
    assert await queue_ids(db) == []
    unknown = await svc.member_left(G, 12345)
    assert unknown.effects == () and unknown.ended == ()


# =========================================================================== /buddy request, status


async def test_request_queues_and_reports_place(svc: BuddyService, db: Database) -> None:
    """Requests queue; the reply gives the place in the group's line and why there is no match."""
    first = await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, WOMEN))
    second = await svc.request(G, facts(2, MEN))
    assert first.outcome == "queued" and first.waiting is not None
    assert second.waiting is not None
    assert (second.waiting.place, second.waiting.of) == (2, 2)
    assert second.waiting.reason is WaitReason.NO_VOLUNTEER
    assert (await svc.request(G, facts(1, MEN))).outcome == "already_waiting"


async def test_request_without_a_group_still_waits_and_says_why(svc: BuddyService, db: Database) -> None:
    """A member with no group role is queued but told to ask a moderator."""
    result = await svc.request(G, facts(1, STAFF))
    assert result.outcome == "queued" and result.not_matchable is NotMatchable.NO_GROUP
    assert result.waiting is not None and result.waiting.place is None
    assert "ask a moderator" in NotMatchable.NO_GROUP.text


async def test_request_matched_at_once(svc: BuddyService, db: Database) -> None:
    """With a volunteer free, the request is matched in the same transaction."""
    await volunteer(svc, 2, MEN)
    result = await svc.request(G, facts(1, MEN))
    assert result.outcome == "matched" and result.pair is not None and result.pair.buddy_id == 2
    assert len(of_type(result.effects, Introduce)) == 1


async def test_request_refused_while_having_a_buddy(svc: BuddyService) -> None:
    """A member who already has a buddy is told so, kindly."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    with pytest.raises(UserError, match="already have a buddy"):
        await svc.request(G, facts(1, MEN))


async def test_status_shows_buddies_wait_and_reasons(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Status: the buddies and since when, on both sides; the wait; why not matchable; the offer."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    clock.advance(days=2)
    member = await svc.status(G, facts(1, MEN))
    assert [(b.other_id, b.role, b.since) for b in member.buddies] == [(2, "your_buddy", START)]
    assert member.waiting is None and member.not_matchable is None
    helper = await svc.status(G, facts(2, MEN, days=100))
    assert [(b.other_id, b.role) for b in helper.buddies] == [(1, "you_support")]
    assert helper.volunteer is not None
    assert (helper.volunteer.available, helper.volunteer.current, helper.volunteer.max_buddies) == (True, 1, 2)
    await svc.request(G, facts(3, WOMEN))
    clock.advance(hours=5)
    waiting = await svc.status(G, facts(3, WOMEN))
    assert waiting.waiting is not None and waiting.waiting.waited == timedelta(hours=5)
    assert waiting.waiting.reason is WaitReason.NO_VOLUNTEER
    lost = await svc.status(G, facts(4, MEN, WOMEN))
    assert lost.not_matchable is NotMatchable.SEVERAL_GROUPS and lost.buddies == () and lost.waiting is None


# =========================================================================== /buddy volunteer


async def test_volunteering_needs_min_days(svc: BuddyService, db: Database) -> None:
    """Members newer than volunteer_min_days are thanked and told from when they can volunteer."""
    with pytest.raises(UserError, match="14 days") as refused:
        await svc.volunteer(G, facts(2, MEN, days=10), True)
    assert "01 December 2026" in refused.value.message
    assert await db.read(lambda c: repo.get_volunteer(c, G, 2)) is None
    await svc.volunteer(G, facts(2, MEN, days=14), True)
    with pytest.raises(UserError, match="when you joined"):
        await svc.volunteer(G, MemberFacts(3, frozenset({MEN}), None), True)


async def test_volunteer_max_is_validated_and_used(svc: BuddyService, db: Database) -> None:
    """max must be 1-5; a volunteer's own max caps their buddies."""
    for bad in (0, 6):
        with pytest.raises(UserError, match="between 1 and 5"):
            await svc.volunteer(G, facts(2, MEN, days=100), True, bad)
    for uid in (1, 3, 5):
        await svc.request(G, facts(uid, MEN))
    result = await svc.volunteer(G, facts(2, MEN, days=100), True, 3)
    assert [p.member_id for p in result.matched] == [1, 3, 5]
    assert result.volunteer.max_buddies == 3 and result.volunteer.current == 3


async def test_stopping_to_volunteer_keeps_pairs_but_takes_no_more(svc: BuddyService, db: Database) -> None:
    """A volunteer who stops keeps their buddies; nobody new is matched with them."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    stopped = await svc.volunteer(G, facts(2, MEN, days=100), False)
    assert not stopped.volunteer.available and stopped.volunteer.current == 1
    await svc.request(G, facts(3, MEN))
    assert await queue_ids(db) == [3]
    assert len(await live_pairs(db, 2)) == 1


async def test_raising_min_days_makes_young_volunteers_wait(svc: BuddyService, db: Database) -> None:
    """The setting is checked at matching time too: raising it pauses volunteers who are too new."""
    await svc.volunteer(G, facts(2, MEN, days=20), True)
    await svc.update_settings(G, MOD, SettingsUpdate(volunteer_min_days=30))
    await svc.request(G, facts(1, MEN))
    assert await queue_ids(db) == [1]
    result = await svc.update_settings(G, MOD, SettingsUpdate(volunteer_min_days=7))
    assert [(p.member_id, p.buddy_id) for p in result.matched] == [(1, 2)]


# =========================================================================== matching rules end to end


async def test_oldest_waiting_first_and_fewest_buddies_first(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Members are served oldest first; a volunteer with fewer buddies is preferred; then seniority."""
    for uid in (1, 3, 5):
        await svc.request(G, facts(uid, MEN))
        clock.advance(minutes=1)
    await svc.volunteer(G, facts(2, MEN, days=50), True, 1)
    assert [(p.member_id, p.buddy_id) for p in await live_pairs(db, 2)] == [(1, 2)]
    result = await svc.volunteer(G, facts(4, MEN, days=40), True, 2)
    assert [(p.member_id, p.buddy_id) for p in result.matched] == [(3, 4), (5, 4)]


async def test_never_across_groups_even_with_free_volunteers(svc: BuddyService, db: Database) -> None:
    """A free volunteer of the other group is never used."""
    await volunteer(svc, 4, WOMEN)
    result = await svc.request(G, facts(1, MEN))
    assert result.outcome == "queued" and result.matched == ()
    assert result.waiting is not None and result.waiting.reason is WaitReason.NO_VOLUNTEER


async def test_run_matching_covers_every_group(svc: BuddyService, db: Database) -> None:
    """run_matching looks at all groups and reports what is left waiting."""
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, WOMEN))
    await svc.request(G, facts(5, WOMEN))

    def offer(conn: sqlite3.Connection) -> None:
        # Volunteers recorded without a run (as if restored from a backup): only run_matching matches.
        for uid, group in ((2, MEN), (4, WOMEN)):
            repo.upsert_member(conn, G, uid, START - timedelta(days=100), START)
            repo.set_member_groups(conn, G, uid, [group])
            repo.set_volunteer(conn, G, uid, True, 1, START)

    await db.transaction(offer)
    report = await svc.run_matching(G)
    assert sorted((p.member_id, p.buddy_id) for p in report.made) == [(1, 2), (3, 4)]
    assert report.still_waiting == 1 and not report.proposed


async def test_run_matching_is_a_bulk_unit_of_work(
    svc: BuddyService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over every group writes its pairs with the garbage collector paused (a bulk unit); the
    matching a request runs for one group does not pause it; afterwards it runs."""
    paused: list[bool] = []
    insert = repo.insert_pairs

    def watching(*args: Any, **kwargs: Any) -> Any:
        paused.append(not gc.isenabled())
        return insert(*args, **kwargs)

    monkeypatch.setattr(repo, "insert_pairs", watching)
    await volunteer(svc, 2, MEN, 1)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))  # the volunteer's one place is taken: 3 waits

    def second_place(conn: sqlite3.Connection) -> None:
        repo.set_volunteer(conn, G, 2, True, 2, START)  # recorded without a run

    await db.transaction(second_place)
    report = await svc.run_matching(G)
    assert [(p.member_id, p.buddy_id) for p in report.made] == [(3, 2)]
    assert paused == [False, True]
    assert gc.isenabled()


async def test_run_matching_never_remakes_a_past_pair(svc: BuddyService, db: Database) -> None:
    """A run over every group (which reads the server's past pairs at once) passes over a past
    partner and takes the next volunteer; the member of a pair that ended waits for someone new."""
    await volunteer(svc, 2, MEN)
    await volunteer(svc, 12, WOMEN)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(11, WOMEN))
    await svc.end(G, 2, 1)  # the volunteer ends it: the member is queued again, first in line
    await svc.end(G, 12, 11)
    assert sorted(await queue_ids(db)) == [1, 11]
    before = await svc.status(G, facts(1, MEN))
    assert before.waiting is not None and before.waiting.reason is WaitReason.ONLY_PAST_PARTNERS

    def offer(conn: sqlite3.Connection) -> None:
        for uid, group in ((4, MEN), (14, WOMEN)):
            repo.upsert_member(conn, G, uid, START - timedelta(days=100), START)
            repo.set_member_groups(conn, G, uid, [group])
            repo.set_volunteer(conn, G, uid, True, None, START)

    await db.transaction(offer)
    report = await svc.run_matching(G)
    assert sorted((p.member_id, p.buddy_id) for p in report.made) == [(1, 4), (11, 14)]
    assert report.still_waiting == 0


async def test_run_matching_takes_out_of_the_queue_exactly_the_members_it_paired(
    svc: BuddyService, db: Database
) -> None:
    """A member no place fits (a past partner's) stays at the head of the queue while those behind
    them are paired and taken out; where the head of a queue is all paired, the member behind the
    last place stays; nobody unpaired leaves the queue."""
    await volunteer(svc, 2, MEN, 2)
    await volunteer(svc, 12, WOMEN, 2)

    def queue(conn: sqlite3.Connection) -> None:
        waiting = ((1, MEN), (11, WOMEN), (3, MEN), (13, WOMEN), (5, MEN), (15, WOMEN), (7, MEN))
        for minutes, (uid, group) in enumerate(waiting):
            repo.upsert_member(conn, G, uid, START - timedelta(days=1), START)
            repo.set_member_groups(conn, G, uid, [group])
            repo.enqueue(conn, G, uid, START + timedelta(minutes=minutes), "request")
        past = repo.insert_pair(conn, G, 1, 2, MEN, status="active", now=START)
        repo.close_pair(conn, G, past, "ended", START, None, "test")

    await db.transaction(queue)
    report = await svc.run_matching(G)
    assert sorted((p.member_id, p.buddy_id) for p in report.made) == [(3, 2), (5, 2), (11, 12), (13, 12)]
    assert sorted(await queue_ids(db)) == [1, 7, 15]
    assert report.still_waiting == 3
    await assert_invariant(db)


async def test_a_volunteer_who_changes_group_is_offered_in_the_new_one(svc: BuddyService, db: Database) -> None:
    """A volunteer whose group role changes supports members of the new group only."""
    await volunteer(svc, 2, MEN)
    await svc.member_updated(G, facts(2, WOMEN, days=100))
    men = await svc.request(G, facts(1, MEN))
    assert men.outcome == "queued" and men.waiting is not None
    assert men.waiting.reason is WaitReason.NO_VOLUNTEER
    women = await svc.request(G, facts(3, WOMEN))
    assert women.outcome == "matched" and women.pair is not None and women.pair.buddy_id == 2
    await assert_invariant(db)


async def test_status_place_follows_a_group_change_while_waiting(
    svc: BuddyService, db: Database, clock: FakeClock
) -> None:
    """A waiting member who moves to another group keeps their time and is counted in the new line."""
    await svc.request(G, facts(1, MEN))
    clock.advance(minutes=1)
    await svc.request(G, facts(3, WOMEN))
    clock.advance(minutes=1)
    await svc.request(G, facts(2, MEN))
    await svc.member_updated(G, facts(2, WOMEN))
    moved = await svc.status(G, facts(2, WOMEN))
    stayed = await svc.status(G, facts(1, MEN))
    assert moved.waiting is not None and stayed.waiting is not None
    assert (moved.waiting.place, moved.waiting.of) == (2, 2)
    assert moved.waiting.queued_at == START + timedelta(minutes=2)
    assert (stayed.waiting.place, stayed.waiting.of) == (1, 1)
    await svc.member_updated(G, facts(2))  # no group any more: waits, without a place
    lost = await svc.status(G, facts(2))
    assert lost.waiting is not None and lost.waiting.place is None
    assert lost.waiting.reason is WaitReason.NO_GROUP


# =========================================================================== /buddy end


async def test_end_tells_the_other_and_requeues_the_member(svc: BuddyService, db: Database) -> None:
    """The member ends: the volunteer is told; the member waits again and never gets the same buddy."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    result = await svc.end(G, 1)
    (told,) = of_type(result.effects, NotifyPairEnded)
    assert (told.user_id, told.other_id, told.reason, told.requeued) == (2, 1, EndReason.ENDED_BY_MEMBER, False)
    assert result.requeued and not result.other_requeued
    assert await queue_ids(db) == [1]
    (entry,) = (await svc.queue_view(G, MOD)).entries
    assert entry.reason is WaitReason.ONLY_PAST_PARTNERS and not entry.first_in_line


async def test_end_by_the_volunteer_requeues_the_member_first(svc: BuddyService, db: Database) -> None:
    """The volunteer ends: the member did not choose it, so they go back first in line."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(5, WOMEN))
    result = await svc.end(G, 2, requeue=False)
    (told,) = of_type(result.effects, NotifyPairEnded)
    assert (told.user_id, told.requeued) == (1, True)
    assert result.other_requeued and not result.requeued
    assert await queue_ids(db) == [1, 5]


async def test_end_without_requeue(svc: BuddyService, db: Database) -> None:
    """requeue=False: the member who ended it does not wait again."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    result = await svc.end(G, 1, requeue=False)
    assert not result.requeued and await queue_ids(db) == []


async def test_end_asks_which_buddy_when_several(svc: BuddyService, db: Database) -> None:
    """With several buddies, the member must say which; a wrong one or none is refused kindly."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))
    with pytest.raises(UserError, match="2 buddies"):
        await svc.end(G, 2)
    with pytest.raises(UserError, match="isn't one of your buddies"):
        await svc.end(G, 2, other_id=5)
    result = await svc.end(G, 2, other_id=3)
    assert (result.ended.member_id, result.ended.buddy_id) == (3, 2)
    with pytest.raises(UserError, match="don't have a buddy"):
        await svc.end(G, 7)


# =========================================================================== /buddyadmin pair, unpair


async def test_pair_across_groups_is_refused_and_leaves_nothing(svc: BuddyService, db: Database) -> None:
    """Pairing by hand across groups is never allowed: a clear reason, no pair, no audit entry."""
    before = await audit_actions(db)
    with pytest.raises(UserError, match="across matching groups is never allowed") as refused:
        await svc.pair(G, MOD, facts(1, MEN), facts(2, WOMEN, days=100))
    assert "<@1> is in <@&501>" in refused.value.message and "<@2> is in <@&502>" in refused.value.message
    assert await live_pairs(db, 1) == [] and await audit_actions(db) == before
    assert await db.read(lambda c: repo.get_member(c, G, 1)) is None  # the whole unit was rolled back


async def test_pair_needs_one_group_each(svc: BuddyService) -> None:
    """A member without a group, or with several, cannot be paired; nor can a member with themselves."""
    with pytest.raises(UserError, match="isn't in a matching group"):
        await svc.pair(G, MOD, facts(1, STAFF), facts(2, MEN, days=100))
    with pytest.raises(UserError, match="more than one matching group"):
        await svc.pair(G, MOD, facts(1, MEN), facts(2, MEN, WOMEN, days=100))
    with pytest.raises(UserError, match="their own buddy"):
        await svc.pair(G, MOD, facts(1, MEN), facts(1, MEN))
    with pytest.raises(UserError, match="Only moderators"):
        await svc.pair(G, MEMBER_ACTOR, facts(1, MEN), facts(2, MEN))


async def test_pair_over_the_maximum_only_with_force(svc: BuddyService, db: Database) -> None:
    """A buddy at their maximum is refused unless forced; the forced pair is marked and audited."""
    await volunteer(svc, 2, MEN, max_buddies=1)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))
    with pytest.raises(UserError, match="maximum of 1"):
        await svc.pair(G, MOD, facts(3, MEN), facts(2, MEN, days=100))
    result = await svc.pair(G, MOD, facts(3, MEN), facts(2, MEN, days=100), force=True)
    assert result.forced and result.pair.created_by == MOD.user_id and result.pair.status == "active"
    assert of_type(result.effects, Introduce)[0].pair.pair_id == result.pair.pair_id
    assert await queue_ids(db) == []
    (entry,) = await db.read(lambda c: audit.latest(c, G, 1))
    assert entry.action == "buddy.pair" and entry.detail["forced"] is True and entry.actor_id == MOD.user_id


async def test_pair_by_hand_may_remake_an_ended_pair(svc: BuddyService, db: Database) -> None:
    """An ended pair is never remade automatically, but a moderator may remake it, and is told so."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await svc.end(G, 1)
    assert await live_pairs(db, 1) == []
    result = await svc.pair(G, MOD, facts(1, MEN), facts(2, MEN, days=100))
    assert result.paired_before and not result.forced
    with pytest.raises(UserError, match="already paired"):
        await svc.pair(G, MOD, facts(2, MEN, days=100), facts(1, MEN))


async def test_unpair_tells_both_and_requeues_first(svc: BuddyService, db: Database) -> None:
    """A moderator ends a pairing: both told, the member requeued first in line, audited."""
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    await svc.request(G, facts(3, MEN))
    with pytest.raises(UserError, match="2 pairings"):
        await svc.unpair(G, MOD, 2)
    result = await svc.unpair(G, MOD, 2, buddy_id=1)
    told = of_type(result.effects, NotifyPairEnded)
    assert {(t.user_id, t.reason, t.requeued) for t in told} == {
        (1, EndReason.ENDED_BY_MODERATOR, True),
        (2, EndReason.ENDED_BY_MODERATOR, False),
    }
    assert await queue_ids(db) == [1]
    assert (await audit_actions(db))[0] == "buddy.unpair"
    with pytest.raises(UserError, match="no active pairing"):
        await svc.unpair(G, MOD, 1, buddy_id=2)
    with pytest.raises(UserError, match="Only moderators"):
        await svc.unpair(G, MEMBER_ACTOR, 3)


# =========================================================================== /buddyadmin queue, pairs, match-now


async def test_queue_view_explains_every_wait(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Who waits, in which group, for how long, and why: no group, several, no volunteer, full, past."""
    house = 503
    await svc.add_group(G, MOD, house)
    await volunteer(svc, 2, MEN, max_buddies=1)
    await svc.request(G, facts(1, MEN))  # takes the only place
    await svc.request(G, facts(3, MEN))  # volunteers full
    await svc.request(G, facts(4, STAFF))  # no group
    await svc.request(G, facts(5, MEN, WOMEN))  # several groups
    await svc.request(G, facts(6, WOMEN))  # no volunteer in the group
    await volunteer(svc, 8, house)
    await svc.request(G, facts(7, house))
    await svc.end(G, 7)  # 7 waits again; the only volunteer of the house was their buddy
    clock.advance(hours=3)
    view = await svc.queue_view(G, MOD)
    got = {e.user_id: (e.group_role_id, e.reason) for e in view.entries}
    assert got == {
        3: (MEN, WaitReason.VOLUNTEERS_FULL),
        4: (None, WaitReason.NO_GROUP),
        5: (None, WaitReason.SEVERAL_GROUPS),
        6: (WOMEN, WaitReason.NO_VOLUNTEER),
        7: (house, WaitReason.ONLY_PAST_PARTNERS),
    }
    assert view.total == 5 and all(e.waited == timedelta(hours=3) for e in view.entries)
    assert WaitReason.NO_VOLUNTEER.text == "no available volunteer in that group"
    page = await svc.queue_view(G, MOD, limit=2, offset=1)
    assert [e.user_id for e in page.entries] == [4, 5] and page.total == 5
    with pytest.raises(UserError, match="Only moderators"):
        await svc.queue_view(G, MEMBER_ACTOR)


async def test_pairs_page_is_paginated(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """The active pairs come in pages; a page past the end gives the last one."""
    await volunteer(svc, 2, MEN, max_buddies=5)
    for uid in (11, 12, 13, 14, 15):
        await svc.request(G, facts(uid, MEN))
        clock.advance(minutes=1)
    first = await svc.pairs_page(G, MOD, 0, per_page=2)
    last = await svc.pairs_page(G, MOD, 99, per_page=2)
    assert [p.member_id for p in first.pairs] == [11, 12] and (first.pages, first.total) == (3, 5)
    assert [p.member_id for p in last.pairs] == [15] and last.page == 2
    empty = await svc.pairs_page(OTHER_GUILD, MOD)
    assert (empty.pairs, empty.pages, empty.total) == ((), 1, 0)


async def test_match_now_reports_and_is_audited(svc: BuddyService, db: Database) -> None:
    """match-now says what it did (nothing, here) and records the moderator's action."""
    await svc.request(G, facts(1, MEN))
    report = await svc.match_now(G, MOD)
    assert report.made == () and report.still_waiting == 1
    (entry,) = await db.read(lambda c: audit.latest(c, G, 1))
    assert (entry.action, entry.detail, entry.actor_id) == ("buddy.match_now", {"pairs": []}, MOD.user_id)
    with pytest.raises(UserError):
        await svc.match_now(G, MEMBER_ACTOR)


# =========================================================================== settings


async def test_settings_defaults_and_view(db: Database, clock: FakeClock, guidance: GuidanceLibrary) -> None:
    """A new server has the documented defaults and no groups."""
    service = BuddyService(db, clock, guidance)
    view = await service.settings_view(OTHER_GUILD, MOD)
    assert view.settings == BuddySettings(True, None, 2, 14, False, None) and view.groups == ()


async def test_settings_are_validated(svc: BuddyService) -> None:
    """Out-of-range values and approvals without a moderators' channel are refused with the reason."""
    with pytest.raises(UserError, match="max_buddies"):
        await svc.update_settings(G, MOD, SettingsUpdate(max_buddies=6))
    with pytest.raises(UserError, match="volunteer_min_days"):
        await svc.update_settings(G, MOD, SettingsUpdate(volunteer_min_days=-1))
    with pytest.raises(UserError, match="channel"):
        await svc.update_settings(G, MOD, SettingsUpdate(intro_channel_id=0))
    with pytest.raises(UserError, match="moderators' channel"):
        await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True, clear_moderator_channel=True))
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    with pytest.raises(UserError, match="moderators' channel"):
        await svc.update_settings(G, MOD, SettingsUpdate(clear_moderator_channel=True))
    with pytest.raises(UserError, match="Only moderators"):
        await svc.update_settings(G, MEMBER_ACTOR, SettingsUpdate(auto_match=False))


async def test_settings_are_stored_audited_and_cleared(svc: BuddyService, db: Database) -> None:
    """Changes are stored in the shared settings format, audited with before/after, and clearable."""
    result = await svc.update_settings(
        G, MOD, SettingsUpdate(auto_match=False, intro_channel_id=INTRO_CHANNEL, max_buddies=3)
    )
    assert result.changes == {
        "auto_match": (True, False),
        "intro_channel_id": (None, INTRO_CHANNEL),
        "max_buddies": (2, 3),
    }
    stored = await db.read(lambda c: guilds.get_settings(c, G))
    assert (
        stored["auto_match"] == "0" and stored["intro_channel"] == str(INTRO_CHANNEL) and stored["max_buddies"] == "3"
    )
    assert stored["moderator_channel"] == str(MOD_CHANNEL)
    (entry,) = await db.read(lambda c: audit.latest(c, G, 1))
    assert entry.action == "buddy.settings" and entry.detail["max_buddies"] == [2, 3]
    cleared = await svc.update_settings(G, MOD, SettingsUpdate(clear_intro_channel=True))
    assert cleared.settings.intro_channel_id is None and "intro_channel" not in await db.read(
        lambda c: guilds.get_settings(c, G)
    )
    unchanged = await svc.update_settings(G, MOD, SettingsUpdate(max_buddies=3))
    assert unchanged.changes == {} and (await audit_actions(db))[0] == "buddy.settings"


async def test_bad_stored_settings_fall_back_to_defaults(svc: BuddyService, db: Database) -> None:
    """A hand-edited, invalid stored value is ignored rather than crashing the server's matching."""
    await db.transaction(lambda c: guilds.set_setting(c, G, "max_buddies", "lots", START, None))
    await db.transaction(lambda c: guilds.set_setting(c, G, "volunteer_min_days", "9999", START, None))
    settings = (await svc.settings_view(G, MOD)).settings
    assert (settings.max_buddies, settings.volunteer_min_days) == (2, 14)


async def test_raising_max_buddies_matches_at_once(svc: BuddyService, db: Database) -> None:
    """A higher default maximum lets volunteers on the default take more, in the same transaction."""
    await volunteer(svc, 2, MEN)
    for uid in (1, 3, 5):
        await svc.request(G, facts(uid, MEN))
    result = await svc.update_settings(G, MOD, SettingsUpdate(max_buddies=3))
    assert [(p.member_id, p.buddy_id) for p in result.matched] == [(5, 2)]


async def test_intro_channel_is_given_to_introductions(svc: BuddyService) -> None:
    """Introductions carry the intro channel when one is set."""
    await svc.update_settings(G, MOD, SettingsUpdate(intro_channel_id=INTRO_CHANNEL))
    await volunteer(svc, 2, MEN)
    (intro,) = of_type((await svc.request(G, facts(1, MEN))).effects, Introduce)
    assert intro.intro_channel_id == INTRO_CHANNEL


# =========================================================================== approvals


async def test_require_approval_proposes_instead_of_introducing(svc: BuddyService, db: Database) -> None:
    """Proposed pairs wait for the moderators: no introduction; member out of the queue; capacity held."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN, max_buddies=1)
    result = await svc.request(G, facts(1, MEN))
    assert result.outcome == "proposed" and of_type(result.effects, Introduce) == []
    (proposal,) = of_type(result.effects, ProposePair)
    assert proposal.moderator_channel_id == MOD_CHANNEL and proposal.pair.status == "proposed"
    assert await queue_ids(db) == []
    await svc.request(G, facts(3, MEN))
    assert await queue_ids(db) == [3]  # the volunteer's one place is held by the proposal
    status = await svc.status(G, facts(1, MEN))
    assert status.awaiting_approval and status.buddies == ()
    assert (await svc.request(G, facts(1, MEN))).outcome == "awaiting_approval"


async def test_approve_introduces(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Approving makes the pair active from that moment, introduces it, and is audited; twice is refused."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN)
    (proposal,) = of_type((await svc.request(G, facts(1, MEN))).effects, ProposePair)
    await svc.record_proposal_message(G, proposal.pair.pair_id, MOD_CHANNEL, 6000)
    clock.advance(hours=1)
    decided = await svc.approve(G, MOD, proposal.pair.pair_id)
    assert decided.pair.status == "active" and decided.pair.started_at == START + timedelta(hours=1)
    assert of_type(decided.effects, Introduce)[0].pair.pair_id == proposal.pair.pair_id
    assert (await audit_actions(db))[0] == "buddy.approve"
    with pytest.raises(UserError, match="already approved"):
        await svc.approve(G, MOD, proposal.pair.pair_id)
    with pytest.raises(UserError, match="can't find"):
        await svc.reject(G, MOD, 99999)


async def test_reject_requeues_in_place_and_never_proposes_again(
    svc: BuddyService, db: Database, clock: FakeClock
) -> None:
    """Rejected: the member is back in their old place; that pairing is never proposed again, another is."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await svc.request(G, facts(1, MEN))
    clock.advance(hours=1)
    await svc.request(G, facts(3, MEN))
    await volunteer(svc, 2, MEN, max_buddies=1)
    (first,) = await live_pairs(db, 2)
    assert first.member_id == 1
    await volunteer(svc, 4, MEN, max_buddies=1)  # proposed for member 3, and approved
    (second,) = await live_pairs(db, 4)
    await svc.approve(G, MOD, second.pair_id)
    rejected = await svc.reject(G, MOD, first.pair_id)
    assert rejected.pair.status == "rejected"
    assert await queue_ids(db) == [1]
    entry = await db.read(lambda c: repo.queue_entry(c, G, 1))
    assert entry is not None and entry.queued_at == START
    result = await svc.end(G, 4, other_id=3)  # frees volunteer 4; member 3 goes back first in line
    # 3 (first in line) gets volunteer 2, whom 1 may never be proposed again; 1 gets volunteer 4.
    assert [(p.member_id, p.buddy_id) for p in result.matched] == [(3, 2), (1, 4)]
    await svc.reject(G, MOD, result.matched[1].pair_id)
    report = await svc.match_now(G, MOD)
    assert report.made == ()  # neither rejected pairing is proposed again
    assert (await svc.queue_view(G, MOD)).entries[0].reason is WaitReason.ONLY_PAST_PARTNERS


async def test_proposal_withdrawn_when_a_member_leaves(svc: BuddyService, db: Database) -> None:
    """A proposal that became impossible is withdrawn (its message updated); the member gets their place."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN)
    (proposal,) = of_type((await svc.request(G, facts(1, MEN))).effects, ProposePair)
    await svc.record_proposal_message(G, proposal.pair.pair_id, MOD_CHANNEL, 6001)
    result = await svc.member_left(G, 2)
    (withdrawn,) = of_type(result.effects, WithdrawProposal)
    assert (withdrawn.channel_id, withdrawn.message_id, withdrawn.reason) == (
        MOD_CHANNEL,
        6001,
        EndReason.MEMBER_LEFT,
    )
    assert of_type(result.effects, NotifyPairEnded) == []  # nobody was told of the proposal
    assert await queue_ids(db) == [1]
    with pytest.raises(UserError, match="already withdrawn"):
        await svc.approve(G, MOD, proposal.pair.pair_id)


async def test_proposal_withdrawn_when_groups_change(svc: BuddyService, db: Database) -> None:
    """A role change withdraws a proposal that would span groups; the moderators are told."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN)
    await svc.request(G, facts(1, MEN))
    result = await svc.member_updated(G, facts(1, WOMEN))
    assert len(of_type(result.effects, WithdrawProposal)) == 1
    assert "was withdrawn" in of_type(result.effects, NotifyModerators)[0].text
    await assert_invariant(db)


async def four_proposals(svc: BuddyService, clock: FakeClock | None = None) -> dict[int, int]:
    """With approvals required, men 1, 3, 5 and 7 ask and are proposed with 2, 4, 6 and 8 (an hour apart
    when a clock is given): each member's proposal id."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    for buddy in (2, 4, 6, 8):
        await volunteer(svc, buddy, MEN, max_buddies=1)
    pairs = {}
    for member in (1, 3, 5, 7):
        (proposal,) = of_type((await svc.request(G, facts(member, MEN))).effects, ProposePair)
        pairs[member] = proposal.pair.pair_id
        if clock is not None:
            clock.advance(hours=1)
    return pairs


async def test_unposted_proposals_are_those_no_moderator_can_see(svc: BuddyService) -> None:
    """Never posted, or posted in a channel since deleted: to post; posted where the channel still exists,
    or decided: not; each to the moderators' channel now."""
    pairs = await four_proposals(svc)
    gone_channel = 4999
    assert await svc.record_proposal_message(G, pairs[3], MOD_CHANNEL, 6003)  # visible
    assert await svc.record_proposal_message(G, pairs[5], gone_channel, 6005)  # its channel was deleted
    await svc.reject(G, MOD, pairs[7])  # decided: nothing to post
    exists = {MOD_CHANNEL}.__contains__
    found = await svc.unposted_proposals(G, exists)
    assert [(p.pair.pair_id, p.moderator_channel_id) for p in found] == [
        (pairs[1], MOD_CHANNEL),
        (pairs[5], MOD_CHANNEL),
    ]
    assert [await svc.needs_posting(G, pairs[m], exists) for m in (1, 3, 5, 7)] == [True, False, True, False]
    assert not await svc.needs_posting(G, 99999, exists)


async def test_unposted_proposals_wait_for_a_moderators_channel(svc: BuddyService) -> None:
    """With no moderators' channel there is nowhere to post: none are offered until one is set again."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN)
    (proposal,) = of_type((await svc.request(G, facts(1, MEN))).effects, ProposePair)
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=False, clear_moderator_channel=True))
    assert await svc.unposted_proposals(G, lambda _: True) == []
    await svc.update_settings(G, MOD, SettingsUpdate(moderator_channel_id=MOD_CHANNEL + 1))
    (again,) = await svc.unposted_proposals(G, lambda _: True)
    assert (again.pair.pair_id, again.moderator_channel_id) == (proposal.pair.pair_id, MOD_CHANNEL + 1)


async def test_proposals_page_lists_those_awaiting_a_decision(svc: BuddyService, clock: FakeClock) -> None:
    """Oldest first, paged, how long each waited, and its post only where a moderator can see it (never
    posted, or in a channel since deleted: none); decided ones and other servers' are not listed."""
    pairs = await four_proposals(svc, clock)
    gone_channel = 4999
    assert await svc.record_proposal_message(G, pairs[3], MOD_CHANNEL, 6003)
    assert await svc.record_proposal_message(G, pairs[5], gone_channel, 6005)
    await svc.reject(G, MOD, pairs[7])  # decided: not listed
    exists = {MOD_CHANNEL}.__contains__
    first = await svc.proposals_page(G, MOD, exists, 0, 2)
    assert (first.page, first.pages, first.total, first.moderator_channel_id) == (0, 2, 3, MOD_CHANNEL)
    shown = [(e.pair.member_id, e.pair.buddy_id, e.channel_id, e.message_id, e.waited) for e in first.proposals]
    assert shown == [(1, 2, None, None, timedelta(hours=4)), (3, 4, MOD_CHANNEL, 6003, timedelta(hours=3))]
    last = await svc.proposals_page(G, MOD, exists, 7, 2)  # out of range: the last page
    ((entry,),) = [last.proposals]
    assert (last.page, entry.pair.pair_id, entry.channel_id, entry.message_id) == (1, pairs[5], None, None)
    assert all(e.pair.status == "proposed" and e.pair.group_role_id == MEN for e in first.proposals)
    empty = await svc.proposals_page(OTHER_GUILD, MOD, exists)
    assert (empty.proposals, empty.page, empty.pages, empty.total, empty.moderator_channel_id) == ((), 0, 1, 0, None)
    with pytest.raises(UserError, match="Only moderators"):
        await svc.proposals_page(G, MEMBER_ACTOR, exists)


async def test_proposal_post_is_where_a_moderator_can_see_it(svc: BuddyService) -> None:
    """A proposal's post, for the list's decision: posted where the channel exists; none never posted,
    posted in a deleted channel, decided, another server's or unknown; moderators only."""
    pairs = await four_proposals(svc)
    assert await svc.record_proposal_message(G, pairs[3], MOD_CHANNEL, 6003)
    assert await svc.record_proposal_message(G, pairs[5], 4999, 6005)  # its channel was deleted
    assert await svc.record_proposal_message(G, pairs[7], MOD_CHANNEL, 6007)
    await svc.reject(G, MOD, pairs[7])
    exists = {MOD_CHANNEL}.__contains__
    found = [await svc.proposal_post(G, MOD, pairs[m], exists) for m in (1, 3, 5, 7)]
    assert found == [None, (MOD_CHANNEL, 6003), None, None]
    assert await svc.proposal_post(OTHER_GUILD, MOD, pairs[3], exists) is None
    assert await svc.proposal_post(G, MOD, 99999, exists) is None
    with pytest.raises(UserError, match="Only moderators"):
        await svc.proposal_post(G, MEMBER_ACTOR, pairs[3], exists)


async def test_a_proposal_settled_while_posting_records_no_message(svc: BuddyService, db: Database) -> None:
    """Recording the message of a proposal withdrawn meanwhile records nothing and says so."""
    await svc.update_settings(G, MOD, SettingsUpdate(require_approval=True))
    await volunteer(svc, 2, MEN)
    (proposal,) = of_type((await svc.request(G, facts(1, MEN))).effects, ProposePair)
    await svc.member_left(G, 2)
    assert not await svc.record_proposal_message(G, proposal.pair.pair_id, MOD_CHANNEL, 6009)
    row = await db.read(lambda c: repo.get_pair(c, G, proposal.pair.pair_id))
    assert row is not None and row.status == "withdrawn" and row.proposal_message_id is None


# =========================================================================== introductions


async def test_intro_reminder_after_three_quiet_days_once(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Three days after a thread intro with no word from either member: one reminder, and only one."""
    await volunteer(svc, 2, MEN)
    await volunteer(svc, 4, MEN)
    (quiet,) = (await svc.request(G, facts(1, MEN))).matched
    (chatty,) = (await svc.request(G, facts(3, MEN))).matched
    await svc.record_introduction(G, quiet.pair_id, 7100)
    await svc.record_introduction(G, chatty.pair_id, 7101)
    assert await svc.thread_activity(G, 7101, 3)
    assert not await svc.thread_activity(G, 7100, 99)  # not one of the two
    clock.advance(days=2, hours=23)
    assert await svc.due_reminders() == []
    clock.advance(hours=1)
    assert [p.pair_id for p in await svc.due_reminders()] == [quiet.pair_id]
    assert await svc.mark_reminded(G, quiet.pair_id)
    assert not await svc.mark_reminded(G, quiet.pair_id)
    assert await svc.due_reminders() == []


async def test_pending_introductions_are_offered_again(svc: BuddyService) -> None:
    """Pairs whose introduction was never recorded are returned for a retry, with what to quote."""
    await volunteer(svc, 2, MEN)
    (pair,) = (await svc.request(G, facts(1, MEN))).matched
    (pending,) = await svc.pending_introductions(G)
    assert pending.pair.pair_id == pair.pair_id and pending.quotes == svc.intro_quotes()
    await svc.record_introduction(G, pair.pair_id, None)
    assert await svc.pending_introductions(G) == []


# =========================================================================== isolation, transactions, invariant


async def test_servers_never_see_each_other(svc: BuddyService, db: Database) -> None:
    """The same people in two servers: groups, queues, volunteers and pairs stay apart."""
    await volunteer(svc, 2, MEN)
    await svc.add_group(OTHER_GUILD, MOD, MEN)
    other = await svc.request(OTHER_GUILD, facts(1, MEN))
    assert other.outcome == "queued" and other.waiting is not None
    assert other.waiting.reason is WaitReason.NO_VOLUNTEER  # volunteer 2 offers in server G only
    here = await svc.request(G, facts(1, MEN))
    assert here.outcome == "matched"
    assert await queue_ids(db, OTHER_GUILD) == [1] and await queue_ids(db, G) == []
    assert (await svc.status(OTHER_GUILD, facts(1, MEN))).buddies == ()
    assert (await svc.settings_view(OTHER_GUILD, MOD)).groups == (MEN,)


async def test_each_operation_is_one_transaction(
    svc: BuddyService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role change that ends a pair, requeues and matches again is one unit of work."""
    await volunteer(svc, 2, MEN)
    await volunteer(svc, 4, WOMEN)
    await svc.request(G, facts(1, MEN))
    calls: list[bool] = []
    original = db.transaction

    async def counting(work: Callable[[sqlite3.Connection], T], *, write: bool = True, bulk: bool = False) -> T:
        calls.append(write)
        return await original(work, write=write, bulk=bulk)

    monkeypatch.setattr(db, "transaction", counting)
    result = await svc.member_updated(G, facts(1, WOMEN))
    assert result.ended and result.matched
    assert calls == [True]


async def test_invariant_holds_over_random_operations(svc: BuddyService, db: Database, clock: FakeClock) -> None:
    """Hundreds of random role changes, requests, offers, ends, leaves, group changes and approvals never
    leave a live pair across groups, and a volunteer given a buddy by matching is within their maximum."""
    rnd = random.Random(6)
    roles = [MEN, WOMEN, 503]
    await svc.add_group(G, MOD, 503)
    users = list(range(1, 25))
    matched_total = 0

    def within_limit(conn: sqlite3.Connection, buddy_id: int) -> bool:
        offer = repo.get_volunteer(conn, G, buddy_id)
        limit = offer.max_buddies if offer is not None and offer.max_buddies else read_settings(conn, G).max_buddies
        return repo.buddy_load(conn, G, buddy_id) <= limit

    for step in range(500):
        clock.advance(minutes=rnd.randint(1, 600))
        uid = rnd.choice(users)
        held = frozenset(rnd.sample(roles, rnd.choice([0, 1, 1, 1, 2])))
        member = MemberFacts(uid, held, START - timedelta(days=rnd.choice([1, 20, 100])))
        action = rnd.randrange(11)
        result: object = None
        if step in (150, 350):
            await svc.update_settings(G, MOD, SettingsUpdate(require_approval=step == 150))
        try:
            if action in (0, 9):
                result = await svc.member_updated(G, member)
            elif action == 1:
                result = await svc.member_joined(G, member)
            elif action == 2:
                result = await svc.member_left(G, uid)
            elif action == 3:
                result = await svc.request(G, member)
            elif action == 4:
                result = await svc.volunteer(G, member, rnd.random() < 0.8, rnd.choice([None, 1, 3]))
            elif action == 5:
                result = await svc.end(G, uid, requeue=rnd.random() < 0.5)
            elif action == 6:
                other = MemberFacts(rnd.choice(users), held, START - timedelta(days=100))
                result = await svc.pair(G, MOD, member, other, force=rnd.random() < 0.2)
            elif action == 7 and step % 40 == 0:
                role = rnd.choice(roles)
                if role in (await svc.settings_view(G, MOD)).groups:
                    result = await svc.remove_group(G, MOD, role)
                else:
                    result = await svc.add_group(G, MOD, role, holders=[member])
            elif action == 8:
                result = await svc.run_matching(G)
            elif action == 10:
                proposed = await db.read(
                    lambda c: [p for u in users for p in repo.live_pairs_of(c, G, u) if p.status == "proposed"]
                )
                if proposed:
                    chosen = rnd.choice(proposed)
                    decide = svc.approve if rnd.random() < 0.5 else svc.reject
                    result = await decide(G, MOD, chosen.pair_id)
        except UserError:
            pass
        await assert_invariant(db)
        made: tuple[PairInfo, ...] = getattr(result, "made", ()) or getattr(result, "matched", ())
        matched_total += len(made)
        for pair in made:
            assert await db.read(lambda c, b=pair.buddy_id: within_limit(c, b)), pair  # type: ignore[misc]

    assert matched_total > 20  # the run really exercised matching


async def test_naive_clock_is_refused(db: Database, guidance: GuidanceLibrary) -> None:
    """A clock giving naive datetimes is a programming error caught at once."""
    service = BuddyService(db, lambda: datetime(2026, 1, 1), guidance)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        await service.run_matching(G)


async def test_member_event_that_changes_nothing_writes_nothing(svc: BuddyService, db: Database) -> None:
    """A role change of a member the feature does not know, holding no group role, leaves the file as it was."""

    def changes(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT total_changes()").fetchone()[0])

    before = await db.read(changes)
    result = await svc.member_updated(G, facts(1, STAFF))
    assert result.effects == () and await db.read(changes) == before

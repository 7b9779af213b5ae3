"""Tests of the buddy-matching storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from bot.db.connection import Database
from bot.db.repositories import buddies as repo
from bot.db.repositories import guilds
from bot.timeutil import from_timestamp, to_timestamp

T = TypeVar("T")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
G = 10  # guild
MEN, WOMEN = 501, 502


async def run(db: Database, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` as one transaction (the guild row exists first)."""

    def unit(conn: sqlite3.Connection) -> T:
        guilds.ensure_guild(conn, G, NOW)
        guilds.ensure_guild(conn, G + 1, NOW)
        return fn(conn)

    return await db.transaction(unit)


def member(conn: sqlite3.Connection, user_id: int, roles: tuple[int, ...] = (), guild: int = G, days: int = 30) -> None:
    """Store a member who joined ``days`` ago holding ``roles`` (all groups)."""
    repo.upsert_member(conn, guild, user_id, NOW - timedelta(days=days), NOW)
    repo.set_member_groups(conn, guild, user_id, roles)


def groups(conn: sqlite3.Connection, guild: int = G) -> None:
    repo.add_group(conn, guild, MEN, NOW, 1)
    repo.add_group(conn, guild, WOMEN, NOW, 1)


# --------------------------------------------------------------------------- groups and members


async def test_groups_are_added_once_and_listed_per_server(db: Database) -> None:
    """Adding a group twice reports it; each server has its own groups."""

    def work(conn: sqlite3.Connection) -> tuple[bool, bool, list[int], list[int]]:
        first = repo.add_group(conn, G, MEN, NOW, 1)
        again = repo.add_group(conn, G, MEN, NOW, 1)
        repo.add_group(conn, G, WOMEN, NOW + timedelta(seconds=1), 1)
        repo.add_group(conn, G + 1, 999, NOW, 1)
        return first, again, repo.list_groups(conn, G), repo.list_groups(conn, G + 1)

    assert await run(db, work) == (True, False, [MEN, WOMEN], [999])


async def test_group_columns_follow_the_roles_held(db: Database) -> None:
    """One group role gives a group; none or several give none, with the count kept."""

    def work(conn: sqlite3.Connection) -> list[tuple[int, int | None]]:
        groups(conn)
        member(conn, 1, ())
        member(conn, 2, (MEN,))
        member(conn, 3, (MEN, WOMEN))
        rows = [repo.get_member(conn, G, uid) for uid in (1, 2, 3)]
        return [(r.group_count, r.group_role_id) for r in rows if r is not None]

    assert await run(db, work) == [(0, None), (1, MEN), (2, None)]


async def test_removing_a_group_refreshes_its_holders(db: Database) -> None:
    """A member holding two groups holds the other one after a removal; one holding only it, none."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[tuple[int, int | None]], frozenset[int]]:
        groups(conn)
        member(conn, 2, (MEN,))
        member(conn, 3, (MEN, WOMEN))
        holders = repo.remove_group(conn, G, MEN)
        rows = [repo.get_member(conn, G, uid) for uid in (2, 3)]
        return holders, [(r.group_count, r.group_role_id) for r in rows if r], repo.group_roles_of(conn, G, 3)

    holders, states, roles = await run(db, work)
    assert holders == [2, 3]
    assert states == [(0, None), (1, WOMEN)]
    assert roles == frozenset({WOMEN})


async def test_only_group_roles_can_be_stored(db: Database) -> None:
    """A role that is not a group of the server is refused by the schema."""

    def work(conn: sqlite3.Connection) -> None:
        groups(conn)
        member(conn, 1, (12345,))

    with pytest.raises(sqlite3.IntegrityError):
        await run(db, work)


async def test_upsert_keeps_join_time_and_clears_left(db: Database) -> None:
    """A later report without a join time keeps the stored one; a returning member is in again."""

    def work(conn: sqlite3.Connection) -> tuple[datetime | None, datetime | None, datetime | None]:
        repo.upsert_member(conn, G, 1, NOW - timedelta(days=3), NOW)
        repo.mark_left(conn, G, 1, NOW)
        left = repo.get_member(conn, G, 1)
        repo.upsert_member(conn, G, 1, None, NOW)
        back = repo.get_member(conn, G, 1)
        assert left is not None and back is not None
        return left.left_at, back.left_at, back.joined_at

    left_at, back_left_at, joined = await run(db, work)
    assert left_at == NOW and back_left_at is None and joined == NOW - timedelta(days=3)


async def test_told_and_several_notice_flags(db: Database) -> None:
    """The once-only flags are stored and the several-groups notice can be cleared."""

    def work(conn: sqlite3.Connection) -> tuple[datetime | None, datetime | None, datetime | None]:
        member(conn, 1)
        repo.mark_told(conn, G, 1, NOW)
        repo.set_several_notice(conn, G, 1, NOW)
        first = repo.get_member(conn, G, 1)
        repo.set_several_notice(conn, G, 1, None)
        second = repo.get_member(conn, G, 1)
        assert first is not None and second is not None
        return first.told_at, first.several_notice_at, second.several_notice_at

    assert await run(db, work) == (NOW, NOW, None)


# --------------------------------------------------------------------------- the queue


async def test_queue_order_place_and_first_in_line(db: Database) -> None:
    """The queue is first-in-line, then oldest, then user id; places count within the group."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[tuple[int, int] | None], bool]:
        groups(conn)
        for uid, roles in ((1, (MEN,)), (2, (MEN,)), (3, (WOMEN,)), (4, (MEN,)), (5, ())):
            member(conn, uid, roles)
        assert repo.enqueue(conn, G, 1, NOW, "request")
        repo.enqueue(conn, G, 2, NOW - timedelta(hours=1), "auto")
        repo.enqueue(conn, G, 3, NOW - timedelta(hours=2), "auto")
        repo.enqueue(conn, G, 4, NOW + timedelta(hours=1), "requeue", first_in_line=True)
        repo.enqueue(conn, G, 5, NOW, "request")
        again = repo.enqueue(conn, G, 1, NOW + timedelta(days=1), "request")
        order = [r.user_id for r in repo.list_queue(conn, G)]
        places = [repo.queue_place(conn, G, uid) for uid in (1, 2, 3, 4, 5, 6)]
        return order, places, again

    order, places, again = await run(db, work)
    assert order == [4, 3, 2, 1, 5]
    assert places == [(3, 3), (2, 3), (1, 1), (1, 3), None, None]
    assert again is False


async def test_enqueue_again_keeps_place_but_can_move_to_front(db: Database) -> None:
    """A member already waiting keeps their time; first_in_line moves them to the head."""

    def work(conn: sqlite3.Connection) -> tuple[datetime, bool]:
        member(conn, 1)
        repo.enqueue(conn, G, 1, NOW, "request")
        repo.enqueue(conn, G, 1, NOW + timedelta(days=2), "requeue", first_in_line=True)
        entry = repo.queue_entry(conn, G, 1)
        assert entry is not None
        return entry.queued_at, entry.first_in_line

    assert await run(db, work) == (NOW, True)


async def test_dequeue_paging_and_count(db: Database) -> None:
    """Members leave the queue; pages follow queue order."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], int]:
        for uid in range(1, 6):
            member(conn, uid)
            repo.enqueue(conn, G, uid, NOW + timedelta(minutes=uid), "request")
        repo.dequeue(conn, G, [2, 4])
        return [r.user_id for r in repo.list_queue(conn, G, 2, 1)], repo.count_queue(conn, G)

    assert await run(db, work) == ([3, 5], 3)


async def test_dequeue_many_in_several_statements(db: Database) -> None:
    """Taking out more members than one statement holds takes out each of them (given twice, or in any
    order), and nobody else: not the others waiting, not the same user in another server."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[int]]:
        guilds.ensure_guild(conn, G + 1, NOW)
        for uid in range(1, 1_301):
            member(conn, uid)
            repo.enqueue(conn, G, uid, NOW, "auto")
        member(conn, 7, guild=G + 1)
        repo.enqueue(conn, G + 1, 7, NOW, "auto")
        leaving = [uid for uid in range(1_200, 0, -1) if uid != 600]
        repo.dequeue(conn, G, leaving + leaving[:10])
        left = conn.execute("SELECT user_id FROM buddy_queue WHERE guild_id = ? ORDER BY user_id", (G,)).fetchall()
        other = conn.execute("SELECT user_id FROM buddy_queue WHERE guild_id = ?", (G + 1,)).fetchall()
        return [r[0] for r in left], [r[0] for r in other]

    left, other = await run(db, work)
    assert left == [600, *range(1_201, 1_301)]
    assert other == [7]


# --------------------------------------------------------------------------- volunteers


async def test_volunteer_offer_since_moves_only_when_offered_again(db: Database) -> None:
    """Changing the maximum keeps ``since``; stopping and offering again resets it."""

    def work(conn: sqlite3.Connection) -> list[tuple[bool, int | None, datetime]]:
        groups(conn)
        member(conn, 1, (MEN,))
        out = []
        repo.set_volunteer(conn, G, 1, True, None, NOW)
        repo.set_volunteer(conn, G, 1, True, 3, NOW + timedelta(days=1))
        for when, available in ((NOW + timedelta(days=2), False), (NOW + timedelta(days=3), True)):
            row = repo.get_volunteer(conn, G, 1)
            assert row is not None
            out.append((row.available, row.max_buddies, row.since))
            repo.set_volunteer(conn, G, 1, available, 3, when)
        row = repo.get_volunteer(conn, G, 1)
        assert row is not None
        out.append((row.available, row.max_buddies, row.since))
        return out

    assert await run(db, work) == [
        (True, 3, NOW),
        (False, 3, NOW),
        (True, 3, NOW + timedelta(days=3)),
    ]


async def test_volunteers_of_groups_skips_unavailable_groupless_and_departed(db: Database) -> None:
    """Only available volunteers in the server with exactly one group are listed."""

    def work(conn: sqlite3.Connection) -> list[int]:
        groups(conn)
        for uid, roles in ((1, (MEN,)), (2, ()), (3, (MEN, WOMEN)), (4, (WOMEN,)), (5, (MEN,))):
            member(conn, uid, roles)
            repo.set_volunteer(conn, G, uid, True, None, NOW)
        repo.set_volunteer(conn, G, 4, False, None, NOW)
        repo.mark_left(conn, G, 5, NOW)
        return [v.user_id for v in repo.volunteers_of_groups(conn, G)]

    assert await run(db, work) == [1]


async def test_leaving_stops_volunteering(db: Database) -> None:
    """mark_left makes the offer unavailable."""

    def work(conn: sqlite3.Connection) -> bool:
        member(conn, 1)
        repo.set_volunteer(conn, G, 1, True, 2, NOW)
        repo.mark_left(conn, G, 1, NOW)
        row = repo.get_volunteer(conn, G, 1)
        assert row is not None
        return row.available

    assert await run(db, work) is False


# --------------------------------------------------------------------------- pairs


async def test_one_live_pair_per_two_members_either_way(db: Database) -> None:
    """A second live pair of the same two members, in either direction, is refused by the schema."""
    await run(db, lambda c: repo.insert_pair(c, G, 1, 2, MEN, status="active", now=NOW))
    with pytest.raises(sqlite3.IntegrityError):
        await run(db, lambda c: repo.insert_pair(c, G, 2, 1, MEN, status="proposed", now=NOW))


async def test_ended_pair_allows_a_new_one_and_counts_as_past(db: Database) -> None:
    """After a pair ends the two may be paired again (by hand); the ended one is remembered."""

    def work(conn: sqlite3.Connection) -> tuple[bool, bool, int]:
        first = repo.insert_pair(conn, G, 1, 2, MEN, status="active", now=NOW)
        before = repo.paired_before(conn, G, 2, 1)
        repo.close_pair(conn, G, first, "ended", NOW, 1, "ended_by_member")
        after = repo.paired_before(conn, G, 2, 1)
        return before, after, repo.insert_pair(conn, G, 1, 2, MEN, status="active", now=NOW)

    before, after, second = await run(db, work)
    assert (before, after) == (False, True) and second > 0


async def test_self_pair_refused(db: Database) -> None:
    """The schema refuses a member paired with themselves."""
    with pytest.raises(sqlite3.IntegrityError):
        await run(db, lambda c: repo.insert_pair(c, G, 1, 1, MEN, status="active", now=NOW))


async def test_pair_lifecycle_fields(db: Database) -> None:
    """Proposed → active by approval; closing records who, when and why; wrong states are no-ops."""

    def work(conn: sqlite3.Connection) -> tuple[repo.PairRow, repo.PairRow, repo.PairRow]:
        pid = repo.insert_pair(conn, G, 1, 2, MEN, status="proposed", now=NOW, queued_at=NOW - timedelta(days=1))
        proposed = repo.get_pair(conn, G, pid)
        repo.close_pair(conn, G, pid, "ended", NOW, 9, "x")  # not active: nothing happens
        repo.activate_pair(conn, G, pid, NOW + timedelta(hours=1), 9)
        active = repo.get_pair(conn, G, pid)
        repo.close_pair(conn, G, pid, "ended", NOW + timedelta(days=1), 2, "ended_by_member")
        ended = repo.get_pair(conn, G, pid)
        assert proposed and active and ended
        return proposed, active, ended

    proposed, active, ended = await run(db, work)
    assert proposed.status == "proposed" and proposed.started_at is None
    assert proposed.queued_at == NOW - timedelta(days=1)
    assert active.status == "active" and active.started_at == NOW + timedelta(hours=1) and active.decided_by == 9
    assert (ended.status, ended.ended_by, ended.end_reason) == ("ended", 2, "ended_by_member")
    assert ended.ended_at == NOW + timedelta(days=1)
    assert ended.other(1) == 2 and ended.other(2) == 1 and ended.involves(2) and not ended.involves(3)


async def test_insert_pairs_returns_ids_in_order(db: Database) -> None:
    """A bulk insert gives each pair its id, in the order given, with every column as given (the queue
    place from the member's waiting row)."""

    def work(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
        repo.insert_pair(conn, G + 1, 7, 8, 1, status="active", now=NOW)
        waiting = {1: (1, 100, 0), 3: (3, 200, 1), 5: (5, 300, 1), 9: (9, 1, 0)}
        ids = repo.insert_pairs(conn, G, [(1, 2, MEN), (3, 4, WOMEN)], waiting, status="proposed", now=NOW)
        more = repo.insert_pairs(conn, G, [(5, 6, MEN)], waiting, status="active", now=NOW)
        assert list(more) == [ids[-1] + 1] and repo.insert_pairs(
            conn, G, [], waiting, status="active", now=NOW
        ) == range(0)
        rows = [repo.get_pair(conn, G, i) for i in [*ids, *more]]
        return [
            (r.member_id, r.buddy_id, r.group_role_id, r.status, r.queued_at, r.first_in_line, r.started_at)
            for r in rows
            if r
        ]

    assert await run(db, work) == [
        (1, 2, MEN, "proposed", from_timestamp(100), False, None),
        (3, 4, WOMEN, "proposed", from_timestamp(200), True, None),
        (5, 6, MEN, "active", from_timestamp(300), True, NOW),
    ]


async def test_live_pairs_loads_and_partners(db: Database) -> None:
    """Live pairs of a member (either side), buddies' loads, and partners by status."""

    def work(
        conn: sqlite3.Connection,
    ) -> tuple[list[int], int, dict[int, int], dict[int, set[int]], dict[int, set[int]]]:
        a = repo.insert_pair(conn, G, 1, 9, MEN, status="active", now=NOW)
        b = repo.insert_pair(conn, G, 2, 9, MEN, status="proposed", now=NOW)
        c = repo.insert_pair(conn, G, 9, 3, MEN, status="active", now=NOW)
        d = repo.insert_pair(conn, G, 4, 9, MEN, status="active", now=NOW)
        repo.close_pair(conn, G, d, "ended", NOW, None, "x")
        repo.insert_pair(conn, G + 1, 5, 9, MEN, status="active", now=NOW)
        live = [p.pair_id for p in repo.live_pairs_of(conn, G, 9)]
        assert live == [a, b, c]
        return (
            live,
            repo.buddy_load(conn, G, 9),
            repo.loads(conn, G),
            repo.partners_of(conn, G, [9, 4]),
            repo.partners_of(conn, G, [9], repo.LIVE),
        )

    _, load, loads, past, live = await run(db, work)
    assert load == 2
    assert loads == {9: 2, 3: 1}
    assert past == {9: {4}, 4: {9}}
    assert live == {9: {1, 2, 3}}


async def test_live_pair_between_either_way(db: Database) -> None:
    """The live pair of two members is found whichever way round they are given."""

    def work(conn: sqlite3.Connection) -> tuple[int | None, int | None, None]:
        pid = repo.insert_pair(conn, G, 5, 3, MEN, status="active", now=NOW)
        one = repo.live_pair_between(conn, G, 3, 5)
        two = repo.live_pair_between(conn, G, 5, 3)
        assert repo.live_pair_between(conn, G + 1, 3, 5) is None
        assert pid
        return (one.pair_id if one else None, two.pair_id if two else None, None)

    one, two, _ = await run(db, work)
    assert one == two is not None


async def test_proposals_and_their_messages(db: Database) -> None:
    """Only proposed pairs are listed, oldest first; a message is recorded only while still proposed."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[int], bool, bool, list[tuple[int | None, int | None]]]:
        groups(conn)
        for uid in (1, 2, 3, 4, 5, 6):
            member(conn, uid, (MEN,))
        first = repo.insert_pair(conn, G, 1, 2, MEN, status="proposed", now=NOW)
        repo.insert_pair(conn, G, 3, 4, MEN, status="active", now=NOW)
        second = repo.insert_pair(conn, G, 5, 6, MEN, status="proposed", now=NOW)
        listed = [p.pair_id for p in repo.proposals_of(conn, G)]
        recorded = repo.set_proposal_message(conn, G, first, 40, 600)
        repo.close_pair(conn, G, second, "withdrawn", NOW, None, "member_left")
        refused = repo.set_proposal_message(conn, G, second, 40, 601)
        where = [(p.proposal_channel_id, p.proposal_message_id) for p in repo.proposals_of(conn, G)]
        return [first, second], listed, recorded, refused, where

    made, listed, recorded, refused, where = await run(db, work)
    assert listed == made
    assert recorded and not refused
    assert where == [(40, 600)]


async def test_proposals_paged(db: Database) -> None:
    """Only the server's proposed pairs are listed, oldest first, paged and counted."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], int, int]:
        for i in range(5):
            repo.insert_pair(conn, G, 100 + i, 200 + i, MEN, status="proposed", now=NOW + timedelta(minutes=i))
        repo.insert_pair(conn, G, 300, 301, MEN, status="active", now=NOW)
        repo.insert_pair(conn, G + 1, 400, 401, MEN, status="proposed", now=NOW)
        page = [p.member_id for p in repo.list_proposals(conn, G, 2, 2)]
        return page, repo.count_proposals(conn, G), len(repo.list_proposals(conn, G))

    assert await run(db, work) == ([102, 103], 5, 5)


async def test_active_pairs_paged(db: Database) -> None:
    """Only active pairs are listed, oldest first, paged and counted."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], int]:
        for i in range(5):
            repo.insert_pair(conn, G, 100 + i, 200 + i, MEN, status="active", now=NOW + timedelta(minutes=i))
        repo.insert_pair(conn, G, 300, 301, MEN, status="proposed", now=NOW)
        return [p.member_id for p in repo.list_active_pairs(conn, G, 2, 2)], repo.count_active_pairs(conn, G)

    assert await run(db, work) == ([102, 103], 5)


# --------------------------------------------------------------------------- introductions


async def test_intro_reminders_due_once_without_activity(db: Database) -> None:
    """A thread intro with no message from either member for 3 days is due once; DMs never are."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[int], bool, bool, list[int]]:
        quiet = repo.insert_pair(conn, G, 1, 2, MEN, status="active", now=NOW)
        chatty = repo.insert_pair(conn, G, 3, 4, MEN, status="active", now=NOW)
        by_dm = repo.insert_pair(conn, G, 5, 6, MEN, status="active", now=NOW)
        recent = repo.insert_pair(conn, G + 1, 7, 8, MEN, status="active", now=NOW)
        repo.record_introduction(conn, G, quiet, 1001, NOW)
        repo.record_introduction(conn, G, chatty, 1002, NOW)
        repo.record_introduction(conn, G, by_dm, None, NOW)
        repo.record_introduction(conn, G + 1, recent, 1004, NOW + timedelta(days=2))
        stranger = repo.record_thread_activity(conn, G, 1002, 99, NOW)
        counted = repo.record_thread_activity(conn, G, 1002, 4, NOW + timedelta(hours=1))
        due = [p.pair_id for p in repo.due_reminders(conn, NOW + timedelta(days=3) - timedelta(days=3))]
        later = [p.pair_id for p in repo.due_reminders(conn, NOW + timedelta(days=5) - timedelta(days=3))]
        assert repo.mark_reminded(conn, G, quiet, NOW)
        assert not repo.mark_reminded(conn, G, quiet, NOW)
        after = [p.pair_id for p in repo.due_reminders(conn, NOW + timedelta(days=5) - timedelta(days=3))]
        return due, later, stranger, counted, after

    due, later, stranger, counted, after = await run(db, work)
    assert due == [1]
    assert later == [1, 4]
    assert (stranger, counted) == (False, True)
    assert after == [4]


async def test_pairs_to_introduce(db: Database) -> None:
    """Active pairs without a recorded introduction are listed for a retry."""

    def work(conn: sqlite3.Connection) -> list[int]:
        done = repo.insert_pair(conn, G, 1, 2, MEN, status="active", now=NOW)
        repo.insert_pair(conn, G, 3, 4, MEN, status="active", now=NOW)
        repo.insert_pair(conn, G, 5, 6, MEN, status="proposed", now=NOW)
        repo.record_introduction(conn, G, done, None, NOW)
        return [p.member_id for p in repo.pairs_to_introduce(conn, G)]

    assert await run(db, work) == [3]


# --------------------------------------------------------------------------- matching inputs


async def test_matching_inputs_are_scoped(db: Database) -> None:
    """Waiting members and volunteers need one group; volunteers a join time before the cut-off; the
    group filter narrows every input; past pairs are those of the members asked about."""

    def work(conn: sqlite3.Connection) -> dict[str, object]:
        groups(conn)
        member(conn, 1, (MEN,))
        member(conn, 2, (WOMEN,))
        member(conn, 3, ())
        member(conn, 4, (MEN,), days=30)
        member(conn, 5, (MEN,), days=3)
        member(conn, 6, (WOMEN,), days=30)
        groups(conn, G + 1)
        member(conn, 7, (MEN,), guild=G + 1)
        for uid in (1, 2, 3):
            repo.enqueue(conn, G, uid, NOW, "request")
        repo.enqueue(conn, G + 1, 7, NOW, "request")
        for uid in (4, 5, 6):
            repo.set_volunteer(conn, G, uid, True, None, NOW)
        past = repo.insert_pair(conn, G, 1, 4, MEN, status="active", now=NOW)
        repo.close_pair(conn, G, past, "ended", NOW, None, "x")
        other = repo.insert_pair(conn, G, 8, 4, MEN, status="active", now=NOW)
        stale = repo.insert_pair(conn, G, 8, 6, WOMEN, status="active", now=NOW)
        repo.close_pair(conn, G, stale, "ended", NOW, None, "x")
        cutoff = NOW - timedelta(days=14)
        assert other
        return {
            "anyone": (
                repo.anyone_waiting(conn, G),
                repo.anyone_waiting(conn, G, [WOMEN]),
                repo.anyone_waiting(conn, G, [7]),
            ),
            "waiting_men": repo.waiting_in_group(conn, G, MEN).fetchall(),
            "waiting_women": repo.waiting_in_group(conn, G, WOMEN).fetchall(),
            "volunteers": sorted(repo.matching_volunteers(conn, G, cutoff)),
            "volunteers_women": repo.matching_volunteers(conn, G, cutoff, [WOMEN]),
            "current": repo.matching_current(conn, G, [MEN]),
            "current_women": repo.matching_current(conn, G, [WOMEN]),
            "past": repo.matching_past(conn, G, {4}),
            "past_of_6": repo.matching_past(conn, G, {6, 5}),
            "past_of_nobody": repo.matching_past(conn, G, set()),
        }

    got = await run(db, work)
    stamp = to_timestamp(NOW)
    assert got["anyone"] == (True, True, False)
    assert got["waiting_men"] == [(1, stamp, 0)]  # not 7, of another server; not 3, of no group
    assert got["waiting_women"] == [(2, stamp, 0)]
    assert got["volunteers"] == [(4, MEN, None), (6, WOMEN, None)]
    assert got["volunteers_women"] == [(6, WOMEN, None)]
    assert got["current"] == [(8, 4)]
    assert got["current_women"] == []
    assert got["past"] == [(1, 4)]
    assert got["past_of_6"] == [(8, 6)]
    assert got["past_of_nobody"] == []


async def test_erasing_a_server_cascades(db: Database) -> None:
    """Deleting the server's row removes all its buddy data and nothing of another server's."""

    def work(conn: sqlite3.Connection) -> None:
        for guild in (G, G + 1):
            groups(conn, guild)
            member(conn, 1, (MEN,), guild=guild)
            repo.enqueue(conn, guild, 1, NOW, "request")
            repo.set_volunteer(conn, guild, 1, True, None, NOW)
            repo.insert_pair(conn, guild, 1, 2, MEN, status="active", now=NOW)
        conn.execute("DELETE FROM guilds WHERE guild_id = ?", (G,))

    await run(db, work)

    def counts(conn: sqlite3.Connection) -> list[tuple[int, int]]:
        out = []
        for table in (
            "buddy_groups",
            "buddy_members",
            "buddy_member_roles",
            "buddy_queue",
            "buddy_volunteers",
            "buddy_pairs",
        ):
            here = conn.execute(f"SELECT count(*) FROM {table} WHERE guild_id = ?", (G,)).fetchone()[0]
            there = conn.execute(f"SELECT count(*) FROM {table} WHERE guild_id = ?", (G + 1,)).fetchone()[0]
            out.append((here, there))
        return out

    assert all(here == 0 and there > 0 for here, there in await db.read(counts))


async def test_new_pair_status_is_checked(db: Database) -> None:
    """A new pair is proposed or active; closing to an unknown status is a programming error."""
    with pytest.raises(ValueError, match="proposed or active"):
        await run(db, lambda c: repo.insert_pair(c, G, 1, 2, MEN, status="ended", now=NOW))
    with pytest.raises(ValueError, match="cannot close"):
        await run(db, lambda c: repo.close_pair(c, G, 1, "active", NOW, None, "x"))


async def test_guild_known(db: Database) -> None:
    """A server is known once its row exists."""
    assert await db.read(lambda c: repo.guild_known(c, 99)) is False
    await db.transaction(lambda c: guilds.ensure_guild(c, 99, NOW))
    assert await db.read(lambda c: repo.guild_known(c, 99)) is True


# --------------------------------------------------------------------------- the queue's copy of the group (0010)


def _queue_groups(conn: sqlite3.Connection, guild: int = G) -> dict[int, int | None]:
    rows = conn.execute("SELECT user_id, group_role_id FROM buddy_queue WHERE guild_id = ?", (guild,)).fetchall()
    return {int(r[0]): r[1] for r in rows}


async def test_queue_keeps_the_members_group_in_step(db: Database) -> None:
    """The queue's group is the member's when queued, follows role changes and a removed group."""

    def work(conn: sqlite3.Connection) -> list[dict[int, int | None]]:
        groups(conn)
        member(conn, 1, (MEN,))
        member(conn, 2, ())
        member(conn, 3, (MEN, WOMEN))
        member(conn, 4, (WOMEN,))
        for uid in (1, 2, 3, 4):
            repo.enqueue(conn, G, uid, NOW, "request")
        seen = [_queue_groups(conn)]
        repo.set_member_groups(conn, G, 1, [WOMEN])
        repo.set_member_groups(conn, G, 2, [MEN])
        repo.set_member_groups(conn, G, 3, [WOMEN])
        seen.append(_queue_groups(conn))
        repo.remove_group(conn, G, WOMEN)
        seen.append(_queue_groups(conn))
        return seen

    queued, changed, removed = await run(db, work)
    assert queued == {1: MEN, 2: None, 3: None, 4: WOMEN}
    assert changed == {1: WOMEN, 2: MEN, 3: WOMEN, 4: WOMEN}
    assert removed == {1: None, 2: MEN, 3: None, 4: None}


async def test_queue_group_matches_members_after_any_change(db: Database) -> None:
    """Whatever the order of role changes and queueing, the queue's copy equals buddy_members'."""

    def work(conn: sqlite3.Connection) -> list[tuple[int, int | None, int | None]]:
        groups(conn)
        for uid in range(1, 7):
            member(conn, uid, (MEN,) if uid % 2 else (WOMEN,))
        for uid in (1, 2, 3):
            repo.enqueue(conn, G, uid, NOW, "request")
        repo.set_member_groups(conn, G, 2, [MEN, WOMEN])
        repo.set_member_groups(conn, G, 4, [MEN])
        repo.enqueue(conn, G, 4, NOW, "auto")
        repo.enqueue(conn, G, 2, NOW, "requeue", first_in_line=True)
        rows = conn.execute(
            "SELECT q.user_id, q.group_role_id, m.group_role_id FROM buddy_queue q "
            "JOIN buddy_members m ON m.guild_id = q.guild_id AND m.user_id = q.user_id ORDER BY q.user_id"
        ).fetchall()
        return [(int(r[0]), r[1], r[2]) for r in rows]

    rows = await run(db, work)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert all(ours == theirs for _, ours, theirs in rows)


async def test_offers_keep_the_members_group_in_step(db: Database) -> None:
    """An offer copies the member's group when made and follows role changes and a removed group;
    matching for one group reads exactly that group's available offers."""

    def work(conn: sqlite3.Connection) -> tuple[dict[int, int | None], dict[int, int | None], list[int], list[int]]:
        groups(conn)
        for uid, roles in ((1, (MEN,)), (2, (WOMEN,)), (3, ()), (4, (MEN,))):
            member(conn, uid, roles, days=100)
            repo.set_volunteer(conn, G, uid, True, None, NOW)
        repo.set_volunteer(conn, G, 4, False, None, NOW)
        made = _offer_groups(conn)
        repo.set_member_groups(conn, G, 3, [MEN])
        repo.set_member_groups(conn, G, 2, [MEN, WOMEN])
        repo.remove_group(conn, G, WOMEN)
        cutoff = NOW - timedelta(days=14)
        men = sorted(r[0] for r in repo.matching_volunteers(conn, G, cutoff, [MEN]))
        women = [r[0] for r in repo.matching_volunteers(conn, G, cutoff, [WOMEN])]
        return made, _offer_groups(conn), men, women

    made, after, men, women = await run(db, work)
    assert made == {1: MEN, 2: WOMEN, 3: None, 4: MEN}
    assert after == {1: MEN, 2: MEN, 3: MEN, 4: MEN}
    assert men == [1, 2, 3] and women == []


def _offer_groups(conn: sqlite3.Connection) -> dict[int, int | None]:
    rows = conn.execute("SELECT user_id, group_role_id FROM buddy_volunteers WHERE guild_id = ?", (G,)).fetchall()
    return {int(r[0]): r[1] for r in rows}


async def test_dequeue_heads_takes_each_group_up_to_and_including_a_place(db: Database) -> None:
    """Each group's queue loses its members up to and including the given one, in queue order (those
    first in line ahead of everyone); the members behind, other groups and other servers keep theirs."""

    def work(conn: sqlite3.Connection) -> dict[str, list[int]]:
        groups(conn)
        groups(conn, G + 1)
        queued = {  # user: (group, minutes, first in line); queue order: first in line, then time, then id
            1: (MEN, 5, True), 2: (MEN, 1, False), 3: (MEN, 2, False), 4: (MEN, 2, False), 5: (MEN, 3, False),
            6: (WOMEN, 1, True), 7: (WOMEN, 2, True), 8: (WOMEN, 0, False),
        }  # fmt: skip
        for uid, (group, minutes, first) in queued.items():
            member(conn, uid, (group,))
            repo.enqueue(conn, G, uid, NOW + timedelta(minutes=minutes), "request", first_in_line=first)
        member(conn, 2, (MEN,), guild=G + 1)
        repo.enqueue(conn, G + 1, 2, NOW, "request")
        men = {r[0]: r for r in repo.waiting_in_group(conn, G, MEN)}
        women = {r[0]: r for r in repo.waiting_in_group(conn, G, WOMEN)}
        before = [r[0] for r in repo.waiting_in_group(conn, G, MEN)]
        repo.dequeue_heads(conn, G, {MEN: men[3], WOMEN: women[6]})
        return {
            "before": before,
            "men": [r[0] for r in repo.waiting_in_group(conn, G, MEN)],
            "women": [r[0] for r in repo.waiting_in_group(conn, G, WOMEN)],
            "other_server": [r[0] for r in repo.waiting_in_group(conn, G + 1, MEN)],
        }

    got = await run(db, work)
    assert got["before"] == [1, 2, 3, 4, 5]
    assert got["men"] == [4, 5]  # 1 (first in line), 2 and 3 taken; 4 queued at the same time as 3
    assert got["women"] == [7, 8]  # a place among those first in line: only 6 taken
    assert got["other_server"] == [2]


async def test_leaving_takes_the_member_out_of_the_queue(db: Database) -> None:
    """A member who left is never waiting: mark_left dequeues them too."""

    def work(conn: sqlite3.Connection) -> tuple[bool, int, list[tuple[int, int, int]]]:
        groups(conn)
        member(conn, 1, (MEN,))
        member(conn, 2, (MEN,))
        repo.enqueue(conn, G, 1, NOW, "request")
        repo.enqueue(conn, G, 2, NOW, "request")
        repo.mark_left(conn, G, 1, NOW)
        return (
            repo.queue_entry(conn, G, 1) is None,
            repo.count_queue(conn, G),
            repo.waiting_in_group(conn, G, MEN).fetchall(),
        )

    gone, count, waiting = await run(db, work)
    assert gone and count == 1
    assert waiting == [(2, to_timestamp(NOW), 0)]


async def test_place_in_group_counts_only_the_group(db: Database) -> None:
    """The place counts the waiting members of the entry's group before it, first in line first."""

    def work(conn: sqlite3.Connection) -> list[tuple[int, int] | None]:
        groups(conn)
        for uid in range(1, 8):
            member(conn, uid, (MEN,) if uid != 4 else (WOMEN,))
            repo.enqueue(conn, G, uid, NOW + timedelta(minutes=10 - uid), "request")
        repo.enqueue(conn, G, 6, NOW, "requeue", first_in_line=True)
        member(conn, 8, ())
        repo.enqueue(conn, G, 8, NOW, "request")
        out = []
        for uid in (1, 4, 5, 6, 7, 8):
            entry = repo.queue_entry(conn, G, uid)
            assert entry is not None
            out.append(repo.place_in_group(conn, G, entry))
        return out

    # MEN, queue order: 6 (first in line), 7, 5, 3, 2, 1; WOMEN: 4 alone; 8 has no group.
    assert await run(db, work) == [(6, 6), (1, 1), (3, 6), (1, 6), (2, 6), None]


async def test_waiting_in_group_reads_one_group_in_queue_order(db: Database) -> None:
    """Each group's waiting members come in queue order (first in line first), and a cursor gives only
    as many as are fetched."""

    def work(conn: sqlite3.Connection) -> tuple[list[int], list[int], list[int]]:
        groups(conn)
        for uid in range(1, 7):
            member(conn, uid, (MEN,) if uid % 2 else (WOMEN,))
            repo.enqueue(conn, G, uid, NOW + timedelta(minutes=uid), "request", first_in_line=uid == 6)
        men = [r[0] for r in repo.waiting_in_group(conn, G, MEN)]
        cursor = repo.waiting_in_group(conn, G, WOMEN)
        first = [r[0] for r in cursor.fetchmany(2)]
        cursor.close()
        women = [r[0] for r in repo.waiting_in_group(conn, G, WOMEN)]
        return men, first, women

    men, first, women = await run(db, work)
    assert men == [1, 3, 5]
    assert women == [6, 2, 4]  # 6 was put back first in line
    assert first == [6, 2]


async def test_matching_volunteers_come_in_rank_order_within_each_group(db: Database) -> None:
    """Each group's volunteers come by join time, then user id (whatever their maximum), the groups by
    id; one group's alone when asked; the unavailable, the too recent and members of no group are left out."""

    def work(conn: sqlite3.Connection) -> tuple[list[tuple[int, int, int | None]], list[tuple[int, int, int | None]]]:
        groups(conn)
        offers = [  # user, group, days in the server, maximum, available
            (20, WOMEN, 50, None, True), (30, MEN, 40, 1, True), (31, MEN, 40, None, True), (29, MEN, 40, 3, True),
            (10, MEN, 60, 2, True), (40, MEN, 70, None, False), (41, MEN, 1, None, True), (21, WOMEN, 50, 1, True),
        ]  # fmt: skip
        for uid, group, days, most, available in offers:
            member(conn, uid, (group,), days=days)
            repo.set_volunteer(conn, G, uid, available, most, NOW)
        member(conn, 50, (), days=90)
        repo.set_volunteer(conn, G, 50, True, None, NOW)
        cutoff = NOW - timedelta(days=14)
        return repo.matching_volunteers(conn, G, cutoff), repo.matching_volunteers(conn, G, cutoff, [MEN])

    every, men = await run(db, work)
    men_in_order = [(10, MEN, 2), (29, MEN, 3), (30, MEN, 1), (31, MEN, None)]  # 29-31 joined together: by id
    assert every == [*men_in_order, (20, WOMEN, None), (21, WOMEN, 1)]  # MEN (501) before WOMEN (502)
    assert men == men_in_order


@pytest.mark.parametrize("past_pairs", [1, 3, 20])
async def test_matching_past_same_pairs_by_range_or_lookups(db: Database, past_pairs: int) -> None:
    """Read in one range (few past pairs per member asked about) or member by member (many), the past
    pairs of the members asked about are the same, both ways round, each once, and nobody else's."""

    def work(conn: sqlite3.Connection) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        groups(conn)
        for uid in (1, 2, 3):
            member(conn, uid, (MEN,))
        for index in range(past_pairs):
            a, b = 100 + index, 200 + index
            first = repo.insert_pair(conn, G, 1, a, MEN, status="active", now=NOW)  # 1 was supported
            repo.close_pair(conn, G, first, "ended", NOW, None, "x")
            second = repo.insert_pair(conn, G, b, 2, MEN, status="proposed", now=NOW)  # 2 supported
            repo.close_pair(conn, G, second, "rejected", NOW, None, "x")
            third = repo.insert_pair(conn, G, a, b, MEN, status="active", now=NOW)  # not asked about
            repo.close_pair(conn, G, third, "ended", NOW, None, "x")
        repo.insert_pair(conn, G, 3, 300, MEN, status="active", now=NOW)  # live, not past
        withdrawn = repo.insert_pair(conn, G, 3, 301, MEN, status="proposed", now=NOW)
        repo.close_pair(conn, G, withdrawn, "withdrawn", NOW, None, "x")
        both = repo.insert_pair(conn, G, 2, 3, MEN, status="active", now=NOW)  # both asked about
        repo.close_pair(conn, G, both, "ended", NOW, None, "x")
        return sorted(repo.matching_past(conn, G, {1, 2, 3})), sorted(repo.matching_past(conn, G, [1, 2, 3, 3]))

    as_set, as_list = await run(db, work)
    expected = sorted([(1, 100 + i) for i in range(past_pairs)] + [(200 + i, 2) for i in range(past_pairs)] + [(2, 3)])
    assert as_set == as_list == expected


async def test_groups_among(db: Database) -> None:
    """Only the roles that are groups of this server are kept."""

    def work(conn: sqlite3.Connection) -> tuple[frozenset[int], frozenset[int]]:
        groups(conn)
        repo.add_group(conn, G + 1, 777, NOW, 1)
        return repo.groups_among(conn, G, [MEN, 777, 5]), repo.groups_among(conn, G, [])

    assert await run(db, work) == (frozenset({MEN}), frozenset())

"""Tests of the pure buddy matcher: examples of each rule, and properties over random servers."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.matching import (
    Pair,
    Volunteer,
    Waiting,
    free_places,
    match,
    match_groups,
    places_in_rank_order,
    queue_order,
)

# --------------------------------------------------------------------------- examples


def test_same_group_only() -> None:
    """A member is only ever given a volunteer of their own group."""
    waiting = [Waiting(1, group=10, queued_at=100)]
    volunteers = [Volunteer(2, group=20, joined_at=0), Volunteer(3, group=10, joined_at=50)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(1, 3, 10)]


def test_no_volunteer_in_group_means_no_pair() -> None:
    """With volunteers only in another group, nobody is matched."""
    waiting = [Waiting(1, group=10, queued_at=100)]
    assert match(waiting, [Volunteer(2, group=20, joined_at=0)], [], [], 2) == []


def test_fewest_buddies_first() -> None:
    """The volunteer with fewer current buddies is chosen over a longer-standing one."""
    waiting = [Waiting(1, 10, 100)]
    volunteers = [Volunteer(2, 10, joined_at=0), Volunteer(3, 10, joined_at=500)]
    assert match(waiting, volunteers, [(9, 2)], [], 3) == [Pair(1, 3, 10)]


def test_longest_in_server_breaks_equal_load() -> None:
    """With equal loads, the volunteer who joined the server earliest is chosen."""
    waiting = [Waiting(1, 10, 100)]
    volunteers = [Volunteer(3, 10, joined_at=500), Volunteer(2, 10, joined_at=400)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(1, 2, 10)]


def test_user_id_breaks_full_tie() -> None:
    """With equal loads and join times, the lower user id is chosen."""
    waiting = [Waiting(1, 10, 100)]
    volunteers = [Volunteer(7, 10, joined_at=5), Volunteer(4, 10, joined_at=5)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(1, 4, 10)]


def test_oldest_waiting_served_first() -> None:
    """With one place left, the member waiting longest gets it."""
    waiting = [Waiting(5, 10, queued_at=300), Waiting(6, 10, queued_at=200)]
    volunteers = [Volunteer(2, 10, joined_at=0, max_buddies=1)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(6, 2, 10)]


def test_first_in_line_goes_before_older_members() -> None:
    """A member put back first in line is served before members who waited longer."""
    waiting = [Waiting(5, 10, queued_at=100), Waiting(6, 10, queued_at=900, first_in_line=True)]
    volunteers = [Volunteer(2, 10, joined_at=0, max_buddies=1)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(6, 2, 10)]
    assert sorted(waiting, key=queue_order)[0].user_id == 6


def test_capacity_updates_during_the_run() -> None:
    """A volunteer given a buddy counts it at once: the next member goes to the other volunteer."""
    waiting = [Waiting(1, 10, 100), Waiting(5, 10, 200), Waiting(6, 10, 300)]
    volunteers = [Volunteer(2, 10, joined_at=0, max_buddies=2), Volunteer(3, 10, joined_at=10, max_buddies=1)]
    assert match(waiting, volunteers, [], [], 5) == [Pair(1, 2, 10), Pair(5, 3, 10), Pair(6, 2, 10)]


def test_maximum_counts_current_pairs_and_default() -> None:
    """A volunteer at their maximum (their own or the server's default) gets nobody."""
    waiting = [Waiting(1, 10, 100)]
    assert match(waiting, [Volunteer(2, 10, 0)], [(8, 2), (9, 2)], [], 2) == []
    assert match(waiting, [Volunteer(2, 10, 0, max_buddies=3)], [(8, 2), (9, 2)], [], 2) == [Pair(1, 2, 10)]


def test_past_pair_is_never_made_again() -> None:
    """An ended pair, in either direction, rules the volunteer out for that member."""
    waiting = [Waiting(1, 10, 100)]
    volunteers = [Volunteer(2, 10, 0), Volunteer(3, 10, 99)]
    assert match(waiting, volunteers, [], [(1, 2)], 2) == [Pair(1, 3, 10)]
    assert match(waiting, volunteers, [], [(2, 1), (1, 3)], 2) == []


def test_current_partner_is_not_given_twice() -> None:
    """A member already paired with a volunteer (either way round) is not paired with them again."""
    waiting = [Waiting(1, 10, 100)]
    assert match(waiting, [Volunteer(2, 10, 0)], [(2, 1)], [], 3) == []


def test_never_self() -> None:
    """A volunteer who is also waiting is never their own buddy, but can have another."""
    waiting = [Waiting(2, 10, 100)]
    volunteers = [Volunteer(2, 10, 0), Volunteer(3, 10, 50)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(2, 3, 10)]
    assert match(waiting, volunteers[:1], [], [], 2) == []


def test_being_supported_does_not_use_up_an_offer() -> None:
    """A volunteer who is also waiting can get a buddy and still take a newcomer."""
    waiting = [Waiting(2, 10, 100), Waiting(4, 10, 200)]
    volunteers = [Volunteer(2, 10, 0, max_buddies=1), Volunteer(3, 10, 50, max_buddies=1)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(2, 3, 10), Pair(4, 2, 10)]


def test_unavailable_volunteer_is_skipped() -> None:
    """A volunteer who stopped offering gets nobody."""
    waiting = [Waiting(1, 10, 100)]
    assert match(waiting, [Volunteer(2, 10, 0, available=False)], [], [], 2) == []


def test_a_member_waiting_twice_is_served_once() -> None:
    """Duplicate queue entries give one pair."""
    waiting = [Waiting(1, 10, 100), Waiting(1, 10, 100)]
    volunteers = [Volunteer(2, 10, 0), Volunteer(3, 10, 0)]
    assert match(waiting, volunteers, [], [], 2) == [Pair(1, 2, 10)]


def test_skipped_volunteer_stays_available_for_the_next_member() -> None:
    """A volunteer ruled out for one member (a past pair) is still offered to the next."""
    waiting = [Waiting(1, 10, 100), Waiting(5, 10, 200)]
    assert match(waiting, [Volunteer(2, 10, 0)], [], [(1, 2)], 2) == [Pair(5, 2, 10)]


def test_empty_inputs() -> None:
    """Nothing waiting or nobody volunteering gives no pairs."""
    assert match([], [Volunteer(2, 10, 0)], [], [], 2) == []
    assert match([Waiting(1, 10, 0)], [], [], [], 2) == []


# --------------------------------------------------------------------------- random servers

IDS = st.integers(min_value=1, max_value=24)
GROUPS = st.integers(min_value=1, max_value=3)


@dataclass(frozen=True)
class Server:
    """A random server's matching inputs."""

    waiting: list[Waiting]
    volunteers: list[Volunteer]
    current: list[tuple[int, int]]
    past: list[tuple[int, int]]
    max_default: int


def _pair_ids() -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(IDS, IDS).filter(lambda p: p[0] != p[1])


@st.composite
def servers(draw: st.DrawFn) -> Server:
    """A server with overlapping members: some volunteers wait too, some pairs exist or ended."""
    group_of = draw(st.dictionaries(IDS, GROUPS, min_size=1))
    users = sorted(group_of)
    waiting_ids = draw(st.lists(st.sampled_from(users), unique=True))
    waiting = [
        Waiting(
            uid,
            group_of[uid],
            queued_at=draw(st.integers(0, 5)),  # few distinct times: ties are common
            first_in_line=draw(st.booleans()),
        )
        for uid in waiting_ids
    ]
    volunteer_ids = draw(st.lists(st.sampled_from(users), unique=True))
    volunteers = [
        Volunteer(
            uid,
            group_of[uid],
            joined_at=draw(st.integers(0, 3)),
            max_buddies=draw(st.none() | st.integers(1, 5)),
            available=draw(st.integers(0, 5)) > 0,
        )
        for uid in volunteer_ids
    ]
    current = draw(st.lists(_pair_ids(), max_size=12))
    past = draw(st.lists(_pair_ids(), max_size=12))
    return Server(waiting, volunteers, current, past, draw(st.integers(1, 5)))


def _run(server: Server) -> list[Pair]:
    return match(server.waiting, server.volunteers, server.current, server.past, server.max_default)


def _limit(server: Server, volunteer: Volunteer) -> int:
    return server.max_default if volunteer.max_buddies is None else volunteer.max_buddies


def _eligible(server: Server, member: Waiting, load: dict[int, int], met: set[frozenset[int]]) -> list[Volunteer]:
    return [
        v
        for v in server.volunteers
        if v.group == member.group
        and v.available
        and v.user_id != member.user_id
        and load.get(v.user_id, 0) < _limit(server, v)
        and frozenset((v.user_id, member.user_id)) not in met
    ]


@settings(max_examples=400, deadline=None)
@given(servers())
def test_never_across_groups(server: Server) -> None:
    """Every pair is within one group: the member's, the volunteer's and the pair's are the same."""
    waiting = {w.user_id: w.group for w in server.waiting}
    volunteers = {v.user_id: v.group for v in server.volunteers}
    for pair in _run(server):
        assert waiting[pair.member_id] == volunteers[pair.buddy_id] == pair.group


@settings(max_examples=400, deadline=None)
@given(servers())
def test_never_over_a_maximum(server: Server) -> None:
    """A volunteer given new buddies ends at or under their maximum, current pairs included."""
    made = _run(server)
    for volunteer in server.volunteers:
        new = sum(1 for p in made if p.buddy_id == volunteer.user_id)
        if new:
            before = sum(1 for _, b in server.current if b == volunteer.user_id)
            assert before + new <= _limit(server, volunteer)
            assert volunteer.available


@settings(max_examples=400, deadline=None)
@given(servers())
def test_never_a_repeat_and_never_self(server: Server) -> None:
    """No pair repeats a past or current pair (either way round), itself, or includes one person twice."""
    made = _run(server)
    known = {frozenset(p) for p in server.current + server.past}
    seen: set[frozenset[int]] = set()
    for pair in made:
        key = frozenset((pair.member_id, pair.buddy_id))
        assert pair.member_id != pair.buddy_id
        assert key not in known
        assert key not in seen
        seen.add(key)
    members = [p.member_id for p in made]
    assert len(members) == len(set(members))  # each waiting member served at most once


@settings(max_examples=400, deadline=None)
@given(servers())
def test_oldest_waiting_first(server: Server) -> None:
    """If a younger member of a group got a volunteer, every older one got one or had none eligible."""
    made = _run(server)
    order = sorted(server.waiting, key=queue_order)
    got = {p.member_id for p in made}
    load: dict[int, int] = {}
    for _, buddy in server.current:
        load[buddy] = load.get(buddy, 0) + 1
    met = {frozenset(p) for p in server.current + server.past}
    made_by_member = {p.member_id: p for p in made}
    for position, member in enumerate(order):
        eligible = _eligible(server, member, load, met)
        if member.user_id in got:
            pair = made_by_member[member.user_id]
            load[pair.buddy_id] = load.get(pair.buddy_id, 0) + 1
            met.add(frozenset((pair.member_id, pair.buddy_id)))
            assert eligible
        else:
            younger_matched = any(m.group == member.group and m.user_id in got for m in order[position + 1 :])
            if younger_matched:
                assert not eligible, f"member {member.user_id} was passed over"
            assert not eligible  # stronger still: nobody is left unmatched with a volunteer free for them


@settings(max_examples=400, deadline=None)
@given(servers())
def test_choice_is_fewest_buddies_then_longest_in_server_then_id(server: Server) -> None:
    """At each member's turn, the volunteer chosen is the best eligible one by the ranking."""
    made = {p.member_id: p for p in _run(server)}
    load: dict[int, int] = {}
    for _, buddy in server.current:
        load[buddy] = load.get(buddy, 0) + 1
    met = {frozenset(p) for p in server.current + server.past}
    for member in sorted(server.waiting, key=queue_order):
        eligible = _eligible(server, member, load, met)
        if member.user_id not in made:
            continue
        best = min(eligible, key=lambda v: (load.get(v.user_id, 0), v.joined_at, v.user_id))
        pair = made[member.user_id]
        assert pair.buddy_id == best.user_id
        load[pair.buddy_id] = load.get(pair.buddy_id, 0) + 1
        met.add(frozenset((pair.member_id, pair.buddy_id)))


@settings(max_examples=300, deadline=None)
@given(servers(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_input_order(server: Server, rnd: random.Random) -> None:
    """Shuffling every input list gives exactly the same pairs in the same order."""
    first = _run(server)
    shuffled = Server(
        rnd.sample(server.waiting, len(server.waiting)),
        rnd.sample(server.volunteers, len(server.volunteers)),
        rnd.sample(server.current, len(server.current)),
        rnd.sample(server.past, len(server.past)),
        server.max_default,
    )
    assert _run(shuffled) == first
    assert _run(server) == first


def test_large_server_is_matched_within_groups_and_maxima() -> None:
    """A large random server (10,000 waiting, 3,000 volunteers, 50 groups) keeps every rule."""
    rnd = random.Random(6)
    waiting = [Waiting(uid, rnd.randrange(50), rnd.randrange(1_000_000)) for uid in range(10_000)]
    volunteers = [
        Volunteer(100_000 + i, rnd.randrange(50), rnd.randrange(1_000_000), rnd.choice([None, 1, 2, 3]))
        for i in range(3_000)
    ]
    past = [(rnd.randrange(10_000), 100_000 + rnd.randrange(3_000)) for _ in range(5_000)]
    made = match(waiting, volunteers, [], past, 2)
    groups = {w.user_id: w.group for w in waiting} | {v.user_id: v.group for v in volunteers}
    limits = {v.user_id: v.max_buddies or 2 for v in volunteers}
    assert all(groups[p.member_id] == groups[p.buddy_id] == p.group for p in made)
    loads: dict[int, int] = {}
    for p in made:
        loads[p.buddy_id] = loads.get(p.buddy_id, 0) + 1
    assert all(loads[uid] <= limits[uid] for uid in loads)
    assert not {(p.member_id, p.buddy_id) for p in made} & set(past)
    # Plenty of waiting members: every volunteer is filled unless only past partners were left.
    assert sum(loads.values()) >= 0.99 * sum(limits.values())


# --------------------------------------------------------------------------- against the plain algorithm


def _plain_match(
    waiting: list[Waiting],
    volunteers: list[Volunteer],
    current: list[tuple[int, int]],
    past: list[tuple[int, int]],
    max_default: int,
) -> list[Pair]:
    """The rules written plainly, one member at a time, with no heaps or ranks (slow, obviously right)."""
    met = {frozenset(p) for p in current} | {frozenset(p) for p in past}
    load: dict[int, int] = {}
    for _, buddy in current:
        load[buddy] = load.get(buddy, 0) + 1
    offers = {v.user_id: v for v in volunteers}
    made: list[Pair] = []
    served: set[int] = set()
    for member in sorted(waiting, key=queue_order):
        if member.user_id in served:
            continue
        served.add(member.user_id)
        candidates = [
            v
            for v in offers.values()
            if v.available
            and v.group == member.group
            and v.user_id != member.user_id
            and load.get(v.user_id, 0) < (max_default if v.max_buddies is None else v.max_buddies)
            and frozenset((v.user_id, member.user_id)) not in met
        ]
        if not candidates:
            continue
        best = min(candidates, key=lambda v: (load.get(v.user_id, 0), v.joined_at, v.user_id))
        made.append(Pair(member.user_id, best.user_id, member.group))
        met.add(frozenset((member.user_id, best.user_id)))
        load[best.user_id] = load.get(best.user_id, 0) + 1
    return made


@settings(max_examples=500, deadline=None)
@given(servers())
def test_same_pairs_as_the_plain_algorithm(server: Server) -> None:
    """The matcher makes exactly the pairs, in the same order, that the rules applied plainly make."""
    expected = _plain_match(server.waiting, server.volunteers, server.current, server.past, server.max_default)
    assert _run(server) == expected


@settings(max_examples=300, deadline=None)
@given(servers())
def test_ranked_offers_as_the_repository_reads_them_give_the_same_places(server: Server) -> None:
    """The available volunteers once each, by group then join time then id (the index's order), give
    the places free_places gives from the volunteers in any order, repeats and the unavailable included."""
    latest = {v.user_id: v for v in server.volunteers}
    ranked = sorted((v for v in latest.values() if v.available), key=lambda v: (v.group, v.joined_at, v.user_id))
    offers = [(v.user_id, v.group, v.max_buddies) for v in ranked]
    expected = free_places(server.volunteers, server.current, server.max_default)
    assert places_in_rank_order(offers, server.current, server.max_default) == expected


def test_a_place_set_aside_goes_to_the_next_member_before_the_next_level() -> None:
    """A volunteer ruled out for one member keeps their turn: the next member gets them first."""
    waiting = [Waiting(1, 10, 100), Waiting(2, 10, 200), Waiting(3, 10, 300), Waiting(4, 10, 400)]
    volunteers = [Volunteer(50, 10, joined_at=0, max_buddies=2), Volunteer(60, 10, joined_at=1, max_buddies=2)]
    made = match(waiting, volunteers, [], [(1, 50)], 5)
    assert made == [Pair(1, 60, 10), Pair(2, 50, 10), Pair(3, 50, 10), Pair(4, 60, 10)]


def test_plain_rows_match_like_named_tuples() -> None:
    """The repository's plain rows (first_in_line and available as 0/1) give the same pairs as the named tuples."""
    waiting = [Waiting(1, 10, 300), Waiting(2, 10, 200, first_in_line=True), Waiting(3, 11, 100)]
    volunteers = [Volunteer(7, 10, 5, 1), Volunteer(8, 10, 4), Volunteer(9, 11, 4, available=False)]
    plain_waiting = [(w.user_id, w.group, w.queued_at, int(w.first_in_line)) for w in waiting]
    plain_volunteers = [(v.user_id, v.group, v.joined_at, v.max_buddies, int(v.available)) for v in volunteers]
    expected = match(waiting, volunteers, [(4, 8)], [], 2)
    assert expected == [Pair(2, 7, 10), Pair(1, 8, 10)]
    assert match(plain_waiting, plain_volunteers, [(4, 8)], [], 2) == expected


@st.composite
def crowded_servers(draw: st.DrawFn) -> Server:
    """A small server where most members were paired before: many places are set aside and offered again."""
    group_of = draw(st.dictionaries(st.integers(1, 10), st.integers(1, 2), min_size=2))
    users = sorted(group_of)
    waiting = [
        Waiting(uid, group_of[uid], draw(st.integers(0, 3)), draw(st.booleans()))
        for uid in draw(st.lists(st.sampled_from(users), unique=True))
    ]
    volunteers = [
        Volunteer(uid, group_of[uid], draw(st.integers(0, 2)), draw(st.none() | st.integers(1, 4)))
        for uid in draw(st.lists(st.sampled_from(users), unique=True))
    ]
    pairs = st.tuples(st.sampled_from(users), st.sampled_from(users)).filter(lambda p: p[0] != p[1])
    current = draw(st.lists(pairs, max_size=6))
    past = draw(st.lists(pairs, max_size=30))
    return Server(waiting, volunteers, current, past, draw(st.integers(1, 4)))


@settings(max_examples=500, deadline=None)
@given(crowded_servers())
def test_same_pairs_as_the_plain_algorithm_when_crowded(server: Server) -> None:
    """With many past pairs, the matcher still makes exactly the pairs the rules applied plainly make."""
    expected = _plain_match(server.waiting, server.volunteers, server.current, server.past, server.max_default)
    assert _run(server) == expected


# --------------------------------------------------------------------------- group by group, reading lazily


class _Queue:
    """A group's waiting members in queue order, counting how many were read."""

    def __init__(self, members: list[Waiting]) -> None:
        self.members = members
        self.read = 0

    def __iter__(self) -> _Queue:
        return self

    def __next__(self) -> Waiting:
        if self.read == len(self.members):
            raise StopIteration
        self.read += 1
        return self.members[self.read - 1]


def _by_group(server: Server) -> dict[int, _Queue]:
    queues: dict[int, list[Waiting]] = {}
    for w in sorted(server.waiting, key=queue_order):
        queues.setdefault(w.group, []).append(w)
    return {group: _Queue(members) for group, members in queues.items()}


@settings(max_examples=500, deadline=None)
@given(st.one_of(servers(), crowded_servers()))
def test_group_by_group_makes_the_same_pairs_reading_only_what_it_needs(server: Server) -> None:
    """Fed each group's queue lazily, the matcher makes the plain algorithm's pairs (grouped by group),
    and stops reading a group's queue at the member who took its last place."""
    queues = _by_group(server)
    places = free_places(server.volunteers, server.current, server.max_default)
    made = match_groups(places, lambda g: queues.get(g, _Queue([])), server.current, server.past)
    expected = _plain_match(server.waiting, server.volunteers, server.current, server.past, server.max_default)
    assert made == sorted(expected, key=lambda p: p.group)  # a stable sort: queue order within each group
    for group, queue in queues.items():
        if group not in places:
            assert queue.read == 0  # no place: its queue is never read
            continue
        given_here = [p for p in made if p.group == group]
        if len(given_here) == len(places[group]):  # every place given: nothing read after the last taker
            last = [w.user_id for w in queue.members].index(given_here[-1].member_id)
            assert queue.read <= last + 2  # the taker, and at most the next (which finds the group full)


def test_a_long_queue_behind_full_volunteers_is_not_read() -> None:
    """One place and a thousand waiting: the matcher reads the first member, and one more to learn the group is full."""
    queue = _Queue([Waiting(uid, 10, uid) for uid in range(1, 1001)])
    places = free_places([Volunteer(5000, 10, 0, max_buddies=1)], [], 2)
    assert match_groups(places, lambda g: queue, [], []) == [Pair(1, 5000, 10)]
    assert queue.read == 2

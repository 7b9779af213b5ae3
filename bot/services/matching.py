"""The buddy matcher: who gets which volunteer, as a pure function (no I/O, no clock).

The rules (issue 6), in the order they apply:

* Waiting members are served one at a time, first in line first: members put back "first in
  line" (their buddy left them, say) before everyone else, then by the time they joined the
  queue, then by user id.
* A member may only get a volunteer of **the same matching group**, who is available, under
  their maximum, not the member themselves, and not paired with this member now or ever before
  (an ended or rejected pair is never made again automatically).
* Among those, the volunteer with the fewest current buddies wins, then the one longest in the
  server, then the lowest user id, so the result never depends on the order of the input.
* Capacity updates as the run assigns: a volunteer given a buddy counts it at once.

A volunteer's "current buddies" and maximum count the pairs in which they are the buddy (the
one giving support); being supported themselves by someone else does not use up their offer.

How: the free places of a group are given in a fixed order, level by level: first every
volunteer with the fewest buddies, by seniority (joined_at, user_id), then every volunteer with
at most one more, and so on, each level listing the volunteers with that many buddies or fewer
and room for one more. Were nobody ruled out, member *k* of a group would get its *k*-th place.
A place offered to a member who may not have it (a past partner, themselves) is set aside and
offered first to the next members, in order. Groups never share a place, so they are matched one
after the other (:func:`match_groups`), each reading its queue only until its places are given: a
run is O(V log V + F + S + R) for V volunteers, F free places listed, S places set aside and
offered again and R waiting members read, never O(W·V) and never the whole queue behind full
volunteers: a few ms of pure Python for 10,000 waiting members, 3,000 volunteers and 50 groups.
Times are in their storage form (Unix seconds), so a run over thousands of rows converts
nothing. Inputs may be the named tuples below or plain tuples of the same shape (the
repository's rows), which cost nothing to build.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import NamedTuple, TypeVar

__all__ = [
    "Pair",
    "Volunteer",
    "Waiting",
    "free_places",
    "in_queue_order",
    "match",
    "match_groups",
    "places_in_rank_order",
    "queue_order",
]


class Waiting(NamedTuple):
    """A member in the queue for a buddy, in one matching group."""

    user_id: int
    group: int
    queued_at: int
    """When they joined the queue, in Unix seconds."""
    first_in_line: bool = False
    """Put back at the head of the queue (their buddy left, for example)."""


class Volunteer(NamedTuple):
    """A member offering to be a buddy for newcomers of their matching group."""

    user_id: int
    group: int
    joined_at: int
    """When they joined the server, in Unix seconds (earlier wins a tie)."""
    max_buddies: int | None = None
    """Their own maximum; ``None`` means the server's default."""
    available: bool = True


class Pair(NamedTuple):
    """A new pairing: ``member_id`` is supported by ``buddy_id``, both of ``group``."""

    member_id: int
    buddy_id: int
    group: int


WaitingRow = tuple[int, int, int, int]
"""A :class:`Waiting` or a plain ``(user_id, group, queued_at, first_in_line)`` row."""
VolunteerRow = tuple[int, int, int, int | None, int]
"""A :class:`Volunteer` or a plain ``(user_id, group, joined_at, max_buddies, available)`` row."""

_W = TypeVar("_W", bound=WaitingRow)


def queue_order(waiting: WaitingRow) -> tuple[int, int, int]:
    """The sort key of the queue: first in line, then longest waiting, then user id."""
    return (0 if waiting[3] else 1, waiting[2], waiting[0])


_BY_TIME = itemgetter(2, 0)
_USER_ID = itemgetter(0)
_JOINED_AT = itemgetter(2)
_OFFER = itemgetter(0, 1, 3)  # (user_id, group, max_buddies) of a VolunteerRow
_COUNT, _MOST = itemgetter(1), itemgetter(2)  # of an offer (user_id, count, most)


def in_queue_order(waiting: Iterable[_W]) -> list[_W]:
    """The waiting members sorted by :func:`queue_order` (without a Python call per member)."""
    by_time = sorted(waiting, key=_BY_TIME)
    if not any(w[3] for w in by_time):
        return by_time
    return [w for w in by_time if w[3]] + [w for w in by_time if not w[3]]


def free_places(
    volunteers: Iterable[VolunteerRow], current_pairs: Iterable[tuple[int, int]], max_default: int
) -> dict[int, list[int]]:
    """Each group's free places (volunteers' user ids, one per place) in the order they are given.

    ``current_pairs``: ``(member_id, buddy_id)`` of the live pairs, which use up their buddy's places.
    A volunteer listed twice counts once (the last entry); groups with no free place are left out."""
    ranked = [v for v in {v[0]: v for v in volunteers}.values() if v[4]]
    ranked.sort(key=_USER_ID)  # stable sorts: by joined_at, then user id
    ranked.sort(key=_JOINED_AT)
    return places_in_rank_order(map(_OFFER, ranked), current_pairs, max_default)


def places_in_rank_order(
    offers: Iterable[tuple[int, int, int | None]], current_pairs: Iterable[tuple[int, int]], max_default: int
) -> dict[int, list[int]]:
    """:func:`free_places` of volunteers already ranked: ``(user_id, group, max_buddies)`` of each
    available volunteer once, each group's in rank order (joined_at, then user id), as the
    repository reads them from its index; nothing is sorted here."""
    load: dict[int, int] = {}
    for _, buddy_id in current_pairs:
        load[buddy_id] = load.get(buddy_id, 0) + 1
    offered: dict[int, list[tuple[int, int, int]]] = {}
    for user_id, group, own_max in offers:
        most = max_default if own_max is None else own_max
        count = load.get(user_id, 0)
        if count < most:
            offered.setdefault(group, []).append((user_id, count, most))
    places: dict[int, list[int]] = {}
    for group, group_offers in offered.items():
        order: list[int] = []
        for level in range(min(map(_COUNT, group_offers)), max(map(_MOST, group_offers))):
            order += [user_id for user_id, count, most in group_offers if count <= level < most]
        places[group] = order
    return places


def match_groups(
    places: dict[int, list[int]],
    waiting_of: Callable[[int], Iterable[tuple[int, ...]]],
    current_pairs: Iterable[tuple[int, int]],
    past_pairs: Iterable[tuple[int, int]],
) -> list[Pair]:
    """The pairs to make now, group by group (ascending group ids), in queue order within each.

    ``places``: :func:`free_places`. ``waiting_of(group)`` gives that group's waiting members in
    queue order (:func:`queue_order`), each member once, as rows whose first item is the user id
    (a :class:`Waiting`, or the repository's ``(user_id, queued_at, first_in_line)``: only the id
    is used); it is iterated only as far as the group has places (the rest of a long queue is
    never read). ``past_pairs`` need only include the pairs
    of the volunteers who have a place.
    """
    # Who may not be paired with whom (now or ever before), kept only for the volunteers with a
    # place: a member may take a place unless they are among its volunteer's partners. Pairs of
    # members who offer no place (most of the past pairs read, every newcomer) build no set.
    offering = {uid for order in places.values() for uid in order}
    partners: dict[int, set[int]] = {}
    for pairs in (current_pairs, past_pairs):
        for a, b in pairs:
            if a in offering:
                theirs = partners.get(a)
                if theirs is None:
                    partners[a] = {b}
                else:
                    theirs.add(b)
            if b in offering:
                theirs = partners.get(b)
                if theirs is None:
                    partners[b] = {a}
                else:
                    theirs.add(a)
    nobody: frozenset[int] = frozenset()
    partners_of = partners.get
    made: list[Pair] = []
    add = made.append
    new_pair = functools.partial(tuple.__new__, Pair)  # Pair(...) without its Python-level __new__
    for group in sorted(places):
        following = iter(places[group])
        set_aside: list[int] = []  # places offered to a member who could not take them: offered first
        for member_id in map(_USER_ID, waiting_of(group)):
            chosen: int | None = None
            if set_aside:
                for index, uid in enumerate(set_aside):
                    if uid != member_id and member_id not in partners_of(uid, nobody):
                        del set_aside[index]
                        chosen = uid
                        break
            if chosen is None:
                for uid in following:
                    if uid != member_id and member_id not in partners_of(uid, nobody):
                        chosen = uid
                        break
                    set_aside.append(uid)
                else:
                    if not set_aside:
                        break  # every place of the group is given
                    continue
            add(new_pair((member_id, chosen, group)))
            # Each member is served once, so the new pair can only be asked about again the other
            # way round: should the volunteer wait too, and this member offer a place.
            if member_id in offering:
                theirs = partners_of(member_id)
                if theirs is None:
                    partners[member_id] = {chosen}
                else:
                    theirs.add(chosen)
    return made


def match(
    waiting: Iterable[WaitingRow],
    volunteers: Iterable[VolunteerRow],
    current_pairs: Iterable[tuple[int, int]],
    past_pairs: Iterable[tuple[int, int]],
    max_default: int,
) -> list[Pair]:
    """The pairs to make now, in the order they were made (queue order).

    ``current_pairs`` and ``past_pairs`` are ``(member_id, buddy_id)`` tuples: the live pairs
    (active or awaiting approval) and the ended or rejected ones. A volunteer listed twice
    counts once (the last entry); a member waiting twice is served once (their first place in
    the queue). :func:`match_groups` with every waiting member in memory.
    """
    current = list(current_pairs)
    places = free_places(volunteers, current, max_default)
    if not places:
        return []
    ordered: list[WaitingRow] = []
    seen: set[int] = set()
    by_group: dict[int, list[WaitingRow]] = {}
    for w in in_queue_order(waiting):
        if w[0] not in seen:
            seen.add(w[0])
            ordered.append(w)
            by_group.setdefault(w[1], []).append(w)
    made = {p.member_id: p for p in match_groups(places, lambda g: by_group.get(g, []), current, past_pairs)}
    return [made[w[0]] for w in ordered if w[0] in made]

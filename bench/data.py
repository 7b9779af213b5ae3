"""The data sets: a recovery server of N members, generated from a fixed seed.

:func:`plan` decides, cheaply and deterministically, who is who: 20 % of the members
*participate* (a year of check-ins, about 6 days a week, half with a sobriety date, some with a
reminder); 1 % of those have gone *quiet* (no check-in for 4-29 days; some of them are due for
their first nudge now, the others are further up the ladder); buddy matching has 50 groups,
10 % of the members waiting, 3 % volunteering, 1 % in an active pair and 2 % with a past pair;
and exactly ``due`` members are due for the nudge sweep (the quiet participants who just crossed
``quiet_days`` and non-participants up for their daily re-check).

:func:`build` writes it all in ONE :meth:`Database.transaction` with ``executemany``. The bulk
INSERT statements below are **bench-only SQL**: the repositories write one row per call (as the
bot does), which would take minutes for seven million check-ins. They write exactly the columns
and invariants the repositories maintain (``group_count``/``group_role_id`` of buddy members,
the ladder columns of ``nudge_members``), and :func:`check_dataset` verifies the counts.

Data sets are cached in ``bench/.cache`` under a key of the spec, this module's version and the
migrations' text, and every case works on a fresh copy of the cached file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from bench.core import seeded
from bot.db.connection import Database
from bot.db.migrations import MIGRATIONS_DIR, migrate
from bot.services.checkins import compute_streak_row
from bot.services.localtime import epoch_day, next_local_occurrence, zone_for
from bot.services.sobriety import milestone_after

__all__ = [
    "BOT_USER_ID",
    "CHANNELS",
    "GUILD_ID",
    "NOW",
    "TODAY",
    "USER_BASE",
    "Plan",
    "Spec",
    "build",
    "check_dataset",
    "dataset",
    "fresh_copy",
    "plan",
]

GENERATOR_VERSION = 4
"""Bump when the generated data change: cached data sets are rebuilt."""

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
"""The suite's fixed "now" (a Friday, 15:00 UTC: daytime for members in UTC)."""
TODAY = epoch_day(NOW.date())
DAY = 86_400

GUILD_ID = 1_100_000_000_000_000_001
BOT_USER_ID = 1_000_000_000_000_000_001
"""The bot's user id, which is also its application id."""
USER_BASE = 1_200_000_000_000_000_000
ROLE_BASE = 1_100_000_000_000_010_000
MODERATOR_ROLE_ID = 1_100_000_000_000_000_900
BOT_ROLE_ID = 1_100_000_000_000_000_901
CHANNELS = {
    "general": 1_100_000_000_000_000_101,
    "check-ins": 1_100_000_000_000_000_102,
    "moderators": 1_100_000_000_000_000_103,
    "buddy-intros": 1_100_000_000_000_000_104,
    "celebrations": 1_100_000_000_000_000_105,
}
TIMEZONES = (None, "America/New_York", "Europe/London", "America/Los_Angeles", "Europe/Berlin", "America/Chicago")
"""The participants' timezones, in turn (``None``: not set, UTC is used)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """The shape of a data set."""

    members: int
    seed: int = 9
    participant_share: float = 0.20
    quiet_share: float = 0.01
    """Of the participants."""
    checkin_days: int = 365
    checkin_rate: float = 0.85
    groups: int = 50
    waiting_share: float = 0.10
    volunteer_share: float = 0.03
    active_pair_share: float = 0.01
    past_pair_share: float = 0.02
    due: int = 1000
    """Members due for the nudge sweep at :data:`NOW`."""
    due_participants: int = 20
    """Of them, quiet participants due for their first nudge (the rest: non-participants)."""

    @classmethod
    def quick(cls, members: int, seed: int = 9) -> Spec:
        """A small data set for ``--quick`` and the tests: two months of check-ins, 5 groups."""
        return cls(members, seed=seed, checkin_days=60, groups=5, due=25, due_participants=2)

    def key(self, kind: str) -> str:
        """The cache key of this spec for a kind of data set."""
        migrations = hashlib.sha256()
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            migrations.update(path.name.encode())
            migrations.update(path.read_bytes())
        blob = json.dumps({"spec": asdict(self), "kind": kind, "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode() + migrations.digest()).hexdigest()[:16]


@dataclass(slots=True)
class Plan:
    """Who is who in a data set (user ids), decided from the spec's seed."""

    spec: Spec
    user_ids: list[int]
    joined_at: dict[int, int]
    """Unix seconds."""
    participants: list[int]
    quiet: list[int]
    quiet_due: list[int]
    due_other: list[int]
    """Non-participants due for their re-check."""
    sobriety: set[int]
    timezones: dict[int, str | None]
    reminders: set[int]
    group_roles: list[int]
    group_of: dict[int, int]
    """Every member holding a group role → that role."""
    waiting: list[int]
    volunteers: list[int]
    volunteer_max: dict[int, int | None]
    supported: list[int]
    """Members in an active pair (supported by a volunteer)."""
    active_pairs: list[tuple[int, int, int]]
    """(member, buddy, group)."""
    past_pairs: list[tuple[int, int, int]]
    last_checkin_day: dict[int, int] = field(default_factory=dict)

    @property
    def guild_id(self) -> int:
        """The one server."""
        return GUILD_ID

    @property
    def due(self) -> list[int]:
        """Every member due for the sweep at :data:`NOW`."""
        return self.quiet_due + self.due_other

    def spare_capacity(self, max_default: int = 2) -> dict[int, int]:
        """Per group: how many more buddies its volunteers can take."""
        load: dict[int, int] = {}
        for _, buddy, _ in self.active_pairs:
            load[buddy] = load.get(buddy, 0) + 1
        spare: dict[int, int] = {}
        for uid in self.volunteers:
            cap = self.volunteer_max[uid] or max_default
            spare[self.group_of[uid]] = spare.get(self.group_of[uid], 0) + max(0, cap - load.get(uid, 0))
        return spare

    def expected_matches(self, max_default: int = 2) -> int:
        """Pairs a matching run makes: per group, the waiting members or the spare capacity, the fewer."""
        waiting: dict[int, int] = {}
        for uid in self.waiting:
            waiting[self.group_of[uid]] = waiting.get(self.group_of[uid], 0) + 1
        spare = self.spare_capacity(max_default)
        return sum(min(count, spare.get(group, 0)) for group, count in waiting.items())

    def nudged_now(self, dms_per_minute: int = 10) -> int:
        """Nudge DMs a sweep at :data:`NOW` sends: the due quiet participants (in daytime: no timezone
        set, so UTC), at most ``dms_per_minute`` in the server."""
        return min(len(self.quiet_due), dms_per_minute)


def plan(spec: Spec) -> Plan:
    """Decide who is who (fast: no rows are made here)."""
    rng = seeded(spec.seed)
    n = spec.members
    user_ids = [USER_BASE + i for i in range(n)]
    joined_at = {uid: int(NOW.timestamp()) - rng.randrange(20 * DAY, 1500 * DAY) for uid in user_ids}

    order = user_ids[:]
    rng.shuffle(order)
    count = round(n * spec.participant_share)
    participants = sorted(order[:count])
    quiet_count = max(1, round(count * spec.quiet_share))
    quiet = order[:quiet_count]
    quiet_due = sorted(quiet[: min(spec.due_participants, quiet_count)])
    quiet = sorted(quiet)
    sobriety = set(order[quiet_count:count:2])
    timezones: dict[int, str | None] = {}
    for index, uid in enumerate(order[:count]):
        timezones[uid] = TIMEZONES[index % len(TIMEZONES)]
    for uid in quiet_due:
        timezones[uid] = None  # UTC: daytime at NOW, so they are nudged now
    reminders = set(order[quiet_count:count:3])

    # Buddy matching: group role holders drawn from a second order, independent of participation.
    buddies = user_ids[:]
    rng.shuffle(buddies)
    w = round(n * spec.waiting_share)
    v = round(n * spec.volunteer_share)
    a = round(n * spec.active_pair_share)
    waiting = buddies[:w]
    volunteers = buddies[w : w + v]
    supported = buddies[w + v : w + v + a]
    group_roles = [ROLE_BASE + g for g in range(spec.groups)]
    group_of: dict[int, int] = {}
    for pool in (waiting, volunteers, supported):
        for index, uid in enumerate(pool):
            group_of[uid] = group_roles[index % spec.groups]
    volunteer_max = {uid: (None if index % 5 else 1 + index % 3) for index, uid in enumerate(volunteers)}
    by_group: dict[int, list[int]] = {}
    for uid in volunteers:
        by_group.setdefault(group_of[uid], []).append(uid)
    active_pairs: list[tuple[int, int, int]] = []
    turn: dict[int, int] = {}
    for uid in supported:
        group = group_of[uid]
        pool = by_group.get(group, [])
        if not pool:
            continue
        buddy = pool[turn.get(group, 0) % len(pool)]
        turn[group] = turn.get(group, 0) + 1
        active_pairs.append((uid, buddy, group))
    past_pairs: list[tuple[int, int, int]] = []
    for index, uid in enumerate(waiting[: round(n * spec.past_pair_share)]):
        pool = by_group.get(group_of[uid], [])
        if pool:
            past_pairs.append((uid, pool[index % len(pool)], group_of[uid]))

    # Due non-participants: no check-ins, no sobriety date and no group role (so no buddy, ever).
    excluded = set(participants) | set(group_of)
    others = [uid for uid in order[count:] if uid not in excluded]
    due_other = sorted(others[: max(0, spec.due - len(quiet_due))])
    return Plan(
        spec=spec,
        user_ids=user_ids,
        joined_at=joined_at,
        participants=participants,
        quiet=quiet,
        quiet_due=quiet_due,
        due_other=due_other,
        sobriety=sobriety,
        timezones=timezones,
        reminders=reminders,
        group_roles=group_roles,
        group_of=group_of,
        waiting=waiting,
        volunteers=volunteers,
        volunteer_max=volunteer_max,
        supported=supported,
        active_pairs=active_pairs,
        past_pairs=past_pairs,
    )


# --------------------------------------------------------------------------- rows


def _quiet_days_of(p: Plan) -> dict[int, int]:
    """For each quiet participant, how many days ago their last check-in was (4 for those due now)."""
    rng = seeded(p.spec.seed + 1)
    due = set(p.quiet_due)
    return {uid: 4 if uid in due else rng.randrange(6, 30) for uid in p.quiet}


def checkin_rows(p: Plan) -> Iterator[tuple[int, int, int, int, int, int, None, int]]:
    """(guild, user, day, mood, craving, sober, note, recorded_offset), in primary-key order.

    About 6 days a week over ``checkin_days`` up to yesterday; a quiet member's stop 4-29 days ago.
    """
    rng = seeded(p.spec.seed + 2)
    quiet = _quiet_days_of(p)
    first = TODAY - p.spec.checkin_days
    rate = p.spec.checkin_rate
    g = GUILD_ID
    for uid in p.participants:
        last = TODAY - quiet.get(uid, 1)
        p.last_checkin_day[uid] = last
        rand = rng.random
        base_mood = 2 + int(rand() * 3)
        for day in range(first, last + 1):
            if day != last and rand() > rate:
                continue
            mood = min(5, max(1, base_mood + int(rand() * 3) - 1))
            craving = int(rand() * 7) if rand() < 0.9 else 7 + int(rand() * 4)
            sober = 0 if rand() < 0.02 else 1
            yield (g, uid, day, mood, craving, sober, None, 72_000 + int(rand() * 7200))


CheckinTuple = tuple[int, int, int, int, int, int, None, int]


def with_streaks(rows: Iterable[CheckinTuple], streaks: dict[int, tuple[int, int, int]]) -> Iterator[CheckinTuple]:
    """The check-in rows (one server, primary-key order) passed through, and meanwhile each member's stored
    streaks (``checkin_streaks``: first and last day of the latest run, longest run) put in ``streaks``,
    computed by the bot's own :func:`~bot.services.checkins.compute_streak_row` over their days."""
    user: int | None = None
    days: list[int] = []
    for row in rows:
        if row[1] != user:
            if user is not None:
                streaks[user] = _streak_tuple(days)
            user, days = row[1], []
        days.append(row[2])
        yield row
    if user is not None:
        streaks[user] = _streak_tuple(days)


def _streak_tuple(days: list[int]) -> tuple[int, int, int]:
    streak = compute_streak_row(days)
    assert streak is not None
    return (streak.run_start, streak.run_end, streak.longest)


def _sobriety_rows(p: Plan) -> Iterator[tuple[int, int, int, int, int, int, int]]:
    rng = seeded(p.spec.seed + 3)
    for uid in sorted(p.sobriety):
        since_day = TODAY - rng.randrange(40, 3000)
        since = date.fromordinal(since_day + date(1970, 1, 1).toordinal())
        milestone = milestone_after(since, TODAY - since_day)
        yield (GUILD_ID, uid, since_day, 0, milestone.days, since_day + milestone.days, int(NOW.timestamp()) - DAY)


def _reminder_rows(p: Plan) -> Iterator[tuple[int, int, int, int, int]]:
    for uid in sorted(p.reminders):
        _, instant = next_local_occurrence(NOW, zone_for(p.timezones.get(uid)), 20 * 60)
        yield (GUILD_ID, uid, 20 * 60, int(instant.timestamp()), int(NOW.timestamp()) - 30 * DAY)


def _nudge_rows(p: Plan) -> tuple[list[tuple[int, ...]], list[tuple[object, ...]]]:
    """nudge_members rows (guild, user, last_active, step, next_check, participant, updated) and the
    steps already taken by the quiet participants further up the ladder."""
    rng = seeded(p.spec.seed + 4)
    now = int(NOW.timestamp())
    quiet = _quiet_days_of(p)
    due_other = set(p.due_other)
    participants = set(p.participants)
    members: list[tuple[int, ...]] = []
    steps: list[tuple[object, ...]] = []
    for uid in p.user_ids:
        if uid in quiet:
            last = (TODAY - quiet[uid]) * DAY + 72_000
            days = (now - last) // DAY
            step = 0 if uid in p.quiet_due else (1 if days < 5 else 2 if days < 7 else 3)
            if step == 0:
                next_check: int | None = last + 3 * DAY
            elif step < 3:
                next_check = now + rng.randrange(3600, DAY)
            else:
                next_check = None
            for taken in range(1, step + 1):
                target = uid if taken == 1 else None
                outcome = "sent" if taken == 1 else ("no_buddy" if taken == 2 else "no_channel")
                at = last + (2 + taken) * DAY
                steps.append((GUILD_ID, uid, last, taken, target, outcome, "bench", at, at))
            members.append((GUILD_ID, uid, last, step, next_check if next_check is not None else -1, 1, now))
        elif uid in participants:
            last = now - rng.randrange(60, 20 * 3600)
            members.append((GUILD_ID, uid, last, 0, last + 3 * DAY, 1, now))
        elif uid in due_other:
            last = now - rng.randrange(10 * DAY, 300 * DAY)
            members.append((GUILD_ID, uid, last, 0, now - rng.randrange(0, 900), 0, now))
        else:
            last = max(p.joined_at[uid], now - rng.randrange(0, 300 * DAY))
            members.append((GUILD_ID, uid, last, 0, max(last + 3 * DAY, now + rng.randrange(60, DAY)), 0, now))
    return members, steps


# --------------------------------------------------------------------------- bench-only bulk SQL

_INSERT_CHECKIN = (
    "INSERT INTO checkins (guild_id, user_id, day, mood, craving, sober, note, recorded_offset) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STREAK = "INSERT INTO checkin_streaks (guild_id, user_id, run_start, run_end, longest) VALUES (?, ?, ?, ?, ?)"
_INSERT_CHECKIN_MEMBER = (
    "INSERT INTO checkin_members (guild_id, user_id, timezone, tz_notice_shown) VALUES (?, ?, ?, ?)"
)
_INSERT_SOBRIETY = (
    "INSERT INTO sobriety (guild_id, user_id, since_day, announce, next_milestone, next_milestone_day, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_REMINDER = (
    "INSERT INTO checkin_reminders (guild_id, user_id, minute_of_day, next_due_at, updated_at) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_NUDGE_MEMBER = (
    "INSERT INTO nudge_members (guild_id, user_id, last_active_at, step, next_check_at, participant, updated_at) "
    "VALUES (?, ?, ?, ?, nullif(?, -1), ?, ?)"
)
_INSERT_NUDGE_STEP = (
    "INSERT INTO nudge_steps (guild_id, user_id, spell, step, target_id, outcome, run_id, claimed_at, done_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_BUDDY_MEMBER = (
    "INSERT INTO buddy_members (guild_id, user_id, joined_at, group_count, group_role_id, told_at, updated_at) "
    "VALUES (?, ?, ?, 1, ?, ?, ?)"
)
_INSERT_BUDDY_ROLE = "INSERT INTO buddy_member_roles (guild_id, role_id, user_id) VALUES (?, ?, ?)"
_INSERT_QUEUE = (
    "INSERT INTO buddy_queue (guild_id, user_id, queued_at, first_in_line, origin, group_role_id) "
    "VALUES (?, ?, ?, ?, 'request', ?)"
)
_INSERT_VOLUNTEER = (
    "INSERT INTO buddy_volunteers (guild_id, user_id, available, max_buddies, since, updated_at, group_role_id) "
    "VALUES (?, ?, 1, ?, ?, ?, ?)"
)
_INSERT_ACTIVE_PAIR = (
    "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, started_at, "
    "introduced_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)"
)
_INSERT_PAST_PAIR = (
    "INSERT INTO buddy_pairs (guild_id, member_id, buddy_id, group_role_id, status, created_at, started_at, "
    "ended_at, end_reason, introduced_at) VALUES (?, ?, ?, ?, 'ended', ?, ?, ?, 'member_ended', ?)"
)


@dataclass(frozen=True, slots=True)
class Parts:
    """Which tables a data set fills."""

    checkins: bool = True
    nudges: bool = True
    buddies: bool = True


def _write(conn: sqlite3.Connection, p: Plan, parts: Parts) -> None:
    now = int(NOW.timestamp())
    conn.execute("INSERT INTO guilds (guild_id, joined_at) VALUES (?, ?)", (GUILD_ID, now - 400 * DAY))
    settings = {
        "checkin_channel": CHANNELS["check-ins"],
        "moderator_channel": CHANNELS["moderators"],
        "intro_channel": CHANNELS["buddy-intros"],
        "celebrations_channel": CHANNELS["celebrations"],
        "moderator_role": MODERATOR_ROLE_ID,
    }
    conn.executemany(
        "INSERT INTO guild_settings (guild_id, key, value, updated_at) VALUES (?, ?, ?, ?)",
        [(GUILD_ID, key, str(value), now - 300 * DAY) for key, value in settings.items()],
    )
    if parts.checkins:
        streaks: dict[int, tuple[int, int, int]] = {}
        conn.executemany(_INSERT_CHECKIN, with_streaks(checkin_rows(p), streaks))
        conn.executemany(_INSERT_STREAK, [(GUILD_ID, uid, *streak) for uid, streak in streaks.items()])
        conn.executemany(
            _INSERT_CHECKIN_MEMBER,
            [(GUILD_ID, uid, p.timezones.get(uid), 1) for uid in p.participants],
        )
        conn.executemany(_INSERT_SOBRIETY, _sobriety_rows(p))
        conn.executemany(_INSERT_REMINDER, _reminder_rows(p))
    if parts.nudges:
        conn.execute("INSERT INTO nudge_guilds (guild_id, watching_since) VALUES (?, ?)", (GUILD_ID, now - 400 * DAY))
        members, steps = _nudge_rows(p)
        conn.executemany(_INSERT_NUDGE_MEMBER, members)
        conn.executemany(_INSERT_NUDGE_STEP, steps)
    if parts.buddies:
        conn.executemany(
            "INSERT INTO buddy_groups (guild_id, role_id, added_at) VALUES (?, ?, ?)",
            [(GUILD_ID, role, now - 350 * DAY + i) for i, role in enumerate(p.group_roles)],
        )
        holders = sorted(p.group_of)
        waiting = set(p.waiting)
        conn.executemany(
            _INSERT_BUDDY_MEMBER,
            [
                (GUILD_ID, uid, p.joined_at[uid], p.group_of[uid], now - 30 * DAY if uid in waiting else None, now)
                for uid in holders
            ],
        )
        conn.executemany(_INSERT_BUDDY_ROLE, [(GUILD_ID, p.group_of[uid], uid) for uid in holders])
        rng = seeded(p.spec.seed + 5)
        conn.executemany(
            _INSERT_QUEUE,
            [
                (GUILD_ID, uid, now - rng.randrange(3600, 60 * DAY), int(rng.random() < 0.05), p.group_of[uid])
                for uid in p.waiting
            ],
        )
        conn.executemany(
            _INSERT_VOLUNTEER,
            [
                (GUILD_ID, uid, p.volunteer_max[uid], now - 100 * DAY, now - 100 * DAY, p.group_of[uid])
                for uid in p.volunteers
            ],
        )
        conn.executemany(
            _INSERT_ACTIVE_PAIR,
            [(GUILD_ID, m, b, g, now - 90 * DAY, now - 90 * DAY, now - 90 * DAY) for m, b, g in p.active_pairs],
        )
        conn.executemany(
            _INSERT_PAST_PAIR,
            [
                (GUILD_ID, m, b, g, now - 200 * DAY, now - 200 * DAY, now - 120 * DAY, now - 200 * DAY)
                for m, b, g in p.past_pairs
            ],
        )


async def build(db: Database, p: Plan, parts: Parts = Parts()) -> None:
    """Write the plan's rows into a migrated, empty database, in one transaction."""
    await db.transaction(lambda conn: _write(conn, p, parts))


_COUNTS = {
    "checkins": "SELECT count(*) FROM checkins",
    "checkin_members": "SELECT count(*) FROM checkin_members",
    "checkin_streaks": "SELECT count(*) FROM checkin_streaks",
    "sobriety": "SELECT count(*) FROM sobriety",
    "nudge_members": "SELECT count(*) FROM nudge_members",
    "buddy_members": "SELECT count(*) FROM buddy_members",
    "buddy_queue": "SELECT count(*) FROM buddy_queue",
    "buddy_volunteers": "SELECT count(*) FROM buddy_volunteers",
    "buddy_pairs": "SELECT count(*) FROM buddy_pairs",
}


def check_dataset(conn: sqlite3.Connection, p: Plan, parts: Parts = Parts()) -> dict[str, int]:
    """Count what a built data set holds, checked against the plan; returns the counts."""
    counts = {table: int(conn.execute(sql).fetchone()[0]) for table, sql in _COUNTS.items()}
    expected: dict[str, int] = {}
    if parts.checkins:
        streaks: dict[int, tuple[int, int, int]] = {}
        expected.update(
            checkin_members=len(p.participants),
            checkin_streaks=len(p.participants),
            sobriety=len(p.sobriety),
            checkins=sum(1 for _ in with_streaks(checkin_rows(p), streaks)),
        )
        stored = conn.execute(
            "SELECT user_id, run_start, run_end, longest FROM checkin_streaks WHERE guild_id = ?", (GUILD_ID,)
        )
        differ = sum(1 for uid, *streak in stored.fetchall() if streaks.get(int(uid)) != tuple(streak))
        counts["streaks_differing"] = differ
        expected["streaks_differing"] = 0
    if parts.nudges:
        expected["nudge_members"] = len(p.user_ids)
        due = conn.execute(
            "SELECT count(*) FROM nudge_members WHERE next_check_at IS NOT NULL AND next_check_at <= ?",
            (int(NOW.timestamp()),),
        ).fetchone()[0]
        counts["due"] = int(due)
        expected["due"] = len(p.due)
    if parts.buddies:
        expected.update(
            buddy_members=len(p.group_of),
            buddy_volunteers=len(p.volunteers),
            buddy_pairs=len(p.active_pairs) + len(p.past_pairs),
            buddy_queue=len(p.waiting),
        )
    wrong = {k: (counts[k], v) for k, v in expected.items() if counts[k] != v}
    if wrong:
        raise AssertionError(f"data set differs from its plan (found, expected): {wrong}")
    return counts


# --------------------------------------------------------------------------- cache


KINDS: dict[str, Parts] = {
    "server": Parts(),
    "buddies": Parts(checkins=False, nudges=False),
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_building(path: Path) -> Path:
    """Where this process builds ``path`` (another process may be building it too: each builds its
    own file and renames it into place); what interrupted builds left is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob("*.building-*"):
        pid = leftover.name.rsplit(".building-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)
    return path.with_name(f"{path.name}.building-{os.getpid()}")


def _cached(path: Path) -> bool:
    return path.exists()


async def dataset(data_dir: Path, spec: Spec, kind: str = "server", *, matched: bool = False) -> tuple[Path, Plan]:
    """The cached data set file of ``spec`` (built if missing) and its plan.

    ``matched``: after building, run the real matching once (the steady state of a server whose
    volunteers are full and where members still wait).
    """
    parts = KINDS[kind]
    p = plan(spec)
    name = f"{kind}{'-matched' if matched else ''}-{spec.members}-{spec.key(kind + str(matched))}.sqlite3"
    path = data_dir / name
    if _cached(path):
        return path, p
    building = _clean_building(path)
    db = await Database.open(building)
    try:
        await migrate(db)
        await build(db, p, parts)
        await db.read(lambda conn: check_dataset(conn, p, parts))
        if matched:
            from bot.services.buddies import BuddyService
            from bot.services.guidance import GuidanceLibrary

            await BuddyService(db, lambda: NOW, GuidanceLibrary.load()).run_matching(GUILD_ID)
    finally:
        await db.close()
    building.replace(path)
    return path, p


def fresh_copy(source: Path, folder: Path, name: str = "run.sqlite3") -> Path:
    """A copy of a cached data set for one case to change at will."""
    target = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target

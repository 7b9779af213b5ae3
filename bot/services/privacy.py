"""Privacy: a member's data given back (export) and forgotten (delete), and the retention jobs.

The bot holds sensitive data about people in recovery. It keeps the least it can, gives everything
back on request and forgets on request. Everything here is per server: a member's data in one
server is never read from another, and nothing here ever shows a member's check-ins to anyone but
that member.

* **Export** (:meth:`PrivacyService.export`): one read of every table about the member in one
  server, as a JSON document: check-ins with their notes (opened with ``DATA_KEY`` when sealed; a
  note that cannot be opened is listed as locked, with the reason, never left out silently), the
  sobriety date and milestones, the reminder and timezone, buddy pairings (the other member's id
  only), the queue and volunteering, nudge choices and steps, the last activity, and the records
  of what the member did as a moderator.
* **Delete** (:meth:`PrivacyService.delete_member`): one transaction. The member's live buddy
  pairings end kindly first, as with ``/buddy end`` (the returned effects tell the other member in
  private), then every row about them is erased. Where a record must keep that *someone* acted (a
  moderator's entry in the audit log, a pairing of two other members made by hand) their id is
  replaced by :data:`~bot.db.repositories.guilds.ERASED_USER_ID`. The in-memory activity buffer
  forgets them right before the transaction is queued (and again after it), so no later write
  recreates their activity row.
* **Retention** (:meth:`PrivacyService.run_retention`, daily, with the injected clock):
  check-in notes older than the server's ``note_retention_days`` are erased (mood, craving and
  sober stay for the history chart); ``/sos`` alert times past their 10-minute limit are
  forgotten; a member who left has all their data erased :data:`DEPARTED_KEEP` after leaving
  unless they returned; a server that removed the bot has all its data erased :data:`SERVER_KEEP`
  after. Before erasing, the caller's presence checks are asked (is the member back? is the bot
  back?) so that a missed "returned" event never erases the data of someone still there.
* **Erase a server now** (:meth:`PrivacyService.erase_server`): the owner's
  ``/settings erase-server-data``: one ``DELETE`` of the server's row, which cascades to every table.

No Discord here: plain ids, datetimes and dataclasses; the cog carries out the effects.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.crypto import NoteCipher, NotesLocked
from bot.db.connection import Database
from bot.db.repositories import audit
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import checkins as checkins_repo
from bot.db.repositories import guilds as guilds_repo
from bot.db.repositories import nudges as nudges_repo
from bot.db.repositories import outbox as outbox_repo
from bot.db.repositories import privacy as repo
from bot.db.repositories import safety as safety_repo
from bot.db.repositories.guilds import ERASED_USER_ID
from bot.services.buddies import BuddyService, Effect
from bot.services.checkins import note_place
from bot.services.localtime import epoch_day, format_hhmm, from_epoch_day
from bot.services.outbox import KIND_LABELS
from bot.services.safety import ALERT_INTERVAL
from bot.services.server_settings import read_config
from bot.timeutil import Clock, from_timestamp

__all__ = [
    "DEPARTED_KEEP",
    "ERASED_USER_ID",
    "ERASE_SERVER_ACTION",
    "EXPORT_FORMAT",
    "NOTE_RETENTION_SETTING",
    "SERVER_KEEP",
    "ActivityMemory",
    "DeleteResult",
    "MemberExport",
    "PrivacyInfo",
    "PrivacyService",
    "ReconcileReport",
    "RetentionReport",
]

log = logging.getLogger(__name__)

DEPARTED_KEEP = timedelta(days=30)
"""A member who left has their data erased this long after, unless they return."""
SERVER_KEEP = timedelta(days=30)
"""A server that removed the bot has all its data erased this long after, unless the bot returns."""
NOTE_RETENTION_SETTING = "note_retention_days"
"""The server setting: days a check-in note is kept (default 90)."""
EXPORT_FORMAT = "soberpeers-member-export/1"
ERASE_SERVER_ACTION = "privacy.erase_server"
"""The audit-log action left by the owner's erasure of the server's data (the only entry after it)."""
BATCH = 100
"""Departed members or servers erased per read of the due ones."""

NO_KEY_REASON = "this note is stored encrypted, and the bot has no DATA_KEY configured now, so it cannot open it"
STEP_NAMES = {1: "a private message to you", 2: "a note to your buddy", 3: "a notice to the moderators"}


class ActivityMemory(Protocol):
    """The in-memory activity buffer (:class:`bot.services.activity.ActivityBuffer`)."""

    def forget(self, guild_id: int, user_id: int) -> None:
        """Drop what was noted of the member in the server."""

    def forget_guild(self, guild_id: int) -> None:
        """Drop everything noted in the server."""


MemberPresence = Callable[[int, int], Awaitable[bool | None]]
"""Is this member in this server now? ``None``: cannot tell now (then nothing is erased)."""
BotPresence = Callable[[int], bool]
"""Is the bot in this server now?"""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class MemberExport:
    """Everything the bot holds about one member in one server, as a JSON-ready document."""

    guild_id: int
    user_id: int
    exported_at: datetime
    document: dict[str, Any]
    checkins: int
    notes: int
    """Check-ins with a note (readable or locked)."""
    locked_notes: int
    """Notes stored encrypted that could not be opened (no key, or another key)."""
    locked_reason: str | None
    empty: bool
    """The bot holds nothing about the member in this server."""

    def to_json(self) -> bytes:
        """The document as UTF-8 JSON, indented for reading."""
        return json.dumps(self.document, ensure_ascii=False, indent=2).encode()


@dataclass(frozen=True, slots=True)
class PrivacyInfo:
    """What ``/privacy info`` tells a member about their data in one server."""

    checkins: int
    notes: int
    locked_notes: int
    timezone_set: bool
    reminder_set: bool
    sobriety_set: bool
    live_pairs: int
    past_pairs: int
    waiting: bool
    volunteering: bool
    nudges_row: bool
    """The bot keeps the member's last activity time and nudge choices."""
    last_active_at: datetime | None
    departed_at: datetime | None
    sos_alerts: int
    """Kinds of ``/sos`` alert whose time is kept (for the 10-minute limit)."""
    moderator_records: int
    note_retention_days: int
    notes_sealed: bool
    """New notes are stored encrypted (``DATA_KEY`` is set)."""

    @property
    def empty(self) -> bool:
        """Nothing is stored about the member here."""
        return not (
            self.checkins
            or self.timezone_set
            or self.reminder_set
            or self.sobriety_set
            or self.live_pairs
            or self.past_pairs
            or self.waiting
            or self.volunteering
            or self.nudges_row
            or self.departed_at
            or self.sos_alerts
            or self.moderator_records
        )


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What erasing a member's data did."""

    guild_id: int
    user_id: int
    erased: bool
    """Something was stored and is now gone (``False``: nothing was stored, or the member had
    returned before a retention erasure)."""
    rows: int
    effects: tuple[Effect, ...]
    """Buddy effects (the other member of each pairing told kindly) for the cog to carry out."""
    reminder_removed: bool
    """A daily reminder was removed: wake the reminder dispatcher."""


@dataclass
class RetentionReport:
    """What one run of the retention jobs did."""

    notes_erased: int = 0
    sos_alerts_forgotten: int = 0
    members_erased: int = 0
    members_returned: int = 0
    """Departures found wrong (the member is in the server): the data is kept."""
    members_unknown: int = 0
    """Departures not acted on because it could not be told whether the member is back."""
    servers_erased: int = 0
    servers_returned: int = 0
    reminders_removed: bool = False
    effects: list[tuple[int, tuple[Effect, ...]]] = field(default_factory=list)
    """Per server, the buddy effects of pairings ended by an erasure."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What comparing the stored state with the servers and members the bot sees now changed."""

    servers_left: tuple[int, ...]
    servers_back: tuple[int, ...]
    members_left: int
    members_back: int


# --------------------------------------------------------------------------- rendering of the export


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _day(number: int | None) -> str | None:
    return None if number is None else from_epoch_day(number).isoformat()


def _pair_entry(pair: buddies_repo.PairRow, user_id: int) -> dict[str, Any]:
    """A pairing as the member may see it: the other member's id, nothing else of theirs."""
    ended_by: str | None = None
    if pair.ended_by == user_id:
        ended_by = "you"
    elif pair.ended_by is not None:
        ended_by = "the other member" if pair.involves(pair.ended_by) else "a moderator"
    elif pair.ended_at is not None:
        ended_by = "the bot"
    introduced_in = None
    if pair.introduced_at is not None:
        introduced_in = "direct messages" if pair.intro_thread_id is None else "a private thread"
    return {
        "pair_id": pair.pair_id,
        "you_are": "supported" if pair.member_id == user_id else "the buddy",
        "other_member_id": str(pair.other(user_id)),
        "group_role_id": str(pair.group_role_id),
        "status": pair.status,
        "paired_by": "automatic matching" if pair.created_by is None else "a moderator",
        "created_at": _iso(pair.created_at),
        "decided_at": _iso(pair.decided_at),
        "started_at": _iso(pair.started_at),
        "ended_at": _iso(pair.ended_at),
        "end_reason": pair.end_reason,
        "ended_by": ended_by,
        "introduced_at": _iso(pair.introduced_at),
        "introduced_in": introduced_in,
        "intro_thread_id": None if pair.intro_thread_id is None else str(pair.intro_thread_id),
        "reminded_at": _iso(pair.reminded_at),
    }


def _checkin_sections(data: checkins_repo.MemberData) -> dict[str, Any]:
    """Streaks, timezone, reminder, sobriety date and milestones."""
    member, reminder, sobriety, streak = data.member, data.reminder, data.sobriety, data.streak
    return {
        "streaks_kept": None
        if streak is None
        else {
            "latest_run_from": _day(streak.run_start),
            "latest_run_to": _day(streak.run_end),
            "longest_run_days": streak.longest,
        },
        "timezone": None
        if member is None
        else {"timezone": member.timezone, "told_timezone_not_set": member.tz_notice_shown},
        "reminder": None
        if reminder is None
        else {
            "time": format_hhmm(reminder.minute_of_day),
            "next_at": _iso(reminder.next_due_at),
            "last_day_handled": _day(reminder.last_day),
            "paused_because": reminder.paused_reason,
        },
        "sobriety": None
        if sobriety is None
        else {
            "since": _day(sobriety.since_day),
            "announce_milestones": sobriety.announce,
            "next_milestone_days": sobriety.next_milestone,
            "next_milestone_date": _day(sobriety.next_milestone_day),
            "set_at": _iso(sobriety.updated_at),
        },
        "milestones_celebrated": [
            {"sobriety_date": _day(m.since_day), "days": m.milestone, "celebrated_at": _iso(m.celebrated_at)}
            for m in data.milestones
        ],
    }


def _buddy_section(data: buddies_repo.MemberData, user_id: int) -> dict[str, Any]:
    """The member's buddy state: groups, queue, volunteering and pairings."""
    member, queue, offer = data.member, data.queue, data.volunteer
    return {
        "member": None
        if member is None
        else {
            "joined_server_at": _iso(member.joined_at),
            "matching_group_role_id": None if member.group_role_id is None else str(member.group_role_id),
            "matching_group_roles_held": member.group_count,
            "left_at": _iso(member.left_at),
            "told_what_a_buddy_is_at": _iso(member.told_at),
            "moderators_told_of_several_groups_at": _iso(member.several_notice_at),
        },
        "group_role_ids": [str(role) for role in sorted(data.group_roles)],
        "queue": None
        if queue is None
        else {"since": _iso(queue.queued_at), "first_in_line": queue.first_in_line, "how": queue.origin},
        "volunteer": None
        if offer is None
        else {"available": offer.available, "max_buddies": offer.max_buddies, "since": _iso(offer.since)},
        "pairs": [_pair_entry(pair, user_id) for pair in data.pairs],
    }


def _nudge_section(data: nudges_repo.MemberData) -> dict[str, Any]:
    """The member's nudge choices and the steps of their quiet spells (never who a step went to)."""
    nudge = data.member
    return {
        "settings": None
        if nudge is None
        else {
            "choice": nudge.opt,
            "paused_until": _iso(nudge.paused_until),
            "participant": nudge.participant,
            "in_server": nudge.present,
            "steps_taken_this_quiet_spell": nudge.step,
            "next_check_at": _iso(nudge.next_check_at),
        },
        "steps": [
            {
                "quiet_since": _iso(from_timestamp(step.spell)),
                "step": STEP_NAMES.get(step.step, str(step.step)),
                "asked_by_you": step.requested,
                "outcome": step.outcome,
                "claimed_at": _iso(step.claimed_at),
                "done_at": _iso(step.done_at),
            }
            for step in data.steps
        ],
        "buddy_notes_received": data.notes_received,
    }


@dataclass(frozen=True, slots=True)
class _Gathered:
    """Every table's rows about one member in one server, read in one snapshot."""

    checkins: checkins_repo.MemberData
    buddies: buddies_repo.MemberData
    nudges: nudges_repo.MemberData
    audit: list[audit.AuditEntry]
    settings: list[tuple[str, datetime]]
    sos_alerts: dict[str, datetime]
    departed_at: datetime | None
    note_retention_days: int
    outbox: list[outbox_repo.OutboxRow]

    @property
    def empty(self) -> bool:
        return (
            self.checkins.empty
            and self.buddies.empty
            and self.nudges.empty
            and not self.audit
            and not self.settings
            and not self.sos_alerts
            and self.departed_at is None
            and not self.outbox
        )


def _gather(conn: sqlite3.Connection, guild_id: int, user_id: int) -> _Gathered:
    return _Gathered(
        checkins=checkins_repo.member_data(conn, guild_id, user_id),
        buddies=buddies_repo.member_data(conn, guild_id, user_id),
        nudges=nudges_repo.member_data(conn, guild_id, user_id),
        audit=audit.entries_naming(conn, guild_id, user_id),
        settings=guilds_repo.settings_set_by(conn, guild_id, user_id),
        sos_alerts=safety_repo.member_alerts(conn, guild_id, user_id),
        departed_at=repo.departure_of(conn, guild_id, user_id),
        note_retention_days=read_config(conn, guild_id).integer(NOTE_RETENTION_SETTING),
        outbox=outbox_repo.member_rows(conn, guild_id, user_id),
    )


# --------------------------------------------------------------------------- the service


class PrivacyService:
    """Export, delete, retention and server erasure; each public method is one unit of work (the
    retention run: one per server or member it erases)."""

    def __init__(self, db: Database, clock: Clock, buddies: BuddyService, *, cipher: NoteCipher | None = None) -> None:
        self._db = db
        self._clock = clock
        self._buddies = buddies
        self._cipher = cipher

    # ----------------------------------------------------------------------- notes

    def _open_note(self, row: checkins_repo.CheckinRow) -> tuple[str | None, str, str | None]:
        """``(note, status, reason)``: status 'none', 'plain', 'decrypted' or 'locked' (with the reason)."""
        if row.note is None:
            return None, "none", None
        if isinstance(row.note, str):
            return row.note, "plain", None
        if self._cipher is None:
            return None, "locked", NO_KEY_REASON
        try:
            return self._cipher.open(row.note, note_place(row.guild_id, row.user_id, row.day)), "decrypted", None
        except NotesLocked as exc:
            return None, "locked", f"this note is stored encrypted and could not be opened: {exc}"

    # ----------------------------------------------------------------------- info and export

    async def info(self, guild_id: int, user_id: int) -> PrivacyInfo:
        """What the bot holds about the member in this server, counted (no content)."""
        gathered = await self._db.read(lambda conn: _gather(conn, guild_id, user_id))
        c, b, n = gathered.checkins, gathered.buddies, gathered.nudges
        return PrivacyInfo(
            checkins=len(c.checkins),
            notes=sum(1 for row in c.checkins if row.note is not None),
            locked_notes=sum(1 for row in c.checkins if isinstance(row.note, bytes) and self._open_note(row)[2]),
            timezone_set=c.member is not None and c.member.timezone is not None,
            reminder_set=c.reminder is not None,
            sobriety_set=c.sobriety is not None,
            live_pairs=sum(1 for p in b.pairs if p.status in buddies_repo.LIVE),
            past_pairs=sum(1 for p in b.pairs if p.status not in buddies_repo.LIVE),
            waiting=b.queue is not None,
            volunteering=b.volunteer is not None and b.volunteer.available,
            nudges_row=n.member is not None,
            last_active_at=None if n.member is None else n.member.last_active_at,
            departed_at=gathered.departed_at,
            sos_alerts=len(gathered.sos_alerts),
            moderator_records=len(gathered.audit) + len(gathered.settings) + len(b.handled_pairs) + len(b.groups_added),
            note_retention_days=gathered.note_retention_days,
            notes_sealed=self._cipher is not None,
        )

    async def export(self, guild_id: int, user_id: int) -> MemberExport:
        """Everything the bot holds about the member in this server (one snapshot), notes opened."""
        now = self._clock()
        gathered = await self._db.read(lambda conn: _gather(conn, guild_id, user_id))
        return self._document(guild_id, user_id, now, gathered)

    def _document(self, guild_id: int, user_id: int, now: datetime, g: _Gathered) -> MemberExport:
        checkins: list[dict[str, Any]] = []
        reasons: list[str] = []
        for row in g.checkins.checkins:
            note, status, reason = self._open_note(row)
            entry: dict[str, Any] = {
                "date": _day(row.day),
                "mood": row.mood,
                "craving": row.craving,
                "sober": row.sober,
                "note": note,
                "note_status": status,
                "recorded_at": _iso(row.recorded_at),
            }
            if reason is not None:
                entry["note_unreadable_because"] = reason
                reasons.append(reason)
            checkins.append(entry)
        locked_reason = "; ".join(sorted(set(reasons))) or None
        nudge = g.nudges.member
        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "exported_at": _iso(now),
            "server_id": str(guild_id),
            "member_id": str(user_id),
            "about": (
                "Everything SoberPeers holds about you in this server. Ids are Discord ids; times are UTC. "
                f"Check-in notes are erased after {g.note_retention_days} days (this server's setting); "
                "mood, craving and sober stay for your history chart."
            ),
            "checkins": checkins,
            "notes_locked": None
            if not reasons
            else {
                "count": len(reasons),
                "why": locked_reason,
                "what_to_do": "Ask the bot's operator to set the DATA_KEY these notes were stored with, then "
                "export again.",
            },
            **_checkin_sections(g.checkins),
            "buddies": _buddy_section(g.buddies, user_id),
            "nudges": _nudge_section(g.nudges),
            "last_active_at": None if nudge is None else _iso(nudge.last_active_at),
            "sos_alerts_last_sent": {kind: _iso(at) for kind, at in sorted(g.sos_alerts.items())},
            "left_server": None
            if g.departed_at is None
            else {"left_at": _iso(g.departed_at), "erased_after": _iso(g.departed_at + DEPARTED_KEEP)},
            # Posts about the member that Discord has not taken yet (retried for a day at most): the
            # summaries and celebrations they chose to share, notices to the moderators naming them.
            "pending_posts": [
                {
                    "what": KIND_LABELS.get(row.kind, row.kind),
                    "content": row.content,
                    "written_at": _iso(row.created_at),
                    "attempts": row.attempts,
                    "next_attempt_at": _iso(row.next_attempt_at),
                }
                for row in g.outbox
            ],
            "moderation": {
                "audit_log": [
                    {"action": e.action, "at": _iso(e.at), "you": "acted" if e.actor_id == user_id else "are named"}
                    for e in g.audit
                ],
                "settings_you_last_changed": [{"setting": key, "at": _iso(at)} for key, at in g.settings],
                "matching_groups_you_added": [str(role) for role in g.buddies.groups_added],
                "pairings_you_handled": g.buddies.handled_pairs,
            },
        }
        return MemberExport(
            guild_id=guild_id,
            user_id=user_id,
            exported_at=now,
            document=document,
            checkins=len(checkins),
            notes=sum(1 for row in g.checkins.checkins if row.note is not None),
            locked_notes=len(reasons),
            locked_reason=locked_reason,
            empty=g.empty,
        )

    # ----------------------------------------------------------------------- delete

    def _erase(
        self, conn: sqlite3.Connection, guild_id: int, user_id: int, now: datetime, *, left: bool
    ) -> tuple[int, tuple[Effect, ...], bool]:
        """Erase the member's data in the caller's transaction: their pairings end kindly first."""
        effects = self._buddies.end_for_erasure(conn, guild_id, user_id, now, left=left)
        reminder = checkins_repo.get_reminder(conn, guild_id, user_id) is not None
        rows = checkins_repo.delete_member_data(conn, guild_id, user_id)
        rows += buddies_repo.delete_member_data(conn, guild_id, user_id, ERASED_USER_ID)
        rows += nudges_repo.delete_member_data(conn, guild_id, user_id, ERASED_USER_ID)
        rows += audit.erase_member(conn, guild_id, user_id, ERASED_USER_ID)
        rows += guilds_repo.erase_setter(conn, guild_id, user_id)
        rows += safety_repo.delete_member_alerts(conn, guild_id, user_id)
        rows += outbox_repo.delete_member_rows(conn, guild_id, user_id)
        rows += int(repo.clear_departure(conn, guild_id, user_id))
        return rows, effects, reminder

    async def delete_member(
        self, guild_id: int, user_id: int, *, activity: ActivityMemory | None = None
    ) -> DeleteResult:
        """``/privacy delete``: erase everything about the member in this server, in one transaction.

        Their live buddy pairings end as with ``/buddy end`` (carry out the returned effects). Pass the
        activity buffer: it forgets the member right before the transaction is queued, so a write of
        activity noted earlier runs before the erasure, never after it.
        """
        now = self._clock()

        def work(conn: sqlite3.Connection) -> DeleteResult:
            rows, effects, reminder = self._erase(conn, guild_id, user_id, now, left=False)
            return DeleteResult(guild_id, user_id, rows > 0, rows, effects, reminder)

        if activity is not None:
            activity.forget(guild_id, user_id)
        result = await self._db.transaction(work)
        if activity is not None:
            activity.forget(guild_id, user_id)  # a batch put back after a failed write
        log.info("Guild %s: member %s erased their data (%s rows)", guild_id, user_id, result.rows)
        return result

    # ----------------------------------------------------------------------- members and servers coming and going

    async def member_left(self, guild_id: int, user_id: int) -> bool:
        """The member left the server: their data is erased after :data:`DEPARTED_KEEP` unless they
        return. ``False`` if nothing is stored about the server (nothing to erase)."""
        now = self._clock()

        def work(conn: sqlite3.Connection) -> bool:
            if not buddies_repo.guild_known(conn, guild_id):
                return False
            return repo.record_departure(conn, guild_id, user_id, now)

        return await self._db.transaction(work)

    async def member_returned(self, guild_id: int, user_id: int) -> bool:
        """The member is back: their data is kept. ``True`` if a departure was cleared."""
        return await self._db.transaction(lambda conn: repo.clear_departure(conn, guild_id, user_id))

    async def bot_left(self, guild_id: int, *, activity: ActivityMemory | None = None) -> bool:
        """The bot was removed from the server: its data is erased after :data:`SERVER_KEEP` unless the
        bot is added back. ``False`` if nothing is stored about the server."""
        now = self._clock()
        if activity is not None:
            activity.forget_guild(guild_id)  # a later write of it would mark the server present again
        marked = await self._db.transaction(lambda conn: guilds_repo.mark_bot_left(conn, guild_id, now))
        if marked:
            log.info("Guild %s removed the bot: its data is erased after %s days", guild_id, SERVER_KEEP.days)
        return marked

    async def bot_joined(self, guild_id: int) -> None:
        """The bot is in the server (again): its data is no longer due for erasure."""
        now = self._clock()
        await self._db.transaction(lambda conn: guilds_repo.ensure_guild(conn, guild_id, now))

    async def reconcile(self, present: Mapping[int, Collection[int] | None]) -> ReconcileReport:
        """Compare the stored state with what the bot sees now (after connecting: events missed while
        it was away). ``present``: every server the bot is in, with its members, or ``None`` when the
        member list is not complete (then no member is taken for gone). Servers not in ``present`` are
        taken as having removed the bot; members not present as having left. One transaction for the
        servers, then one per server for its members."""
        now = self._clock()

        def servers(conn: sqlite3.Connection) -> tuple[list[int], list[int]]:
            left, back = [], []
            for guild_id, left_at in guilds_repo.guild_states(conn).items():
                if guild_id in present and left_at is not None:
                    guilds_repo.ensure_guild(conn, guild_id, now)
                    back.append(guild_id)
                elif guild_id not in present and left_at is None:
                    guilds_repo.mark_bot_left(conn, guild_id, now)
                    left.append(guild_id)
            return left, back

        left, back = await self._db.transaction(servers)
        members_left = members_back = 0
        for guild_id, members in present.items():
            if members is None:
                continue
            here = set(members)

            def people(conn: sqlite3.Connection, guild_id: int = guild_id, here: set[int] = here) -> tuple[int, int]:
                if not buddies_repo.guild_known(conn, guild_id):
                    return 0, 0
                departed = repo.departed_ids(conn, guild_id)
                gone = repo.known_members(conn, guild_id) - here - departed
                return (
                    repo.record_departures(conn, guild_id, sorted(gone), now),
                    repo.clear_departures(conn, guild_id, sorted(departed & here)),
                )

            gone_count, back_count = await self._db.transaction(people)
            members_left += gone_count
            members_back += back_count
        if left or back or members_left or members_back:
            log.info(
                "Reconciled: %s servers left, %s back; %s members gone, %s back",
                len(left),
                len(back),
                members_left,
                members_back,
            )
        return ReconcileReport(tuple(left), tuple(back), members_left, members_back)

    # ----------------------------------------------------------------------- retention

    async def run_retention(
        self,
        *,
        member_present: MemberPresence | None = None,
        bot_present: BotPresence | None = None,
        activity: ActivityMemory | None = None,
    ) -> RetentionReport:
        """The daily retention jobs, at the clock's time: old notes, departed members, servers left."""
        now = self._clock()
        report = RetentionReport()
        await self._erase_old_notes(now, report)
        report.sos_alerts_forgotten = await self._db.transaction(
            lambda conn: safety_repo.prune_alerts(conn, now - ALERT_INTERVAL)
        )
        await self._erase_departed(now, report, member_present, activity)
        await self._erase_servers(now, report, bot_present, activity)
        log.info(
            "Retention: %s notes erased, %s departed members erased (%s back, %s unknown), %s servers erased",
            report.notes_erased,
            report.members_erased,
            report.members_returned,
            report.members_unknown,
            report.servers_erased,
        )
        return report

    async def _erase_old_notes(self, now: datetime, report: RetentionReport) -> None:
        """Per server (one transaction each): notes of local days more than ``note_retention_days``
        before today (UTC) are erased; the check-ins stay."""
        today = epoch_day(now.date())
        guild_ids = await self._db.read(lambda conn: sorted(guilds_repo.guild_states(conn)))
        for guild_id in guild_ids:

            def work(conn: sqlite3.Connection, guild_id: int = guild_id) -> int:
                days = read_config(conn, guild_id).integer(NOTE_RETENTION_SETTING)
                return checkins_repo.erase_notes_before(conn, guild_id, today - days)

            report.notes_erased += await self._db.transaction(work)

    async def _erase_departed(
        self,
        now: datetime,
        report: RetentionReport,
        member_present: MemberPresence | None,
        activity: ActivityMemory | None,
    ) -> None:
        cutoff = now - DEPARTED_KEEP
        skipped: set[tuple[int, int]] = set()
        while True:
            limit = BATCH + len(skipped)

            def read(conn: sqlite3.Connection, limit: int = limit) -> list[tuple[int, int, datetime]]:
                return repo.departed_before(conn, cutoff, limit)

            due = await self._db.read(read)
            todo = [(g, u) for g, u, _ in due if (g, u) not in skipped]
            for guild_id, user_id in todo:
                here = None if member_present is None else await member_present(guild_id, user_id)
                if member_present is not None and here is None:
                    report.members_unknown += 1  # tried again tomorrow
                    skipped.add((guild_id, user_id))
                elif here:
                    await self.member_returned(guild_id, user_id)
                    report.members_returned += 1
                else:
                    result = await self._erase_departed_member(guild_id, user_id, cutoff, now, activity)
                    if result is None:  # returned meanwhile: nothing erased
                        skipped.add((guild_id, user_id))
                        continue
                    report.members_erased += 1
                    report.reminders_removed = report.reminders_removed or result.reminder_removed
                    if result.effects:
                        report.effects.append((guild_id, result.effects))
            if len(due) < limit or not todo:
                return

    async def _erase_departed_member(
        self, guild_id: int, user_id: int, cutoff: datetime, now: datetime, activity: ActivityMemory | None
    ) -> DeleteResult | None:
        """Erase a departed member's data, checking in the same transaction that they are still gone
        since before ``cutoff``; ``None`` if they returned meanwhile."""

        def work(conn: sqlite3.Connection) -> DeleteResult | None:
            left_at = repo.departure_of(conn, guild_id, user_id)
            if left_at is None or left_at >= cutoff:
                return None
            rows, effects, reminder = self._erase(conn, guild_id, user_id, now, left=True)
            return DeleteResult(guild_id, user_id, rows > 0, rows, effects, reminder)

        if activity is not None:
            activity.forget(guild_id, user_id)
        result = await self._db.transaction(work)
        if result is not None:
            log.info("Guild %s: erased the data of member %s, gone for %s days", guild_id, user_id, DEPARTED_KEEP.days)
        return result

    async def _erase_servers(
        self,
        now: datetime,
        report: RetentionReport,
        bot_present: BotPresence | None,
        activity: ActivityMemory | None,
    ) -> None:
        cutoff = now - SERVER_KEEP
        while True:
            due = await self._db.read(lambda conn: guilds_repo.left_before(conn, cutoff, BATCH))
            for guild_id, _ in due:
                if bot_present is not None and bot_present(guild_id):
                    await self.bot_joined(guild_id)
                    report.servers_returned += 1
                    continue
                if activity is not None:
                    activity.forget_guild(guild_id)

                def work(conn: sqlite3.Connection, guild_id: int = guild_id) -> bool:
                    left_at = guilds_repo.guild_states(conn).get(guild_id)  # still gone since before the cutoff?
                    return left_at is not None and left_at < cutoff and guilds_repo.delete_guild(conn, guild_id)

                if await self._db.transaction(work):
                    report.servers_erased += 1
                    report.reminders_removed = True
                    log.info("Erased every piece of data of guild %s: the bot was removed from it", guild_id)
            if len(due) < BATCH:
                return

    # ----------------------------------------------------------------------- a server, at once

    async def server_members_with_data(self, guild_id: int) -> int:
        """How many members the bot holds data about in the server (for the owner's confirmation)."""
        return await self._db.read(lambda conn: len(repo.known_members(conn, guild_id)))

    async def erase_server(
        self, guild_id: int, actor_id: int | None = None, *, activity: ActivityMemory | None = None
    ) -> bool:
        """``/settings erase-server-data``: erase everything stored about the server now, in one
        transaction (the cascade of its row). With ``actor_id`` (the owner), the fresh audit log of the
        server then records who erased it and when (:data:`ERASE_SERVER_ACTION`), in the same
        transaction. ``False`` if nothing was stored."""
        now = self._clock()

        def work(conn: sqlite3.Connection) -> bool:
            erased = guilds_repo.delete_guild(conn, guild_id)
            if actor_id is not None:
                audit.record(conn, guild_id, actor_id, ERASE_SERVER_ACTION, {}, now)
            return erased

        if activity is not None:
            activity.forget_guild(guild_id)
        erased = await self._db.transaction(work)
        if activity is not None:
            activity.forget_guild(guild_id)
        return erased

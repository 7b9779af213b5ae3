"""Safety: the crisis resources, ``/sos`` alerts, and the moderators' audit log, read back.

Crisis resources. One text per server, the ``crisis_resources`` setting, with one default
(:data:`DEFAULT_CRISIS_RESOURCES`); check-ins, nudges and ``/sos`` all read it through
:func:`crisis_resources_text`, :func:`read_crisis_resources` or :meth:`SafetyService.crisis_resources`,
so they always show the same.

Alerts. From ``/sos`` a member may tell their buddy (every member they are in an active pairing
with) or the moderators' channel that they need support now. At most one alert of each kind per
member per server every :data:`ALERT_INTERVAL`, even across restarts: an alert is *claimed* (its
time stored) in one transaction before anything is sent, so two quick presses send one message;
an alert that reached nobody is *released* afterwards, so the member can try again at once. Only
the time of the latest alert of each kind is kept; times older than the limit are forgotten as new
alerts come. The logs never say who asked for support.

No Discord here: plain ids, datetimes and dataclasses.
"""

from __future__ import annotations

import enum
import logging
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.db.connection import Database
from bot.db.repositories import audit
from bot.db.repositories import buddies as buddies_repo
from bot.db.repositories import safety as repo
from bot.db.repositories.guilds import get_settings
from bot.services.server_settings import (
    CRISIS_RESOURCES_MAX_LENGTH,
    CRISIS_RESOURCES_SETTING,
    DEFAULT_CRISIS_RESOURCES,
    ServerSettings,
    read_config,
)
from bot.timeutil import Clock, to_timestamp

__all__ = [
    "ALERT_INTERVAL",
    "AUDIT_PAGE_SIZE",
    "CRISIS_RESOURCES_MAX_LENGTH",
    "CRISIS_RESOURCES_SETTING",
    "DEFAULT_CRISIS_RESOURCES",
    "Alert",
    "AlertKind",
    "AlertStatus",
    "AuditPage",
    "SafetyService",
    "crisis_resources_text",
    "read_crisis_resources",
]

log = logging.getLogger(__name__)

ALERT_INTERVAL = timedelta(minutes=10)
"""At most one alert of each kind per member per server in this time."""
AUDIT_PAGE_SIZE = 10


class AlertKind(enum.StrEnum):
    """Whom an alert goes to."""

    BUDDY = "buddy"
    MODERATORS = "moderators"


class AlertStatus(enum.Enum):
    """Whether an alert can go out."""

    READY = "ready"
    """It can be sent (a check only: nothing is claimed)."""
    CLAIMED = "claimed"
    """It is claimed: send it now, then :meth:`SafetyService.settle_alert`."""
    ALREADY_SENT = "already_sent"
    """One of this kind went out less than :data:`ALERT_INTERVAL` ago."""
    NO_BUDDY = "no_buddy"
    """The member has no active buddy pairing in this server."""
    NO_CHANNEL = "no_channel"
    """The server has no moderators' channel."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert checked or claimed: its status, and where it would go."""

    guild_id: int
    user_id: int
    kind: AlertKind
    status: AlertStatus
    buddy_ids: tuple[int, ...] = ()
    """The member's active buddies, the one supporting them first (kind ``buddy``)."""
    channel_id: int | None = None
    """The moderators' channel (kind ``moderators``)."""
    sent_at: datetime | None = None
    """When the alert was claimed (``CLAIMED``), or when the previous one went out (``ALREADY_SENT``)."""
    resources: str = DEFAULT_CRISIS_RESOURCES
    """The server's crisis resources (the buddy's message shows them too)."""

    @property
    def again_at(self) -> datetime | None:
        """When another alert of this kind may go out (``ALREADY_SENT``)."""
        return None if self.sent_at is None else self.sent_at + ALERT_INTERVAL


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of a server's audit log, newest first."""

    entries: tuple[audit.AuditEntry, ...]
    page: int
    pages: int
    total: int


# --------------------------------------------------------------------------- crisis resources


def crisis_resources_text(stored: Mapping[str, str]) -> str:
    """The crisis resources among a server's stored settings: its own text, else the default."""
    return stored.get(CRISIS_RESOURCES_SETTING) or DEFAULT_CRISIS_RESOURCES


def read_crisis_resources(conn: sqlite3.Connection, guild_id: int | None) -> str:
    """A server's crisis resources, read inside the caller's transaction (``None``: the default)."""
    if guild_id is None:
        return DEFAULT_CRISIS_RESOURCES
    return crisis_resources_text(get_settings(conn, guild_id))


def _buddies_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> tuple[int, ...]:
    """Everyone the member is in an active pairing with: their own buddy first, oldest pairing first."""
    pairs = [p for p in buddies_repo.live_pairs_of(conn, guild_id, user_id) if p.status == "active"]
    pairs.sort(key=lambda p: (p.member_id != user_id, p.pair_id))
    seen: dict[int, None] = {}
    for pair in pairs:
        seen.setdefault(pair.other(user_id), None)
    return tuple(seen)


# --------------------------------------------------------------------------- the service


class SafetyService:
    """Crisis resources, ``/sos`` alerts and the audit log; each public method is one unit of work."""

    def __init__(self, db: Database, clock: Clock, *, interval: timedelta = ALERT_INTERVAL) -> None:
        if interval <= timedelta(0):
            raise ValueError("the alert interval must be positive")
        self._db = db
        self._clock = clock
        self._interval = interval
        self._settings = ServerSettings(db, clock)

    def _now(self) -> datetime:
        now = self._clock()
        to_timestamp(now)  # refuses a naive datetime
        return now

    # ----------------------------------------------------------------------- crisis resources

    async def crisis_resources(self, guild_id: int | None) -> str:
        """The server's crisis resources (``None``, no server known: the default)."""
        if guild_id is None:
            return DEFAULT_CRISIS_RESOURCES
        return await self._db.read(lambda conn: read_crisis_resources(conn, guild_id))

    async def custom_crisis_resources(self, guild_id: int) -> str | None:
        """The server's own crisis resources, or ``None`` if it uses the default."""
        config = await self._settings.get(guild_id)
        return str(config[CRISIS_RESOURCES_SETTING]) if config.is_set(CRISIS_RESOURCES_SETTING) else None

    async def set_crisis_resources(self, guild_id: int, text: str | None, actor_id: int | None) -> str:
        """Set the server's crisis resources (empty or ``None``: back to the default), recorded in
        the audit log; returns the text now shown. :class:`UserError` over 1500 characters."""
        value = text.strip() if text is not None else None
        config = await self._settings.set(guild_id, CRISIS_RESOURCES_SETTING, value or None, actor_id)
        log.info("Guild %s: crisis resources %s by %s", guild_id, "set" if value else "reset", actor_id)
        return str(config[CRISIS_RESOURCES_SETTING])

    # ----------------------------------------------------------------------- alerts

    def _alert(self, conn: sqlite3.Connection, guild_id: int, user_id: int, kind: AlertKind, now: datetime) -> Alert:
        """Where an alert would go and whether it may go now (read only)."""
        config = read_config(conn, guild_id)
        resources = str(config[CRISIS_RESOURCES_SETTING])
        last = repo.get_alert(conn, guild_id, user_id, kind.value)
        if last is not None and now - last < self._interval:
            return Alert(guild_id, user_id, kind, AlertStatus.ALREADY_SENT, sent_at=last, resources=resources)
        if kind is AlertKind.BUDDY:
            buddies = _buddies_of(conn, guild_id, user_id)
            if not buddies:
                return Alert(guild_id, user_id, kind, AlertStatus.NO_BUDDY, resources=resources)
            return Alert(guild_id, user_id, kind, AlertStatus.READY, buddy_ids=buddies, resources=resources)
        channel_id = config.snowflake("moderator_channel")
        if channel_id is None:
            return Alert(guild_id, user_id, kind, AlertStatus.NO_CHANNEL, resources=resources)
        return Alert(guild_id, user_id, kind, AlertStatus.READY, channel_id=channel_id, resources=resources)

    async def check_alert(self, guild_id: int, user_id: int, kind: AlertKind) -> Alert:
        """Whether an alert of this kind could go out now, and to whom (nothing is claimed)."""
        now = self._now()
        return await self._db.read(lambda conn: self._alert(conn, guild_id, user_id, kind, now))

    async def claim_alert(self, guild_id: int, user_id: int, kind: AlertKind) -> Alert:
        """Claim an alert: ``CLAIMED`` (send it, then :meth:`settle_alert`), or why it cannot go out."""
        now = self._now()

        def work(conn: sqlite3.Connection) -> Alert:
            repo.prune_alerts(conn, now - self._interval)
            alert = self._alert(conn, guild_id, user_id, kind, now)
            if alert.status is not AlertStatus.READY:
                return alert
            repo.set_alert(conn, guild_id, user_id, kind.value, now)
            return Alert(
                guild_id,
                user_id,
                kind,
                AlertStatus.CLAIMED,
                buddy_ids=alert.buddy_ids,
                channel_id=alert.channel_id,
                sent_at=now,
                resources=alert.resources,
            )

        alert = await self._db.transaction(work)
        log.info("Guild %s: /sos alert to %s: %s", guild_id, kind.value, alert.status.value)
        return alert

    async def settle_alert(self, alert: Alert, *, delivered: bool) -> None:
        """After sending a claimed alert: keep it if it reached someone, else release it so the member
        can try again at once."""
        if alert.status is not AlertStatus.CLAIMED or alert.sent_at is None:
            raise ValueError("only a claimed alert can be settled")
        if delivered:
            return
        at = alert.sent_at
        await self._db.transaction(
            lambda conn: repo.release_alert(conn, alert.guild_id, alert.user_id, alert.kind.value, at)
        )
        log.info("Guild %s: /sos alert to %s reached nobody", alert.guild_id, alert.kind.value)

    # ----------------------------------------------------------------------- the audit log

    async def audit_page(self, guild_id: int, page: int = 0, per_page: int = AUDIT_PAGE_SIZE) -> AuditPage:
        """One page of the server's audit log, newest first; a page past the end shows the last one."""
        if per_page < 1:
            raise ValueError("per_page must be at least 1")

        def read(conn: sqlite3.Connection) -> AuditPage:
            total = audit.count(conn, guild_id)
            pages = max(1, math.ceil(total / per_page))
            number = min(max(page, 0), pages - 1)
            entries = audit.latest(conn, guild_id, limit=per_page, offset=number * per_page)
            return AuditPage(tuple(entries), number, pages, total)

        return await self._db.read(read)

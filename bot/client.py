"""The bot: a ``commands.Bot`` that is handed its settings and database from outside."""

from __future__ import annotations

import hashlib
import json
import logging
import pkgutil
from collections.abc import Callable, Sequence
from typing import Any

import discord
from discord.ext import commands

import cogs
from bot import __version__
from bot.crypto import NoteCipher
from bot.db.connection import Database
from bot.db.repositories import meta
from bot.services.guidance import GuidanceLibrary
from bot.services.outbox import OutboxService
from bot.services.server_settings import ServerSettings
from bot.settings import Settings
from bot.timeutil import Clock, utc_now
from bot.tree import SoberPeersTree, guard_acknowledgement
from bot.views import answer_closed_component, answer_expired_form

__all__ = ["SoberPeersBot", "build_intents", "discover_extensions"]

log = logging.getLogger(__name__)


def build_intents() -> discord.Intents:
    """Guilds, members (privileged), and for activity guild messages, DMs, reactions and voice states
    (none privileged) — never message content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.guild_reactions = True
    intents.voice_states = True
    return intents


def discover_extensions() -> list[str]:
    """Every module of the ``cogs`` package, as extension names, sorted."""
    return sorted(f"{cogs.__name__}.{info.name}" for info in pkgutil.iter_modules(cogs.__path__) if not info.ispkg)


class SoberPeersBot(commands.Bot):
    """The SoberPeers bot. Start it inside ``async with``; closing it closes the database."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        clock: Clock = utc_now,
        guidance: GuidanceLibrary | None = None,
        extensions: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self._event_observers: dict[str, list[Callable[..., None]]] = {}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(),
            help_command=None,
            tree_cls=SoberPeersTree,
            # Nobody is ever pinged unless a message opts in explicitly (a buddy introduction).
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.db = database
        self.clock = clock
        self.guidance = GuidanceLibrary.load() if guidance is None else guidance
        self.server_settings = ServerSettings(database, clock)
        # Channel posts that are not interaction answers go through the outbox (cogs.outbox sends them).
        self.outbox = OutboxService(database, clock)
        # Check-in notes are sealed at rest when the operator set DATA_KEY.
        self.note_cipher = NoteCipher(settings.data_key) if settings.data_key else None
        self.version = __version__
        self.initial_extensions = list(discover_extensions() if extensions is None else extensions)
        self.failed_extensions: dict[str, BaseException] = {}
        self.last_sync_skipped: bool | None = None
        # Every interaction is acknowledged within Discord's 3 seconds, even when its handler waits
        # on a locked database: one still unanswered after 1.5 s is deferred (bot.tree).
        self.add_event_observer("interaction", guard_acknowledgement)
        # A form (bot.views.TrackedModal) sent after it closed, by its timeout or a restart, is answered.
        self.add_event_observer("interaction", answer_expired_form)
        # So is a button of short-lived buttons (bot.views.TrackedView) pressed after they closed.
        self.add_event_observer("interaction", answer_closed_component)

    async def setup_hook(self) -> None:
        """Load every extension (a broken one is logged, the rest still load), then sync commands."""
        for name in self.initial_extensions:
            try:
                await self.load_extension(name)
            except commands.ExtensionError as exc:
                self.failed_extensions[name] = exc
                log.error("Could not load extension %s", name, exc_info=exc)
            else:
                log.info("Loaded extension %s", name)
        await self.sync_commands()

    def command_scope(self) -> tuple[str, discord.Object | None]:
        """Where commands are synced: ``('global', None)`` or ``('guild:<id>', guild)``."""
        if self.settings.dev_guild_id is None:
            return "global", None
        return f"guild:{self.settings.dev_guild_id}", discord.Object(self.settings.dev_guild_id)

    def command_schema_hash(self, guild: discord.abc.Snowflake | None) -> str:
        """A hash of exactly what a sync to this scope would send to Discord."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync the command schema if it changed since the last sync; return whether it synced."""
        scope, guild = self.command_scope()
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        application_id = self.application_id
        if application_id is None:
            log.warning("No application id yet; command sync skipped")
            return False
        schema_hash = self.command_schema_hash(guild)
        stored = await self.db.read(lambda conn: meta.get_command_hash(conn, application_id, scope))
        if stored == schema_hash and not force:
            log.info("Commands unchanged since the last sync (%s); not syncing", scope)
            self.last_sync_skipped = True
            return False
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.error("Command sync (%s) failed: %s", scope, exc)
            self.last_sync_skipped = None
            return False
        now = self.clock()
        await self.db.transaction(lambda conn: meta.set_command_hash(conn, application_id, scope, schema_hash, now))
        log.info("Synced %d commands (%s)", len(synced), scope)
        self.last_sync_skipped = False
        return True

    def add_event_observer(self, event: str, observer: Callable[..., None]) -> None:
        """Call ``observer(*args)`` synchronously whenever ``event`` (e.g. ``"message"``) is dispatched.

        For cheap bookkeeping on frequent events: unlike a listener, which costs a task per event,
        an observer is a plain call. It must be quick and must not block; an exception is logged.
        """
        self._event_observers.setdefault(event, []).append(observer)

    def remove_event_observer(self, event: str, observer: Callable[..., None]) -> None:
        """Stop calling ``observer`` for ``event``."""
        observers = self._event_observers.get(event, [])
        if observer in observers:
            observers.remove(observer)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """Call the event's observers, then dispatch it to listeners as usual."""
        observers = self._event_observers.get(event_name)
        if observers:
            for observer in observers:
                try:
                    observer(*args)
                except Exception:
                    log.exception("Event observer %r failed on %s", observer, event_name)
        if event_name == "message" and not self._wants_message_tasks():
            # The busiest event: discord.py would start a task per message just to run the no-op
            # on_message. Observers have seen it; no listener or wait_for wants it.
            return
        super().dispatch(event_name, *args, **kwargs)

    def _wants_message_tasks(self) -> bool:
        waiting = getattr(self, "_listeners", {}).get("message")
        return bool(self.extra_events.get("on_message") or waiting)

    async def on_ready(self) -> None:
        """Log who we are and where."""
        user = self.user
        log.info("Ready as %s (%s) in %d servers", user, user.id if user else "?", len(self.guilds))

    async def on_message(self, message: discord.Message, /) -> None:
        """Do nothing with messages: the bot has no text commands and never reads content."""

    async def close(self) -> None:
        """Unload the cogs (they flush what they hold), disconnect, then close the database."""
        try:
            await super().close()
        finally:
            await self.db.close()

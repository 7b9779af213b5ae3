"""The stand-in for Discord: an aiohttp server on 127.0.0.1 that the real discord.py connects to.

REST is served under ``http://127.0.0.1:PORT/api/v10``, the gateway at
``ws://127.0.0.1:PORT/gateway`` and uploaded files at ``/attachments/...``. The test helpers
(:meth:`StandIn.invoke`, :meth:`StandIn.press_button`, ...) play Discord's client side: they
make users act, then wait for the bot's answer through discord.py's real networking.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

from aiohttp import BodyPartReader, web

from bot.standin.errors import DiscordError, form_error, invalid_form_body, merge_errors
from bot.standin.gateway import Gateway, GatewaySession
from bot.standin.interactions import (
    BuiltOptions,
    Interaction,
    InteractionNotAnswered,
    InteractionType,
    InvocationRefused,
    build_options,
    check_channel_for,
    check_member_may_use,
    find_command,
    modal_submission,
    nest_options,
    resolve_user,
)
from bot.standin.model import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Application,
    Attachment,
    Channel,
    ChannelType,
    DMChannel,
    Guild,
    GuildChannel,
    Intent,
    Member,
    Message,
    Role,
    RoleChange,
    Thread,
    ThreadMemberAdd,
    User,
    mention_ids,
)
from bot.standin.routing import FailureRule, Reply, RequestRecord, RestRequest, Router, UploadedFile
from bot.standin.snowflake import SnowflakeFactory, now
from bot.standin.transcript import TranscriptEntry, describe_message, shorten

log = logging.getLogger(__name__)

T = TypeVar("T")

API_PREFIX = "/api/v10"
NONCE_WINDOW = 300.0
"""Seconds during which the stand-in deduplicates an enforced nonce: five minutes. Discord documents
only "the past few minutes" and no exact figure; five is a reading of that, not a measured value."""
MENTION_ANY_RE = re.compile(r"<(@!?|@&|#)(\d+)>")

DEFAULT_DM_APP_PERMISSIONS = (
    (1 << 6) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 18) | (1 << 31)
)


class BodyValidator(Protocol):
    """What the stand-in needs from ``bot.standin.openapi.OpenAPIValidator``."""

    def validate(self, method: str, path: str, body: object) -> list[str]:
        """Problems with ``body`` for this operation (empty = valid)."""
        ...


def load_validator() -> BodyValidator:
    """The OpenAPI validator (``bot.standin.openapi.get_validator()``)."""
    module = importlib.import_module("bot.standin.openapi")
    return cast(BodyValidator, module.get_validator())


@dataclass(frozen=True)
class InvalidBody:
    """A request body the OpenAPI validator (or a Discord rule) refused."""

    method: str
    path: str
    body: Any
    problems: list[str]


class StandIn:
    """A local Discord: world state, REST API, gateway, and the helpers tests drive it with."""

    def __init__(
        self,
        *,
        app_name: str = "StandIn App",
        bot_name: str | None = None,
        token: str | None = None,
        granted_intents: Intent = Intent.GUILD_MEMBERS,
        ack_deadline: float = 3.0,
        followup_window: float = 15 * 60.0,
        answer_timeout: float = 5.0,
        validate_bodies: bool = True,
        heartbeat_interval_ms: int = 41250,
        dm_app_permissions: int = DEFAULT_DM_APP_PERMISSIONS,
        nonce_window: float = NONCE_WINDOW,
        host: str = "127.0.0.1",
    ) -> None:
        """Configure the stand-in.

        ``granted_intents``: the privileged intents the application was granted (others → 4014).
        ``ack_deadline``: seconds the bot has to acknowledge an interaction (Discord: 3).
        ``answer_timeout``: how long the helpers wait for a deferred answer's follow-up/edit.
        ``nonce_window``: seconds (of :attr:`clock`) during which a message created with a ``nonce`` and
        ``enforce_nonce`` is returned again, instead of a new one, for the same nonce from the same
        author in the same channel (Discord: "the past few minutes"; see :data:`NONCE_WINDOW`).
        """
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the stand-in only listens on the loopback interface")
        self.host = host
        self.snowflakes = SnowflakeFactory()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.dm_channels: dict[int, DMChannel] = {}
        self.attachments: dict[int, Attachment] = {}
        owner = self.create_user("standin-owner")
        bot = self.create_user(bot_name or re.sub(r"\W+", "", app_name) or "bot", bot=True)
        self.application = Application(
            id=bot.id,
            name=app_name,
            bot=bot,
            token=token or f"{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}",
            owner=owner,
            granted_intents=granted_intents,
        )
        self.ack_deadline = ack_deadline
        self.followup_window = followup_window
        self.answer_timeout = answer_timeout
        self.dm_app_permissions = dm_app_permissions
        self.validate_bodies = validate_bodies
        self._validator: BodyValidator | None = None
        self.nonce_window = nonce_window
        self.clock: Callable[[], datetime] = now
        """The stand-in's clock for the nonce window (tests may replace it to step past the window)."""
        self.nonces: dict[tuple[int, int, str], tuple[Message, datetime]] = {}
        """``(channel, author, nonce)`` → the message created with it and when."""
        self.deduplicated: list[Message] = []
        """A message each time a create with an enforced nonce returned it instead of creating another."""

        self.global_commands: dict[int, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self.interactions: list[Interaction] = []
        self.interactions_by_id: dict[int, Interaction] = {}
        self.messages: list[Message] = []
        self.role_changes: list[RoleChange] = []
        self.threads_created: list[Thread] = []
        self.thread_member_adds: list[ThreadMemberAdd] = []
        self.requests: list[RequestRecord] = []
        self.unhandled: list[str] = []
        """``METHOD /path`` of every request to a route the stand-in does not implement (404)."""
        self.invalid_bodies: list[InvalidBody] = []
        self.transcript: list[TranscriptEntry] = []
        self.failures: list[FailureRule] = []

        self.gateway = Gateway(self, heartbeat_interval_ms=heartbeat_interval_ms)
        self.router = Router()
        from bot.standin.rest import RestApi

        RestApi(self).register(self.router)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 at a free port."""
        if self._runner is not None:
            return
        if self.validate_bodies and self._validator is None:
            self._validator = await asyncio.to_thread(load_validator)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/gateway/", self.gateway.handle)
        app.router.add_route("GET", "/attachments/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_rest)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = int(server.sockets[0].getsockname()[1])
        self._runner = runner
        log.info("Discord stand-in listening on %s", self.base_url)

    async def close(self) -> None:
        """Close gateway connections and stop listening."""
        if self._runner is None:
            return
        await self.gateway.close()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def started(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The TCP port (after :meth:`start`)."""
        if not self._port:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """REST base for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Gateway URL for ``DiscordWebSocket.DEFAULT_GATEWAY``."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def token(self) -> str:
        """The bot token the client must log in with."""
        return self.application.token

    @property
    def bot_user(self) -> User:
        """The bot's user."""
        return self.application.bot

    # -------------------------------------------------------------- world

    def create_user(
        self, name: str, *, bot: bool = False, dms_open: bool = True, global_name: str | None = None
    ) -> User:
        """A Discord user, not yet in any guild."""
        user = User(self, self.snowflakes.next(), name, bot=bot, dms_open=dms_open, global_name=global_name)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        bot_role_position: int = 100,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        owner: User | None = None,
    ) -> Guild:
        """A guild the bot is in, with @everyone and the bot's managed role (GUILD_CREATE if connected).

        Roles added later default to positions below the bot's role (``bot_role_position``).
        """
        owner_user = owner or self.application.owner
        guild = Guild(self, self.snowflakes.next(), name, owner_id=owner_user.id)
        guild.roles[guild.id] = Role(guild, guild.id, "@everyone", permissions=everyone_permissions, position=0)
        bot_role = Role(
            guild,
            self.snowflakes.next(),
            self.application.name,
            permissions=bot_permissions,
            position=bot_role_position,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = Member(guild, self.bot_user, roles=[bot_role])
        if owner is not None:
            guild.members[owner.id] = Member(guild, owner)
        self.guilds[guild.id] = guild

        def build(session: GatewaySession) -> dict[str, Any] | None:
            if not session.has(Intent.GUILDS):
                return None
            return self.gateway.guild_create_payload(session, guild)

        self.gateway.dispatch("GUILD_CREATE", build)
        return guild

    async def remove_guild(self, guild: Guild) -> None:
        """The bot is removed from ``guild`` (kicked, or the server deleted): GUILD_DELETE without
        ``unavailable``, as Discord sends it; the guild and its channels are gone afterwards."""
        if self.guilds.pop(guild.id, None) is None:
            raise ValueError(f"the bot is not in {guild.name}")
        for channel_id in [cid for cid, ch in self.channels.items() if getattr(ch, "guild", None) is guild]:
            del self.channels[channel_id]
        self.gateway.dispatch_all("GUILD_DELETE", {"id": str(guild.id)}, Intent.GUILDS)
        self.notify()
        await self.sync()

    def register_channel(self, channel: Channel) -> None:
        """Index a channel by id."""
        self.channels[channel.id] = channel

    def dm_channel_for(self, user: User) -> DMChannel:
        """The DM channel between ``user`` and the bot."""
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = DMChannel(self, self.snowflakes.next(), ChannelType.DM, recipient=user)
            self.dm_channels[user.id] = channel
            self.register_channel(channel)
        return channel

    def store_attachment(self, filename: str, data: bytes, *, ephemeral: bool = False) -> Attachment:
        """Keep a file and give it a URL on the stand-in's CDN route."""
        attachment = Attachment(self.snowflakes.next(), filename, data, ephemeral=ephemeral)
        attachment.url = f"{self.base_url}/attachments/{attachment.id}/{filename}"
        self.attachments[attachment.id] = attachment
        return attachment

    # ------------------------------------------------------------ dispatch

    def guild_event(self, event: str, guild: Guild, data: dict[str, Any]) -> None:
        """Dispatch a guild event to sessions whose intents cover it."""
        if guild.id not in self.guilds:
            return
        intent = EVENT_INTENTS.get(event, Intent.GUILDS)
        self.gateway.dispatch_all(event, data, intent)
        self.notify()

    def channel_changed(self, channel: GuildChannel | Thread) -> None:
        """CHANNEL_UPDATE / THREAD_UPDATE."""
        event = "THREAD_UPDATE" if isinstance(channel, Thread) else "CHANNEL_UPDATE"
        self.guild_event(event, channel.the_guild, channel.payload())

    def dispatch_message(self, message: Message, event: str = "MESSAGE_CREATE") -> None:
        """MESSAGE_CREATE/UPDATE to sessions that may see it (content hidden without the intent)."""
        if message.ephemeral:
            return
        guild = message.guild
        in_dm = guild is None
        bot_id = self.bot_user.id
        full = message.gateway_payload()

        def build(session: GatewaySession) -> dict[str, Any] | None:
            needed = Intent.DIRECT_MESSAGES if in_dm else Intent.GUILD_MESSAGES
            if not session.has(needed):
                return None
            if (
                session.has(Intent.MESSAGE_CONTENT)
                or in_dm
                or message.author.id == bot_id
                or bot_id in message.mention_ids
            ):
                return full
            return {**full, "content": "", "embeds": [], "attachments": [], "components": []}

        self.gateway.dispatch(event, build)

    def notify(self) -> None:
        """Wake :meth:`wait_for` waiters (something changed)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def sync(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a harness API
        """Return once discord.py has parsed every gateway event sent so far."""
        await self.gateway.sync(timeout)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 2.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy (re-checked on every state change); return its value."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                result = predicate()
                if result:
                    return result
                await changed.wait()

    # ----------------------------------------------------------- transcript

    def record_transcript(self, actor: str, text: str, *, where: str = "", ephemeral: bool = False) -> None:
        """Append a transcript line."""
        entry = TranscriptEntry(actor, shorten(text), where, ephemeral)
        self.transcript.append(entry)
        log.debug("transcript: %s", entry.render())

    def record_message(self, message: Message, *, verb: str = "") -> None:
        """Transcript line for a message."""
        text = describe_message(
            self.humanize(message.content),
            message.embeds,
            message.components,
            [(a.filename, len(a.data)) for a in message.attachments],
        )
        actor = message.author.username
        if message.ephemeral and message.interaction is not None:
            actor = f"{actor} → {message.interaction.user.username}"
        self.record_transcript(actor, f"{verb}{text}", where=message.channel.label, ephemeral=message.ephemeral)

    def humanize(self, text: str) -> str:
        """Render ``<@id>``, ``<@&id>`` and ``<#id>`` mentions as names."""

        def replace(match: re.Match[str]) -> str:
            kind, raw = match.group(1), int(match.group(2))
            if kind == "#":
                channel = self.channels.get(raw)
                return channel.label if channel is not None else match.group(0)
            if kind == "@&":
                role = next((g.roles[raw] for g in self.guilds.values() if raw in g.roles), None)
                return f"@{role.name}" if role is not None else match.group(0)
            user = self.users.get(raw)
            return f"@{user.username}" if user is not None else match.group(0)

        return MENTION_ANY_RE.sub(replace, text)

    def format_transcript(self) -> str:
        """The whole transcript, one line per entry."""
        return "\n".join(entry.render() for entry in self.transcript)

    # ------------------------------------------------------------ observers

    def bot_messages(self, channel: Channel | None = None, *, to: User | Member | None = None) -> list[Message]:
        """Non-deleted messages the bot sent, optionally in one channel or as DMs to one user."""
        if to is not None:
            user = to.user if isinstance(to, Member) else to
            channel = self.dm_channel_for(user)
        out = [m for m in self.messages if m.author.id == self.bot_user.id and not m.deleted]
        if channel is not None:
            out = [m for m in out if m.channel is channel]
        return out

    def find_message(self, message_id: int) -> Message | None:
        """A message by id."""
        for message in reversed(self.messages):
            if message.id == message_id:
                return message
        return None

    def problems(self) -> list[str]:
        """What a test's teardown should fail on: unimplemented routes hit, unanswered interactions."""
        out = [f"unimplemented Discord route hit: {route}" for route in self.unhandled]
        for inter in self.interactions:
            if not inter.is_answered and not inter.reported:
                out.append(f"interaction never answered: {inter.label} by {inter.user.username}")
        return out

    def requests_to(self, method: str, pattern: str) -> list[RequestRecord]:
        """REST requests matching (method, path or template)."""
        rule = FailureRule(method, pattern, 0)
        return [r for r in self.requests if rule.matches(r.method, r.path)]

    # -------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 429,
        *,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
    ) -> FailureRule:
        """Answer the next ``times`` requests matching (method, path/template) with ``status``.

        429 carries ``retry_after`` and a ``Via`` header (so discord.py waits and retries);
        500/502/504 are retried by discord.py after 1 s, 2 s...; 503 is raised at once.
        """
        rule = FailureRule(method.upper(), path, status, times, retry_after, is_global, body)
        self.failures.append(rule)
        return rule

    def lose_response(
        self, method: str, path: str, status: int | None = 500, *, times: int = 1, body: dict[str, Any] | None = None
    ) -> FailureRule:
        """A lost response: the next ``times`` requests matching (method, path/template) that succeed are
        carried out (the message is created, the thread opened...), then answered with ``status``
        instead of their result, or, with ``status=None``, the connection is closed without an answer.

        Only a request that succeeds is affected (and counted): one that fails for its own reason gets
        its own error. discord.py retries a 500/502/504 with the same body (the same ``nonce``); a
        503 reaches the bot as ``DiscordServerError`` and a dropped connection as
        ``aiohttp.ServerDisconnectedError``.
        """
        rule = FailureRule(method.upper(), path, status or 0, times, body=body, lost=True, drop=status is None)
        self.failures.append(rule)
        return rule

    def remember_nonce(self, channel: Channel, message: Message) -> None:
        """Keep the nonce of a message just created, for :meth:`message_for_nonce`."""
        if message.nonce is not None:
            self.nonces[(channel.id, message.author.id, str(message.nonce))] = (message, self.clock())

    def message_for_nonce(self, channel: Channel, author: User, nonce: int | str) -> Message | None:
        """The message ``author`` created in ``channel`` with ``nonce`` within the window, if it still exists."""
        key = (channel.id, author.id, str(nonce))
        found = self.nonces.get(key)
        if found is None:
            return None
        message, at = found
        if (self.clock() - at).total_seconds() > self.nonce_window:
            del self.nonces[key]
            return None
        return None if message.deleted else message

    async def disconnect(self, code: int = 4000) -> None:
        """Close the bot's gateway connection; discord.py reconnects and RESUMEs."""
        await self.gateway.disconnect(code)

    def outage(self, code: int = 4000) -> contextlib.AbstractAsyncContextManager[None]:
        """``async with standin.outage():`` gateway down (reconnects held) until the block ends."""
        return self.gateway.outage(code)

    # ----------------------------------------------------------- HTTP side

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or attachment.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        self.unhandled.append(f"{request.method} {request.path}")
        self.notify()
        return _json_response(Reply(404, {"message": "404: Not Found", "code": 0}))

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method.upper()
        body, files, parse_error = await _read_body(request)
        reply, headers = await self._answer(request, method, path, body, files, parse_error)
        lost = self._lost_rule(method, path) if reply.status < 400 else None
        if lost is not None:
            lost.hits += 1
            if lost.drop:
                note = f"✗ {method} {path}: done, connection dropped unanswered"
                self.record_transcript(self.bot_user.username, note)
                self.requests.append(RequestRecord(method, path, request.query_string, body, 0, None, lost=True))
                self.notify()
                log.info("stand-in %s %s -> done, connection dropped", method, path)
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=204)  # never reaches the client
            reply, headers = lost.reply()
        if reply.status >= 400:
            self._note_interaction_failure(path, reply)
            self._note_refusal(method, path, reply)
        lost_answer = lost is not None
        self.requests.append(
            RequestRecord(method, path, request.query_string, body, reply.status, reply.body, lost=lost_answer)
        )
        self.notify()
        if reply.status >= 400:
            log.info("stand-in %s %s -> %s %s", method, path, reply.status, reply.body)
        return _json_response(reply, headers)

    def _lost_rule(self, method: str, path: str) -> FailureRule | None:
        """The lost-response rule that takes this (successful) request's answer, if any."""
        for rule in self.failures:
            if rule.lost and rule.hits < rule.times and rule.matches(method, path):
                return rule
        return None

    def _note_refusal(self, method: str, path: str, reply: Reply) -> None:
        """Transcript line for a request the stand-in refused (what the bot tried and why it failed)."""
        found = self.router.find(method, path)
        route = found[0].template if found is not None else path
        detail = ""
        if isinstance(reply.body, dict):
            detail = f" {reply.body.get('code', '')} {reply.body.get('message', '')}".rstrip()
        parts = path.strip("/").split("/")
        where = ""
        if len(parts) > 1 and parts[0] == "channels" and parts[1].isdigit() and int(parts[1]) in self.channels:
            where = self.channels[int(parts[1])].label
        self.record_transcript(self.bot_user.username, f"✗ {method} {route} → {reply.status}{detail}", where=where)

    def _note_interaction_failure(self, path: str, reply: Reply) -> None:
        """Remember refused callbacks/follow-ups on their interaction (shown when a helper gives up)."""
        parts = path.strip("/").split("/")
        inter: Interaction | None = None
        if len(parts) == 4 and parts[0] == "interactions" and parts[3] == "callback" and parts[1].isdigit():
            found = self.interactions_by_id.get(int(parts[1]))
            inter = found if found is not None and found.token == parts[2] else None
        elif len(parts) >= 3 and parts[0] == "webhooks" and parts[1] == str(self.application.id):
            inter = self.interaction_for_token(parts[2])
        if inter is not None:
            code = reply.body.get("code", 0) if isinstance(reply.body, dict) else 0
            inter.rejected.append((reply.status, int(code)))

    async def _answer(
        self,
        request: web.Request,
        method: str,
        path: str,
        body: Any,
        files: list[UploadedFile],
        parse_error: str | None,
    ) -> tuple[Reply, dict[str, str]]:
        for rule in self.failures:
            if not rule.lost and rule.hits < rule.times and rule.matches(method, path):
                rule.hits += 1
                return rule.reply()
        found = self.router.find(method, path)
        if found is None:
            self.unhandled.append(f"{method} {path}")
            return Reply(404, {"message": "404: Not Found", "code": 0}), {}
        route, params = found
        authorized = request.headers.get("Authorization") == f"Bot {self.token}"
        if route.auth and not authorized:
            return Reply(401, {"message": "401: Unauthorized", "code": 0}), {}
        if parse_error is not None:
            return Reply(400, {"message": parse_error, "code": 50109}), {}
        if body is not None and self._validator is not None:
            problems = self._validator.validate(method, path, body)
            if problems:
                self.invalid_bodies.append(InvalidBody(method, path, body, problems))
                log.warning("invalid body for %s %s: %s", method, path, problems)
                return Reply(400, invalid_form_body(problems_to_errors(problems)).body()), {}
        rest = RestRequest(method, path, params, request.query, body, files, authorized)
        try:
            return await route.handler(rest), {}
        except DiscordError as exc:
            if exc.code == 50035:
                self.invalid_bodies.append(InvalidBody(method, path, body, [json.dumps(exc.errors)]))
            return Reply(exc.status, exc.body()), {}

    # ------------------------------------------------------- user actions

    async def post_user_message(self, user: User, channel: Channel, content: str) -> Message:
        """A (non-bot) user posts; MESSAGE_CREATE; returns after discord.py processed it."""
        if isinstance(channel, GuildChannel | Thread):
            member = channel.the_guild.members.get(user.id)
            if member is None:
                raise InvocationRefused(f"{user.username} is not in {channel.the_guild.name}")
            if isinstance(channel, Thread) and channel.private and user.id not in channel.member_ids:
                raise InvocationRefused(f"{user.username} is not in private thread {channel.label}")
        message = Message(
            self,
            self.snowflakes.next(),
            channel,
            user,
            content=content,
            mention_ids=mention_ids(content),
        )
        self.add_message(message)
        await self.sync()
        return message

    def add_message(self, message: Message) -> None:
        """Store a new message, log it, dispatch MESSAGE_CREATE."""
        self.messages.append(message)
        message.channel.messages.append(message)
        self.record_message(message)
        self.dispatch_message(message)
        self.notify()

    async def member_left(self, member: Member) -> None:
        """GUILD_MEMBER_REMOVE."""
        guild = member.guild
        guild.members.pop(member.id, None)
        member.present = False
        self.record_transcript(member.user.username, "left the server", where=guild.name)
        self.guild_event("GUILD_MEMBER_REMOVE", guild, {"guild_id": str(guild.id), "user": member.user.payload()})
        await self.sync()

    def apply_role_change(self, member: Member, role: Role, *, added: bool, by_bot: bool) -> bool:
        """Change a member's roles; GUILD_MEMBER_UPDATE; ``False`` if nothing changed."""
        has = role in member.roles
        if has == added:
            return False
        if added:
            member.roles.append(role)
        else:
            member.roles.remove(role)
        guild = member.guild
        self.role_changes.append(RoleChange(guild, member, role, added, by_bot))
        actor = self.bot_user.username if by_bot else "moderator"
        verb = "gave" if added else "removed"
        prep = "to" if added else "from"
        self.record_transcript(actor, f"{verb} role {role.name} {prep} {member.name}", where=guild.name)
        self.member_updated(member)
        return True

    def member_updated(self, member: Member) -> None:
        """GUILD_MEMBER_UPDATE."""
        data = member.payload()
        data["guild_id"] = str(member.guild.id)
        self.guild_event("GUILD_MEMBER_UPDATE", member.guild, data)

    async def change_member_roles(
        self, member: Member, *, add: list[Role] | None = None, remove: list[Role] | None = None, by_bot: bool
    ) -> None:
        """Roles changed by someone other than the bot."""
        for role in add or []:
            self.apply_role_change(member, role, added=True, by_bot=by_bot)
        for role in remove or []:
            self.apply_role_change(member, role, added=False, by_bot=by_bot)
        await self.sync()

    async def add_reaction(self, user: User, message: Message, emoji: str) -> None:
        """MESSAGE_REACTION_ADD."""
        message.reactions.setdefault(emoji, [])
        if user.id not in message.reactions[emoji]:
            message.reactions[emoji].append(user.id)
        guild = message.guild
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
            "message_author_id": str(message.author.id),
        }
        if guild is not None:
            data["guild_id"] = str(guild.id)
            member = guild.members.get(user.id)
            if member is not None:
                data["member"] = member.payload()
        intent = Intent.DIRECT_MESSAGE_REACTIONS if guild is None else Intent.GUILD_MESSAGE_REACTIONS
        self.record_transcript(user.username, f"reacted {emoji}", where=message.channel.label)
        self.gateway.dispatch_all("MESSAGE_REACTION_ADD", data, intent)
        await self.sync()

    async def voice_state(self, member: Member, channel: GuildChannel | None) -> None:
        """VOICE_STATE_UPDATE."""
        data: dict[str, Any] = {
            "guild_id": str(member.guild.id),
            "channel_id": str(channel.id) if channel is not None else None,
            "user_id": str(member.id),
            "member": member.payload(),
            "session_id": secrets.token_hex(16),
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_stream": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        where = channel.label if channel is not None else "voice"
        self.record_transcript(member.user.username, "joined voice" if channel else "left voice", where=where)
        self.guild_event("VOICE_STATE_UPDATE", member.guild, data)
        await self.sync()

    # ------------------------------------------------------- interactions

    def _context(
        self, who: Member | User, guild: Guild | None, channel: Channel | None
    ) -> tuple[User, Guild | None, Channel]:
        if isinstance(who, Member):
            if guild is not None and guild is not who.guild:
                raise InvocationRefused(f"{who.name} is a member of {who.guild.name}, not {guild.name}")
            guild = who.guild
            user = who.user
        else:
            user = who
        if guild is not None and channel is None:
            member = guild.members.get(user.id)
            if member is None:
                raise InvocationRefused(f"{user.username} is not a member of {guild.name}")
            channel = next((c for c in guild.text_channels() if member.permissions_in(c)), None)
            if channel is None:
                raise InvocationRefused(f"{guild.name} has no text channel {user.username} can see")
        if guild is None and channel is None:
            channel = self.dm_channel_for(user)
        assert channel is not None
        if guild is None and isinstance(channel, GuildChannel | Thread):
            guild = channel.the_guild
        check_channel_for(user, guild, channel)
        return user, guild, channel

    def _new_interaction(
        self,
        kind: InteractionType,
        user: User,
        guild: Guild | None,
        channel: Channel,
        data: dict[str, Any],
        label: str,
        message: Message | None = None,
    ) -> Interaction:
        inter = Interaction(
            self,
            self.snowflakes.next(),
            kind,
            user,
            guild,
            channel,
            data,
            label,
            message=message,
            created_mono=asyncio.get_running_loop().time(),
        )
        self.interactions.append(inter)
        self.interactions_by_id[inter.id] = inter
        return inter

    async def _send_interaction(self, inter: Interaction, *, wait: bool, answer_timeout: float | None) -> Interaction:
        if inter.type != InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE:
            self.record_transcript(inter.user.username, inter.label, where=inter.channel.label)
        if not self.gateway.connected:
            inter.reported = True
            raise InteractionNotAnswered("the bot is not connected to the gateway")
        self.gateway.dispatch_all("INTERACTION_CREATE", inter.payload())
        self.notify()
        if wait:
            await self.wait_answered(inter, answer_timeout=answer_timeout)
        return inter

    async def wait_answered(self, inter: Interaction, *, answer_timeout: float | None = None) -> Interaction:
        """Wait until ``inter`` is acknowledged in time and, if deferred with a message, followed up."""
        loop = asyncio.get_running_loop()
        ack_by = inter.created_mono + self.ack_deadline
        give_up = loop.time() + (self.answer_timeout if answer_timeout is None else answer_timeout)
        while not inter.is_answered:
            changed = self._changed
            if not inter.acknowledged:
                remaining = ack_by + 0.05 - loop.time()
                if remaining <= 0:
                    inter.reported = True
                    refused = f" (refused: {inter.rejected})" if inter.rejected else ""
                    raise InteractionNotAnswered(
                        f"{inter.label}: not acknowledged within {self.ack_deadline}s{refused}"
                    )
            else:
                remaining = give_up - loop.time()
                if remaining <= 0:
                    inter.reported = True
                    refused = f" (refused: {inter.rejected})" if inter.rejected else ""
                    waited = give_up - inter.created_mono
                    raise InteractionNotAnswered(
                        f"{inter.label}: deferred but no follow-up or edit within {waited:.1f}s{refused}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return inter

    async def invoke(
        self,
        who: Member | User,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild: Guild | None = None,
        channel: Channel | None = None,
        wait: bool = True,
        answer_timeout: float | None = None,
    ) -> Interaction:
        """Run a synced chat-input command as ``who`` and wait for the bot's answer.

        ``command`` is ``"name"``, ``"name sub"`` or ``"name group sub"``. Options are typed and
        checked against the synced schema (Members/Users/Roles/channels/:class:`Upload` for
        entity options). A :class:`User` without ``guild`` invokes in DMs.
        """
        user, guild, channel = self._context(who, guild, channel)
        root, names, schema = find_command(self, command, guild)
        member = guild.members.get(user.id) if guild is not None else None
        check_member_may_use(root, member)
        built = build_options(self, schema, options or {}, guild=guild, viewer=member)
        data: dict[str, Any] = {"id": str(root["id"]), "name": root["name"], "type": 1}
        nested = nest_options(names, root, built.options)
        if nested:
            data["options"] = nested
        if built.resolved:
            data["resolved"] = built.resolved
        if root.get("guild_id") is not None:
            data["guild_id"] = str(root["guild_id"])
        label = "/" + " ".join([*names, *built.text])
        inter = self._new_interaction(InteractionType.APPLICATION_COMMAND, user, guild, channel, data, label)
        return await self._send_interaction(inter, wait=wait, answer_timeout=answer_timeout)

    async def invoke_context_menu(
        self,
        who: Member | User,
        name: str,
        target: Member | User | Message,
        *,
        guild: Guild | None = None,
        channel: Channel | None = None,
        answer_timeout: float | None = None,
    ) -> Interaction:
        """Run a synced user (type 2) or message (type 3) context-menu command on ``target``."""
        if isinstance(target, Message) and channel is None:
            channel = target.channel
        user, guild, channel = self._context(who, guild, channel)
        command_type = 3 if isinstance(target, Message) else 2
        root, _, _ = find_command(self, name, guild, command_type=command_type)
        check_member_may_use(root, guild.members.get(user.id) if guild is not None else None)
        built = BuiltOptions()
        if isinstance(target, Message):
            if target.deleted or target.channel is not channel:
                raise InvocationRefused("the target message is not in this channel")
            built.resolved["messages"] = {str(target.id): target.payload()}
            label = f"[app {name} on message {target.id}]"
        else:
            resolve_user(built, target, guild)
            label = f"[app {name} on @{target.user.username if isinstance(target, Member) else target.username}]"
        data: dict[str, Any] = {
            "id": str(root["id"]),
            "name": root["name"],
            "type": command_type,
            "target_id": str(target.id),
            "resolved": built.resolved,
        }
        if root.get("guild_id") is not None:
            data["guild_id"] = str(root["guild_id"])
        inter = self._new_interaction(InteractionType.APPLICATION_COMMAND, user, guild, channel, data, label)
        return await self._send_interaction(inter, wait=True, answer_timeout=answer_timeout)

    async def autocomplete(
        self,
        who: Member | User,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        guild: Guild | None = None,
        channel: Channel | None = None,
        answer_timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Type into an autocomplete option; returns the choices the bot offered."""
        user, guild, channel = self._context(who, guild, channel)
        root, names, schema = find_command(self, command, guild)
        member = guild.members.get(user.id) if guild is not None else None
        check_member_may_use(root, member)
        given = dict(options or {})
        given.setdefault(focused, "")
        built = build_options(self, schema, given, guild=guild, viewer=member, focused=focused)
        data: dict[str, Any] = {"id": str(root["id"]), "name": root["name"], "type": 1}
        data["options"] = nest_options(names, root, built.options)
        if root.get("guild_id") is not None:
            data["guild_id"] = str(root["guild_id"])
        label = f"/{' '.join(names)} (typing {focused}={given[focused]!r})"
        inter = self._new_interaction(
            InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE, user, guild, channel, data, label
        )
        await self._send_interaction(inter, wait=True, answer_timeout=answer_timeout)
        if inter.choices is None:
            raise InteractionNotAnswered(f"{label}: answered without autocomplete choices")
        return inter.choices

    async def press_button(
        self, who: Member | User, message: Message | Interaction, custom_id: str, *, answer_timeout: float | None = None
    ) -> Interaction:
        """Click a button (by ``custom_id``) on a message the bot sent; wait for the answer."""
        target = self._component_message(message)
        component = target.find_component(custom_id)
        if component is None or component.get("type") != 2:
            raise InvocationRefused(f"no button {custom_id!r} on message {target.id}: {target.custom_ids()}")
        if component.get("disabled"):
            raise InvocationRefused(f"button {custom_id!r} is disabled")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._component_interaction(
            who, target, data, f"[pressed {component.get('label') or custom_id}]", answer_timeout
        )

    async def select(
        self,
        who: Member | User,
        message: Message | Interaction,
        custom_id: str,
        values: list[str],
        *,
        answer_timeout: float | None = None,
    ) -> Interaction:
        """Choose ``values`` in a string select menu on a bot message; wait for the answer."""
        target = self._component_message(message)
        component = target.find_component(custom_id)
        if component is None or component.get("type") != 3:
            raise InvocationRefused(f"no string select {custom_id!r} on message {target.id}")
        offered = [o["value"] for o in component.get("options", [])]
        if any(v not in offered for v in values):
            raise InvocationRefused(f"select {custom_id!r}: {values} not among {offered}")
        low, high = int(component.get("min_values", 1)), int(component.get("max_values", 1))
        if not low <= len(values) <= high:
            raise InvocationRefused(f"select {custom_id!r}: choose {low}..{high} values")
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        return await self._component_interaction(
            who, target, data, f"[selected {values} in {custom_id}]", answer_timeout
        )

    def _component_message(self, message: Message | Interaction) -> Message:
        if isinstance(message, Interaction):
            found = message.response
            if found is None:
                raise InvocationRefused(f"{message.label} has no answer message")
            return found
        return message

    async def _component_interaction(
        self, who: Member | User, target: Message, data: dict[str, Any], label: str, answer_timeout: float | None
    ) -> Interaction:
        if target.deleted:
            raise InvocationRefused("the message was deleted")
        if target.author.id != self.bot_user.id:
            raise InvocationRefused("components of other users' messages do not reach the bot")
        user = who.user if isinstance(who, Member) else who
        if target.ephemeral and target.interaction is not None and target.interaction.user.id != user.id:
            raise InvocationRefused("only the interaction's user sees an ephemeral message")
        guild = target.guild
        user, guild, channel = self._context(who, guild, target.channel)
        inter = self._new_interaction(
            InteractionType.MESSAGE_COMPONENT, user, guild, channel, data, label, message=target
        )
        return await self._send_interaction(inter, wait=True, answer_timeout=answer_timeout)

    async def submit_modal(
        self,
        who: Member | User,
        opened: Interaction,
        values: Mapping[str, str | list[str]],
        *,
        answer_timeout: float | None = None,
    ) -> Interaction:
        """Fill in and submit the modal the bot opened in answer to ``opened``; wait for the answer."""
        modal = opened.modal
        if modal is None:
            raise InvocationRefused(f"{opened.label} did not open a modal")
        user = who.user if isinstance(who, Member) else who
        if user.id != opened.user.id:
            raise InvocationRefused("only the user the modal was shown to can submit it")
        components = modal_submission(modal, values)
        data = {"custom_id": modal["custom_id"], "components": components}
        shown = ", ".join(f"{k}={shorten(str(v), 60)!r}" for k, v in values.items())
        inter = self._new_interaction(
            InteractionType.MODAL_SUBMIT,
            user,
            opened.guild,
            opened.channel,
            data,
            f"[submitted modal {modal.get('title', '')}: {shown}]",
            message=opened.message,
        )
        return await self._send_interaction(inter, wait=True, answer_timeout=answer_timeout)

    def unanswered(self) -> list[Interaction]:
        """Interactions not (yet) answered."""
        return [i for i in self.interactions if not i.is_answered]

    def interaction_for_token(self, token: str) -> Interaction | None:
        """The interaction with this webhook token."""
        for inter in reversed(self.interactions):
            if inter.token == token:
                return inter
        return None


EVENT_INTENTS: dict[str, Intent] = {
    "GUILD_CREATE": Intent.GUILDS,
    "GUILD_UPDATE": Intent.GUILDS,
    "GUILD_ROLE_CREATE": Intent.GUILDS,
    "GUILD_ROLE_UPDATE": Intent.GUILDS,
    "GUILD_ROLE_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "CHANNEL_UPDATE": Intent.GUILDS,
    "CHANNEL_DELETE": Intent.GUILDS,
    "THREAD_CREATE": Intent.GUILDS,
    "THREAD_UPDATE": Intent.GUILDS,
    "THREAD_DELETE": Intent.GUILDS,
    "THREAD_MEMBERS_UPDATE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": Intent.GUILD_MEMBERS,
    "VOICE_STATE_UPDATE": Intent.GUILD_VOICE_STATES,
}


def problems_to_errors(problems: list[str]) -> dict[str, Any]:
    """Turn validator lines (``"embeds.0.title: too long"``) into Discord's nested ``errors``."""
    trees: list[dict[str, Any]] = []
    for problem in problems:
        where, sep, message = problem.partition(": ")
        if not sep or " " in where or where == "(root)":
            trees.append({"_errors": [{"code": "INVALID_FORM_BODY", "message": problem}]})
        else:
            trees.append(form_error(where, "INVALID_FORM_BODY", message))
    return merge_errors(*trees)


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile], str | None]:
    """JSON body or multipart (``payload_json`` + ``files[n]``)."""
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        reader = await request.multipart()
        payload: Any = None
        files: list[UploadedFile] = []
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                text = await part.text()
                try:
                    payload = json.loads(text)
                except ValueError:
                    return None, [], "Invalid JSON in payload_json"
            else:
                data = await part.read()
                files.append(UploadedFile(name, part.filename or name, bytes(data)))
        return payload, files, None
    raw = await request.read()
    if not raw:
        return None, [], None
    if ctype != "application/json":
        return None, [], None
    try:
        return json.loads(raw), [], None
    except ValueError:
        return None, [], "The request body contains invalid JSON."


def _json_response(reply: Reply, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response whose Content-Type is exactly ``application/json`` (discord.py compares it verbatim)."""
    extra = dict(headers or {})
    body = reply.encode()
    if body is None:
        return web.Response(status=reply.status, headers=extra)
    extra["Content-Type"] = "application/json"
    return web.Response(status=reply.status, body=body, headers=extra)


@contextlib.asynccontextmanager
async def running_standin(**config: Any) -> AsyncIterator[StandIn]:
    """``async with running_standin(...) as standin:`` a started stand-in, closed afterwards."""
    standin = StandIn(**config)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.close()

"""The real bot, in-process and offline: its cogs loaded, no login, the network replaced.

:func:`offline_bot` builds :class:`~bot.client.SoberPeersBot` on a data set's database, loads
every extension through its own ``setup_hook`` (the command sync is skipped: there is no
application id yet), and fills discord.py's cache with the server, its roles, channels and
members, as GUILD_CREATE and the member chunks would at start-up.

Gateway frames go in through discord.py's real parsers (``ConnectionState.parsers``, the table
``DiscordWebSocket.received_message`` calls after decoding the frame's JSON). Whatever the bot
sends comes out through :class:`Recorder`: the interaction webhook adapter (responses,
follow-ups) and ``HTTPClient.request`` (DMs, channel messages) are replaced by methods that
serialise the body as discord.py would, record the route and JSON, and answer what Discord
answers. Only the network is excluded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import Token
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord
import discord.utils
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bench import payloads
from bench.core import BenchError, note
from bench.data import BOT_USER_ID, GUILD_ID, NOW, Plan
from bot.cli import tune_interpreter
from bot.client import SoberPeersBot
from bot.db.connection import Database
from bot.settings import Settings
from bot.timeutil import Clock

__all__ = ["FixedClock", "Harness", "MessageStream", "Recorder", "Request", "offline_bot", "quiet_logging"]

JSON = dict[str, Any]


@dataclass(slots=True)
class Request:
    """One request the bot made."""

    method: str
    path: str
    body: JSON | None
    files: list[tuple[str, int]]
    """(file name, size)."""
    token: str | None = None
    """The interaction token, for interaction responses and follow-ups."""


_BOT_AUTHOR = payloads.user(BOT_USER_ID, bot=True)
_TIMESTAMP = NOW.isoformat()


class Recorder:
    """Records what the bot sends and answers like Discord (ids from a snowflake counter)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.by_token: dict[str, list[Request]] = {}
        self.unexpected: list[str] = []
        self.discord_time: list[tuple[float, float]] = []
        """(end, seconds) of the work done here in Discord's place (reading the request, building its
        answer), which the latencies leave out with the network."""
        self._ids = payloads.Snowflakes()
        self._dm_channels: dict[int, int] = {}
        self._file_waiters: dict[str, asyncio.Future[float]] = {}

    def clear(self) -> None:
        """Forget what was recorded."""
        self.requests.clear()
        self.by_token.clear()
        self.discord_time.clear()

    def discord_seconds(self, start: float, end: float) -> float:
        """Seconds spent in Discord's place between ``start`` and ``end``."""
        return sum(s for finished, s in self.discord_time if start <= finished - s and finished <= end)

    def _record(self, request: Request) -> None:
        self.requests.append(request)
        if request.token is not None:
            self.by_token.setdefault(request.token, []).append(request)
            waiter = self._file_waiters.get(request.token) if request.files else None
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())

    def expect_files(self, token: str) -> asyncio.Future[float]:
        """A future of the time the bot sends files for the interaction with ``token`` (a follow-up
        after the answer, such as ``/checkin history``'s chart)."""
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._file_waiters[token] = waiter
        waiter.add_done_callback(lambda _: self._file_waiters.pop(token, None))
        return waiter

    def _message(self, channel_id: int, body: JSON | None, files: Sequence[tuple[str, int]], *, flags: int = 0) -> JSON:
        """The message Discord answers with (what discord.py then parses)."""
        body = body or {}
        message_id = self._ids.next()
        return {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": _BOT_AUTHOR,
            "content": body.get("content") or "",
            "timestamp": _TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(self._ids.next()),
                    "filename": name,
                    "size": size,
                    "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{message_id}/{name}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{message_id}/{name}",
                    "content_type": "image/png" if name.endswith(".png") else "application/octet-stream",
                }
                for name, size in files
            ],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 20 if flags else 0,
            "flags": flags | int(body.get("flags") or 0),
            "components": body.get("components") or [],
            "webhook_id": str(BOT_USER_ID) if flags else None,
        }

    # ------------------------------------------------------------------ interaction webhooks

    async def webhook_request(
        self,
        route: Any,
        session: aiohttp.ClientSession,
        *,
        payload: JSON | None = None,
        multipart: list[JSON] | None = None,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        files: Sequence[discord.File] | None = None,
        reason: str | None = None,
        auth_token: str | None = None,
        params: JSON | None = None,
    ) -> Any:
        """``AsyncWebhookAdapter.request`` without the network: what it does before sending
        (serialise the JSON body or build the multipart form), then Discord's answer (timed apart,
        see :attr:`discord_time`)."""
        if payload is not None:
            discord.utils._to_json(payload)
        if multipart:
            form = aiohttp.FormData(quote_fields=False)
            for part in multipart:
                form.add_field(**part)
        for file in files or ():
            file.reset(seek=0)
        start = time.perf_counter()
        try:
            return self._answer(route, payload, multipart, files)
        finally:
            end = time.perf_counter()
            self.discord_time.append((end, end - start))

    def _answer(
        self, route: Any, payload: JSON | None, multipart: list[JSON] | None, files: Sequence[discord.File] | None
    ) -> Any:
        body = payload
        for part in multipart or ():
            if part.get("name") == "payload_json":
                body = discord.utils._from_json(part["value"])
        sent = [(file.filename or "file", len(file.fp.read())) for file in files or ()]
        path: str = route.path
        self._record(Request(route.method, path, body, sent, route.webhook_token))
        answer = body or {}
        if path.endswith("/callback"):
            kind = int(answer.get("type", 0))
            data: JSON = answer.get("data") or {}
            ephemeral = bool(int(data.get("flags") or 0) & 64)
            info: JSON = {"id": str(route.webhook_id), "type": 2}
            out: JSON = {"interaction": info}
            if kind == 4:
                message = self._message(0, data, sent, flags=64 if ephemeral else 0)
                info.update(response_message_id=message["id"], response_message_ephemeral=ephemeral)
                out["resource"] = {"type": 4, "message": message}
            elif kind == 5:
                info.update(response_message_id=str(self._ids.next()), response_message_loading=True)
                info["response_message_ephemeral"] = ephemeral
            return out
        if route.method in ("POST", "PATCH"):
            flags = int(answer.get("flags") or 0)
            return self._message(0, answer, sent, flags=flags or 64)
        return None

    # ------------------------------------------------------------------ the bot's REST calls

    async def http_request(self, route: discord.http.Route, *, files: Sequence[discord.File] | None = None,
                           form: Any = None, **kwargs: Any) -> Any:  # fmt: skip
        """``HTTPClient.request`` without the network, for the few routes the measured paths use."""
        body = kwargs.get("json")
        if body is not None:
            discord.utils._to_json(body)
        sent = [(f.filename or "file", 0) for f in files or ()]
        self._record(Request(route.method, route.path, body, sent))
        if route.method == "POST" and route.path == "/users/@me/channels":
            recipient = int(body["recipient_id"]) if body else 0
            channel = self._dm_channels.setdefault(recipient, self._ids.next())
            return {"id": str(channel), "type": 1, "last_message_id": None, "recipients": [payloads.user(recipient)]}
        if route.method == "POST" and route.path == "/channels/{channel_id}/messages":
            return self._message(int(route.channel_id or 0), body, sent)
        self.unexpected.append(f"{route.method} {route.path}")
        raise BenchError(f"the bench does not answer {route.method} {route.path}")


class RecordingAdapter(AsyncWebhookAdapter):
    """discord.py's interaction webhook adapter with :meth:`Recorder.webhook_request` as its transport."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.request = recorder.webhook_request  # type: ignore[method-assign]


@dataclass
class Harness:
    """The offline bot and the means to drive it."""

    bot: SoberPeersBot
    plan: Plan
    recorder: Recorder
    _completed: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    _ids: payloads.Snowflakes = field(default_factory=payloads.Snowflakes)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.parsers: dict[str, Callable[[Any], None]] = self.bot._connection.parsers
        self.bot.add_event_observer("app_command_completion", self._on_completion)
        tree = self.bot.tree
        answer_error = tree.on_error

        async def on_error(interaction: discord.Interaction[Any], error: discord.app_commands.AppCommandError) -> None:
            await answer_error(interaction, error)
            waiter = self._completed.pop(interaction.token, None)
            if waiter is not None and not waiter.done():
                said = [r.body for r in self.recorder.by_token.get(interaction.token, [])]
                name = interaction.command.qualified_name if interaction.command else "?"
                waiter.set_exception(BenchError(f"/{name} failed: {error!r}; it answered {said!r}"))

        tree.on_error = on_error  # type: ignore[method-assign]

    def _on_completion(self, interaction: discord.Interaction, command: object) -> None:
        waiter = self._completed.pop(interaction.token, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())

    # ------------------------------------------------------------------ gateway frames

    def feed(self, frame: str) -> None:
        """One gateway frame through discord.py: decode its JSON, then its event's parser."""
        message = discord.utils._from_json(frame)
        self.parsers[message["t"]](message["d"])

    def message_frames(self, authors: Sequence[int], count: int) -> list[str]:
        """``count`` MESSAGE_CREATE frames by ``authors`` in turn."""
        return [
            payloads.frame(
                "MESSAGE_CREATE",
                payloads.message_create(self.plan, authors[i % len(authors)], self._ids.next()),
                next(self._seq),
            )
            for i in range(count)
        ]

    def command_frame(self, uid: int, command: str, options: Sequence[JSON] = ()) -> tuple[str, str]:
        """An INTERACTION_CREATE frame of ``uid`` running ``command``, and its token."""
        data = payloads.interaction_create(self.plan, uid, self._ids.next(), command, options)
        return payloads.frame("INTERACTION_CREATE", data, next(self._seq)), str(data["token"])

    # ------------------------------------------------------------------ commands

    def arrive(self, frame: str, token: str) -> tuple[float, asyncio.Future[float]]:
        """An interaction arrives: its start time and a future of its completion time."""
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._completed[token] = waiter
        start = time.perf_counter()
        self.feed(frame)
        return start, waiter

    async def run_command(self, frame: str, token: str, timeout: float = 10.0) -> float:  # noqa: ASYNC109
        """Feed one command and wait for its handler to finish; its latency in seconds."""
        start, waiter = self.arrive(frame, token)
        end = await self.finished(token, waiter, timeout)
        return end - start - self.recorder.discord_seconds(start, end)

    async def finished(self, token: str, waiter: asyncio.Future[float], timeout: float = 10.0) -> float:  # noqa: ASYNC109
        """The completion time of a command, or :class:`BenchError` with what it answered."""
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._completed.pop(token, None)
            said = [r.body for r in self.recorder.by_token.get(token, [])]
            raise BenchError(f"a command did not complete (failed?); it answered {said!r}") from None

    def responses(self, token: str) -> list[Request]:
        """What the bot sent for the interaction with ``token``."""
        return self.recorder.by_token.get(token, [])


class MessageStream:
    """Feeds MESSAGE_CREATE frames through the parsers at ``rate`` a second, in the background, as
    the gateway would: the frames due since the last tick back to back, then the loop runs
    (about every millisecond)."""

    def __init__(self, harness: Harness, frames: Sequence[str], rate: float) -> None:
        self.harness = harness
        self.frames = frames
        self.rate = rate
        self.sent = 0
        self.elapsed = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stop = False

    @property
    def achieved(self) -> float:
        """Messages a second actually fed."""
        return self.sent / self.elapsed if self.elapsed else 0.0

    async def __aenter__(self) -> MessageStream:
        self._task = asyncio.create_task(self._run(), name="bench-message-stream")
        await asyncio.sleep(0.05)  # under way before anything is measured
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        feed, frames, count = self.harness.feed, self.frames, len(self.frames)
        start = time.perf_counter()
        while not self._stop:
            due = int((time.perf_counter() - start) * self.rate)
            while self.sent < due:
                feed(frames[self.sent % count])
                self.sent += 1
            await asyncio.sleep(0.001)
        self.elapsed = time.perf_counter() - start


def quiet_logging() -> None:
    """Keep the bot's and discord.py's routine logs out of the measurements and the table."""
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("discord", "bot", "cogs"):
        logging.getLogger(name).setLevel(logging.ERROR)


class FixedClock:
    """The bot's clock, fixed at the data set's :data:`~bench.data.NOW` unless moved."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> Any:
        return self.now


@contextlib.asynccontextmanager
async def offline_bot(
    db_path: Path,
    plan: Plan,
    *,
    cached_members: int | None = None,
    extensions: Sequence[str] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Harness]:
    """The real bot on ``db_path`` with its cogs loaded and the server in its cache (its first
    ``cached_members`` members; all by default), offline."""
    quiet_logging()
    tune_interpreter()  # as ``python -m bot run`` does before it starts the bot
    db = await Database.open(db_path)
    recorder = Recorder()
    context: Token[AsyncWebhookAdapter] = async_context.set(RecordingAdapter(recorder))
    bot = SoberPeersBot(Settings(), db, clock=clock or FixedClock(), extensions=extensions)
    try:
        async with bot:  # discord.py's loop-bound set-up, as login does; closes the bot (and db) at exit
            bot.http.request = recorder.http_request  # type: ignore[method-assign]
            await bot.setup_hook()  # the extensions; no application id yet, so no command sync
            for name, error in bot.failed_extensions.items():
                # The bot runs without an extension that fails to load; so is it measured.
                cause = error.__cause__ or error
                note(f"extension {name} failed to load ({type(cause).__name__}: {cause}); measured without it")
            state = bot._connection
            state.user = discord.ClientUser(state=state, data=payloads.bot_user())  # type: ignore[arg-type]
            state.application_id = BOT_USER_ID
            guild = state._add_guild_from_data(payloads.guild_create(plan))  # type: ignore[arg-type]
            for chunk in payloads.member_chunks(plan, limit=cached_members):
                for data in chunk["members"]:
                    guild._add_member(discord.Member(data=data, guild=guild, state=state))
            if guild.id != GUILD_ID:
                raise BenchError("the server did not load")
            yield Harness(bot, plan, recorder)
    finally:
        async_context.reset(context)
        if not db.closed:
            await db.close()

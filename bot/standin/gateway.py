"""The stand-in's gateway: Discord's WebSocket protocol (API v10, plain JSON text frames).

One :class:`GatewaySession` per IDENTIFY. Every dispatch gets the session's next sequence
number and is kept in the session's buffer, so a client that reconnects and RESUMEs gets
what it missed, then RESUMED. Events are filtered per session by the intents it identified
with; privileged intents the application was not granted close the socket with 4014.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bot.standin.model import PRIVILEGED_INTENTS, Guild, Intent

if TYPE_CHECKING:
    from bot.standin.server import StandIn

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_DISALLOWED_INTENTS = 4014

CHUNK_SIZE = 1000
BUFFER_LIMIT = 5000

PayloadBuilder = Callable[["GatewaySession"], dict[str, Any] | None]
"""Builds an event's ``d`` for one session, or ``None`` to not send it to that session."""


@dataclass(eq=False)
class Connection:
    """One WebSocket connection; a writer task drains ``queue`` in order."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the writer."""
        self.queue.put_nowait(json.dumps(frame, separators=(",", ":")))

    async def write_loop(self) -> None:
        """Send queued frames until ``None`` or the socket closes."""
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway write failed: %s", exc)
                return


@dataclass(eq=False)
class GatewaySession:
    """A gateway session (IDENTIFY → READY), resumable across connections."""

    session_id: str
    intents: Intent
    shard: list[int] | None = None
    seq: int = 0
    buffer: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    connection: Connection | None = None
    resumes: int = 0
    heartbeat_seq: int = 0
    """The highest sequence number a client heartbeat reported (everything up to it was parsed)."""
    barriers: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    def note_heartbeat(self, data: Any) -> None:
        """A client heartbeat carries its last sequence number; release barriers it passed."""
        if isinstance(data, int) and data > self.heartbeat_seq:
            self.heartbeat_seq = data
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self.barriers:
            if fut.done():
                continue
            if target <= self.heartbeat_seq:
                fut.set_result(None)
            else:
                still.append((target, fut))
        self.barriers = still

    def has(self, intent: Intent) -> bool:
        """Whether the session identified with ``intent``."""
        return bool(self.intents & intent)

    def emit(self, event: str, data: dict[str, Any]) -> int:
        """Number, keep and (if connected) send a dispatch."""
        self.seq += 1
        self.buffer.append((self.seq, event, data))
        if len(self.buffer) > BUFFER_LIMIT:
            del self.buffer[: len(self.buffer) - BUFFER_LIMIT]
        if self.connection is not None:
            self.connection.send({"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data})
        return self.seq


class Gateway:
    """The WebSocket endpoint and the event dispatcher."""

    def __init__(self, standin: StandIn, *, heartbeat_interval_ms: int = 41250) -> None:
        self.standin = standin
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[Connection] = set()
        self.close_codes: list[int] = []
        """Close codes the stand-in sent (4014, 4004, ...), for tests."""
        self.identifies = 0
        self.resumes = 0
        self._gate: asyncio.Event | None = None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ state

    def live_sessions(self) -> list[GatewaySession]:
        """Sessions with an open connection."""
        return [s for s in self.sessions.values() if s.connection is not None]

    @property
    def connected(self) -> bool:
        """Whether some session has a live connection."""
        return bool(self.live_sessions())

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        self.standin.notify()

    async def wait_connected(self, within: float = 5.0) -> None:
        """Wait until a session is (re)connected and past READY/RESUMED."""
        async with asyncio.timeout(within):
            while not self.connected:
                await self._changed.wait()

    # ------------------------------------------------------------- dispatch

    def dispatch(self, event: str, build: PayloadBuilder) -> None:
        """Send ``event`` to every session whose intents let it through (``build`` decides)."""
        for session in list(self.sessions.values()):
            data = build(session)
            if data is not None:
                session.emit(event, data)

    def dispatch_all(self, event: str, data: dict[str, Any], intent: Intent | None = None) -> None:
        """Dispatch the same payload to every session that has ``intent`` (or to all if ``None``)."""

        def build(session: GatewaySession) -> dict[str, Any] | None:
            if intent is not None and not session.has(intent):
                return None
            return data

        self.dispatch(event, build)

    async def sync(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a harness API
        """Barrier: return once the client has parsed every event sent so far.

        Asks the client for a heartbeat (op 1) behind the queued events; discord.py handles
        frames in order and its heartbeat carries the last sequence number it handled, so a
        heartbeat at or past the last dispatch means everything went through its parsers. No
        request is sent when nothing was dispatched since (discord.py rate-limits its own
        gateway sends to about 110 a minute per connection). During an :meth:`outage` it
        returns at once (the events are replayed on RESUME).
        """
        if self._gate is not None:
            return  # an outage: events wait in the session buffer until the client resumes
        async with asyncio.timeout(timeout):
            await self.wait_connected(timeout)
            waits: list[asyncio.Future[None]] = []
            for session in self.live_sessions():
                conn = session.connection
                assert conn is not None
                if session.heartbeat_seq >= session.seq:
                    continue  # the client already reported parsing everything
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                session.barriers.append((session.seq, fut))
                conn.send({"op": OP_HEARTBEAT, "d": None, "t": None, "s": None})
                waits.append(fut)
            await asyncio.gather(*waits)
        # let listener tasks that the parsers scheduled start running
        for _ in range(5):
            await asyncio.sleep(0)

    # ------------------------------------------------------ failure injection

    async def disconnect(self, code: int = 4000) -> None:
        """Close every live connection with ``code``; discord.py reconnects and RESUMEs."""
        for conn in list(self.connections):
            await self._close(conn, code)

    @contextlib.asynccontextmanager
    async def outage(self, code: int = 4000, *, wait_resumed: bool = True) -> AsyncIterator[None]:
        """Close the connections and hold reconnects until the block ends (events queue up meanwhile)."""
        self._gate = asyncio.Event()
        try:
            await self.disconnect(code)
            yield
        finally:
            gate, self._gate = self._gate, None
            gate.set()
        if wait_resumed:
            await self.wait_connected()

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before it moves a session."""
        for session in self.live_sessions():
            assert session.connection is not None
            session.connection.send({"op": OP_RECONNECT, "d": None, "t": None, "s": None})

    async def _close(self, conn: Connection, code: int, message: str = "") -> None:
        if code >= 4000:
            self.close_codes.append(code)
        for session in self.sessions.values():
            if session.connection is conn:
                session.connection = None
        conn.queue.put_nowait(None)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.close(code=code, message=message.encode())
        self._notify()

    async def close(self) -> None:
        """Close every connection (stand-in shutdown)."""
        if self._gate is not None:
            self._gate.set()
        for conn in list(self.connections):
            await self._close(conn, 1001)

    # ------------------------------------------------------------ websocket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /gateway`` upgraded to a WebSocket."""
        ws = web.WebSocketResponse(timeout=1.0, autoping=True, max_msg_size=0)
        await ws.prepare(request)
        log.debug("gateway connection from %s (%s)", request.remote, request.query_string)
        conn = Connection(ws)
        self.connections.add(conn)
        conn.writer = asyncio.create_task(conn.write_loop(), name="standin-gateway-writer")
        session: GatewaySession | None = None
        try:
            if self._gate is not None:
                await self._gate.wait()
            conn.send({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await self._close(conn, CLOSE_DECODE_ERROR, "Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                    op = frame["op"]
                except (ValueError, KeyError, TypeError):
                    await self._close(conn, CLOSE_DECODE_ERROR, "Error while decoding payload.")
                    break
                session = await self._on_frame(conn, session, op, frame.get("d"))
                if ws.closed:
                    break
        finally:
            for sess in self.sessions.values():
                if sess.connection is conn:
                    sess.connection = None
            self.connections.discard(conn)
            conn.queue.put_nowait(None)
            if conn.writer is not None:
                await conn.writer
            self._notify()
            log.debug("gateway connection closed (%s)", ws.close_code)
        return ws

    async def _on_frame(
        self, conn: Connection, session: GatewaySession | None, op: int, data: Any
    ) -> GatewaySession | None:
        if op == OP_HEARTBEAT:
            if session is not None:
                session.note_heartbeat(data)
            conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "t": None, "s": None})
            return session
        if op == OP_IDENTIFY:
            if session is not None:
                await self._close(conn, CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
                return session
            return await self._identify(conn, data)
        if op == OP_RESUME:
            return await self._resume(conn, data)
        if session is None:
            await self._close(conn, CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
            return None
        if op == OP_REQUEST_GUILD_MEMBERS:
            self._request_members(session, data)
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            log.debug("gateway op %s ignored", op)
        else:
            await self._close(conn, CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")
        return session

    async def _identify(self, conn: Connection, data: Any) -> GatewaySession | None:
        app = self.standin.application
        if not isinstance(data, dict) or data.get("token") != app.token:
            await self._close(conn, CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return None
        intents = Intent(int(data.get("intents", 0)))
        missing = intents & PRIVILEGED_INTENTS & ~app.granted_intents
        if missing:
            log.info("IDENTIFY asked for privileged intents not granted: %s", missing)
            await self._close(conn, CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return None
        self.identifies += 1
        session = GatewaySession(secrets.token_hex(16), intents, shard=data.get("shard"))
        self.sessions[session.session_id] = session
        session.connection = conn
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**app.bot.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.standin.guilds.values()],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.standin.gateway_url,
            "application": {"id": str(app.id), "flags": app.flags | app.intent_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ['["standin-gateway",{"micros":0}]'],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        session.emit("READY", ready)
        if session.has(Intent.GUILDS):
            for guild in self.standin.guilds.values():
                session.emit("GUILD_CREATE", self.guild_create_payload(session, guild))
        self.standin.record_transcript("gateway", "bot connected (READY)")
        self._notify()
        return session

    def guild_create_payload(self, session: GatewaySession, guild: Guild) -> dict[str, Any]:
        """GUILD_CREATE for one session: all members only with presences (small guilds)."""
        small = len(guild.members) < 250
        return guild.payload(include_all_members=session.has(Intent.GUILD_PRESENCES) and small)

    async def _resume(self, conn: Connection, data: Any) -> GatewaySession | None:
        app = self.standin.application
        if not isinstance(data, dict) or data.get("token") != app.token:
            await self._close(conn, CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return None
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        too_old = (
            session is not None and bool(session.buffer) and isinstance(seq, int) and seq < session.buffer[0][0] - 1
        )
        if session is None or not isinstance(seq, int) or too_old:
            conn.send({"op": OP_INVALID_SESSION, "d": False, "t": None, "s": None})
            return None
        if session.connection is not None and session.connection is not conn:
            await self._close(session.connection, 4000)
        missed = [(s, t, d) for (s, t, d) in session.buffer if s > seq]
        for s, t, d in missed:
            conn.send({"op": OP_DISPATCH, "t": t, "s": s, "d": d})
        conn.send({"op": OP_DISPATCH, "t": "RESUMED", "s": None, "d": {"_trace": ['["standin-gateway"]']}})
        session.connection = conn
        if session.barriers:
            conn.send({"op": OP_HEARTBEAT, "d": None, "t": None, "s": None})
        session.resumes += 1
        self.resumes += 1
        self.standin.record_transcript("gateway", f"bot resumed ({len(missed)} missed events replayed)")
        self._notify()
        return session

    def _request_members(self, session: GatewaySession, data: Any) -> None:
        if not isinstance(data, dict):
            return
        guild = self.standin.guilds.get(int(data.get("guild_id", 0)))
        nonce = data.get("nonce")
        if guild is None:
            return
        members = [m for m in guild.members.values() if m.present]
        not_found: list[str] = []
        user_ids = data.get("user_ids")
        if user_ids is not None:
            wanted = [int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])]
            members = [guild.members[u] for u in wanted if u in guild.members]
            not_found = [str(u) for u in wanted if u not in guild.members]
        else:
            if not session.has(Intent.GUILD_MEMBERS):
                members = []
            query = str(data.get("query") or "").lower()
            if query:
                members = [
                    m
                    for m in members
                    if m.user.username.lower().startswith(query) or (m.nick or "").lower().startswith(query)
                ]
            limit = int(data.get("limit") or 0)
            if limit and (query or len(members) > limit):
                members = members[:limit]
        chunks = [members[i : i + CHUNK_SIZE] for i in range(0, len(members), CHUNK_SIZE)] or [[]]
        for index, chunk in enumerate(chunks):
            payload: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [m.payload() for m in chunk],
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if nonce is not None:
                payload["nonce"] = nonce
            if not_found and index == 0:
                payload["not_found"] = not_found
            if data.get("presences"):
                payload["presences"] = []
            session.emit("GUILD_MEMBERS_CHUNK", payload)

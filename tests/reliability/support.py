"""Helpers of the reliability tests: breaking things on purpose, and checking that nothing was lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO, TypeVar, cast

import discord.http
import pytest

from bot.standin.model import Guild, GuildChannel, Member, Message, User, mention_ids
from bot.standin.routing import RequestRecord
from bot.standin.server import StandIn
from bot.tree import STORAGE_MESSAGE
from tests.e2e import Scene

T = TypeVar("T")

UNEXPECTED = "Something went wrong on my side"
"""The start of the answer to an unexpected error (a bug)."""

_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
print("ready", flush=True)
sys.stdin.readline()
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
"""


def cog(scene: Scene, name: str, kind: type[T]) -> T:
    """A loaded cog by name (the extension loader re-imports its module: no isinstance)."""
    found = scene.bot.get_cog(name)
    assert found is not None, f"the {name} cog is not loaded"
    return cast(T, found)


def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten discord.py's back-off after a 500/502/504 (1 s, 3 s, 5 s…) to 10 ms; shorter waits
    (a 429's ``retry_after``) stay real."""
    real_sleep = asyncio.sleep

    def quick_sleep(delay: float, *args: Any) -> Coroutine[Any, Any, Any]:
        return real_sleep(0.01 if delay >= 1 else delay, *args)

    monkeypatch.setattr(discord.http, "asyncio", SimpleNamespace(**{**vars(asyncio), "sleep": quick_sleep}))


class LockHolder:
    """Another process, started beforehand, that takes the database's write lock when told to."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.held = False

    async def _say(self, expected: bytes | None) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"\n")
        with contextlib.suppress(ConnectionError):
            await self.process.stdin.drain()
        if expected is not None:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
            assert line.strip() == expected, line

    async def take(self) -> None:
        """Take the write lock now (waiting, like any writer, for one in progress to finish)."""
        await self._say(b"locked")
        self.held = True

    async def release(self) -> None:
        """Let go of the lock, and end the process."""
        if self.process.returncode is None:
            await self._say(None)
            if not self.held:
                await self._say(None)
            await asyncio.wait_for(self.process.wait(), timeout=10)
        self.held = False


@contextlib.asynccontextmanager
async def lock_holder(db_path: Path) -> AsyncIterator[LockHolder]:
    """A :class:`LockHolder` ready to lock ``db_path`` at once; released at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOCKER,
        str(db_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    assert line.strip() == b"ready", line
    holder = LockHolder(process)
    try:
        yield holder
    finally:
        await holder.release()


@contextlib.asynccontextmanager
async def write_lock(db_path: Path) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Another process holds the database's write lock until the yielded ``release()`` (or the end)."""
    async with lock_holder(db_path) as holder:
        await holder.take()
        yield holder.release


def query(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read by a connection of our own (what a restarted bot would find)."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def database_is_sound(db_path: Path) -> None:
    """``PRAGMA integrity_check`` is ok and no foreign key points nowhere."""
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(db_path, "PRAGMA foreign_key_check") == []


def checkin_days(db_path: Path, guild: Guild, member: Member) -> list[int]:
    """The (epoch) days the member has a check-in on."""
    rows = query(
        db_path, "SELECT day FROM checkins WHERE guild_id = ? AND user_id = ? ORDER BY day", guild.id, member.id
    )
    return [int(row[0]) for row in rows]


def post_now(standin: StandIn, who: Member, channel: GuildChannel, content: str) -> Message:
    """A member posts: MESSAGE_CREATE is dispatched (or buffered while the gateway is down), not awaited."""
    message = Message(
        standin, standin.snowflakes.next(), channel, who.user, content=content, mention_ids=mention_ids(content)
    )
    standin.add_message(message)
    return message


def delete_channel(standin: StandIn, channel: GuildChannel) -> None:
    """A moderator deletes a channel: CHANNEL_DELETE; Discord answers 10003 Unknown Channel for it since."""
    guild = channel.the_guild
    guild.channels.pop(channel.id, None)
    standin.channels.pop(channel.id, None)
    standin.guild_event("CHANNEL_DELETE", guild, channel.payload())


# --------------------------------------------------------------------------- pings

_EVERYONE = re.compile(r"@(everyone|here)")
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


def _message_fields(record: RequestRecord) -> Iterable[dict[str, Any]]:
    body = record.body
    if not isinstance(body, dict):
        return []
    if record.path.endswith("/callback"):
        data = body.get("data")
        return [data] if isinstance(data, dict) and body.get("type") in (4, 7) else []
    if record.method in ("POST", "PATCH") and (
        record.path.startswith("/webhooks/") or re.fullmatch(r"/channels/\d+/messages(/\d+)?", record.path)
    ):
        return [body]
    return []


def pings(record: RequestRecord) -> set[str]:
    """Whom a message the bot sent could notify, as Discord decides it from its content and
    ``allowed_mentions`` (mentions in embeds never notify): ``"everyone"``, ``"user:<id>"``, ``"role:<id>"``."""
    out: set[str] = set()
    for fields in _message_fields(record):
        content = fields.get("content")
        if not isinstance(content, str) or not content:
            continue
        allowed = fields.get("allowed_mentions")
        if not isinstance(allowed, dict):  # none given: Discord parses every mention
            allowed = {"parse": ["everyone", "users", "roles"]}
        parse = set(allowed.get("parse") or [])
        users = {str(u) for u in allowed.get("users") or []}
        roles = {str(r) for r in allowed.get("roles") or []}
        if "everyone" in parse and _EVERYONE.search(content):
            out.add("everyone")
        for user_id in _USER.findall(content):
            if "users" in parse or user_id in users:
                out.add(f"user:{user_id}")
        for role_id in _ROLE.findall(content):
            if "roles" in parse or role_id in roles:
                out.add(f"role:{role_id}")
    return out


def pinged(standin: StandIn, since: int = 0) -> set[str]:
    """Everyone the bot's requests from ``standin.requests[since:]`` could have notified."""
    found: set[str] = set()
    for record in standin.requests[since:]:
        if record.status < 300:
            found |= pings(record)
    return found


def is_try_again(text: str) -> bool:
    """The clear "couldn't save, nothing changed, try again" answer."""
    return text == STORAGE_MESSAGE


def dm_texts(user: Member | User) -> list[str]:
    """The bot's DMs to the member, as text (content, then embeds' titles and descriptions)."""
    out = []
    for message in user.dms_from_bot():
        parts = [message.content] + [f"{e.get('title', '')} {e.get('description', '')}" for e in message.embeds]
        out.append(" ".join(parts))
    return out


# --------------------------------------------------------------------------- the bot as a real process


@dataclass
class BotProcess:
    """``python -m bot run`` against the stand-in; its log goes to a file (a pipe nobody reads could
    fill up and stall it)."""

    process: asyncio.subprocess.Process
    log: Path

    def text(self) -> str:
        """What it logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def wait_logged(self, line: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a helper
        """Wait until ``line`` appears in the log (or fail with the log if the process ended)."""
        async with asyncio.timeout(timeout):
            while line not in self.text():
                assert self.process.returncode is None, self.text()
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Send ``signum`` and wait for the exit status (killing it if it does not stop in time)."""
        self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        finally:
            await self.kill()


def _open_log(path: Path) -> BinaryIO:
    return path.open("wb")


async def start_bot(standin: StandIn, folder: Path, db_path: Path, name: str = "bot") -> BotProcess:
    """Start the real bot as a process on ``db_path``, connected to the stand-in; return once it is ready
    (on_ready logged) and its commands are synced."""
    log = folder / f"{name}.log"
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "DISCORD_TOKEN": standin.token,
        "DISCORD_API_BASE": standin.api_base,
        "DISCORD_GATEWAY_URL": standin.gateway_url,
        "DATABASE_PATH": str(db_path),
        "LOG_LEVEL": "INFO",
    }
    with _open_log(log) as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=folder, env=environ, stdout=sink, stderr=sink
        )
    bot = BotProcess(process, log)
    try:
        await bot.wait_logged("Ready as")
        await standin.sync(timeout=10)
    except BaseException:
        await bot.kill()
        raise
    return bot

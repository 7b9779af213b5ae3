"""Helpers of the reliability tests: breaking things on purpose, and checking that nothing was lost."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

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


@contextlib.asynccontextmanager
async def write_lock(db_path: Path) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Another process holds the database's write lock until the yielded ``release()`` (or the end)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOCKER,
        str(db_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin = process.stdin
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    assert line.strip() == b"locked", line

    async def release() -> None:
        if process.returncode is None:
            stdin.write(b"\n")
            with contextlib.suppress(ConnectionError):
                await stdin.drain()
            await asyncio.wait_for(process.wait(), timeout=10)

    try:
        yield release
    finally:
        await release()


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

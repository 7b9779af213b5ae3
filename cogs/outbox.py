"""The outbox on Discord: posting a pending post, and the dispatcher that retries what failed.

The other cogs call :func:`deliver` for a channel post that is not an interaction's answer (a
milestone celebration, a shared check-in summary, a notice to the moderators), and for a DM to a
member that has no next chance of its own (destination ``'member'``: the notice that a buddy pairing
ended, what a buddy is): it is written to the
outbox (:class:`~bot.services.outbox.OutboxService`, ``bot.outbox``), attempted at once, and the
caller learns whether it was delivered, will be retried, or was given up. The :class:`Outbox` cog
starts the :class:`~bot.services.outbox.OutboxDispatcher` once the bot is ready (posts left pending by
a restart go out then) and stops it when unloaded.

Each attempt sends with the post's nonce (``enforce_nonce``): Discord answers a second attempt at a
message it already created with that message. Mentions never ping. A DM to a member who has left the
server, or whose DMs are closed, is refused for good (recorded); a 5xx, a timeout or a dropped
connection is retried, the first time a minute later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import aiohttp
import discord
from discord.ext import commands

from bot.client import SoberPeersBot
from bot.db.connection import StorageError
from bot.services.outbox import (
    DESTINATION_LABELS,
    Attempt,
    Delivery,
    NewPost,
    OutboxDispatcher,
    Post,
    attempt,
)
from bot.views import DISCORD_CANNOT_DM

__all__ = ["Outbox", "classify", "deliver", "send_post"]

log = logging.getLogger(__name__)


def classify(exc: Exception, destination: str = "owner") -> Attempt:
    """A failed send as an :class:`Attempt`: transient (a 5xx, a 429 not waited out, a timeout, a broken
    connection) or permanent (any other refusal: no access, unknown channel, closed DMs, a bad request).
    ``destination``: whose DMs are closed, if they are (``'owner'`` or ``'member'``)."""
    if isinstance(exc, discord.HTTPException):
        what = f"Discord answered {exc.status}" + (f" ({exc.text})" if exc.text else "")
        if exc.status >= 500 or exc.status == 429:
            return Attempt("transient", what)
        if exc.status == 403 and exc.code == DISCORD_CANNOT_DM:
            whose = "the member's" if destination == "member" else "the owner's"
            return Attempt("permanent", f"{whose} direct messages are closed", dms_closed=True)
        if exc.status == 404:
            return Attempt("permanent", "the channel no longer exists")
        return Attempt("permanent", what)
    if isinstance(exc, discord.RateLimited):
        return Attempt("transient", "rate limited")
    return Attempt("transient", f"no answer from Discord ({type(exc).__name__})")


async def _target(bot: SoberPeersBot, post: Post) -> tuple[discord.abc.Messageable | None, Attempt | None]:
    """Where the post goes now, or the attempt's outcome if it cannot go anywhere."""
    guild = bot.get_guild(post.guild_id)
    if guild is None:
        return None, Attempt("permanent", "the bot is no longer in the server")
    if guild.unavailable:
        return None, Attempt("transient", "the server is unavailable (an outage at Discord)")
    if post.destination == "owner":
        if guild.owner_id is None:
            return None, Attempt("permanent", "the server's owner is not known")
        owner = guild.owner or bot.get_user(guild.owner_id) or await bot.fetch_user(guild.owner_id)
        return owner, None
    if post.destination == "member":
        if post.user_id is None:
            return None, Attempt("permanent", "the member is not known")
        member = guild.get_member(post.user_id)
        if member is None:
            try:
                member = await guild.fetch_member(post.user_id)
            except discord.NotFound:
                return None, Attempt("permanent", "the member is no longer in the server")
        return member, None
    channel_id = post.channel_id
    if channel_id is None:
        config = await bot.server_settings.get(guild.id)
        channel_id = config.snowflake(post.destination)
        if channel_id is None:
            label = DESTINATION_LABELS.get(post.destination, post.destination)
            return None, Attempt("permanent", f"{label} is no longer set")
    channel = guild.get_channel_or_thread(channel_id)
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        return None, Attempt("permanent", "the channel no longer exists", channel_id)
    return channel, None


async def send_post(bot: SoberPeersBot, post: Post, *, nonce: str | None = None) -> Attempt:
    """One attempt at the post, with its nonce (``nonce`` overrides it); never raises for Discord's failures."""
    channel_id = post.channel_id
    try:
        target, problem = await _target(bot, post)
        if problem is not None:
            return problem
        assert target is not None
        if isinstance(target, discord.TextChannel | discord.Thread):
            channel_id = target.id
        await target.send(
            post.content,
            nonce=post.nonce if nonce is None else nonce,
            allowed_mentions=discord.AllowedMentions.none(),
            **bot.outbox.extras(post),
        )
    except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError) as exc:
        result = classify(exc, post.destination)
        return Attempt(result.outcome, result.reason, channel_id, result.dms_closed)
    return Attempt("sent", channel_id=channel_id)


async def deliver(bot: SoberPeersBot, new: NewPost) -> Delivery:
    """Write the post to the outbox and attempt it now; a transient failure is retried by the dispatcher.

    If the outbox cannot be written (the database is unavailable), the post is attempted once anyway,
    without a retry (logged), rather than not at all.
    """
    try:
        post = await bot.outbox.add(new)
    except StorageError as exc:
        log.warning(
            "The outbox is unavailable (%s): %s in guild %s is attempted once only", exc, new.kind, new.guild_id
        )
        once = Post(
            0, new.guild_id, new.user_id, new.kind, new.destination, new.channel_id, new.content, 1, bot.clock()
        )
        result = await send_post(bot, once, nonce=str(secrets.randbits(63)))
        if result.outcome == "sent":
            return Delivery("delivered")
        return Delivery("undelivered", result.reason, dms_closed=result.dms_closed)
    delivery = await attempt(bot.outbox, lambda p: send_post(bot, p), post)
    if delivery is None:  # sent or not, the claim's lease brings it back and the nonce prevents a double
        return Delivery("retrying", "its outcome could not be recorded")
    return delivery


class Outbox(commands.Cog):
    """Runs the outbox's dispatcher: pending posts are retried when due, and sent after a restart."""

    COG_NAME = "Outbox"

    def __init__(self, bot: SoberPeersBot) -> None:
        self.bot = bot
        self.dispatcher = OutboxDispatcher(bot.outbox, lambda post: send_post(bot, post))
        self._starter: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        """Start the dispatcher once the bot is ready (the servers and channels are known)."""
        self._starter = asyncio.create_task(self._start(), name="outbox-start-dispatcher")

    async def _start(self) -> None:
        await self.bot.wait_until_ready()
        self.dispatcher.start()

    async def cog_unload(self) -> None:
        """Stop the dispatcher (an attempt in progress is cancelled; its claim brings it back)."""
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        await self.dispatcher.stop()


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Outbox(bot))

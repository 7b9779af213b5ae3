"""End-to-end helpers: the real SoberPeers bot, connected to the local Discord stand-in.

A :class:`Scene` is a small recovery server: a men's and a women's house (the matching groups),
moderators, a few members, and the channels the features use. The bot runs on a real temporary
database with a clock the test controls.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.client import SoberPeersBot
from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.settings import Settings
from bot.standin.harness import connect_client
from bot.standin.model import Guild, GuildChannel, Member, Permission, Role
from bot.standin.server import StandIn

START = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand; always aware UTC."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward (``days=``, ``hours=``, …) and return the new time."""
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Scene:
    """The stand-in's world and the connected bot."""

    standin: StandIn
    guild: Guild
    general: GuildChannel
    checkins: GuildChannel
    celebrations: GuildChannel
    mod_channel: GuildChannel
    intros: GuildChannel
    mens_house: Role
    womens_house: Role
    moderators: Role
    mod: Member
    alice: Member
    beth: Member
    carl: Member
    dan: Member
    clock: FakeClock
    db_path: Path
    bot: SoberPeersBot = field(init=False)


def build_scene(standin: StandIn, db_path: Path, clock: FakeClock) -> Scene:
    """A sober-living server: two houses, moderators, and members (dan's DMs are closed)."""
    guild = standin.add_guild("Serenity House")
    general = guild.add_text_channel("general")
    checkins = guild.add_text_channel("check-ins")
    celebrations = guild.add_text_channel("celebrations")
    mod_channel = guild.add_text_channel("moderators")
    intros = guild.add_text_channel("buddy-intros")
    mens = guild.add_role("Men's House")
    womens = guild.add_role("Women's House")
    moderators = guild.add_role("Moderators", permissions=int(Permission.MANAGE_GUILD))
    long_ago = clock.now - timedelta(days=90)
    mod = guild.add_member("morgan", roles=[moderators], joined_at=long_ago)
    alice = guild.add_member("alice", roles=[womens], joined_at=long_ago)
    beth = guild.add_member("beth", roles=[womens], joined_at=clock.now - timedelta(days=2))
    carl = guild.add_member("carl", roles=[mens], joined_at=long_ago)
    dan = guild.add_member("dan", roles=[mens], joined_at=clock.now - timedelta(days=1), dms_open=False)
    return Scene(
        standin, guild, general, checkins, celebrations, mod_channel, intros,
        mens, womens, moderators, mod, alice, beth, carl, dan, clock, db_path,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running_bot(
    standin: StandIn,
    db_path: Path,
    clock: FakeClock,
    *,
    settings: Settings | None = None,
    extensions: Sequence[str] | None = None,
) -> AsyncIterator[SoberPeersBot]:
    """Open and migrate the database, then run the real bot against the stand-in until exit."""
    db = await Database.open(db_path)
    try:
        await migrate(db)

        def make() -> SoberPeersBot:
            return SoberPeersBot(
                settings or Settings(), db, clock=clock, extensions=extensions, guild_ready_timeout=0.05
            )

        async with connect_client(standin, make) as bot:
            await standin.sync()
            yield bot
    finally:
        await db.close()

"""The offline demo: the local Discord stand-in and the real bot, playing a short scene.

``python -m bot demo`` needs no token and no network: it starts the stand-in on 127.0.0.1, runs
the bot against it on a temporary database, plays the scene through real slash commands, and
prints the transcript. It exits 0 when every step completed, 1 (naming the step) otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.client import SoberPeersBot
from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.settings import Settings
from bot.standin.harness import connect_client
from bot.standin.model import Guild, GuildChannel, Member, Permission, Role
from bot.standin.server import StandIn
from bot.timeutil import Clock, ManualClock, utc_now

__all__ = ["DemoFailed", "World", "build_world", "run_demo", "running_bot"]

log = logging.getLogger(__name__)

DEMO_TIMEOUT = 60.0


class DemoFailed(Exception):
    """A step of the scene did not go as it should."""


@dataclass
class World:
    """A small sober-living server on the stand-in: two houses (the matching groups) and moderators."""

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
    clock: ManualClock
    """The bot's clock: the scene moves it to play days in seconds."""
    bot: SoberPeersBot = field(init=False)
    """The connected bot (set once it is ready)."""


def build_world(standin: StandIn, clock: ManualClock) -> World:
    """Serenity House: morgan moderates; alice and beth live in the women's house, carl and dan in
    the men's; beth and dan are new; dan's DMs are closed."""
    now = clock.now
    guild = standin.add_guild("Serenity House")
    general = guild.add_text_channel("general")
    checkins = guild.add_text_channel("check-ins")
    celebrations = guild.add_text_channel("celebrations")
    mod_channel = guild.add_text_channel("moderators")
    intros = guild.add_text_channel("buddy-intros")
    mens = guild.add_role("Men's House")
    womens = guild.add_role("Women's House")
    moderators = guild.add_role("Moderators", permissions=int(Permission.MANAGE_GUILD))
    long_ago = now - timedelta(days=90)
    mod = guild.add_member("morgan", roles=[moderators], joined_at=long_ago)
    alice = guild.add_member("alice", roles=[womens], joined_at=long_ago)
    beth = guild.add_member("beth", roles=[womens], joined_at=now - timedelta(days=2))
    carl = guild.add_member("carl", roles=[mens], joined_at=long_ago)
    dan = guild.add_member("dan", roles=[mens], joined_at=now - timedelta(days=1), dms_open=False)
    return World(
        standin, guild, general, checkins, celebrations, mod_channel, intros,
        mens, womens, moderators, mod, alice, beth, carl, dan, clock,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running_bot(
    standin: StandIn,
    db_path: Path,
    clock: Clock = utc_now,
    *,
    settings: Settings | None = None,
    extensions: list[str] | None = None,
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


Step = tuple[str, Callable[[World], Awaitable[None]]]


def _expect(condition: object, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


async def _moderator_sets_up(world: World) -> None:
    answer = await world.standin.invoke(world.mod, "settings moderator-channel", {"channel": world.mod_channel})
    _expect(answer.ephemeral, "the settings answer should be private")
    answer = await world.standin.invoke(world.mod, "settings checkin-channel", {"channel": world.checkins})
    _expect(str(world.checkins.id) in answer.content, "the check-in channel should be confirmed")


async def _member_learns_about_the_bot(world: World) -> None:
    answer = await world.standin.invoke(world.beth, "about")
    _expect(answer.ephemeral and answer.embeds, "/about should answer privately with an embed")


async def _member_asks_what_peer_support_isnt(world: World) -> None:
    answer = await world.standin.invoke(world.beth, "peersupport what-it-isnt")
    _expect(len(answer.embeds) == 3, "/peersupport what-it-isnt should quote three passages")


async def _member_asks_for_a_quote(world: World) -> None:
    answer = await world.standin.invoke(world.carl, "peersupport quote", {"search": "shoulder to cry on"})
    _expect(answer.embeds, "/peersupport quote should quote a passage")


async def _member_checks_in(world: World) -> None:
    options = {"mood": 4, "craving": 2, "sober": True, "note": "Good talk at group tonight.", "share": True}
    answer = await world.standin.invoke(world.alice, "checkin today", options)
    _expect(answer.ephemeral and "Check-in saved" in answer.content, "the check-in should be saved, privately")
    posts = [message for message in world.checkins.bot_messages() if not message.ephemeral]
    _expect(posts and "Good talk" not in posts[-1].content, "a summary without the note should be shared")


async def _member_looks_at_her_history(world: World) -> None:
    answer = await world.standin.invoke(world.alice, "checkin history", {"days": 7})
    _expect(answer.ephemeral and answer.embeds, "the history should answer its numbers privately")
    (chart,) = await world.standin.wait_for(lambda: answer.followups, timeout=10)
    charts = [data for name, data in chart.files if name.endswith(".png") and data.startswith(b"\x89PNG")]
    _expect(chart.ephemeral and charts, "the history's PNG chart should follow privately")


def _nudges_of(world: World) -> Any:
    cog = world.bot.get_cog("Nudges")
    if cog is None:
        raise DemoFailed("the nudges cog is not running")
    return cog


def _nudge_dms(member: Member) -> list[Any]:
    return [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Thinking of you"]


async def _quiet_member_is_nudged(world: World) -> None:
    cog = _nudges_of(world)
    world.clock.advance(days=4)
    world.standin.record_transcript("(time)", "four days pass; alice, who checks in, posts nothing", where="demo")
    await cog.run_sweep_now()
    dms = _nudge_dms(world.alice)
    _expect(len(dms) == 1, "alice should get one private nudge")
    labels = [c["label"] for row in dms[0].components for c in row["components"]]
    _expect("I'm okay" in labels and "Pause for a week" in labels, "the nudge should carry its buttons")
    _expect(not any(_nudge_dms(m) for m in (world.beth, world.carl, world.dan, world.mod)), "only alice takes part")


async def _member_answers_im_okay(world: World) -> None:
    cog = _nudges_of(world)
    (dm,) = _nudge_dms(world.alice)
    custom_id = next(c for c in dm.custom_ids() if c.startswith("nudge:ok:"))
    answer = await world.standin.press_button(world.alice.user, dm, custom_id)
    _expect(answer.ephemeral and "glad you're okay" in answer.content, "the answer should be private and warm")
    status = await cog.service.status(world.guild.id, world.alice.id)
    _expect(status.last_active_at == world.clock(), "“I'm okay” should count as activity")


async def _moderator_sets_up_buddy_groups(world: World) -> None:
    for role in (world.mens_house, world.womens_house):
        answer = await world.standin.invoke(world.mod, "buddyadmin group-add", {"role": role})
        _expect(answer.ephemeral and "is now a matching group" in answer.content, "the group should be added")
    answer = await world.standin.invoke(world.mod, "buddyadmin settings", {"intro_channel": world.intros})
    _expect(str(world.intros.id) in answer.content, "the introductions channel should be confirmed")


async def _volunteer_offers_to_be_a_buddy(world: World) -> None:
    answer = await world.standin.invoke(world.carl, "buddy volunteer", {"available": True})
    _expect(answer.ephemeral and "Thank you for offering" in answer.content, "carl's offer should be thanked")


async def _newcomer_is_matched_with_a_volunteer(world: World) -> None:
    answer = await world.standin.invoke(world.dan, "buddy request")
    _expect(answer.ephemeral and "You have a buddy" in answer.content, "dan should be matched")
    threads = [t for t in world.standin.threads_created if {world.dan.id, world.carl.id} <= set(t.member_ids)]
    _expect(threads and threads[0].private and threads[0].bot_messages(), "a private introduction thread should open")


SCENE: list[Step] = [
    ("morgan, a moderator, sets the moderators' and check-in channels", _moderator_sets_up),
    ("beth, new in the women's house, asks what the bot is", _member_learns_about_the_bot),
    ("beth asks what peer support is not", _member_asks_what_peer_support_isnt),
    ("carl looks for a passage about a shoulder to cry on", _member_asks_for_a_quote),
    ("alice checks in for today and shares a summary", _member_checks_in),
    ("alice looks at her check-in history", _member_looks_at_her_history),
    ("alice goes quiet for days: the bot nudges her, privately", _quiet_member_is_nudged),
    ("alice answers “I'm okay”", _member_answers_im_okay),
    (
        "morgan makes the two houses matching groups, with introductions in #buddy-intros",
        _moderator_sets_up_buddy_groups,
    ),
    ("carl, long in the men's house, offers to be a buddy", _volunteer_offers_to_be_a_buddy),
    (
        "dan, new in the men's house (DMs closed), asks for a buddy: matched with carl",
        _newcomer_is_matched_with_a_volunteer,
    ),
]


async def play(world: World, steps: list[Step], out: Callable[[str], None]) -> None:
    """Run each step, printing the transcript lines it produced; raise :class:`DemoFailed` naming a failed step."""
    shown = len(world.standin.transcript)
    for number, (title, action) in enumerate(steps, start=1):
        out(f"\n— Step {number}: {title}")
        try:
            await action(world)
        except DemoFailed as exc:
            raise DemoFailed(f"step {number} ({title}): {exc}") from None
        except Exception as exc:
            raise DemoFailed(f"step {number} ({title}): {type(exc).__name__}: {exc}") from exc
        lines = world.standin.format_transcript().splitlines()[shown:]
        shown = len(world.standin.transcript)
        for line in lines:
            out(f"  {line}")


async def run_demo(*, keep: bool = False, out: Callable[[str], None] = print) -> int:
    """Play the scene against the stand-in; 0 when it completed, 1 (with the failed step) otherwise."""
    # discord.py warns that voice support is missing; the demo has no voice.
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="soberpeers-demo-") as folder:
        async with StandIn(app_name="SoberPeers") as standin:
            # The scene starts at 10:00 UTC today, so the nudge four days on falls in the members'
            # daytime (they set no timezone: UTC); the clock moves only when the scene says so.
            clock = ManualClock(datetime.combine(utc_now().date(), time(10), tzinfo=UTC))
            world = build_world(standin, clock)
            out("SoberPeers offline demo: the bot against a local Discord stand-in (no token, no network).")
            out(f"Server “{world.guild.name}” with {len(world.guild.members)} members.")
            try:
                async with asyncio.timeout(DEMO_TIMEOUT):
                    async with running_bot(standin, Path(folder) / "demo.sqlite3", clock) as bot:
                        world.bot = bot
                        out(f"The bot {bot.user} is connected; {len(bot.tree.get_commands())} commands synced.")
                        await play(world, SCENE, out)
                        if keep:
                            out(f"\nThe stand-in keeps running: REST {standin.api_base}, gateway {standin.gateway_url}")
                            out("Press Ctrl-C to stop.")
                            await asyncio.Event().wait()
            except DemoFailed as exc:
                print(f"error: the demo failed at {exc}", file=sys.stderr)
                return 1
            except TimeoutError:
                print(f"error: the demo did not finish within {DEMO_TIMEOUT:.0f} seconds", file=sys.stderr)
                return 1
    out("\nThe scene completed.")
    return 0

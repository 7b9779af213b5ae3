"""End-to-end helpers: the real SoberPeers bot, connected to the local Discord stand-in.

A :class:`Scene` is the demo's small recovery server (a men's and a women's house as the matching
groups, moderators, a few members, the channels the features use) plus the bot, which runs on a
real temporary database with a clock the test controls.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.client import SoberPeersBot
from bot.demo import World, build_world, running_bot
from bot.standin.server import StandIn

__all__ = ["START", "FakeClock", "Scene", "build_scene", "running_bot"]

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
class Scene(World):
    """The demo's world, the test's clock and database file, and the connected bot."""

    clock: FakeClock = field(default_factory=FakeClock)
    db_path: Path = Path()
    bot: SoberPeersBot = field(init=False)


def build_scene(standin: StandIn, db_path: Path, clock: FakeClock) -> Scene:
    """The demo's sober-living server, built on the stand-in at the clock's time."""
    world = build_world(standin, clock.now)
    values = {f.name: getattr(world, f.name) for f in dataclasses.fields(world)}
    return Scene(**values, clock=clock, db_path=db_path)

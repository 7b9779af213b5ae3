"""End-to-end helpers: the real SoberPeers bot, connected to the local Discord stand-in.

A :class:`Scene` is the demo's small recovery server (a men's and a women's house as the matching
groups, moderators, a few members, the channels the features use) plus the bot, which runs on a
real temporary database with a clock the test controls.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.demo import World, build_world, running_bot
from bot.standin.server import StandIn
from bot.timeutil import ManualClock

__all__ = ["START", "FakeClock", "Scene", "build_scene", "running_bot"]

START = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


class FakeClock(ManualClock):
    """The tests' clock: it stands at ``START`` (or the given time) until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        super().__init__(now)


@dataclass
class Scene(World):
    """The demo's world, the test's database file, and (once connected) the bot."""

    db_path: Path = Path()


def build_scene(standin: StandIn, db_path: Path, clock: FakeClock) -> Scene:
    """The demo's sober-living server, built on the stand-in at the clock's time."""
    world = build_world(standin, clock)
    values = {f.name: getattr(world, f.name) for f in dataclasses.fields(world) if f.init}
    return Scene(**values, db_path=db_path)

"""Load: members checking in while messages flow and the nudge sweep runs, all through the stand-in.
Every interaction is acknowledged within Discord's 3 seconds (the stand-in fails the test otherwise),
every check-in is stored, and every poster's activity is recorded.

It runs at the issue's full size (1,000 members checking in within a minute while 20,000 messages flow),
in CI too: about a minute of wall time, little of it CPU. ``SOBERPEERS_LOAD_SCALE=0.1`` runs a tenth
of it in a tenth of the time (the same rates) for a quicker local run; RELIABILITY.md has a result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.standin.interactions import Interaction
from bot.standin.model import Member
from bot.standin.server import StandIn
from cogs.nudges import Nudges
from tests.e2e import FakeClock, Scene, build_scene, running_bot
from tests.reliability.support import cog, database_is_sound, post_now, query

log = logging.getLogger(__name__)

SCALE = float(os.environ.get("SOBERPEERS_LOAD_SCALE", "1"))
MEMBERS = max(10, round(1000 * SCALE))
MESSAGES = max(100, round(20_000 * SCALE))
WINDOW = 60.0 * SCALE
"""Seconds over which the check-ins and the messages arrive (a minute at full size)."""


@pytest.fixture
async def crowd(standin: StandIn, tmp_path: Path) -> AsyncIterator[tuple[Scene, list[Member]]]:
    """The scene with ``MEMBERS`` more members (all known before the bot connects), and the bot."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "load.sqlite3", clock)
    long_ago = clock() - timedelta(days=60)
    houses = [scene.mens_house, scene.womens_house]
    members = [scene.guild.add_member(f"member{i}", roles=[houses[i % 2]], joined_at=long_ago) for i in range(MEMBERS)]
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        yield scene, members


async def test_members_check_in_while_messages_flow_and_a_sweep_runs(crowd: tuple[Scene, list[Member]]) -> None:
    """Check-ins and messages at a steady rate over the window, a nudge sweep of every member in the
    middle: every check-in acknowledged in time and stored, every poster's activity recorded."""
    scene, members = crowd
    standin = scene.standin
    nudges = cog(scene, "Nudges", Nudges)
    async with asyncio.timeout(10):
        while not nudges.sweeper.idle:  # noqa: ASYNC110 - the sweeper exposes a state, not an event
            await asyncio.sleep(0.01)
    scene.clock.advance(days=4)  # every member is due: the sweep looks at each of them
    rng = random.Random(2026)
    channels = [scene.general, scene.checkins, scene.celebrations]
    posters: set[int] = set()
    asked: list[Interaction] = []
    checkin_every = WINDOW / MEMBERS
    message_every = WINDOW / MESSAGES
    loop = asyncio.get_running_loop()
    started = loop.time()
    sweep: asyncio.Task[object] | None = None
    sent_messages = 0
    for number, member in enumerate(members):
        due = started + number * checkin_every
        while sent_messages < MESSAGES and started + sent_messages * message_every <= due:
            poster = rng.choice(members)
            post_now(standin, poster, rng.choice(channels), f"message {sent_messages}")
            posters.add(poster.id)
            sent_messages += 1
        if sweep is None and number >= MEMBERS // 2:
            sweep = asyncio.create_task(nudges.run_sweep_now())
        await asyncio.sleep(max(0.0, due - loop.time()))
        options = {"mood": 1 + number % 5, "craving": number % 11, "sober": number % 7 != 0}
        asked.append(await standin.invoke(member, "checkin today", options, wait=False))
    while sent_messages < MESSAGES:
        poster = rng.choice(members)
        post_now(standin, poster, rng.choice(channels), f"message {sent_messages}")
        posters.add(poster.id)
        sent_messages += 1
    spent = loop.time() - started
    answers = await asyncio.gather(*(standin.wait_answered(inter, answer_timeout=30) for inter in asked))
    assert sweep is not None
    report = await asyncio.wait_for(sweep, 60)
    acks = sorted(inter.acked_mono - inter.created_mono for inter in answers if inter.acked_mono is not None)
    assert len(acks) == MEMBERS and acks[-1] < 3.0
    saved = [a for a in answers if "Check-in saved" in a.content]
    assert len(saved) == MEMBERS, [a.content for a in answers if a not in saved][:3]
    stored = query(scene.db_path, "SELECT count(*) FROM checkins WHERE guild_id = ?", scene.guild.id)
    assert stored == [(MEMBERS,)]
    await standin.sync(timeout=30)
    await nudges.flusher.flush()
    now = int(scene.clock().timestamp())
    active = query(
        scene.db_path,
        "SELECT count(*) FROM nudge_members WHERE guild_id = ? AND last_active_at = ?",
        scene.guild.id,
        now,
    )
    assert active[0][0] >= len(posters | {m.id for m in members})
    database_is_sound(scene.db_path)
    log.warning(
        "load: %d check-ins and %d messages in %.1f s (planned %.0f s); acknowledgement p50 %.0f ms, p99 %.0f ms, "
        "max %.0f ms; deferred %d; sweep %s",
        MEMBERS,
        MESSAGES,
        spent,
        WINDOW,
        1000 * acks[len(acks) // 2],
        1000 * acks[int(len(acks) * 0.99)],
        1000 * acks[-1],
        sum(1 for a in answers if a.deferred),
        report,
    )

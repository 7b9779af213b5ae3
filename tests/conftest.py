"""Fixtures shared by every test: a migrated temporary database, and the real bot on the stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db.connection import Database
from bot.db.migrations import migrate
from bot.standin.harness import checked_standin
from bot.standin.server import StandIn
from tests.e2e import FakeClock, Scene, build_scene, running_bot


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database on a real temporary file."""
    database = await Database.open(tmp_path / "test.sqlite3")
    await migrate(database)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty database file (its WAL folded in), for a test to copy once per example."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"

    async def build() -> None:
        database = await Database.open(path)
        try:
            await migrate(database)
            await database.run_outside_transaction(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        finally:
            await database.close()

    asyncio.run(build())
    return path


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A started stand-in; teardown fails on unimplemented routes, unanswered interactions and leaks."""
    async with checked_standin(app_name="SoberPeers", ack_deadline=3.0, answer_timeout=5.0) as server:
        yield server


@pytest.fixture
async def scene(standin: StandIn, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Scene]:
    """The sober-living server with the real bot connected to it."""
    world = build_scene(standin, tmp_path / "e2e.sqlite3", clock)
    async with running_bot(standin, world.db_path, clock) as bot:
        world.bot = bot
        yield world

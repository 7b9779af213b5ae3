"""Fixtures shared by every test: a fresh, migrated SQLite database in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db.connection import Database
from bot.db.migrations import migrate


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database on a real temporary file."""
    database = await Database.open(tmp_path / "test.sqlite3")
    await migrate(database)
    try:
        yield database
    finally:
        await database.close()

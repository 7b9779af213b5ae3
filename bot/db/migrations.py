"""Numbered SQL migrations, applied in order, each in one transaction.

A migration is a file ``NNNN_name.sql`` in ``bot/db/migrations``. The schema version is SQLite's
``PRAGMA user_version``, which is transactional: it moves forward in the same transaction as the
migration's statements, so a failing migration leaves the database exactly as it was before it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.db.connection import Database, StorageError

__all__ = ["MIGRATIONS_DIR", "Migration", "MigrationError", "MigrationResult", "load_migrations", "migrate"]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The database cannot be brought to the code's schema; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """What :func:`migrate` did."""

    before: int
    after: int
    applied: tuple[Migration, ...]


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``folder``, checked to be numbered 1, 2, 3, … without gaps."""
    migrations: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name!r} is not named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            found = f"{migration.version:04d}_{migration.name}"
            raise MigrationError(f"migration {expected:04d} is missing (found {found})")
    return migrations


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (``CREATE TRIGGER … END;`` stays whole)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(l.strip().startswith("--") for l in buffer.strip().splitlines()):  # noqa: E741
        raise MigrationError(f"incomplete SQL statement at the end: {buffer.strip()[:80]!r}")
    return statements


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    statements = split_statements(migration.sql)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
        # PRAGMA takes no parameters; the version is an int parsed from the file name.
        conn.execute("PRAGMA user_version = " + str(int(migration.version)))
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise


async def schema_version(db: Database) -> int:
    """The database's current schema version (0 for a new file)."""
    return await db.run_outside_transaction(_version)


async def migrate(
    db: Database, migrations: list[Migration] | None = None, *, target: int | None = None
) -> MigrationResult:
    """Apply every pending migration (up to ``target``) in order, each in its own transaction."""
    migrations = load_migrations() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    target = latest if target is None else target
    before = await schema_version(db)
    if before > latest:
        raise MigrationError(
            f"the database {str(db.path)!r} has schema version {before}, newer than this version of "
            f"SoberPeers knows ({latest}). Upgrade SoberPeers, or restore a backup made by this version."
        )
    applied: list[Migration] = []
    for migration in migrations:
        if migration.version <= before or migration.version > target:
            continue
        try:
            await db.run_outside_transaction(lambda conn, m=migration: _apply(conn, m))  # type: ignore[misc]
        except sqlite3.Error as exc:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}. The database was left at "
                f"schema version {migration.version - 1}; nothing of this migration was applied."
            ) from exc
        log.info("Applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    return MigrationResult(before=before, after=await schema_version(db), applied=tuple(applied))


def read_schema_version(path: Path) -> int:
    """The schema version of a database file without changing it (0 if it does not exist)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return _version(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the database {str(path)!r}: {exc}") from exc

"""The command line: ``python -m bot [run|demo|migrate|check]`` (also installed as ``soberpeers``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import discord

from bot import __version__
from bot.crypto import generate_key
from bot.db.connection import Database, StorageError
from bot.db.migrations import MigrationError, load_migrations, migrate, read_schema_version
from bot.endpoints import DISCORD_API_BASE, DISCORD_GATEWAY_URL, apply_endpoints
from bot.logs import setup_logging
from bot.services.guidance import GuidanceError, GuidanceLibrary
from bot.settings import Settings, SettingsError, check_database_path, load_settings

__all__ = ["SWITCH_INTERVAL_S", "main", "tune_interpreter"]

log = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).

The database work runs Python on aiosqlite's thread (an activity flush builds and binds 100,000
rows); each time the event loop wants the GIL back it waits up to this interval, so every timer
and command waits too. At 1 ms the bench's event-loop lag (a 1 ms timer while 5,000 messages a
second flow in and a flush and a sweep run; issue 9's target p99 <= 5 ms) went from p99 7.1-9.7 ms
to 3.7-6.7 ms in alternating runs; the extra switches cost nothing measurable there."""

MEMBERS_INTENT_HELP = (
    "Discord refused the connection because the Server Members Intent is not enabled. Open the "
    "Developer Portal → your application → Bot → Privileged Gateway Intents, switch on "
    "'Server Members Intent', save, and start the bot again."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="SoberPeers: a Discord bot for sober-living and outpatient peer groups.",
    )
    parser.add_argument("--version", action="version", version=f"SoberPeers {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,demo,migrate,check,keygen}")
    sub.add_parser("run", help="start the bot (the default)", description="Connect to Discord and run the bot.")
    demo = sub.add_parser(
        "demo",
        help="play a short scene offline against the local Discord stand-in",
        description="Start the local Discord stand-in and the bot on a temporary database, with no "
        "token and no network, and print the scene as a transcript.",
    )
    demo.add_argument("--keep", action="store_true", help="keep the stand-in running after the scene")
    sub.add_parser(
        "migrate",
        help="apply pending database migrations and print the schema version",
        description="Apply pending database migrations and print the schema version.",
    )
    sub.add_parser(
        "keygen",
        help="print a new DATA_KEY for encrypting check-in notes at rest",
        description="Print a new random key for DATA_KEY. Keep it safe: without it, encrypted notes cannot be read.",
    )
    sub.add_parser(
        "check",
        help="validate the settings and database, and say what 'run' would do",
        description="Validate the settings and the database and print what 'run' would do, without connecting.",
    )
    return parser


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the chosen command, and return the exit status."""
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "keygen":
        print(generate_key())
        return EXIT_OK
    try:
        settings = load_settings()
        if command in ("run", "migrate", "check"):
            check_database_path(settings.database_path)
        if command == "run":
            settings.require_token()
    except SettingsError as exc:
        return _fail(str(exc))
    # The demo prints a transcript; its logs would drown it, so it shows warnings and worse only.
    level = max(settings.log_level_number, logging.WARNING) if command == "demo" else settings.log_level_number
    setup_logging(level, [settings.token or ""])
    if command == "check":
        return _check(settings)
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "demo":
        return _demo(keep=bool(args.keep))
    return asyncio.run(_run(settings))


def _demo(*, keep: bool) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(keep=keep))


async def _migrate(settings: Settings) -> int:
    try:
        async with await Database.open(settings.database_path) as db:
            result = await migrate(db)
    except (MigrationError, StorageError) as exc:
        return _fail(str(exc), EXIT_FAILURE)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in result.applied) or "none"
    print(f"Database: {settings.database_path.resolve()}")
    print(f"Applied migrations: {names}")
    print(f"Schema version: {result.after}")
    return EXIT_OK


def _check(settings: Settings) -> int:
    try:
        latest = load_migrations()[-1].version
        current = read_schema_version(settings.database_path)
        guidance = GuidanceLibrary.load()
    except (MigrationError, StorageError, GuidanceError) as exc:
        return _fail(str(exc), EXIT_FAILURE)
    if current > latest:
        return _fail(
            f"the database has schema version {current}, newer than this version of SoberPeers "
            f"knows ({latest}). Upgrade SoberPeers.",
            EXIT_FAILURE,
        )
    print(f"SoberPeers {__version__}")
    print(f"Token: {'set (hidden)' if settings.token else 'not set'}")
    path = settings.database_path.resolve()
    if not Path(path).exists():
        print(f"Database: {path} (does not exist yet; run creates it and applies {latest} migrations)")
    elif current < latest:
        print(f"Database: {path} (schema version {current}; run applies {latest - current} pending migrations)")
    else:
        print(f"Database: {path} (schema version {current}, up to date)")
    sealed = "on (DATA_KEY is set)" if settings.data_key else "off: set DATA_KEY (see `python -m bot keygen`)"
    print(f"Encryption of check-in notes at rest: {sealed}")
    print(f"Guidance: {len(guidance)} passages from “{guidance.source_title}”")
    if settings.dev_guild_id is None:
        print("Commands: synced globally (new commands can take up to an hour to appear)")
    else:
        print(f"Commands: synced to the server {settings.dev_guild_id} only (instant, for development)")
    custom = settings.api_base or settings.gateway_url
    api = settings.api_base or DISCORD_API_BASE
    gateway = settings.gateway_url or DISCORD_GATEWAY_URL
    print(f"API: {'a custom endpoint' if custom else 'Discord'}: REST {api}, gateway {gateway}")
    try:
        settings.require_token()
    except SettingsError as exc:
        return _fail(f"{exc} 'run' would refuse to start.")
    print("Settings are valid: 'run' would start the bot as above.")
    return EXIT_OK


def tune_interpreter() -> None:
    """Set the process's GIL switch interval for the bot's run (see :data:`SWITCH_INTERVAL_S`)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


async def _run(settings: Settings) -> int:
    from bot.client import SoberPeersBot

    token = settings.require_token()
    try:
        guidance = GuidanceLibrary.load()
    except GuidanceError as exc:
        return _fail(f"{exc} The bot did not start.", EXIT_FAILURE)
    apply_endpoints(settings.api_base, settings.gateway_url)
    try:
        db = await Database.open(settings.database_path)
    except StorageError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    async with db:
        try:
            await migrate(db)
        except MigrationError as exc:
            return _fail(f"{exc} The bot did not start.", EXIT_FAILURE)
        tune_interpreter()
        async with SoberPeersBot(settings, db, guidance=guidance) as bot:
            loop = asyncio.get_running_loop()
            stopping: list[asyncio.Task[None]] = []

            def stop(signame: str) -> None:
                if not stopping:
                    log.info("Received %s; shutting down", signame)
                    stopping.append(loop.create_task(bot.close()))

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop, sig.name)
            try:
                await bot.start(token)
            except discord.LoginFailure:
                return _fail(
                    "DISCORD_TOKEN: Discord refused the token. Copy it again from the Developer Portal "
                    "(Bot → Reset Token) into .env.",
                )
            except discord.PrivilegedIntentsRequired:
                return _fail(MEMBERS_INTENT_HELP)
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                if stopping:
                    await stopping[0]
    log.info("Stopped cleanly")
    return EXIT_OK

"""End-to-end tests of /about, command sync and the error handler, through the stand-in."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.standin.server import StandIn
from tests.e2e import FakeClock, Scene, build_scene, running_bot


async def test_about_answers_privately_with_version(scene: Scene) -> None:
    """/about answers ephemerally with what the bot does and its version."""
    answer = await scene.standin.invoke(scene.alice, "about")
    assert answer.ephemeral
    (embed,) = answer.embeds
    assert embed["title"] == "About SoberPeers"
    assert "peer" in embed["description"].lower()
    assert scene.bot.version in embed["footer"]["text"]
    text = " ".join(field["value"] for field in embed["fields"])
    for command in ("/privacy info", "/privacy export", "/privacy delete", "/sos"):
        assert command in text


async def test_about_works_in_dms(scene: Scene) -> None:
    """/about can be used in a DM with the bot."""
    answer = await scene.standin.invoke(scene.alice.user, "about")
    assert answer.ephemeral and answer.embeds


async def test_commands_sync_once_and_not_again_after_restart(standin: StandIn, tmp_path: Path) -> None:
    """The first start syncs the commands; a restart with the same schema does not sync again."""
    clock = FakeClock()
    world = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, world.db_path, clock) as bot:
        assert bot.last_sync_skipped is False
    syncs = len(standin.requests_to("PUT", "/applications/{application_id}/commands"))
    assert syncs == 1
    async with running_bot(standin, world.db_path, clock) as bot:
        assert bot.last_sync_skipped is True
        answer = await standin.invoke(world.alice, "about")
        assert answer.ephemeral
    assert len(standin.requests_to("PUT", "/applications/{application_id}/commands")) == syncs


async def test_unexpected_error_gets_ephemeral_answer_with_id_and_log(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A command that crashes answers the member privately with an error id, and logs that id."""
    clock = FakeClock()
    world = build_scene(standin, tmp_path / "db.sqlite3", clock)
    with caplog.at_level(logging.ERROR, logger="bot.tree"):
        async with running_bot(standin, world.db_path, clock, extensions=["cogs.meta", "tests.cogs.failing_extension"]):
            answer = await standin.invoke(world.alice, "explode")
            deferred = await standin.invoke(world.alice, "explode-later")
    assert answer.ephemeral
    match = re.search(r"`([0-9a-f]{8})`", answer.content)
    assert match, answer.content
    assert any(match[1] in r.getMessage() and r.exc_info for r in caplog.records)
    assert deferred.ephemeral
    assert re.search(r"`[0-9a-f]{8}`", deferred.content)


async def test_guild_only_command_in_dms_is_refused_by_discord(scene: Scene) -> None:
    """/settings is not offered in DMs: Discord (the stand-in) refuses to invoke it there."""
    from bot.standin.interactions import InvocationRefused

    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.mod.user, "settings show")

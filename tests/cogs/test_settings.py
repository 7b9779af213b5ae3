"""End-to-end tests of /settings through the stand-in."""

from __future__ import annotations

import pytest

from bot.standin.interactions import Interaction, InvocationRefused, find_command
from bot.standin.model import Member
from tests.e2e import Scene


async def _invoke_ignoring_discord_permissions(scene: Scene, member: Member, command: str) -> Interaction:
    """Invoke as if the server had opened the command to everyone in its Integrations settings."""
    root, _, _ = find_command(scene.standin, command, scene.guild)
    root["default_member_permissions"] = None
    return await scene.standin.invoke(member, command)


async def test_moderator_sets_a_channel_and_sees_it_in_show(scene: Scene) -> None:
    """A moderator sets the check-in channel; /settings show lists it."""
    answer = await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    assert answer.ephemeral
    assert f"<#{scene.checkins.id}>" in answer.content
    show = await scene.standin.invoke(scene.mod, "settings show")
    assert show.ephemeral
    assert f"<#{scene.checkins.id}>" in show.embeds[0]["description"]


async def test_leaving_out_the_channel_unsets_it(scene: Scene) -> None:
    """Without a channel the setting is cleared."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    answer = await scene.standin.invoke(scene.mod, "settings celebrations-channel")
    assert "not set" in answer.content
    config = await scene.bot.server_settings.get(scene.guild.id)
    assert config.snowflake("celebrations_channel") is None


async def test_members_without_manage_server_cannot_see_the_command(scene: Scene) -> None:
    """Discord hides /settings from members without Manage Server (default_member_permissions)."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "settings show")


async def test_run_time_check_refuses_a_non_moderator_even_when_visible(scene: Scene) -> None:
    """If a server loosens the command's permissions, the bot still refuses non-moderators."""
    answer = await _invoke_ignoring_discord_permissions(scene, scene.alice, "settings moderator-channel")
    assert answer.ephemeral
    assert "Only moderators" in answer.content
    config = await scene.bot.server_settings.get(scene.guild.id)
    assert config.snowflake("moderator_channel") is None


async def test_moderator_role_grants_access(scene: Scene) -> None:
    """A member with the server's moderator role passes the run-time check."""
    await scene.standin.invoke(scene.mod, "settings moderator-role", {"role": scene.womens_house})
    answer = await _invoke_ignoring_discord_permissions(scene, scene.alice, "settings show")
    assert answer.ephemeral and answer.embeds

"""Buddy proposals (``require_approval``) that Discord would not let the bot post in the moderators'
channel: a 503, 500s beyond discord.py's retries, a lost answer, a missing permission. The proposal
stays 'proposed' with no message, and the sweep posts it, exactly once, with working buttons."""

from __future__ import annotations

import asyncio

import pytest

from bot.standin.model import GuildChannel, Message
from cogs.buddies import Buddies
from tests.e2e import Scene
from tests.reliability.support import cog, fast_backoff, query


def proposals_in(channel: GuildChannel) -> list[Message]:
    """The proposals (Approve / Reject) the bot posted in ``channel``."""
    return [m for m in channel.bot_messages() if m.interaction is None and m.embeds]


def approve_button(message: Message) -> str:
    return next(c for c in message.custom_ids() if ":approve:" in c)


def recorded(scene: Scene) -> list[tuple[int | None, int | None]]:
    """Where each proposal's message is recorded (channel, message)."""
    return query(scene.db_path, "SELECT proposal_channel_id, proposal_message_id FROM buddy_pairs")


async def approval_on(scene: Scene, channel: GuildChannel) -> None:
    """``channel`` is the moderators' channel; the houses are groups; require_approval; carl volunteers."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": channel})
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"require_approval": True})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})


async def dan_asks(scene: Scene) -> None:
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "a moderator will confirm" in answer.content


async def approve_and_check(scene: Scene, proposal: Message) -> None:
    """The buttons work: approving pairs dan with carl."""
    pressed = await scene.standin.press_button(scene.mod, proposal, approve_button(proposal))
    assert "are buddies now" in pressed.content
    assert query(scene.db_path, "SELECT status FROM buddy_pairs") == [("active",)]


@pytest.mark.parametrize("how", ["503", "five 500s"])
async def test_a_proposal_discord_refused_is_posted_at_the_next_sweep_once(
    scene: Scene, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Posting dan's proposal fails (nothing made): no message, nothing recorded; the next sweep posts
    it once, with the same nonce, and the one after posts nothing."""
    fast_backoff(monkeypatch)
    await approval_on(scene, scene.mod_channel)
    status, times = (503, 1) if how == "503" else (500, 5)
    path = f"/channels/{scene.mod_channel.id}/messages"
    scene.standin.fail_next("POST", path, status, times=times)
    await dan_asks(scene)
    assert proposals_in(scene.mod_channel) == [] and recorded(scene) == [(None, None)]
    buddies = cog(scene, "Buddies", Buddies)
    assert (await buddies.run_sweep_now()).proposed == 1
    assert (await buddies.run_sweep_now()).proposed == 0
    (proposal,) = proposals_in(scene.mod_channel)
    assert recorded(scene) == [(scene.mod_channel.id, proposal.id)]
    nonces = {r.body["nonce"] for r in scene.standin.requests_to("POST", path)}
    assert len(nonces) == 1
    await approve_and_check(scene, proposal)


@pytest.mark.parametrize("lost", [503, None], ids=["503", "dropped"])
async def test_a_proposal_whose_answer_was_lost_is_not_posted_twice(scene: Scene, lost: int | None) -> None:
    """Discord makes the proposal but its answer is lost (a 503, or the connection dropped): a failure in
    passing has it tried again soon (a minute; shortened here) with the same nonce; Discord hands the
    message back, and that one is recorded; one proposal."""
    buddies = cog(scene, "Buddies", Buddies)
    buddies.proposal_retry = 0.05
    await approval_on(scene, scene.mod_channel)
    path = f"/channels/{scene.mod_channel.id}/messages"
    scene.standin.lose_response("POST", path, lost)
    await dan_asks(scene)
    assert len(proposals_in(scene.mod_channel)) == 1  # made, though the bot did not hear it
    async with asyncio.timeout(5):  # no sweep called here: the retry comes by itself
        while recorded(scene) == [(None, None)]:  # noqa: ASYNC110 - a database state, polled
            await asyncio.sleep(0.01)
    assert (await buddies.run_sweep_now()).proposed == 0
    (proposal,) = proposals_in(scene.mod_channel)
    assert recorded(scene) == [(scene.mod_channel.id, proposal.id)]
    tries = scene.standin.requests_to("POST", path)
    assert [r.status for r in tries] == [lost or 0, 200]
    assert tries[0].body["nonce"] == tries[1].body["nonce"] and tries[1].body["enforce_nonce"] is True
    await approve_and_check(scene, proposal)


async def test_a_proposal_the_bot_may_not_post_is_posted_once_it_may(scene: Scene) -> None:
    """The bot lacks Send Messages in the moderators' channel: the proposal waits, unposted, through
    sweeps; once a moderator gives the permission back, the next sweep posts it, once."""
    channel = scene.guild.add_text_channel("mods-locked", bot_can_send=False)
    await scene.standin.sync()
    await approval_on(scene, channel)
    await dan_asks(scene)
    buddies = cog(scene, "Buddies", Buddies)
    assert (await buddies.run_sweep_now()).proposed == 0
    assert proposals_in(channel) == [] and recorded(scene) == [(None, None)]
    channel.set_bot_access(send=True)
    await scene.standin.sync()
    assert (await buddies.run_sweep_now()).proposed == 1
    assert (await buddies.run_sweep_now()).proposed == 0
    (proposal,) = proposals_in(channel)
    await approve_and_check(scene, proposal)

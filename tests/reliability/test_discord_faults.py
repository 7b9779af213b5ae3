"""Discord failing on purpose (the stand-in's failure injection): rate limits are waited out, passing
server errors retried with a bounded back-off, and what still fails is recorded and done again by the
next run, sweep or press; never dropped, never sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.standin.model import Member, Message, Thread
from bot.standin.routing import RequestRecord
from cogs.buddies import Buddies
from cogs.checkins import Checkins
from cogs.nudges import Nudges
from cogs.sobriety import Sobriety
from tests.e2e import Scene
from tests.reliability.support import cog, fast_backoff, pinged

MESSAGES = "/channels/{channel_id}/messages"
THREADS = "/channels/{channel_id}/threads"
ROLES = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


# --------------------------------------------------------------------------- waiting for the background tasks


async def until_idle(is_idle: Callable[[], bool]) -> None:
    """Wait until a background task sleeps with nothing left to do now."""
    async with asyncio.timeout(5):
        while not is_idle():  # noqa: ASYNC110 - the loops expose a state, not an event
            await asyncio.sleep(0.005)


async def fire_reminders(scene: Scene, **advance: float) -> None:
    """Move the clock, wake the reminder dispatcher, and wait until it handled what came due."""
    dispatcher = cog(scene, "Checkins", Checkins).dispatcher
    await until_idle(lambda: dispatcher.idle)
    scene.clock.advance(**advance)
    dispatcher.wake()
    await until_idle(lambda: dispatcher.idle)


async def check_milestones(scene: Scene) -> None:
    """The milestone watcher's next check."""
    watcher = cog(scene, "Sobriety", Sobriety).watcher
    await until_idle(lambda: watcher.idle)
    watcher.wake()
    await until_idle(lambda: watcher.idle)


async def sweep_nudges(scene: Scene, **advance: float) -> None:
    """Move the clock, then run a nudge sweep."""
    nudges = cog(scene, "Nudges", Nudges)
    await until_idle(lambda: nudges.sweeper.idle)
    scene.clock.advance(**advance)
    await nudges.run_sweep_now()


async def groups_with_volunteer(scene: Scene, *, intro_channel: bool) -> None:
    """Both houses are matching groups (introductions in #buddy-intros or by DM); alice volunteers."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    if intro_channel:
        await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})


# --------------------------------------------------------------------------- the features that send DMs


@dataclass(frozen=True)
class Feature:
    """Something the bot sends privately: how to make it send, to whom, how to tell it apart, and the
    next chance it gets after a failure (a sweep, a check, a press)."""

    name: str
    recipient: Callable[[Scene], Member]
    prepare: Callable[[Scene], Awaitable[None]]
    trigger: Callable[[Scene], Awaitable[None]]
    next_chance: Callable[[Scene], Awaitable[None]]
    marker: str
    refused: Callable[[Scene], list[Member]] | None = None
    """Whose DMs Discord keeps refusing in the "next chance" test (default: the recipient's)."""

    def sent(self, scene: Scene) -> list[Message]:
        """The DMs of this kind the recipient got."""
        found = []
        for message in self.recipient(scene).dms_from_bot():
            text = " ".join([message.content] + [str(e.get("title", "")) for e in message.embeds])
            if self.marker in text:
                found.append(message)
        return found


async def _nothing(scene: Scene) -> None:
    """No preparation."""


async def _reminder_set(scene: Scene) -> None:
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "16:00"})


async def _reminder_due(scene: Scene) -> None:
    await fire_reminders(scene, hours=1, minutes=1)


async def _reminder_retry(scene: Scene) -> None:
    await fire_reminders(scene, minutes=30)


async def _milestone_set(scene: Scene) -> None:
    week_ago = (scene.clock() - timedelta(days=7)).date().isoformat()
    await scene.standin.invoke(scene.alice, "sobriety set", {"date": week_ago})
    await until_idle(lambda: cog(scene, "Sobriety", Sobriety).watcher.idle)


async def _nudges_on(scene: Scene) -> None:
    await scene.standin.invoke(scene.alice, "nudges on")


async def _nudge_due(scene: Scene) -> None:
    await sweep_nudges(scene, days=3, hours=1)


async def _nudge_retry(scene: Scene) -> None:
    await sweep_nudges(scene, minutes=16)


async def _intro_ready(scene: Scene) -> None:
    await groups_with_volunteer(scene, intro_channel=False)


async def _intro_request(scene: Scene) -> None:
    await scene.standin.invoke(scene.beth, "buddy request")


async def _intro_sweep(scene: Scene) -> None:
    await cog(scene, "Buddies", Buddies).run_sweep_now()


async def _sos_pair(scene: Scene) -> None:
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    await scene.standin.invoke(scene.mod, "buddyadmin pair", {"member": scene.alice, "buddy": scene.beth})


async def _sos_alert(scene: Scene) -> None:
    """alice: /sos, "Tell my buddy", "Yes": the buddy's alert goes out (or the member hears it did not)."""
    standin = scene.standin
    answer = await standin.invoke(scene.alice, "sos")
    ask = next(c for c in answer.custom_ids() if c.startswith("sos:ask:buddy:"))
    asked = await standin.press_button(scene.alice.user, answer, ask)
    sends = [c for c in asked.custom_ids() if c.startswith("sos:send:")]
    if not sends:  # "I already let your buddy know" (the ten-minute limit): nothing to confirm
        return
    send = sends[0]
    pressed = await standin.press_button(scene.alice.user, asked, send)
    await standin.wait_for(lambda: pressed.content != "Sending it now…")


FEATURES = [
    Feature("reminder", lambda s: s.alice, _reminder_set, _reminder_due, _reminder_retry, "daily check-in"),
    Feature("milestone", lambda s: s.alice, _nothing, _milestone_set, check_milestones, "days sober"),
    Feature("nudge", lambda s: s.alice, _nudges_on, _nudge_due, _nudge_retry, "Thinking of you"),
    Feature(
        "introduction",
        lambda s: s.beth,
        _intro_ready,
        _intro_request,
        _intro_sweep,
        "Meet your buddy",
        refused=lambda s: [s.beth, s.alice],  # one of two DMs failing: see test_a_half_failed_introduction
    ),
    Feature("sos alert", lambda s: s.beth, _sos_pair, _sos_alert, _sos_alert, "need support now"),
]
IDS = [f.name for f in FEATURES]


def attempts(scene: Scene, member: Member) -> list[RequestRecord]:
    """The bot's attempts to post in the member's DMs."""
    return scene.standin.requests_to("POST", f"/channels/{member.user.dm_channel().id}/messages")


# --------------------------------------------------------------------------- DMs


@pytest.mark.parametrize("feature", FEATURES, ids=IDS)
async def test_a_rate_limited_dm_is_waited_out_and_sent_once(scene: Scene, feature: Feature) -> None:
    """A 429 with retry_after on the DM: the bot waits that long, then sends it, once."""
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.fail_next("POST", f"/channels/{recipient.user.dm_channel().id}/messages", 429, retry_after=0.3)
    await feature.trigger(scene)
    (dm,) = feature.sent(scene)
    tries = [r for r in attempts(scene, recipient) if r.status == 429 or r.response.get("id") == str(dm.id)]
    assert [r.status for r in tries] == [429, 200]
    assert (tries[1].at - tries[0].at).total_seconds() >= 0.3
    await feature.next_chance(scene)
    assert len(feature.sent(scene)) == 1


@pytest.mark.parametrize("status", [500, 502])
@pytest.mark.parametrize("feature", FEATURES, ids=IDS)
async def test_a_passing_server_error_on_a_dm_is_retried_and_sent_once(
    scene: Scene, feature: Feature, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two 500s or 502s: discord.py retries with its bounded back-off (shortened here); one DM arrives."""
    fast_backoff(monkeypatch)
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.fail_next("POST", f"/channels/{recipient.user.dm_channel().id}/messages", status, times=2)
    await feature.trigger(scene)
    assert [r.status for r in attempts(scene, recipient)][-3:] == [status, status, 200]
    assert len(feature.sent(scene)) == 1
    await feature.next_chance(scene)
    assert len(feature.sent(scene)) == 1


@pytest.mark.parametrize("exhausted", ["503", "5x500"])
@pytest.mark.parametrize("feature", FEATURES, ids=IDS)
async def test_a_dm_discord_keeps_refusing_is_sent_at_the_next_chance_once(
    scene: Scene, feature: Feature, exhausted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 (discord.py does not retry it) or five 500s (its retries used up): nothing arrives now, the
    failure is not lost, and the next sweep, check or press sends it; never a second time."""
    fast_backoff(monkeypatch)
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    status, times = (503, 1) if exhausted == "503" else (500, 5)
    for member in feature.refused(scene) if feature.refused is not None else [recipient]:
        scene.standin.fail_next("POST", f"/channels/{member.user.dm_channel().id}/messages", status, times=times)
    await feature.trigger(scene)
    assert feature.sent(scene) == []
    await feature.next_chance(scene)
    assert len(feature.sent(scene)) == 1
    await feature.next_chance(scene)
    assert len(feature.sent(scene)) == 1


# --------------------------------------------------------------------------- channel messages


async def test_a_rate_limited_share_is_posted_once(scene: Scene) -> None:
    """A 429 on the shared check-in summary: waited out, posted once, the member told it was shared."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    scene.standin.fail_next("POST", f"/channels/{scene.checkins.id}/messages", 429, retry_after=0.2)
    options = {"mood": 3, "craving": 1, "sober": True, "share": True}
    answer = await scene.standin.invoke(scene.alice, "checkin today", options)
    assert "Shared a short summary" in answer.content
    assert len([m for m in scene.checkins.bot_messages() if m.interaction is None]) == 1
    assert [r.status for r in scene.standin.requests_to("POST", f"/channels/{scene.checkins.id}/messages")] == [
        429,
        200,
    ]


async def test_a_moderators_notice_discord_refuses_is_posted_at_the_next_sweep(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quiet-member notice meets five 500s: recorded as not delivered, posted by the next sweep, once."""
    fast_backoff(monkeypatch)
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.alice, "nudges on")
    await sweep_nudges(scene, days=3, hours=1)
    await sweep_nudges(scene, days=2)
    scene.standin.fail_next("POST", f"/channels/{scene.mod_channel.id}/messages", 500, times=5)
    await sweep_nudges(scene, days=2)
    notices = [m for m in scene.mod_channel.bot_messages() if m.interaction is None]
    assert notices == []
    await sweep_nudges(scene, minutes=16)
    (notice,) = [m for m in scene.mod_channel.bot_messages() if m.interaction is None]
    assert notice.embeds[0]["title"] == "A member has gone quiet"
    await sweep_nudges(scene, minutes=16)
    assert len([m for m in scene.mod_channel.bot_messages() if m.interaction is None]) == 1


# --------------------------------------------------------------------------- thread creation


def intro_threads(scene: Scene) -> list[Thread]:
    return [t for t in scene.standin.threads_created if {scene.alice.id, scene.beth.id} <= set(t.member_ids)]


async def test_a_rate_limited_thread_creation_is_waited_out_and_one_thread_opens(scene: Scene) -> None:
    """A 429 on opening the introduction thread: one thread, both members in it, one welcome."""
    await groups_with_volunteer(scene, intro_channel=True)
    scene.standin.fail_next("POST", f"/channels/{scene.intros.id}/threads", 429, retry_after=0.2)
    answer = await scene.standin.invoke(scene.beth, "buddy request")
    assert "You have a buddy" in answer.content
    (thread,) = intro_threads(scene)
    assert len(thread.bot_messages()) == 1
    assert [r.status for r in scene.standin.requests_to("POST", THREADS)] == [429, 201]
    assert scene.alice.dms_from_bot() == [] and scene.beth.dms_from_bot() == []
    assert scene.standin.requests_to("PUT", ROLES) == [] and scene.standin.requests_to("DELETE", ROLES) == []


async def test_a_passing_server_error_on_thread_creation_is_retried(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 502 then a 500: discord.py retries, one thread opens, nobody is introduced twice."""
    fast_backoff(monkeypatch)
    await groups_with_volunteer(scene, intro_channel=True)
    scene.standin.fail_next("POST", f"/channels/{scene.intros.id}/threads", 502)
    scene.standin.fail_next("POST", f"/channels/{scene.intros.id}/threads", 500)
    await scene.standin.invoke(scene.beth, "buddy request")
    assert [r.status for r in scene.standin.requests_to("POST", THREADS)] == [502, 500, 201]
    (thread,) = intro_threads(scene)
    await cog(scene, "Buddies", Buddies).run_sweep_now()
    assert intro_threads(scene) == [thread] and len(thread.bot_messages()) == 1


async def test_a_refused_thread_and_refused_dms_are_retried_by_the_sweep_once(scene: Scene) -> None:
    """Thread creation and both DMs meet 503s: nobody is introduced and nothing recorded; the next
    sweep opens the thread, once."""
    await groups_with_volunteer(scene, intro_channel=True)
    scene.standin.fail_next("POST", f"/channels/{scene.intros.id}/threads", 503)
    for member in (scene.alice, scene.beth):
        scene.standin.fail_next("POST", f"/channels/{member.user.dm_channel().id}/messages", 503)
    await scene.standin.invoke(scene.beth, "buddy request")
    assert intro_threads(scene) == []
    buddies = cog(scene, "Buddies", Buddies)
    assert (await buddies.run_sweep_now()).introduced == 1
    (thread,) = intro_threads(scene)
    assert (await buddies.run_sweep_now()).introduced == 0
    assert intro_threads(scene) == [thread] and len(thread.bot_messages()) == 1


async def test_no_fault_pings_anyone(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retried sends keep their mentions off: only the introduction pings, and only the pair."""
    fast_backoff(monkeypatch)
    await groups_with_volunteer(scene, intro_channel=True)
    scene.standin.fail_next("POST", MESSAGES, 500, times=3)
    await scene.standin.invoke(scene.beth, "buddy request")
    await scene.standin.invoke(scene.carl, "checkin today", {"mood": 2, "craving": 9, "sober": False, "share": True})
    assert pinged(scene.standin) <= {f"user:{scene.alice.id}", f"user:{scene.beth.id}"}


async def test_a_half_failed_introduction_is_handed_to_the_moderators(scene: Scene) -> None:
    """By DM, alice's introduction goes out and beth's meets a 503: the pair counts as introduced (alice
    is not written to twice) and the moderators are asked to make sure beth knows."""
    await groups_with_volunteer(scene, intro_channel=False)
    scene.standin.fail_next("POST", f"/channels/{scene.beth.user.dm_channel().id}/messages", 503)
    await scene.standin.invoke(scene.beth, "buddy request")
    assert [m for m in scene.beth.dms_from_bot() if "Meet your buddy" in m.content] == []
    assert len([m for m in scene.alice.dms_from_bot() if "new buddy to support" in m.content]) == 1
    (notice,) = [m.content for m in scene.mod_channel.bot_messages() if m.interaction is None]
    assert f"<@{scene.beth.id}>" in notice and "couldn't reach" in notice
    assert (await cog(scene, "Buddies", Buddies).run_sweep_now()).introduced == 0
    assert len([m for m in scene.alice.dms_from_bot() if "new buddy to support" in m.content]) == 1


async def test_a_refused_reminder_is_not_sent_once_the_member_checked_in(scene: Scene) -> None:
    """The reminder meets a 503; alice checks in before its next chance: no reminder after all."""
    await _reminder_set(scene)
    scene.standin.fail_next("POST", f"/channels/{scene.alice.user.dm_channel().id}/messages", 503)
    await _reminder_due(scene)
    await scene.standin.invoke(scene.alice, "checkin today", {"mood": 4, "craving": 1, "sober": True})
    await _reminder_retry(scene)
    assert FEATURES[0].sent(scene) == []
    assert len(attempts(scene, scene.alice)) == 1


async def test_a_refused_nudge_is_not_sent_once_the_member_is_active_again(scene: Scene) -> None:
    """The nudge meets a 503; alice posts before the next sweep: her quiet spell is over, no nudge."""
    await _nudges_on(scene)
    scene.standin.fail_next("POST", f"/channels/{scene.alice.user.dm_channel().id}/messages", 503)
    await _nudge_due(scene)
    await scene.alice.post_message(scene.general, "I'm around")
    await _nudge_retry(scene)
    await sweep_nudges(scene, hours=2)
    assert FEATURES[2].sent(scene) == []

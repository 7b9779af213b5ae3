"""Lost responses: Discord created the message, but the bot heard a 5xx or nothing at all. Every
attempt at the same message carries the same nonce (``enforce_nonce``), so discord.py's own retry
and the feature's next chance get the message Discord already made: exactly one arrives.

And a 403 that is not "cannot DM this user" (50007) is a failure to retry, not closed DMs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.safety import Alert, AlertKind, AlertStatus
from cogs.buddies import Buddies
from cogs.safety import Safety, sos_nonce
from tests.e2e import Scene
from tests.reliability.support import cog, fast_backoff, query
from tests.reliability.test_discord_faults import (
    FEATURES,
    Feature,
    attempts,
    check_milestones,
    fire_reminders,
    groups_with_volunteer,
    sweep_nudges,
)

LOST_FEATURES = [f for f in FEATURES if f.name in ("reminder", "milestone", "nudge", "sos alert")]
LOST_IDS = [f.name for f in LOST_FEATURES]
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
"""A 403 that is not about the member's DMs being closed."""


def dm_path(scene: Scene, feature: Feature) -> str:
    """The recipient's DM channel's messages route."""
    return f"/channels/{feature.recipient(scene).user.dm_channel().id}/messages"


@pytest.mark.parametrize("feature", LOST_FEATURES, ids=LOST_IDS)
async def test_a_lost_500_is_retried_by_discord_py_and_one_message_arrives(
    scene: Scene, feature: Feature, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DM is created, then answered with a 500: discord.py retries with the same nonce and gets the
    message back; one DM, and the next chance sends no other."""
    fast_backoff(monkeypatch)
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.lose_response("POST", dm_path(scene, feature), 500)
    await feature.trigger(scene)
    tries = attempts(scene, recipient)[-2:]
    assert [(r.status, r.lost) for r in tries] == [(500, True), (200, False)]
    assert tries[0].body["nonce"] == tries[1].body["nonce"]
    (dm,) = feature.sent(scene)
    assert scene.standin.deduplicated == [dm]
    await feature.next_chance(scene)
    assert feature.sent(scene) == [dm]


@pytest.mark.parametrize("answer", [503, None], ids=["503", "dropped"])
@pytest.mark.parametrize("feature", LOST_FEATURES, ids=LOST_IDS)
async def test_a_lost_answer_the_bot_saw_as_a_failure_is_not_repeated_at_the_next_chance(
    scene: Scene, feature: Feature, answer: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DM is created, then answered with a 503 (not retried by discord.py) or the connection is
    dropped: the bot counts it as failed, and its next chance sends the same nonce and gets that DM
    back instead of a second one."""
    fast_backoff(monkeypatch)
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.lose_response("POST", dm_path(scene, feature), answer)
    await feature.trigger(scene)
    (lost,) = [r for r in attempts(scene, recipient) if r.lost]
    (dm,) = feature.sent(scene)
    assert scene.standin.deduplicated == []
    scene.clock.advance(minutes=2)  # the /sos is pressed again a little later
    await feature.next_chance(scene)
    assert feature.sent(scene) == [dm]
    assert scene.standin.deduplicated == [dm]
    retried = attempts(scene, recipient)[-1]
    assert retried.body["nonce"] == lost.body["nonce"] and retried.response["id"] == str(dm.id)
    await feature.next_chance(scene)
    assert feature.sent(scene) == [dm]


async def test_a_lost_moderators_notice_is_not_posted_twice(scene: Scene) -> None:
    """The quiet-member notice is posted but its answer is a 503: the next sweep claims the step again
    and gets the same notice back; one notice."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.alice, "nudges on")
    await sweep_nudges(scene, days=3, hours=1)
    await sweep_nudges(scene, days=2)
    scene.standin.lose_response("POST", f"/channels/{scene.mod_channel.id}/messages", 503)
    await sweep_nudges(scene, days=2)
    (notice,) = [m for m in scene.mod_channel.bot_messages() if m.interaction is None]
    await sweep_nudges(scene, minutes=16)
    assert [m for m in scene.mod_channel.bot_messages() if m.interaction is None] == [notice]
    assert scene.standin.deduplicated == [notice]


def nonces(scene: Scene, path: str) -> list[str]:
    """The nonces of the bot's successful posts to ``path``."""
    return [str(r.body["nonce"]) for r in scene.standin.requests_to("POST", path) if r.status == 200]


async def test_nonces_are_short_hashed_and_distinct_per_message(scene: Scene) -> None:
    """Every nonce is at most 25 characters, shows no id in the clear, and two different messages (a
    reminder on two days) have different nonces."""
    feature = LOST_FEATURES[0]
    await feature.prepare(scene)
    await feature.trigger(scene)
    await feature.next_chance(scene)  # same day: nothing more
    await fire_reminders(scene, days=1)
    found = nonces(scene, dm_path(scene, feature))
    assert len(found) == 2 and len(set(found)) == 2
    for nonce in found:
        assert len(nonce) <= 25
        assert str(scene.alice.id) not in nonce and str(scene.guild.id) not in nonce


def test_an_sos_pressed_again_keeps_its_nonces_only_while_remembered(scene: Scene) -> None:
    """An /sos that reached nobody lends its start (so its nonces) to the member's next press within
    ten minutes; after that, or once one reached someone, a press is a new /sos."""
    safety = cog(scene, "Safety", Safety)
    start = scene.clock()

    def claimed(minutes: float) -> Alert:
        at = start + timedelta(minutes=minutes)
        return Alert(scene.guild.id, scene.alice.id, AlertKind.BUDDY, AlertStatus.CLAIMED, sent_at=at)

    first = claimed(0)
    assert safety._started(first) == start
    safety._settled(first, start, delivered=False)
    assert safety._started(claimed(9)) == start
    assert safety._started(claimed(11)) == start + timedelta(minutes=11)
    again = claimed(3)
    safety._settled(again, safety._started(again), delivered=True)
    assert safety._started(claimed(4)) == start + timedelta(minutes=4)
    assert sos_nonce(first, start, scene.beth.id) != sos_nonce(first, start, scene.carl.id)


# --------------------------------------------------------------------------- a 403 that is not closed DMs


def step_outcomes(scene: Scene) -> list[str]:
    """alice's nudge steps, in order."""
    rows = query(
        scene.db_path,
        "SELECT outcome FROM nudge_steps WHERE guild_id = ? AND user_id = ? ORDER BY claimed_at, step",
        scene.guild.id,
        scene.alice.id,
    )
    return [str(row[0]) for row in rows]


async def test_a_nudge_dm_refused_with_another_403_is_retried_not_skipped(scene: Scene) -> None:
    """A 403 Missing Access on the nudge DM is a failure (claimed again by the next sweep), not closed
    DMs (which would move the ladder on): the DM is sent 16 minutes later, once."""
    nudge = next(f for f in FEATURES if f.name == "nudge")
    await nudge.prepare(scene)
    scene.standin.fail_next("POST", dm_path(scene, nudge), 403, body=MISSING_ACCESS)
    await nudge.trigger(scene)
    assert nudge.sent(scene) == []
    assert step_outcomes(scene) == ["failed"]
    await nudge.next_chance(scene)
    assert len(nudge.sent(scene)) == 1
    assert step_outcomes(scene) == ["sent"]


async def test_a_nudge_dm_to_closed_dms_moves_the_ladder_on(scene: Scene) -> None:
    """Closed DMs (50007) are recorded as such, and the next sweep does not try that DM again."""
    nudge = next(f for f in FEATURES if f.name == "nudge")
    await nudge.prepare(scene)
    scene.alice.user.dms_open = False
    await nudge.trigger(scene)
    outcomes = step_outcomes(scene)
    assert outcomes[0] == "dm_closed"
    await nudge.next_chance(scene)
    assert step_outcomes(scene) == outcomes
    assert len(attempts(scene, scene.alice)) == 1


async def test_a_reminder_refused_with_another_403_is_retried_not_paused(scene: Scene) -> None:
    """A 403 Missing Access on the reminder DM is given back and sent at its next chance the same day
    (closed DMs would pause the reminder)."""
    reminder = next(f for f in FEATURES if f.name == "reminder")
    await reminder.prepare(scene)
    scene.standin.fail_next("POST", dm_path(scene, reminder), 403, body=MISSING_ACCESS)
    await reminder.trigger(scene)
    assert reminder.sent(scene) == []
    await reminder.next_chance(scene)
    assert len(reminder.sent(scene)) == 1
    status = await scene.standin.invoke(scene.alice, "checkin history")
    assert "⏸️" not in status.content


async def test_a_reminder_to_closed_dms_is_paused(scene: Scene) -> None:
    """Closed DMs (50007): the reminder is paused and not tried again at the next chance."""
    reminder = next(f for f in FEATURES if f.name == "reminder")
    await reminder.prepare(scene)
    scene.alice.user.dms_open = False
    await reminder.trigger(scene)
    await reminder.next_chance(scene)
    assert len(attempts(scene, scene.alice)) == 1


async def test_a_milestone_dm_refused_with_another_403_is_sent_at_the_next_check(scene: Scene) -> None:
    """A 403 Missing Access on the milestone DM releases the milestone; the next check sends it, once."""
    milestone = next(f for f in FEATURES if f.name == "milestone")
    scene.standin.fail_next("POST", dm_path(scene, milestone), 403, body=MISSING_ACCESS)
    await milestone.trigger(scene)
    assert milestone.sent(scene) == []
    await check_milestones(scene)
    assert len(milestone.sent(scene)) == 1
    await check_milestones(scene)
    assert len(milestone.sent(scene)) == 1


# --------------------------------------------------------------------------- thread creation (no nonce)


async def test_a_dropped_answer_to_opening_the_thread_is_carried_on_by_the_sweep(scene: Scene) -> None:
    """Thread creation takes no nonce: the thread is opened but the connection drops. Nothing is
    recorded; the sweep finds that thread by its name and introduces the pair there: one thread, one
    welcome, no DMs."""
    await groups_with_volunteer(scene, intro_channel=True)
    scene.standin.lose_response("POST", f"/channels/{scene.intros.id}/threads", None)
    await scene.standin.invoke(scene.beth, "buddy request")
    (thread,) = scene.standin.threads_created
    assert (await cog(scene, "Buddies", Buddies).run_sweep_now()).introduced == 1
    assert scene.standin.threads_created == [thread]
    assert {scene.alice.id, scene.beth.id} <= set(thread.member_ids)
    assert len(thread.bot_messages()) == 1
    assert scene.alice.dms_from_bot() == [] and scene.beth.dms_from_bot() == []

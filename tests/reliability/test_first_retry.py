"""The first retry after a lost answer comes within Discord's nonce window, measured on the bot's clock.

Discord created the DM but the bot heard a 503 or nothing at all. The stand-in here measures its nonce
window (``NONCE_WINDOW``, five minutes) on the bot's own clock, so the retry must really come within
it: each feature's first retry comes a minute later (``FIRST_RETRY``), with the same nonce, and gets
the DM already made; exactly one arrives, and nothing is tried again after that."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.retry import FIRST_RETRY
from bot.standin.server import NONCE_WINDOW
from cogs.sobriety import Sobriety
from tests.e2e import Scene
from tests.reliability.support import cog, fast_backoff
from tests.reliability.test_discord_faults import (
    FEATURES,
    Feature,
    attempts,
    check_milestones,
    fire_reminders,
    sweep_nudges,
)


async def _reminder_soon(scene: Scene, after: timedelta) -> None:
    await fire_reminders(scene, seconds=after.total_seconds())


async def _milestone_soon(scene: Scene, after: timedelta) -> None:
    """The watcher's early check: asked for at the failure, looked at once its time has come."""
    sobriety = cog(scene, "Sobriety", Sobriety)
    early = sobriety.sobriety.next_retry_at()
    scene.clock.advance(seconds=after.total_seconds())
    if early is not None and early <= scene.clock():
        await check_milestones(scene)  # the watcher sleeps until then; waking it stands in for the wait


async def _nudge_soon(scene: Scene, after: timedelta) -> None:
    await sweep_nudges(scene, seconds=after.total_seconds())


SOON = {"reminder": _reminder_soon, "milestone": _milestone_soon, "nudge": _nudge_soon}
RETRIED = [f for f in FEATURES if f.name in SOON]


def dm_path(scene: Scene, feature: Feature) -> str:
    """The recipient's DM channel's messages route."""
    return f"/channels/{feature.recipient(scene).user.dm_channel().id}/messages"


@pytest.mark.parametrize("answer", [503, None], ids=["503", "dropped"])
@pytest.mark.parametrize("feature", RETRIED, ids=[f.name for f in RETRIED])
async def test_the_first_retry_after_a_lost_answer_is_within_the_nonce_window(
    scene: Scene, feature: Feature, answer: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DM is made but its answer lost; half a minute later nothing is tried yet, a minute later the
    retry sends the same nonce, inside the window on the bot's clock, and gets that DM back: one DM."""
    assert timedelta(seconds=NONCE_WINDOW) > FIRST_RETRY
    fast_backoff(monkeypatch)
    scene.standin.clock = scene.clock  # the nonce window runs on the bot's clock
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.lose_response("POST", dm_path(scene, feature), answer)
    await feature.trigger(scene)
    (lost,) = [r for r in attempts(scene, recipient) if r.lost]
    (dm,) = feature.sent(scene)
    tried = len(attempts(scene, recipient))
    await SOON[feature.name](scene, timedelta(seconds=30))
    assert len(attempts(scene, recipient)) == tried  # not before its time
    await SOON[feature.name](scene, FIRST_RETRY - timedelta(seconds=30))
    retried = attempts(scene, recipient)[-1]
    assert retried is not lost and retried.body["nonce"] == lost.body["nonce"]
    assert retried.response["id"] == str(dm.id)
    assert feature.sent(scene) == [dm]
    assert scene.standin.deduplicated == [dm]
    tried = len(attempts(scene, recipient))
    await feature.next_chance(scene)  # well after the window: nothing left to send
    assert len(attempts(scene, recipient)) == tried
    assert feature.sent(scene) == [dm]


@pytest.mark.parametrize("feature", RETRIED, ids=[f.name for f in RETRIED])
async def test_a_refused_dm_is_not_retried_within_the_minute(scene: Scene, feature: Feature) -> None:
    """A 403 other than closed DMs made nothing: no early retry; the feature's usual next chance sends it."""
    recipient = feature.recipient(scene)
    await feature.prepare(scene)
    scene.standin.fail_next("POST", dm_path(scene, feature), 403, body={"message": "Missing Access", "code": 50001})
    await feature.trigger(scene)
    assert feature.sent(scene) == []
    tried = len(attempts(scene, recipient))
    await SOON[feature.name](scene, FIRST_RETRY)
    assert len(attempts(scene, recipient)) == tried
    await feature.next_chance(scene)
    assert len(feature.sent(scene)) == 1

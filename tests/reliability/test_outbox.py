"""The outbox through the stand-in's failure injection: a celebrations post, a shared check-in summary,
a moderators' notice and a DM to a member (the notice that a pairing ended, what a buddy is) that
Discord refuses (503, five 500s, a lost answer) are sent at the next attempt, exactly once; one whose
channel was deleted meanwhile, or whose member's DMs are closed or who left, is recorded in the audit
log and not retried; what was pending when the bot stopped is posted after it starts again."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.standin.model import GuildChannel, Message
from bot.standin.model import Member as StandinMember
from bot.standin.routing import RequestRecord
from bot.standin.server import StandIn
from cogs.outbox import Outbox
from cogs.sobriety import Sobriety
from tests.e2e import FakeClock, Scene, build_scene, running_bot
from tests.reliability.support import cog, delete_channel, fast_backoff, query

NEXT_ATTEMPT = timedelta(minutes=1)


async def until_idle(scene: Scene) -> None:
    """Wait until the outbox's dispatcher and the milestone watcher sleep with nothing to do now."""
    dispatcher = cog(scene, "Outbox", Outbox).dispatcher
    watcher = cog(scene, "Sobriety", Sobriety).watcher
    async with asyncio.timeout(5):
        while not (dispatcher.idle and watcher.idle):  # noqa: ASYNC110 - the loops expose a state
            await asyncio.sleep(0.005)


async def next_attempt(scene: Scene, after: timedelta = NEXT_ATTEMPT) -> None:
    """Move the clock to the next attempt and let the dispatcher make it."""
    await until_idle(scene)
    scene.clock.advance(seconds=after.total_seconds())
    cog(scene, "Outbox", Outbox).dispatcher.wake()
    await until_idle(scene)


def posts(channel: GuildChannel) -> list[Message]:
    """What the bot posted in the channel on its own (not answers to commands)."""
    return [m for m in channel.bot_messages() if m.interaction is None and not m.ephemeral]


def pending(scene: Scene) -> list[tuple[str, int]]:
    """The outbox's rows: kind and attempts."""
    return [(str(r[0]), int(r[1])) for r in query(scene.db_path, "SELECT kind, attempts FROM outbox ORDER BY id")]


def put_off(scene: Scene) -> bool:
    """Whether a post is waiting for its next attempt (its failed attempt settled, not just claimed)."""
    rows = query(scene.db_path, "SELECT count(*) FROM outbox WHERE next_attempt_at - created_at < ?", 120)
    return bool(rows[0][0])


async def until_put_off(scene: Scene) -> None:
    """Wait until a post's failed attempt is settled (the database changes without the stand-in hearing)."""
    async with asyncio.timeout(5):
        while not put_off(scene):  # noqa: ASYNC110 - a database state, polled
            await asyncio.sleep(0.005)


def refuse(scene: Scene, channel: GuildChannel, how: str) -> None:
    """Discord refuses the next post in the channel: a 503, or five 500s (discord.py's retries used up)."""
    status, times = (503, 1) if how == "503" else (500, 5)
    scene.standin.fail_next("POST", f"/channels/{channel.id}/messages", status, times=times)


async def celebrate_a_week(scene: Scene) -> None:
    """alice, who chose to announce her milestones, reaches 7 days now."""
    await scene.standin.invoke(scene.mod, "settings celebrations-channel", {"channel": scene.celebrations})
    week_ago = (scene.clock() - timedelta(days=7)).date().isoformat()
    await scene.standin.invoke(scene.alice, "sobriety set", {"date": week_ago, "announce": True})
    await until_idle(scene)


async def share_a_checkin(scene: Scene) -> str:
    """alice checks in with a private note and shares the summary; the private answer's text."""
    options = {"mood": 4, "craving": 2, "sober": True, "note": "only for me", "share": True}
    answer = await scene.standin.invoke(scene.alice, "checkin today", options)
    return answer.content


FAILURES = ["503", "5x500"]


@pytest.mark.parametrize("how", FAILURES)
async def test_a_refused_celebrations_post_is_posted_at_the_next_attempt_once(
    scene: Scene, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DM goes out; the post meets a 503 (or five 500s): kept, and posted a minute later, once."""
    fast_backoff(monkeypatch)
    refuse(scene, scene.celebrations, how)
    await celebrate_a_week(scene)
    assert len([m for m in scene.alice.dms_from_bot() if "7 days sober" in m.content]) == 1
    assert posts(scene.celebrations) == []
    assert pending(scene) == [("milestone", 1)]
    await next_attempt(scene)
    (post,) = posts(scene.celebrations)
    assert post.content == f"🎉 <@{scene.alice.id}> reached **7 days sober** today. Congratulations!"
    assert pending(scene) == []
    await next_attempt(scene, timedelta(hours=1))
    assert len(posts(scene.celebrations)) == 1
    assert len(scene.alice.dms_from_bot()) == 1  # the DM was not sent again


@pytest.mark.parametrize("how", FAILURES)
async def test_a_refused_shared_summary_is_posted_at_the_next_attempt_once(
    scene: Scene, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member is told it will be posted shortly; it is, once, and never with the note."""
    fast_backoff(monkeypatch)
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    refuse(scene, scene.checkins, how)
    text = await share_a_checkin(scene)
    assert "Check-in saved" in text and f"I'll post it in <#{scene.checkins.id}> shortly" in text
    assert posts(scene.checkins) == []
    await next_attempt(scene)
    (post,) = posts(scene.checkins)
    assert post.content.startswith(f"📋 <@{scene.alice.id}> checked in: mood 4/5")
    assert "only for me" not in post.content
    await next_attempt(scene, timedelta(hours=1))
    assert len(posts(scene.checkins)) == 1


@pytest.mark.parametrize("how", FAILURES)
async def test_a_refused_moderators_notice_is_posted_at_the_next_attempt_once(
    scene: Scene, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notice that a setting's channel was deleted meets a 503 (or five 500s): posted a minute later, once."""
    fast_backoff(monkeypatch)
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    refuse(scene, scene.mod_channel, how)
    delete_channel(scene.standin, scene.checkins)
    await scene.standin.sync()
    await until_put_off(scene)
    await until_idle(scene)
    assert posts(scene.mod_channel) == []
    await next_attempt(scene)
    (notice,) = posts(scene.mod_channel)
    assert f"#{scene.checkins.name}" in notice.content and "deleted" in notice.content
    await next_attempt(scene, timedelta(hours=1))
    assert len(posts(scene.mod_channel)) == 1


@pytest.mark.parametrize("lost", [503, None], ids=["503", "dropped"])
async def test_a_summary_whose_answer_was_lost_is_not_posted_twice(scene: Scene, lost: int | None) -> None:
    """Discord creates the summary but its answer is lost (a 503, or the connection dropped): the next
    attempt sends the same nonce and Discord returns the message it made; one summary in the channel."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    scene.standin.lose_response("POST", f"/channels/{scene.checkins.id}/messages", lost)
    text = await share_a_checkin(scene)
    assert "shortly" in text
    assert len(posts(scene.checkins)) == 1  # made, though the bot did not hear it
    await next_attempt(scene)
    assert len(posts(scene.checkins)) == 1 and pending(scene) == []
    tries = [r for r in scene.standin.requests_to("POST", f"/channels/{scene.checkins.id}/messages")]
    assert [r.status for r in tries] == [lost or 0, 200]  # 0: no answer at all
    assert tries[0].body["nonce"] == tries[1].body["nonce"] and tries[1].body["enforce_nonce"] is True
    assert len(scene.standin.deduplicated) == 1


async def test_a_post_whose_channel_was_deleted_is_recorded_and_not_retried(scene: Scene) -> None:
    """The celebrations post waits after a 503; then the channel is deleted: the next attempt finds the
    setting cleared, records it in the audit log (shown by /settings audit-log) and tries no more."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    refuse(scene, scene.celebrations, "503")
    await celebrate_a_week(scene)
    delete_channel(scene.standin, scene.celebrations)
    await scene.standin.sync()
    await scene.standin.wait_for(lambda: posts(scene.mod_channel))
    attempts = len(scene.standin.requests_to("POST", f"/channels/{scene.celebrations.id}/messages"))
    await next_attempt(scene)
    assert pending(scene) == []
    for _ in range(3):
        await next_attempt(scene, timedelta(hours=6))
    assert len(scene.standin.requests_to("POST", f"/channels/{scene.celebrations.id}/messages")) == attempts
    log = await scene.standin.invoke(scene.mod, "settings audit-log")
    text = log.embeds[0]["description"]
    assert "could not deliver a message" in text and "a milestone celebration" in text
    assert "the celebrations channel is no longer set" in text
    assert str(scene.alice.id) not in text  # what was refused, not about whom


async def test_a_post_the_bot_lacks_permission_for_is_recorded_at_once(scene: Scene) -> None:
    """A 403 (no permission to post) is not retried: the member is told nothing was shared, and the
    moderators can see why in the audit log."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    scene.checkins.set_bot_access(send=False)
    await scene.standin.sync()
    text = await share_a_checkin(scene)
    assert "nothing was shared" in text
    assert pending(scene) == []
    await next_attempt(scene, timedelta(hours=1))
    assert len(scene.standin.requests_to("POST", f"/channels/{scene.checkins.id}/messages")) == 1
    sql = "SELECT detail FROM audit_log WHERE action = 'outbox.undelivered' AND guild_id = ?"
    (detail,) = query(scene.db_path, sql, scene.guild.id)
    assert "403" in detail[0] and "a shared check-in summary" in detail[0]


async def test_what_was_pending_when_the_bot_stopped_is_posted_after_it_starts(
    standin: StandIn, tmp_path: Path
) -> None:
    """A summary refused just before the bot stops is posted once the bot is back, once."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
        refuse(scene, scene.checkins, "503")
        assert "shortly" in await share_a_checkin(scene)
    assert posts(scene.checkins) == [] and pending(scene) == [("checkin_share", 1)]
    clock.advance(minutes=5)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await standin.wait_for(lambda: posts(scene.checkins))
        await until_idle(scene)
        assert len(posts(scene.checkins)) == 1 and pending(scene) == []


async def test_privacy_export_shows_a_pending_summary_and_delete_removes_it(scene: Scene) -> None:
    """A refused summary waits in the outbox: alice's export lists it (never the note); after /privacy
    delete it is gone and the next attempt posts nothing."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    refuse(scene, scene.checkins, "503")
    await share_a_checkin(scene)
    answer = await scene.standin.invoke(scene.alice, "privacy export")
    ((_, data),) = answer.files
    (waiting,) = json.loads(data)["pending_posts"]
    assert waiting["what"] == "a shared check-in summary" and waiting["attempts"] == 1
    assert "only for me" not in waiting["content"]
    question = await scene.standin.invoke(scene.alice, "privacy delete")
    message = question.response
    assert message is not None
    (erase,) = [
        c["custom_id"] for row in message.components for c in row["components"] if c["label"] == "Erase my data"
    ]
    await scene.standin.press_button(scene.alice.user, question, erase)
    await scene.standin.wait_for(lambda: message.content != "Erasing…")
    assert pending(scene) == []
    await next_attempt(scene, timedelta(hours=1))
    assert posts(scene.checkins) == []
    assert len(scene.standin.requests_to("POST", f"/channels/{scene.checkins.id}/messages")) == 1


# --------------------------------------------------------------------------- DMs to a member


async def match_dan_with_carl(scene: Scene) -> None:
    """The men's house is a matching group; carl volunteers and dan asks: introduced in a private thread."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "You have a buddy" in answer.content


def dm_attempts(scene: Scene, member: StandinMember) -> list[RequestRecord]:
    """The bot's requests to send the member a DM."""
    return scene.standin.requests_to("POST", f"/channels/{member.user.dm_channel().id}/messages")


def refuse_dm(scene: Scene, member: StandinMember, how: str) -> None:
    """Discord refuses the next DM to the member: a 503, or five 500s (discord.py's retries used up)."""
    status, times = (503, 1) if how == "503" else (500, 5)
    scene.standin.fail_next("POST", f"/channels/{member.user.dm_channel().id}/messages", status, times=times)


def mod_posts(scene: Scene) -> list[str]:
    """What the bot posted in the moderators' channel on its own."""
    return [m.content for m in posts(scene.mod_channel)]


async def end_as_dan(scene: Scene) -> None:
    """dan ends the pairing (carl is to be told privately)."""
    answer = await scene.standin.invoke(scene.dan, "buddy end")
    assert "has ended" in answer.content
    await until_idle(scene)


@pytest.mark.parametrize("how", FAILURES)
async def test_a_refused_pairing_ended_dm_is_sent_at_the_next_attempt_once(
    scene: Scene, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notice to carl that dan ended their pairing meets a 503 (or five 500s): kept in the outbox,
    sent a minute later with the same nonce, once; nothing reaches the moderators."""
    fast_backoff(monkeypatch)
    await match_dan_with_carl(scene)
    refuse_dm(scene, scene.carl, how)
    await end_as_dan(scene)
    assert scene.carl.dms_from_bot() == []
    assert pending(scene) == [("pair_ended", 1)]
    await next_attempt(scene)
    (dm,) = scene.carl.dms_from_bot()
    assert "decided to end it" in dm.content and "says nothing about you" in dm.content
    assert pending(scene) == []
    await next_attempt(scene, timedelta(hours=1))
    assert len(scene.carl.dms_from_bot()) == 1
    tries = dm_attempts(scene, scene.carl)
    assert len({r.body["nonce"] for r in tries}) == 1 and tries[-1].body["enforce_nonce"] is True
    assert not any("couldn't tell" in text for text in mod_posts(scene))


@pytest.mark.parametrize("lost", [503, None], ids=["503", "dropped"])
async def test_a_pairing_ended_dm_whose_answer_was_lost_is_not_sent_twice(scene: Scene, lost: int | None) -> None:
    """Discord makes carl's DM but its answer is lost (a 503, or the connection dropped): the next
    attempt sends the same nonce and Discord hands back the DM it made; carl has one."""
    await match_dan_with_carl(scene)
    scene.standin.lose_response("POST", f"/channels/{scene.carl.user.dm_channel().id}/messages", lost)
    await end_as_dan(scene)
    assert len(scene.carl.dms_from_bot()) == 1  # made, though the bot did not hear it
    await next_attempt(scene)
    assert len(scene.carl.dms_from_bot()) == 1 and pending(scene) == []
    assert [r.status for r in dm_attempts(scene, scene.carl)] == [lost or 0, 200]
    assert len(scene.standin.deduplicated) == 1


async def test_a_pairing_ended_dm_to_closed_dms_is_recorded_and_not_retried(scene: Scene) -> None:
    """carl's DMs are closed: one attempt, the moderators are asked to tell him kindly, the audit log says
    a member's DM could not be delivered (not whose), and nothing is tried again."""
    await match_dan_with_carl(scene)
    scene.carl.dms_open = False
    await end_as_dan(scene)
    await scene.standin.wait_for(lambda: [t for t in mod_posts(scene) if "couldn't tell" in t])
    assert any(f"couldn't tell <@{scene.carl.id}> privately" in text for text in mod_posts(scene))
    assert pending(scene) == []
    for _ in range(3):
        await next_attempt(scene, timedelta(hours=6))
    assert len(dm_attempts(scene, scene.carl)) == 1
    sql = "SELECT detail FROM audit_log WHERE action = 'outbox.undelivered' AND guild_id = ?"
    (detail,) = query(scene.db_path, sql, scene.guild.id)
    recorded = json.loads(detail[0])
    assert recorded["post"] == "a private notice that a buddy pairing ended"
    assert recorded["to"] == "a member's direct messages"
    assert recorded["reason"] == "the member's direct messages are closed"
    assert str(scene.carl.id) not in detail[0] and str(scene.dan.id) not in detail[0]


async def test_a_pairing_ended_dm_to_a_member_who_left_meanwhile_is_recorded_not_sent(scene: Scene) -> None:
    """A 503 on carl's notice, then carl leaves before the next attempt: it finds him gone, records
    that, and sends nothing."""
    await match_dan_with_carl(scene)
    refuse_dm(scene, scene.carl, "503")
    await end_as_dan(scene)
    await scene.carl.leave()
    await scene.standin.sync()
    await next_attempt(scene)
    assert pending(scene) == [] and scene.carl.dms_from_bot() == []
    assert len(dm_attempts(scene, scene.carl)) == 1
    sql = "SELECT detail FROM audit_log WHERE action = 'outbox.undelivered' AND guild_id = ?"
    (detail,) = query(scene.db_path, sql, scene.guild.id)
    assert "the member is no longer in the server" in detail[0]


async def test_a_refused_what_a_buddy_is_dm_is_sent_at_the_next_attempt_with_its_quote(scene: Scene) -> None:
    """erin joins holding a matching group's role; the DM saying what a buddy is meets a 503: sent a
    minute later, once, still quoting the article."""
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
    erin = scene.guild.add_member("erin", roles=[scene.mens_house], joined_at=scene.clock())
    refuse_dm(scene, erin, "503")
    await scene.standin.sync()
    await until_put_off(scene)
    await until_idle(scene)
    assert erin.dms_from_bot() == [] and pending(scene) == [("what_a_buddy_is", 1)]
    await next_attempt(scene)
    (told,) = erin.dms_from_bot()
    assert "newcomers get a peer buddy" in told.content
    assert told.embeds[0]["title"] == "What peer support is"
    await next_attempt(scene, timedelta(hours=1))
    assert len(erin.dms_from_bot()) == 1 and pending(scene) == []

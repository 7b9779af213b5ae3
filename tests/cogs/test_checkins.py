"""``/checkin`` end to end through the stand-in, the reminder DM and its buttons, and the pure renderers."""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from bot.services.checkins import DEFAULT_CRISIS_RESOURCES, Checkin, CheckinResult, HistorySummary
from bot.services.reminders import DMS_CLOSED_REASON, ReminderInfo
from bot.standin.interactions import Interaction, InvocationRefused
from bot.standin.model import Member, Message
from bot.standin.server import StandIn
from cogs.checkins import (
    CHART_FAILED,
    CHART_FILENAME,
    LEFT_SERVER_REASON,
    Checkins,
    checkin_reply,
    history_embed,
    mood_text,
    reminder_set_reply,
    share_summary,
)
from tests.e2e import FakeClock, Scene, build_scene, running_bot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def cog_of(scene: Scene) -> Checkins:
    """The loaded check-ins cog (the extension loader re-imports the module: no isinstance)."""
    cog = scene.bot.get_cog("Checkins")
    assert cog is not None
    return cast(Checkins, cog)


async def settled(cog: Checkins) -> None:
    """Wait until the reminder dispatcher has done what is due and sleeps again."""
    async with asyncio.timeout(3):
        while not cog.dispatcher.idle:  # noqa: ASYNC110 - the dispatcher exposes a state, not an event
            await asyncio.sleep(0.005)


async def fire_reminders(scene: Scene, **advance: float) -> None:
    """Move the clock, wake the dispatcher, and wait until it handled what came due."""
    cog = cog_of(scene)
    await settled(cog)
    scene.clock.advance(**advance)
    cog.dispatcher.wake()
    await settled(cog)


async def check_in(scene: Scene, member: Member, **options: Any) -> Interaction:
    """``/checkin today`` with defaults (mood 4, craving 2, sober)."""
    given: dict[str, Any] = {"mood": 4, "craving": 2, "sober": True, **options}
    return await scene.standin.invoke(member, "checkin today", given)


async def press_mood(scene: Scene, member: Member, dm: Message, mood: int) -> Interaction:
    """Press a mood button of a reminder DM."""
    custom_id = next(c for c in dm.custom_ids() if c.endswith(f":{mood}"))
    return await scene.standin.press_button(member.user, dm, custom_id)


# --------------------------------------------------------------------------- /checkin today


async def test_checkin_is_private_with_streak_and_timezone_notice_once(scene: Scene) -> None:
    """A check-in answers privately; the streak grows day by day; the timezone notice comes once."""
    first = await check_in(scene, scene.alice)
    assert first.ephemeral
    assert "Check-in saved for Friday 27 November" in first.content
    assert "mood 4/5 (good), craving 2/10, sober today" in first.content
    assert "Streak: 1 day" in first.content
    assert "haven't set your timezone" in first.content
    assert not first.embeds and not first.components

    scene.clock.advance(days=1)
    second = await check_in(scene, scene.alice, mood=3)
    assert "2 days in a row" in second.content
    assert "haven't set your timezone" not in second.content
    assert scene.standin.bot_messages(scene.checkins) == []


async def test_second_checkin_the_same_day_replaces_the_first(scene: Scene) -> None:
    """Two check-ins on one local day: the second replaces the first and says so."""
    await check_in(scene, scene.alice, mood=2)
    again = await check_in(scene, scene.alice, mood=5, craving=0)
    assert "already checked in today" in again.content and "replaced" in again.content
    assert "mood 5/5 (great), craving 0/10" in again.content
    history = await cog_of(scene).checkins.history(scene.guild.id, scene.alice.id, 7)
    assert history.summary.checkins == 1
    assert history.days[-1].checkin is not None and history.days[-1].checkin.mood == 5


async def test_sober_days_shown_when_a_date_is_set(scene: Scene) -> None:
    """The reply shows sober days once the member set a sobriety date."""
    await scene.standin.invoke(scene.beth, "sobriety set", {"date": "2026-11-17"})
    answer = await check_in(scene, scene.beth)
    assert "Sober days: 10." in answer.content


async def test_checkins_at_2359_and_0001_local_are_two_days(scene: Scene) -> None:
    """A check-in at 23:59 and another at 00:01 (the member's time) count for two days: a streak of 2."""
    await scene.standin.invoke(scene.carl, "checkin timezone", {"zone": "Europe/Berlin"})
    scene.clock.now = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)  # 23:59 in Berlin
    late = await check_in(scene, scene.carl)
    assert "Friday 27 November" in late.content
    scene.clock.advance(minutes=2)  # 00:01 in Berlin
    early = await check_in(scene, scene.carl)
    assert "Saturday 28 November" in early.content
    assert "replaced" not in early.content
    assert "2 days in a row" in early.content


async def test_share_posts_a_summary_without_the_note_and_pings_nobody(scene: Scene) -> None:
    """share: a short summary (mood, craving, sober) in the check-in channel; never the note; no ping."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    answer = await check_in(scene, scene.alice, mood=5, craving=1, note="my private thoughts", share=True)
    assert answer.ephemeral
    assert f"Shared a short summary in <#{scene.checkins.id}>" in answer.content
    (post,) = scene.checkins.bot_messages()
    assert post.content == f"📋 <@{scene.alice.id}> checked in: mood 5/5 (great), craving 1/10, sober today."
    assert "private" not in post.content
    (request,) = [
        r for r in scene.standin.requests_to("POST", f"/channels/{scene.checkins.id}/messages") if r.status < 300
    ]
    assert request.body["allowed_mentions"]["parse"] == []
    assert not request.body["allowed_mentions"].get("users")


async def test_share_without_a_checkin_channel_says_there_is_none(scene: Scene) -> None:
    """share with no channel set: nothing is posted anywhere, and the reply says why."""
    answer = await check_in(scene, scene.alice, share=True)
    assert "no check-in channel" in answer.content
    assert [m for channel in scene.guild.text_channels() for m in channel.bot_messages() if not m.ephemeral] == []


async def test_share_when_the_bot_cannot_post_there(scene: Scene) -> None:
    """The check-in is kept, and the reply says the summary could not be posted."""
    await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins})
    scene.checkins.set_bot_access(send=False)
    await scene.standin.sync()
    answer = await check_in(scene, scene.alice, share=True)
    assert "Check-in saved" in answer.content
    assert "couldn't post" in answer.content
    assert scene.checkins.bot_messages() == []


async def test_high_craving_gets_a_kind_reply_with_a_passage_and_crisis_resources(scene: Scene) -> None:
    """Craving 7+: a kind reply, one passage quoted, the crisis resources; no buddy button (no buddies yet)."""
    answer = await check_in(scene, scene.alice, craving=8)
    assert answer.ephemeral
    assert "Cravings that strong are hard" in answer.content
    passage, crisis = answer.embeds
    assert passage["title"] == "Peer support fills the void"
    assert passage["fields"][0]["value"].startswith("> ")
    assert crisis["description"] == DEFAULT_CRISIS_RESOURCES
    assert answer.components == []


async def test_not_sober_gets_its_own_passage(scene: Scene) -> None:
    """Not sober: words for a hard day, and the passage on what peer support is."""
    answer = await check_in(scene, scene.alice, craving=3, sober=False)
    assert "One hard day doesn't erase" in answer.content
    assert answer.embeds[0]["title"] == "What peer support is"
    assert answer.embeds[1]["title"] == "If you need someone right now"


async def test_a_calm_day_gets_no_support_embeds(scene: Scene) -> None:
    """Craving 6 and sober: a plain reply."""
    answer = await check_in(scene, scene.alice, craving=6)
    assert answer.embeds == []


async def test_discord_refuses_a_note_over_1000_characters_and_bad_values(scene: Scene) -> None:
    """The synced schema caps the note at 1000, craving at 0–10 and mood at its five choices."""
    with pytest.raises(InvocationRefused, match="longer than 1000"):
        await check_in(scene, scene.alice, note="x" * 1001)
    with pytest.raises(InvocationRefused, match="max_value"):
        await check_in(scene, scene.alice, craving=11)
    with pytest.raises(InvocationRefused, match="choices"):
        await check_in(scene, scene.alice, mood=6)
    accepted = await check_in(scene, scene.alice, note="x" * 1000)
    assert "Check-in saved" in accepted.content


async def test_checkin_is_guild_only(scene: Scene) -> None:
    """/checkin is not offered in DMs."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice.user, "checkin today", {"mood": 3, "craving": 0, "sober": True})


# --------------------------------------------------------------------------- /checkin history


async def test_history_answers_the_numbers_at_once_then_the_png_privately(scene: Scene) -> None:
    """History: the numbers answered at once (not deferred), privately; then a follow-up, private too,
    carrying the PNG chart."""
    for mood, craving, sober in [(2, 8, False), (3, 5, True), (4, 2, True)]:
        await check_in(scene, scene.alice, mood=mood, craving=craving, sober=sober)
        scene.clock.advance(days=1)
    scene.clock.advance(days=1)  # a gap: yesterday without a check-in ends the streak
    await check_in(scene, scene.alice, mood=5, craving=0)

    answer = await scene.standin.invoke(scene.alice, "checkin history", {"days": 7})
    assert answer.ephemeral and not answer.deferred
    assert answer.original is not None and answer.original.files == []
    (embed,) = answer.original.embeds
    assert embed["title"] == "Your check-ins, last 7 days"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields == {
        "Check-ins made": "4 of 7 days",
        "Current streak": "1 day",
        "Longest streak": "3 days",
        "Average mood": "3.5 / 5",
        "Average craving": "3.8 / 10",
        "Days not sober": "1",
    }
    (chart,) = await scene.standin.wait_for(lambda: answer.followups, timeout=10)
    assert chart.ephemeral
    ((filename, data),) = chart.files
    assert filename == CHART_FILENAME
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    (image,) = chart.embeds
    assert image["image"]["url"] == f"attachment://{CHART_FILENAME}"
    assert "Check-ins made" not in repr(image)


async def test_history_streaks_come_from_the_stored_streaks(scene: Scene) -> None:
    """The streaks shown count days before the period charted, and a run that ended shows 0."""
    for _ in range(10):
        await check_in(scene, scene.alice)
        scene.clock.advance(days=1)
    answer = await scene.standin.invoke(scene.alice, "checkin history", {"days": 7})
    fields = {field["name"]: field["value"] for field in answer.embeds[0]["fields"]}
    assert (fields["Check-ins made"], fields["Current streak"], fields["Longest streak"]) == (
        "6 of 7 days",
        "10 days",
        "10 days",
    )
    await scene.standin.wait_for(lambda: answer.followups, timeout=10)
    scene.clock.advance(days=2)
    later = await scene.standin.invoke(scene.alice, "checkin history", {"days": 7})
    fields = {field["name"]: field["value"] for field in later.embeds[0]["fields"]}
    assert (fields["Current streak"], fields["Longest streak"]) == ("0 days", "10 days")
    await scene.standin.wait_for(lambda: later.followups, timeout=10)


async def test_a_failing_chart_leaves_the_numbers_and_a_short_private_note(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The chart cannot be drawn: the member has the numbers already, and gets a short private note."""
    await check_in(scene, scene.alice)
    module = importlib.import_module(type(cog_of(scene)).__module__)  # the loaded one

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(module, "render_history_chart", broken)
    with caplog.at_level(logging.ERROR):
        answer = await scene.standin.invoke(scene.alice, "checkin history")
        assert answer.ephemeral and answer.embeds[0]["title"] == "Your check-ins, last 30 days"
        (note,) = await scene.standin.wait_for(lambda: answer.followups, timeout=10)
    assert note.ephemeral and note.content == CHART_FAILED and note.files == []
    assert any("history chart" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_charts_asked_together_each_reach_their_member_once(scene: Scene) -> None:
    """Members asking at the same moment all get their numbers, then each exactly one chart of their own."""
    members = [scene.alice, scene.beth, scene.carl]
    for member in members:
        await check_in(scene, member)
    asked = await asyncio.gather(
        *(scene.standin.invoke(member, "checkin history", {"days": 7}, wait=False) for member in members)
    )
    answers = await asyncio.gather(*(scene.standin.wait_answered(inter) for inter in asked))
    assert all(a.ephemeral and a.embeds[0]["title"] == "Your check-ins, last 7 days" for a in answers)

    async def chart_of(answer: Interaction) -> None:
        (chart,) = await scene.standin.wait_for(lambda: answer.followups, timeout=10)
        assert chart.ephemeral and chart.files[0][0] == CHART_FILENAME

    for answer in answers:
        await chart_of(answer)
    await asyncio.sleep(0.05)
    assert [len(answer.followups) for answer in answers] == [1, 1, 1]


async def test_a_chart_whose_failure_note_fails_too_does_not_stop_the_next_charts(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first chart fails and so does its note: the failure is logged and the next member's chart still comes."""
    await check_in(scene, scene.alice)
    await check_in(scene, scene.beth)
    module = importlib.import_module(type(cog_of(scene)).__module__)
    real_render, real_note = module.render_history_chart, module.send_ephemeral
    failures = {"render": 1, "note": 1}

    def render_once_broken(*args: Any, **kwargs: Any) -> bytes:
        if failures["render"]:
            failures["render"] -= 1
            raise RuntimeError("no fonts today")
        return cast(bytes, real_render(*args, **kwargs))

    async def note_once_broken(*args: Any, **kwargs: Any) -> None:
        if failures["note"]:
            failures["note"] -= 1
            raise RuntimeError("Discord went away")
        await real_note(*args, **kwargs)

    monkeypatch.setattr(module, "render_history_chart", render_once_broken)
    monkeypatch.setattr(module, "send_ephemeral", note_once_broken)
    with caplog.at_level(logging.ERROR):
        first = await scene.standin.invoke(scene.alice, "checkin history")
        second = await scene.standin.invoke(scene.beth, "checkin history")
        (chart,) = await scene.standin.wait_for(lambda: second.followups, timeout=10)
    assert chart.files[0][0] == CHART_FILENAME
    assert first.followups == [] and failures == {"render": 0, "note": 0}
    assert any("chart failed" in record.getMessage() for record in caplog.records)


async def test_history_without_checkins_is_a_clear_message_without_chart(scene: Scene) -> None:
    """A member with no check-ins gets a clear message and no chart."""
    answer = await scene.standin.invoke(scene.beth, "checkin history")
    assert answer.ephemeral
    assert "no check-ins in the last 30 days" in answer.content
    assert answer.files == [] and answer.embeds == []


async def test_history_days_out_of_range_is_refused_by_discord(scene: Scene) -> None:
    """days must be 7–90."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "checkin history", {"days": 6})
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "checkin history", {"days": 91})


# --------------------------------------------------------------------------- timezone and reminder


async def test_timezone_autocomplete_set_and_invalid(scene: Scene) -> None:
    """Autocomplete offers zones; a valid one is set; an unknown one gets a clear private error."""
    choices = await scene.standin.autocomplete(
        scene.alice, "checkin timezone", focused="zone", options={"zone": "Berl"}
    )
    assert "Europe/Berlin" in [choice["value"] for choice in choices]
    assert len(choices) <= 25
    answer = await scene.standin.invoke(scene.alice, "checkin timezone", {"zone": "europe/berlin"})
    assert answer.ephemeral
    assert "Europe/Berlin" in answer.content and "Friday 27 November" in answer.content
    bad = await scene.standin.invoke(scene.alice, "checkin timezone", {"zone": "Mars/Olympus"})
    assert bad.ephemeral
    assert "I don't know the timezone" in bad.content
    assert await cog_of(scene).checkins.get_timezone(scene.guild.id, scene.alice.id) == "Europe/Berlin"


async def test_reminder_set_invalid_and_off(scene: Scene) -> None:
    """A reminder is set at a local time; an invalid time is refused clearly; reminder-off removes it."""
    answer = await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "21:00"})
    assert answer.ephemeral
    assert "21:00 (UTC)" in answer.content
    next_due = int(datetime(2026, 11, 27, 21, 0, tzinfo=UTC).timestamp())
    assert f"<t:{next_due}:R>" in answer.content
    assert "haven't set your timezone" in answer.content
    for bad in ("25:00", "9pm"):
        refused = await scene.standin.invoke(scene.alice, "checkin reminder", {"time": bad})
        assert refused.ephemeral and "isn't a time I can use" in refused.content
    off = await scene.standin.invoke(scene.alice, "checkin reminder-off")
    assert off.ephemeral and "off" in off.content
    again = await scene.standin.invoke(scene.alice, "checkin reminder-off")
    assert "no daily reminder" in again.content
    assert await cog_of(scene).reminders.get_reminder(scene.guild.id, scene.alice.id) is None


async def test_reminder_dm_mood_button_and_modal_complete_the_checkin(scene: Scene) -> None:
    """The reminder DM comes at the time; a mood button records it and opens the modal that completes it."""
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "18:30"})
    await fire_reminders(scene, hours=3)  # 18:00: not yet
    assert scene.alice.dms_from_bot() == []
    await fire_reminders(scene, minutes=31)
    (dm,) = scene.alice.dms_from_bot()
    assert "Serenity House" in dm.content
    assert dm.custom_ids() == [f"checkin:mood:{scene.guild.id}:{mood}" for mood in range(1, 6)]

    opened = await press_mood(scene, scene.alice, dm, 2)
    assert opened.modal is not None
    assert opened.modal["title"] == "Check-in: mood 2/5 (low)"
    quick = await cog_of(scene).checkins.checkin_on(scene.guild.id, scene.alice.id, date(2026, 11, 27))
    assert quick is not None and quick.mood == 2 and not quick.complete

    done = await scene.standin.submit_modal(
        scene.alice.user, opened, {"craving": ["7"], "sober": ["yes"], "note": "long day"}
    )
    assert done.ephemeral
    assert "Check-in saved for Friday 27 November: mood 2/5 (low), craving 7/10, sober today" in done.content
    assert "haven't set your timezone" not in done.content  # told once, by /checkin reminder
    assert done.embeds[1]["title"] == "If you need someone right now"  # craving 7: support
    checkin = await cog_of(scene).checkins.checkin_on(scene.guild.id, scene.alice.id, date(2026, 11, 27))
    assert checkin is not None and checkin.complete
    assert (checkin.mood, checkin.craving, checkin.sober, checkin.note) == (2, 7, True, "long day")


async def test_a_quick_checkin_from_the_reminder_continues_the_streak(scene: Scene) -> None:
    """Two days of /checkin today, then the third day's mood button and form: 3 days in a row, and the
    history shows the same streak."""
    await check_in(scene, scene.alice)
    scene.clock.advance(days=1)
    await check_in(scene, scene.alice)
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "18:30"})
    await fire_reminders(scene, days=1, hours=3, minutes=31)  # the third day, 18:31
    dm = scene.alice.dms_from_bot()[-1]
    opened = await press_mood(scene, scene.alice, dm, 4)
    done = await scene.standin.submit_modal(scene.alice.user, opened, {"craving": ["1"], "sober": ["yes"]})
    assert "🔥 3 days in a row (your longest: 3 days)." in done.content
    history = await scene.standin.invoke(scene.alice, "checkin history", {"days": 7})
    fields = {field["name"]: field["value"] for field in history.embeds[0]["fields"]}
    assert (fields["Current streak"], fields["Longest streak"]) == ("3 days", "3 days")
    await scene.standin.wait_for(lambda: history.followups, timeout=10)


async def test_no_reminder_once_checked_in_and_one_a_day(scene: Scene) -> None:
    """No DM on a day already checked in; the next day's comes; never two on one day."""
    await scene.standin.invoke(scene.carl, "checkin reminder", {"time": "20:00"})
    await check_in(scene, scene.carl)
    await fire_reminders(scene, hours=6)
    assert scene.carl.dms_from_bot() == []
    await fire_reminders(scene, days=1)
    assert len(scene.carl.dms_from_bot()) == 1
    await fire_reminders(scene, hours=1)
    assert len(scene.carl.dms_from_bot()) == 1


async def test_timezone_change_moves_the_reminder(scene: Scene) -> None:
    """After /checkin timezone the reminder comes at the member's new local time."""
    await scene.standin.invoke(scene.carl, "checkin reminder", {"time": "21:00"})
    answer = await scene.standin.invoke(scene.carl, "checkin timezone", {"zone": "America/New_York"})
    next_due = int(datetime(2026, 11, 28, 2, 0, tzinfo=UTC).timestamp())  # 21:00 in New York
    assert f"<t:{next_due}:f>" in answer.content
    await fire_reminders(scene, hours=6, minutes=1)  # 21:01 UTC
    assert scene.carl.dms_from_bot() == []
    await fire_reminders(scene, hours=5)  # 02:01 UTC, 21:01 in New York
    assert len(scene.carl.dms_from_bot()) == 1


async def test_closed_dms_pause_the_reminder_and_the_next_checkin_says_why(scene: Scene) -> None:
    """Dan's DMs are closed: his reminder is paused, and his next check-in reply tells him why, once."""
    await scene.standin.invoke(scene.dan, "checkin reminder", {"time": "16:00"})
    await fire_reminders(scene, hours=1, minutes=1)
    assert scene.dan.dms_from_bot() == []
    refused = [r for r in scene.standin.requests_to("POST", "/channels/{channel_id}/messages") if r.status == 403]
    assert refused and refused[0].error_code == 50007
    info = await cog_of(scene).reminders.get_reminder(scene.guild.id, scene.dan.id)
    assert info is not None and info.paused_reason == DMS_CLOSED_REASON and info.next_due_at is None

    answer = await check_in(scene, scene.dan)
    assert "reminder is paused" in answer.content and "/checkin reminder" in answer.content
    scene.clock.advance(days=1)
    later = await check_in(scene, scene.dan)
    assert "paused" not in later.content


async def test_closed_dms_paused_reminder_is_told_once_by_the_history_too(scene: Scene) -> None:
    """Dan's paused reminder: /checkin history tells him why (once), as a check-in would."""
    await scene.standin.invoke(scene.dan, "checkin reminder", {"time": "16:00"})
    await fire_reminders(scene, hours=1, minutes=1)
    info = await cog_of(scene).reminders.get_reminder(scene.guild.id, scene.dan.id)
    assert info is not None and info.paused_reason == DMS_CLOSED_REASON

    first = await scene.standin.invoke(scene.dan, "checkin history")
    assert "reminder is paused" in first.content
    again = await scene.standin.invoke(scene.dan, "checkin history")
    assert "paused" not in again.content


async def test_a_member_who_left_gets_no_reminder_and_old_buttons_refuse_politely(scene: Scene) -> None:
    """Leaving pauses the reminder; a mood button of an older DM answers that they left; nothing is recorded."""
    await scene.standin.invoke(scene.carl, "checkin reminder", {"time": "16:00"})
    await fire_reminders(scene, hours=1, minutes=1)
    (dm,) = scene.carl.dms_from_bot()
    await scene.carl.leave()
    async with asyncio.timeout(2):  # the bot handles the leave event in a task of its own
        while (reminder := await cog_of(scene).reminders.get_reminder(scene.guild.id, scene.carl.id)) is not None:
            if reminder.paused_reason is not None:
                break
            await asyncio.sleep(0.005)
    assert reminder is not None and reminder.paused_reason == LEFT_SERVER_REASON

    await fire_reminders(scene, days=1)
    assert len(scene.carl.dms_from_bot()) == 1
    pressed = await press_mood(scene, scene.carl, dm, 3)
    assert pressed.ephemeral and pressed.modal is None
    assert "no longer a member of Serenity House" in pressed.content
    assert await cog_of(scene).checkins.checkin_on(scene.guild.id, scene.carl.id, date(2026, 11, 28)) is None


async def reminder_dm(scene: Scene, member: Member) -> Message:
    """The member's reminder set for 15:30 and fired (the clock at 15:31): the DM with its mood buttons."""
    await scene.standin.invoke(member, "checkin reminder", {"time": "15:30"})
    await fire_reminders(scene, minutes=31)
    (dm,) = member.dms_from_bot()
    return dm


async def test_mood_buttons_work_after_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """A reminder DM sent before a restart: its buttons still record the check-in afterwards."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        dm = await reminder_dm(scene, scene.beth)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        opened = await press_mood(scene, scene.beth, dm, 5)
        assert opened.modal is not None
        done = await scene.standin.submit_modal(scene.beth.user, opened, {"craving": ["0"], "sober": ["yes"]})
        assert "mood 5/5 (great), craving 0/10, sober today" in done.content
        history = await cog_of(scene).checkins.history(scene.guild.id, scene.beth.id, 7)
        assert history.summary.checkins == 1


async def test_a_checkin_form_sent_after_a_restart_still_completes_the_checkin(
    standin: StandIn, tmp_path: Path
) -> None:
    """The mood pressed before a restart, the form sent after it: the check-in is completed with what the
    member wrote (a hard day: with the support and crisis resources), answered privately, once."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        dm = await reminder_dm(scene, scene.beth)
        opened = await press_mood(scene, scene.beth, dm, 1)
        assert opened.modal is not None and opened.modal["custom_id"].startswith("form:checkin:")
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        done = await scene.standin.submit_modal(
            scene.beth.user, opened, {"craving": ["9"], "sober": ["no"], "note": "I slipped tonight"}
        )
        assert done.ephemeral and done.rejected == [] and done.followups == []
        assert done.content.startswith("-# Serenity House\n")
        assert "mood 1/5 (awful), craving 9/10, not sober today" in done.content
        assert done.embeds[1]["title"] == "If you need someone right now"
        checkin = await cog_of(scene).checkins.checkin_on(scene.guild.id, scene.beth.id, date(2026, 11, 27))
        assert checkin is not None and checkin.complete
        assert (checkin.mood, checkin.craving, checkin.sober, checkin.note) == (1, 9, False, "I slipped tonight")


async def test_a_closed_checkin_form_sent_again_or_unreadable_loses_nothing(scene: Scene) -> None:
    """A form already sent is closed: sent again, it completes the same check-in again with the new
    answers (the member's own, never twice answered); a closed form whose id cannot be read is answered
    with what to do, and the check-in stays as it was."""
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "18:30"})
    await fire_reminders(scene, hours=3, minutes=31)
    (dm,) = scene.alice.dms_from_bot()
    opened = await press_mood(scene, scene.alice, dm, 3)
    assert opened.modal is not None
    first = await scene.standin.submit_modal(scene.alice.user, opened, {"craving": ["4"], "sober": ["yes"]})
    assert "craving 4/10" in first.content
    again = await scene.standin.submit_modal(
        scene.alice.user, opened, {"craving": ["2"], "sober": ["yes"], "note": "x"}
    )
    assert again.ephemeral and again.rejected == [] and "craving 2/10" in again.content
    opened.modal = dict(opened.modal, custom_id="form:checkin:not-a-server:0000")
    unreadable = await scene.standin.submit_modal(scene.alice.user, opened, {"craving": ["9"], "sober": ["no"]})
    assert unreadable.ephemeral and "couldn't read this check-in form" in unreadable.content
    checkin = await cog_of(scene).checkins.checkin_on(scene.guild.id, scene.alice.id, date(2026, 11, 27))
    assert checkin is not None and (checkin.mood, checkin.craving, checkin.sober, checkin.note) == (3, 2, True, "x")


async def test_the_dispatcher_stops_with_the_bot(standin: StandIn, tmp_path: Path) -> None:
    """Closing the bot unloads the cog, which stops the dispatcher task."""
    clock = FakeClock()
    world = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, world.db_path, clock) as bot:
        cog = cast(Checkins, bot.get_cog("Checkins"))
        await settled(cog)
    assert not cog.dispatcher.running


async def test_a_failing_send_is_logged_and_the_reminder_stays(scene: Scene, caplog: pytest.LogCaptureFixture) -> None:
    """A DM that fails for another reason (Discord error) is logged; the reminder is not paused."""
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "16:00"})
    scene.standin.fail_next("POST", "/channels/{channel_id}/messages", 503)
    with caplog.at_level(logging.ERROR, logger="bot.services.reminders"):
        await fire_reminders(scene, hours=1, minutes=1)
    assert scene.alice.dms_from_bot() == []
    assert any("failed" in record.getMessage() for record in caplog.records)
    info = await cog_of(scene).reminders.get_reminder(scene.guild.id, scene.alice.id)
    assert info is not None and info.paused_reason is None


# --------------------------------------------------------------------------- pure rendering


def _result(**changes: Any) -> CheckinResult:
    checkin = Checkin(date(2026, 3, 2), 3, 4, True, "a secret", datetime(2026, 3, 2, 9, tzinfo=UTC))
    values: dict[str, Any] = {
        "checkin": checkin,
        "replaced": False,
        "streak": 1,
        "longest_streak": 1,
        "sober_days": None,
        "needs_support": False,
        "passage": None,
        "crisis_resources": None,
        "timezone": "UTC",
        "timezone_notice": False,
        "reminder_notice": None,
        "share_channel_id": None,
    }
    values.update(changes)
    return CheckinResult(**values)


def test_mood_text() -> None:
    """Mood as number and word."""
    assert mood_text(1) == "1/5 (awful)"
    assert mood_text(5) == "5/5 (great)"


def test_checkin_reply_never_shows_the_note_and_lists_what_applies() -> None:
    """The reply: recorded or replaced, streak, sober days, share line and notices; never the note."""
    plain = checkin_reply(_result())
    assert plain.splitlines() == [
        "✅ Check-in saved for Monday 2 March: mood 3/5 (okay), craving 4/10, sober today.",
        "🔥 Streak: 1 day (your longest: 1 day).",
    ]
    full = checkin_reply(
        _result(replaced=True, streak=4, longest_streak=9, sober_days=30, timezone_notice=True, reminder_notice="R!"),
        "SHARED",
    )
    assert "a secret" not in full
    assert full.splitlines()[0].startswith("🔁 You already checked in today")
    assert "🔥 4 days in a row (your longest: 9 days)." in full
    assert "🌱 Sober days: 30." in full
    assert "SHARED" in full and "⏸️ R!" in full and "UTC" in full
    assert checkin_reply(_result(replaced=True), replaced=False).startswith("✅")


def test_checkin_reply_fits_discord_even_with_long_notices() -> None:
    """Everything the reply can hold stays under Discord's 2000 characters."""
    long = checkin_reply(
        _result(needs_support=True, timezone_notice=True, reminder_notice="x" * 300, sober_days=10_000),
        "y" * 200,
    )
    assert len(long) < 2000


def test_share_summary_has_mood_craving_sober_only() -> None:
    """The public summary: mood, craving and sober; an incomplete check-in shows only the mood."""
    checkin = Checkin(date(2026, 3, 2), 1, 9, False, "never public", datetime(2026, 3, 2, tzinfo=UTC))
    assert share_summary("<@1>", checkin) == "📋 <@1> checked in: mood 1/5 (awful), craving 9/10, not sober today."
    quick = Checkin(date(2026, 3, 2), 4, None, None, None, datetime(2026, 3, 2, tzinfo=UTC))
    assert share_summary("<@1>", quick) == "📋 <@1> checked in: mood 4/5 (good)."


def test_history_embed_shows_dashes_when_no_craving_was_told() -> None:
    """Quick check-ins only: no average craving to show."""
    day = date(2026, 3, 2)
    summary = HistorySummary(day - timedelta(days=6), day, 7, 1, 0, 1, 1, 4.0, None, "Europe/Paris", False)
    embed = history_embed(summary)
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Average craving"] == "—" and fields["Average mood"] == "4.0 / 5"
    assert embed.image.url is None
    assert embed.description == "24 Feb 2026 – 02 Mar 2026 (Europe/Paris)"


def test_reminder_set_reply_without_next_time() -> None:
    """A reply for a reminder without a next instant still reads well."""
    info = ReminderInfo("07:05", 425, None, "Asia/Kolkata", False, None)
    text = reminder_set_reply(info)
    assert "07:05 (Asia/Kolkata)" in text and "<t:" not in text and "UTC" not in text

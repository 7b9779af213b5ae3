"""A locked, full or read-only database, and slow work: every interaction is acknowledged within
Discord's 3 seconds, the member gets one clear answer, nothing is half-written, and the bot recovers."""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import time
from typing import Any

import pytest

from bot.services.checkins import MAX_NOTE_LENGTH
from bot.services.reminders import DueReminder
from bot.standin.interactions import Interaction
from bot.standin.model import Member, Message
from bot.tree import SLOW_FORM_MESSAGE, STORAGE_MESSAGE
from cogs.checkins import Checkins
from cogs.nudges import Nudges
from tests.e2e import Scene
from tests.reliability.support import checkin_days, cog, database_is_sound, query, write_lock

SAVED = "Check-in saved"
LOCK_SECONDS = 7.0
"""Longer than the busy timeout (5 s), shorter than two of them."""
PATIENT = 20.0
"""How long the tests wait for a deferred answer (Discord allows 15 minutes)."""


async def check_in(scene: Scene, member: Member, note: str | None = None) -> Interaction:
    """``/checkin today`` (mood 4, craving 2, sober), waiting patiently for a deferred answer."""
    options: dict[str, Any] = {"mood": 4, "craving": 2, "sober": True}
    if note is not None:
        options["note"] = note
    return await scene.standin.invoke(member, "checkin today", options, answer_timeout=PATIENT)


async def set_pragma(scene: Scene, pragma: str) -> None:
    """Set a PRAGMA on the bot's own connection (between two of its units of work)."""
    await scene.bot.db.run_outside_transaction(lambda conn: conn.execute(f"PRAGMA {pragma}").fetchall())


async def nudge_dm(scene: Scene, member: Member) -> Message:
    """The member's nudge DM: they turn nudges on and stay quiet for three days."""
    nudges = cog(scene, "Nudges", Nudges)
    await scene.standin.invoke(member, "nudges on")
    async with asyncio.timeout(5):
        while not nudges.sweeper.idle:  # noqa: ASYNC110 - the sweeper exposes a state, not an event
            await asyncio.sleep(0.005)
    scene.clock.advance(days=3, hours=1)
    await nudges.run_sweep_now()
    (dm,) = [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Thinking of you"]
    return dm


# --------------------------------------------------------------------------- a locked database


async def test_a_lock_released_within_the_busy_timeout_is_waited_out(scene: Scene) -> None:
    """Another process holds the write lock for 2.5 s: the check-in is deferred within 3 s, then saved."""
    async with write_lock(scene.db_path) as release:
        started = time.monotonic()
        asked = asyncio.create_task(check_in(scene, scene.alice))
        await asyncio.sleep(2.5)
        assert not asked.done()
        await release()
        answer = await asked
    assert answer.acked_mono is not None and answer.acked_mono - answer.created_mono < 3.0
    assert answer.deferred and answer.ephemeral and SAVED in answer.content
    assert len(checkin_days(scene.db_path, scene.guild, scene.alice)) == 1
    assert time.monotonic() - started >= 2.5


async def test_a_lock_held_past_the_busy_timeout_gets_the_clear_answer_and_nothing_is_written(scene: Scene) -> None:
    """Three members check in during a 7 s lock: each is deferred, then told to try again after the busy
    timeout counted from when they asked (not one timeout after another); nothing is written; later it works."""
    async with write_lock(scene.db_path) as release:
        asked = [asyncio.create_task(check_in(scene, m)) for m in (scene.alice, scene.beth, scene.carl)]
        done, _ = await asyncio.wait(asked, timeout=LOCK_SECONDS)
        assert len(done) == 3, "every member is answered while the lock is still held"
        await release()
    for task in asked:
        answer = task.result()
        assert answer.deferred and answer.ephemeral and answer.content == STORAGE_MESSAGE
    for member in (scene.alice, scene.beth, scene.carl):
        assert checkin_days(scene.db_path, scene.guild, member) == []
    about = await scene.standin.invoke(scene.beth, "about")
    assert about.ephemeral and about.embeds
    again = await check_in(scene, scene.alice)
    assert SAVED in again.content and not again.deferred
    assert len(checkin_days(scene.db_path, scene.guild, scene.alice)) == 1
    database_is_sound(scene.db_path)


async def test_a_button_pressed_during_a_lock_is_deferred_then_answered(scene: Scene) -> None:
    """ "I'm okay" on a nudge DM while the database is locked: acknowledged in time, then answered."""
    dm = await nudge_dm(scene, scene.alice)
    ok = next(c for c in dm.custom_ids() if c.startswith("nudge:ok:"))
    async with write_lock(scene.db_path) as release:
        pressed = asyncio.create_task(scene.standin.press_button(scene.alice.user, dm, ok, answer_timeout=PATIENT))
        await asyncio.sleep(2.5)
        await release()
        inter = await pressed
    assert inter.deferred
    (answer,) = await scene.standin.wait_for(lambda: inter.followups, timeout=PATIENT)
    assert answer.ephemeral and "glad you're okay" in answer.content
    assert dm.custom_ids(), "the DM keeps its buttons (its message was not replaced)"


async def test_a_form_that_cannot_open_in_time_asks_to_try_again(scene: Scene) -> None:
    """A reminder's mood button whose quick check-in waited on a lock can no longer open its form: the
    member is asked to press again, and the next press opens it."""
    checkins = cog(scene, "Checkins", Checkins)
    today = scene.clock().date()
    assert await checkins.send_reminder(DueReminder(scene.guild.id, scene.alice.id, today, scene.clock(), "UTC"))
    (dm,) = scene.alice.dms_from_bot()
    mood = next(c for c in dm.custom_ids() if c.endswith(":3"))
    async with write_lock(scene.db_path) as release:
        pressed = asyncio.create_task(scene.standin.press_button(scene.alice.user, dm, mood, answer_timeout=PATIENT))
        await asyncio.sleep(2.5)
        await release()
        inter = await pressed
    (answer,) = await scene.standin.wait_for(lambda: inter.followups, timeout=PATIENT)
    assert answer.ephemeral and answer.content == SLOW_FORM_MESSAGE
    retry = await scene.standin.press_button(scene.alice.user, dm, mood)
    assert retry.modal is not None


# --------------------------------------------------------------------------- a full disk, a read-only file


async def test_a_full_disk_gets_the_clear_answer_and_the_bot_recovers_when_space_returns(scene: Scene) -> None:
    """No page can be added (a full disk): a check-in with a long note is refused with the try-again
    answer and leaves nothing behind; reading still works; once space returns the same check-in saves."""
    first = await check_in(scene, scene.alice, "a short note")
    assert SAVED in first.content
    await scene.bot.db.run_outside_transaction(lambda conn: conn.execute("VACUUM"))
    (pages,) = query(scene.db_path, "PRAGMA page_count")[0]
    before = query(scene.db_path, "SELECT * FROM checkins ORDER BY guild_id, user_id, day")
    note = ("🌧️ " * (MAX_NOTE_LENGTH // 3)).strip()
    await set_pragma(scene, f"max_page_count = {int(pages)}")
    try:
        refused = await check_in(scene, scene.beth, note)
        assert refused.ephemeral and refused.content == STORAGE_MESSAGE
        assert query(scene.db_path, "SELECT * FROM checkins ORDER BY guild_id, user_id, day") == before
        assert query(scene.db_path, "SELECT count(*) FROM checkin_members WHERE user_id = ?", scene.beth.id) == [(0,)]
        history = await scene.standin.invoke(scene.alice, "checkin history", {"days": 7})
        assert history.ephemeral and history.embeds
        (chart,) = await scene.standin.wait_for(lambda: history.followups, timeout=PATIENT)
        assert chart.ephemeral and chart.files
    finally:
        await set_pragma(scene, "max_page_count = 1073741823")
    saved = await check_in(scene, scene.beth, note)
    assert SAVED in saved.content
    assert query(scene.db_path, "SELECT note FROM checkins WHERE user_id = ?", scene.beth.id) == [(note,)]
    database_is_sound(scene.db_path)


async def test_a_read_only_database_gets_the_clear_answer_and_activity_waits_for_it(scene: Scene) -> None:
    """Every write refused (a read-only file): the member is told to try again, the activity noted
    meanwhile stays in memory, and both are written once writing works again."""
    nudges = cog(scene, "Nudges", Nudges)
    await nudges.flusher.flush()
    await set_pragma(scene, "query_only = 1")
    try:
        refused = await check_in(scene, scene.alice)
        assert refused.content == STORAGE_MESSAGE
        status = await scene.standin.invoke(scene.alice, "nudges status")
        assert status.ephemeral and "nudges" in status.content.lower()
        await scene.alice.post_message(scene.general, "still here")
        with pytest.raises(Exception, match="readonly"):
            await nudges.flusher.flush()
        assert len(nudges.flusher.buffer) == 1, "the activity is kept for the next write"
    finally:
        await set_pragma(scene, "query_only = 0")
    assert await nudges.flusher.flush() == 1
    rows = query(
        scene.db_path,
        "SELECT last_active_at FROM nudge_members WHERE guild_id = ? AND user_id = ?",
        scene.guild.id,
        scene.alice.id,
    )
    assert rows == [(int(scene.clock().timestamp()),)]
    assert SAVED in (await check_in(scene, scene.alice)).content
    database_is_sound(scene.db_path)


# --------------------------------------------------------------------------- slow work


async def test_a_slow_chart_follows_the_numbers_answered_at_once(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing the history chart takes 3.5 s: the numbers are answered at once, the chart follows."""
    await check_in(scene, scene.alice)
    module = importlib.import_module(type(cog(scene, "Checkins", Checkins)).__module__)  # the loaded one
    draw = module.render_history_chart

    def slow_draw(*args: Any, **kwargs: Any) -> bytes:
        time.sleep(3.5)
        return bytes(draw(*args, **kwargs))

    monkeypatch.setattr(module, "render_history_chart", slow_draw)
    answer = await scene.standin.invoke(scene.alice, "checkin history", answer_timeout=PATIENT)
    assert answer.acked_mono is not None and answer.acked_mono - answer.created_mono < 3.0
    assert not answer.deferred and answer.ephemeral and answer.embeds
    (chart,) = await scene.standin.wait_for(lambda: answer.followups, timeout=PATIENT)
    (name, data), *_ = chart.files
    assert chart.ephemeral and name.endswith(".png") and data.startswith(b"\x89PNG")


def test_sqlite_reports_a_full_database_as_full() -> None:
    """The mechanism the full-disk test relies on: SQLITE_FULL once no page may be added."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID")
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {int(pages)}")
        with pytest.raises(sqlite3.OperationalError) as full:
            conn.execute("INSERT INTO t VALUES (1, ?)", ("x" * 5000,))
        assert full.value.sqlite_errorcode == sqlite3.SQLITE_FULL
    finally:
        conn.close()

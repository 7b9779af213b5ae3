"""``/privacy`` end to end through the stand-in: info, export (with sealed notes, and without the key),
delete behind a confirmation (the buddy told kindly, export empty after), retention with the test's
clock (notes, a member who left, a server that removed the bot), the owner's erase-server-data, and two
servers holding the same members."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from bot.crypto import generate_key, parse_key
from bot.db.connection import Database, StorageError
from bot.settings import Settings
from bot.standin.interactions import Interaction, InvocationRefused
from bot.standin.model import Member, Thread
from bot.standin.server import StandIn
from bot.views import VIEW_EXPIRED
from cogs.nudges import Nudges
from cogs.privacy import Privacy, deleted_text, export_filename, export_text
from tests.e2e import FakeClock, Scene, build_scene, running_bot

# --------------------------------------------------------------------------- helpers


def cog_of(scene: Scene) -> Privacy:
    """The loaded privacy cog (the extension loader re-imports the module: no isinstance)."""
    cog = scene.bot.get_cog("Privacy")
    assert cog is not None
    return cast(Privacy, cog)


async def started(scene: Scene) -> Privacy:
    """The cog, once its pass after ready is done (so that it does not run alongside the test)."""
    cog = cog_of(scene)
    async with asyncio.timeout(3):
        await cog.started.wait()
    return cog


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check()`` holds (the bot handles gateway events in tasks of its own)."""
    async with asyncio.timeout(3):
        while not await check():  # noqa: ASYNC110 - the state is in the database, not an event
            await asyncio.sleep(0.005)


async def export(scene: Scene, member: Member) -> tuple[Interaction, dict[str, Any]]:
    """``/privacy export``: the private answer and its parsed file."""
    answer = await scene.standin.invoke(member, "privacy export")
    assert answer.ephemeral
    ((name, data),) = answer.files
    assert name == export_filename(member.guild.id)
    return answer, json.loads(data)


async def check_in(scene: Scene, member: Member, note: str | None = None) -> None:
    options: dict[str, Any] = {"mood": 4, "craving": 2, "sober": True}
    if note is not None:
        options["note"] = note
    answer = await scene.standin.invoke(member, "checkin today", options)
    assert answer.ephemeral


async def stored(scene: Scene, sql: str, *params: Any) -> int:
    """A count straight from the bot's database."""
    return await scene.bot.db.read(lambda conn: int(conn.execute(sql, params).fetchone()[0]))


async def guild_rows(db: Database, guild_id: int) -> int:
    """Rows of every table that belong to the server."""

    def work(conn: sqlite3.Connection) -> int:
        total = 0
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
            if "guild_id" in columns:
                total += int(
                    conn.execute(f"SELECT count(*) FROM {table} WHERE guild_id = ?", (guild_id,)).fetchone()[0]
                )
        return total

    return await db.read(work)


async def confirm(scene: Scene, member: Member, question: Interaction, label: str) -> str:
    """Press the button with this label on a confirmation question; the question's final text (the
    button's answer is "Erasing…" at once, then the outcome once the work is done)."""
    message = question.response
    assert message is not None
    (custom_id,) = [
        c["custom_id"] for row in message.components for c in row.get("components", []) if c.get("label") == label
    ]
    pressed = await scene.standin.press_button(member.user, question, custom_id)
    assert pressed.ephemeral and pressed.response is message
    await scene.standin.wait_for(lambda: message.content != "Erasing…")
    assert not message.components  # the buttons are gone
    return message.content


async def pair_dan_with_carl(scene: Scene) -> Thread:
    """The men's house is a matching group; carl volunteers and dan asks: introduced in a thread."""
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"intro_channel": scene.intros})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "You have a buddy" in answer.content
    (thread,) = [t for t in scene.standin.threads_created if scene.dan.id in t.member_ids]
    return thread


# --------------------------------------------------------------------------- info and export


async def test_info_says_what_why_who_and_how_long_privately_without_content(scene: Scene) -> None:
    """Counts, never the note; the retention of this server; the choices."""
    await check_in(scene, scene.alice, "my private words")
    answer = await scene.standin.invoke(scene.alice, "privacy info")
    assert answer.ephemeral
    (embed,) = answer.embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert set(fields) == {"What is stored now", "Why", "Who can see it", "How long", "Your choices"}
    assert "1 check-in" in fields["What is stored now"] and "1 with a note" in fields["What is stored now"]
    assert "90 days" in fields["How long"] and "30 days" in fields["How long"]
    assert "never your check-ins, notes, moods or cravings" in fields["Who can see it"]
    assert "unencrypted" in fields["Who can see it"]  # the scene runs without DATA_KEY
    assert "my private words" not in json.dumps(answer.embeds)
    beth = (await scene.standin.invoke(scene.beth, "privacy info")).embeds[0]["fields"][0]["value"]
    assert "check-in" not in beth and "when you were last active" in beth  # seen in the server, nothing more


async def test_export_is_a_private_json_file_with_everything_and_no_one_elses_data(scene: Scene) -> None:
    """Check-ins with the note, timezone, reminder, sobriety date, nudges and last activity; beth's check-in
    is not in alice's file; nothing is posted anywhere."""
    await scene.standin.invoke(scene.alice, "checkin timezone", {"zone": "America/Chicago"})
    await check_in(scene, scene.alice, "@everyone I'm scared")
    await check_in(scene, scene.beth, "beth's own words")
    await scene.standin.invoke(scene.alice, "checkin reminder", {"time": "19:00"})
    await scene.standin.invoke(scene.alice, "sobriety set", {"date": "2026-10-01"})
    await scene.standin.invoke(scene.alice, "nudges on")
    answer, doc = await export(scene, scene.alice)
    assert "1 check-in" in answer.content and "attached file" in answer.content
    assert doc["member_id"] == str(scene.alice.id) and doc["server_id"] == str(scene.guild.id)
    (checkin,) = doc["checkins"]
    assert checkin["note"] == "@everyone I'm scared" and checkin["note_status"] == "plain"
    assert doc["timezone"]["timezone"] == "America/Chicago"
    assert doc["reminder"]["time"] == "19:00"
    assert doc["sobriety"]["since"] == "2026-10-01"
    assert doc["nudges"]["settings"]["choice"] == "on" and doc["last_active_at"] is not None
    text = json.dumps(doc)
    assert "beth's own words" not in text and str(scene.beth.id) not in text
    assert all(m.ephemeral or m.guild is None for m in scene.standin.bot_messages())


async def test_the_export_opens_sealed_notes_and_says_clearly_when_the_key_is_missing_or_wrong(
    standin: StandIn, tmp_path: Path
) -> None:
    """With DATA_KEY the note is stored sealed and exported opened; restarted without the key, or with
    another, the export lists it as locked and the answer says why."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    key = parse_key(generate_key())
    async with running_bot(standin, scene.db_path, clock, settings=Settings(data_key=key)) as bot:
        scene.bot = bot
        await check_in(scene, scene.alice, "sealed words")
        assert await stored(scene, "SELECT count(*) FROM checkins WHERE typeof(note) = 'blob'") == 1
        _, doc = await export(scene, scene.alice)
        assert doc["checkins"][0]["note"] == "sealed words" and doc["checkins"][0]["note_status"] == "decrypted"
    for settings, why in ((Settings(), "no DATA_KEY"), (Settings(data_key=parse_key(generate_key())), "another")):
        async with running_bot(standin, scene.db_path, clock, settings=settings) as bot:
            scene.bot = bot
            answer, doc = await export(scene, scene.alice)
            (checkin,) = doc["checkins"]
            assert checkin["note"] is None and checkin["note_status"] == "locked"
            assert why in checkin["note_unreadable_because"] and doc["notes_locked"]["count"] == 1
            assert "⚠️ 1 note couldn't be opened" in answer.content and why in answer.content


# --------------------------------------------------------------------------- delete


async def test_delete_asks_first_then_erases_all_and_the_buddy_is_told_kindly(scene: Scene) -> None:
    """dan erases his data: carl (his buddy) gets the kind DM of /buddy end, the thread is archived, dan's
    reminder is gone; afterwards dan's export is empty."""
    await started(scene)
    thread = await pair_dan_with_carl(scene)
    await check_in(scene, scene.dan, "dan's note")
    await scene.standin.invoke(scene.dan, "checkin reminder", {"time": "20:00"})
    question = await scene.standin.invoke(scene.dan, "privacy delete")
    assert question.ephemeral and "can't be undone" in question.content
    assert await stored(scene, "SELECT count(*) FROM checkins WHERE user_id = ?", scene.dan.id) == 1  # not yet
    assert await confirm(scene, scene.dan, question, "Erase my data") == deleted_text(True, 1)
    (dm,) = scene.carl.dms_from_bot()
    assert f"<@{scene.dan.id}> decided to end it" in dm.content and "says nothing about you" in dm.content
    await scene.standin.wait_for(lambda: thread.archived)
    _, doc = await export(scene, scene.dan)
    assert doc["checkins"] == [] and doc["reminder"] is None and doc["buddies"]["pairs"] == []
    assert doc["buddies"]["member"] is None and doc["last_active_at"] is None
    checkins = cast(Any, scene.bot.get_cog("Checkins"))
    assert await checkins.reminders.get_reminder(scene.guild.id, scene.dan.id) is None
    carl = (await export(scene, scene.carl))[1]
    assert carl["buddies"]["pairs"] == [] and carl["buddies"]["volunteer"]["available"] is True


async def test_keep_everything_erases_nothing(scene: Scene) -> None:
    """The second button: nothing happens, and the buttons go away."""
    await check_in(scene, scene.alice, "keep me")
    question = await scene.standin.invoke(scene.alice, "privacy delete")
    assert await confirm(scene, scene.alice, question, "Keep everything") == "Nothing was erased."
    _, doc = await export(scene, scene.alice)
    assert doc["checkins"][0]["note"] == "keep me"


async def test_a_confirmation_pressed_after_a_restart_is_answered_and_erases_nothing(
    standin: StandIn, tmp_path: Path
) -> None:
    """The question was asked before a restart and answered after it: the press is answered privately,
    once, that nothing was done, and nothing is erased."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await check_in(scene, scene.alice, "keep me")
        question = await scene.standin.invoke(scene.alice, "privacy delete")
        message = question.response
        assert message is not None
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        (custom_id,) = [
            c["custom_id"]
            for row in message.components
            for c in row.get("components", [])
            if c.get("label") == "Erase my data"
        ]
        assert custom_id.startswith("view:confirm:")
        pressed = await scene.standin.press_button(scene.alice.user, question, custom_id)
        assert pressed.ephemeral and pressed.content == VIEW_EXPIRED and pressed.rejected == []
        _, doc = await export(scene, scene.alice)
        assert doc["checkins"][0]["note"] == "keep me"


async def test_a_confirmation_pressed_again_after_it_was_answered_is_answered_once(scene: Scene) -> None:
    """The first press decides; a second press of the same question (a slow client) is answered that
    nothing was done, and the first answer stands."""
    await check_in(scene, scene.alice, "keep me")
    question = await scene.standin.invoke(scene.alice, "privacy delete")
    message = question.response
    assert message is not None
    erase = [c for row in message.components for c in row.get("components", []) if c.get("label") == "Erase my data"]
    assert await confirm(scene, scene.alice, question, "Keep everything") == "Nothing was erased."
    message.components = [{"type": 1, "components": erase}]  # the old buttons, still on a slow client's screen
    pressed = await scene.standin.press_button(scene.alice.user, question, erase[0]["custom_id"])
    assert pressed.ephemeral and pressed.content == VIEW_EXPIRED and pressed.rejected == []
    _, doc = await export(scene, scene.alice)
    assert doc["checkins"][0]["note"] == "keep me"


async def test_an_erase_that_cannot_be_saved_says_nothing_was_erased(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the transaction: the question says nothing was erased, and why comes privately."""
    cog = cog_of(scene)
    await check_in(scene, scene.alice, "still mine")

    async def refuse(*_: Any, **__: Any) -> None:
        raise StorageError("database is locked")

    monkeypatch.setattr(cog.service, "delete_member", refuse)
    question = await scene.standin.invoke(scene.alice, "privacy delete")
    assert await confirm(scene, scene.alice, question, "Erase my data") == "Nothing was erased."
    pressed = [i for i in scene.standin.interactions if i.label == "[pressed Erase my data]"][-1]
    await scene.standin.wait_for(lambda: any("try again" in m.content for m in pressed.all_messages()))
    monkeypatch.undo()
    _, doc = await export(scene, scene.alice)
    assert doc["checkins"][0]["note"] == "still mine"


async def test_activity_noted_before_the_delete_is_not_written_after_it(scene: Scene) -> None:
    """alice posts (her activity waits in memory); she erases her data; the next write of activity does
    not bring her back."""
    await started(scene)
    nudges = cast(Nudges, scene.bot.get_cog("Nudges"))
    await scene.alice.post_message(scene.general, "hello all")
    await scene.standin.sync()
    assert (scene.guild.id, scene.alice.id) in nudges.buffer._latest
    question = await scene.standin.invoke(scene.alice, "privacy delete")
    await confirm(scene, scene.alice, question, "Erase my data")
    await nudges.flusher.flush()
    assert await stored(scene, "SELECT count(*) FROM nudge_members WHERE user_id = ?", scene.alice.id) == 0


async def test_privacy_commands_are_guild_only(scene: Scene) -> None:
    """/privacy is not offered in DMs: a member's data is per server."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice.user, "privacy export")


# --------------------------------------------------------------------------- retention


async def test_notes_older_than_the_servers_retention_are_erased_and_the_numbers_stay(scene: Scene) -> None:
    """A moderator keeps notes 7 days; 8 days later the daily job erased the note, not the check-in."""
    cog = await started(scene)
    shown = await scene.standin.invoke(scene.mod, "settings note-retention")
    assert "kept 90 days" in shown.content
    changed = await scene.standin.invoke(scene.mod, "settings note-retention", {"days": 7})
    assert "Days check-in notes are kept: 7" in changed.content
    show = await scene.standin.invoke(scene.mod, "settings show")
    assert "**Days check-in notes are kept**: 7" in show.embeds[0]["description"]
    await check_in(scene, scene.alice, "an old note")
    scene.clock.advance(days=7)
    await check_in(scene, scene.alice, "a newer note")
    assert (await cog.run_retention_now()).notes_erased == 0
    scene.clock.advance(days=1, hours=1)
    assert (await cog.run_retention_now()).notes_erased == 1
    _, doc = await export(scene, scene.alice)
    assert [(c["mood"], c["note"]) for c in doc["checkins"]] == [(4, None), (4, "a newer note")]


async def test_the_daily_loop_runs_the_jobs_when_triggered(scene: Scene) -> None:
    """The loop that runs every day also runs at once when triggered, at the bot's clock."""
    cog = await started(scene)
    assert cog.runs == 1  # the pass after ready
    await check_in(scene, scene.alice, "soon gone")
    scene.clock.advance(days=92)
    cog.trigger_retention()
    async with asyncio.timeout(3):
        while cog.runs < 2:  # noqa: ASYNC110 - the loop exposes a counter, not an event
            await asyncio.sleep(0.005)
    assert cog.last_report is not None and cog.last_report.notes_erased == 1


async def test_a_member_who_left_is_erased_after_30_days_unless_they_return(scene: Scene) -> None:
    """alice leaves for good, beth leaves and comes back: after 30 days only alice's data is gone."""
    cog = await started(scene)
    await check_in(scene, scene.alice, "alice")
    await check_in(scene, scene.beth, "beth")
    await scene.alice.leave()
    await scene.beth.leave()
    departed = "SELECT count(*) FROM departed_members WHERE guild_id = ?"
    await eventually(lambda: _equals(stored(scene, departed, scene.guild.id), 2))
    scene.clock.advance(days=3)
    beth = scene.guild.add_member(scene.beth.user, roles=[scene.womens_house])
    await scene.standin.sync()
    await eventually(lambda: _equals(stored(scene, departed, scene.guild.id), 1))
    scene.clock.advance(days=26)
    assert (await cog.run_retention_now()).members_erased == 0
    scene.clock.advance(days=2)
    report = await cog.run_retention_now()
    assert report.members_erased == 1
    assert await stored(scene, "SELECT count(*) FROM checkins WHERE user_id = ?", scene.alice.id) == 0
    _, doc = await export(scene, beth)
    assert doc["checkins"][0]["note"] == "beth"


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_a_server_that_removed_the_bot_is_erased_after_30_days(scene: Scene) -> None:
    """The bot is removed from Harbor House (GUILD_DELETE): 30 days later all of Harbor House's data
    is erased; Serenity House keeps its own."""
    cog = await started(scene)
    harbor = scene.standin.add_guild("Harbor House")
    harbor.add_text_channel("general")
    alice = harbor.add_member(scene.alice.user)
    await scene.standin.sync()
    await check_in(scene, alice, "harbor note")
    await check_in(scene, scene.alice, "serenity note")
    await scene.standin.remove_guild(harbor)
    assert scene.bot.get_guild(harbor.id) is None
    left = "SELECT count(*) FROM guilds WHERE guild_id = ? AND left_at IS NOT NULL"
    await eventually(lambda: _equals(stored(scene, left, harbor.id), 1))
    scene.clock.advance(days=29)
    assert (await cog.run_retention_now()).servers_erased == 0
    scene.clock.advance(days=2)
    assert (await cog.run_retention_now()).servers_erased == 1
    assert await guild_rows(scene.bot.db, harbor.id) == 0
    _, doc = await export(scene, scene.alice)
    assert doc["checkins"][0]["note"] == "serenity note"


async def test_a_removal_already_undone_is_not_erased(scene: Scene) -> None:
    """A removal seen while the bot is in the server again (a missed rejoin): the data is kept."""
    cog = await started(scene)
    await check_in(scene, scene.alice, "still here")
    guild = scene.bot.get_guild(scene.guild.id)
    assert guild is not None
    scene.bot.dispatch("guild_remove", guild)
    left = "SELECT count(*) FROM guilds WHERE guild_id = ? AND left_at IS NOT NULL"
    await eventually(lambda: _equals(stored(scene, left, scene.guild.id), 1))
    scene.clock.advance(days=31)
    report = await cog.run_retention_now()
    assert (report.servers_erased, report.servers_returned) == (0, 1)
    _, doc = await export(scene, scene.alice)
    assert doc["checkins"][0]["note"] == "still here"


# --------------------------------------------------------------------------- erase-server-data


async def test_only_the_owner_erases_the_servers_data_after_confirming(scene: Scene) -> None:
    """A moderator is refused; the owner is asked first, then everything of this server is erased, and
    another server with the same member keeps its data."""
    await started(scene)
    harbor = scene.standin.add_guild("Harbor House")
    harbor.add_text_channel("general")
    harbor_alice = harbor.add_member(scene.alice.user)
    owner = scene.guild.add_member(scene.standin.users[scene.guild.owner_id])
    await scene.standin.sync()
    await check_in(scene, scene.alice, "serenity")
    await check_in(scene, harbor_alice, "harbor")
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    refused = await scene.standin.invoke(scene.mod, "settings erase-server-data")
    assert refused.ephemeral and "Only the server's owner" in refused.content
    question = await scene.standin.invoke(owner, "settings erase-server-data")
    assert (
        question.ephemeral and re.search(r"the data of \d+ members", question.content) and "undone" in question.content
    )
    assert await guild_rows(scene.bot.db, scene.guild.id) > 0
    assert "is erased" in await confirm(scene, owner, question, "Erase all of this server's data")
    assert await guild_rows(scene.bot.db, scene.guild.id) == 2  # the server's row, and who erased it:
    log = await scene.standin.invoke(owner, "settings audit-log")
    assert f"<@{owner.id}>" in log.embeds[0]["description"] and "erase" in log.embeds[0]["description"]
    assert await stored(scene, "SELECT count(*) FROM checkins WHERE guild_id = ?", scene.guild.id) == 0
    _, doc = await export(scene, harbor_alice)
    assert doc["checkins"][0]["note"] == "harbor"


# --------------------------------------------------------------------------- two servers


async def test_two_servers_with_the_same_members_never_see_each_others_data(scene: Scene) -> None:
    """alice and beth are in both; each export names only its server; erasing in one leaves the other."""
    await started(scene)
    harbor = scene.standin.add_guild("Harbor House")
    harbor.add_text_channel("general")
    h_alice, h_beth = harbor.add_member(scene.alice.user), harbor.add_member(scene.beth.user)
    await scene.standin.sync()
    for member, where in ((scene.alice, "serenity"), (h_alice, "harbor"), (scene.beth, "serenity"), (h_beth, "harbor")):
        await check_in(scene, member, f"{member.user.username} in {where}")
    _, serenity = await export(scene, scene.alice)
    _, there = await export(scene, h_alice)
    assert [c["note"] for c in serenity["checkins"]] == ["alice in serenity"]
    assert [c["note"] for c in there["checkins"]] == ["alice in harbor"]
    assert str(harbor.id) not in json.dumps(serenity) and str(scene.guild.id) not in json.dumps(there)
    question = await scene.standin.invoke(h_alice, "privacy delete")
    await confirm(scene, h_alice, question, "Erase my data")
    assert (await export(scene, h_alice))[1]["checkins"] == []
    assert [c["note"] for c in (await export(scene, scene.alice))[1]["checkins"]] == ["alice in serenity"]
    assert [c["note"] for c in (await export(scene, h_beth))[1]["checkins"]] == ["beth in harbor"]


# --------------------------------------------------------------------------- pure renderers


def test_export_text_says_when_there_is_nothing_and_when_notes_are_locked() -> None:
    assert "nothing" in export_text(0, 0, 0, None, True)
    text = export_text(3, 2, 1, "no DATA_KEY", False)
    assert "3 check-ins" in text and "2 notes" in text and "1 note couldn't be opened: no DATA_KEY" in text


def test_deleted_text_for_nothing_one_and_several_buddies() -> None:
    assert "nothing changed" in deleted_text(False, 0)
    assert "your buddy was told" in deleted_text(True, 1)
    assert "2 buddy pairings ended" in deleted_text(True, 2)
    assert "buddy" not in deleted_text(True, 0)

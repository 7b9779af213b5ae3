"""Moderators' paged lists end to end through the stand-in: Previous / Next (and the proposals list's
Approve / Reject) work at any time, after a restart too, answered once; only the moderator who asked,
while still a moderator; a page past the end gives the last one. And the crisis-resources form sent
after it closed (a restart, or sent once already) is answered that nothing was saved."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.db.repositories import audit
from bot.services.safety import DEFAULT_CRISIS_RESOURCES
from bot.standin.interactions import CallbackType, Interaction, find_command
from bot.standin.model import MESSAGE_FLAG_EPHEMERAL, Member, Message
from bot.standin.server import StandIn
from bot.views import FORM_EXPIRED
from tests.e2e import FakeClock, Scene, build_scene, running_bot

# --------------------------------------------------------------------------- helpers


def labels_of(answer: Interaction | Message) -> dict[str, str]:
    """label → custom_id of the buttons of a message (or an interaction's answer)."""
    return {c["label"]: c["custom_id"] for row in answer.components for c in row["components"]}


def disabled_of(answer: Interaction | Message) -> dict[str, bool]:
    """label → whether the button is disabled."""
    return {c["label"]: bool(c.get("disabled")) for row in answer.components for c in row["components"]}


def footer(answer: Interaction | Message) -> str:
    return str(answer.embeds[0]["footer"]["text"])


def answered_once_in_place(pressed: Interaction) -> None:
    """The press updated the list in place, with one callback and nothing refused or sent besides."""
    assert pressed.callback_type == CallbackType.UPDATE_MESSAGE
    assert pressed.rejected == [] and pressed.followups == []


async def audit_entries(scene: Scene, count: int) -> None:
    """``count`` audit entries (a moderator's match-now runs), straight into storage."""

    def write(conn: sqlite3.Connection) -> None:
        for _ in range(count):
            audit.record(conn, scene.guild.id, scene.mod.id, "buddy.match_now", {}, scene.clock())

    await scene.bot.db.transaction(write)


def open_to_everyone(scene: Scene, command: str) -> None:
    """As if the server had opened ``command`` to everyone in its Integrations settings."""
    root, _, _ = find_command(scene.standin, command, scene.guild)
    root["default_member_permissions"] = None


async def eleven_pairs(scene: Scene) -> list[Member]:
    """Eleven newcomers in the men's house, each paired with carl by hand: two pages of pairs."""
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
    newcomers = [scene.guild.add_member(f"new{i}", roles=[scene.mens_house]) for i in range(11)]
    await scene.standin.sync()
    for member in newcomers:
        await scene.standin.invoke(scene.mod, "buddyadmin pair", {"member": member, "buddy": scene.carl, "force": True})
    return newcomers


# --------------------------------------------------------------------------- after a restart


async def test_pages_turn_after_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """The pairs list was shown before a restart: Next and Previous still work afterwards, each answered
    once in place, Previous disabled on the first page and Next on the last."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        newcomers = await eleven_pairs(scene)
        listing = await scene.standin.invoke(scene.mod, "buddyadmin pairs")
        assert footer(listing) == "Page 1 of 2 · 11 pairs"
        assert disabled_of(listing) == {"Previous": True, "Next": False}
    clock.advance(hours=2)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        second = await scene.standin.press_button(scene.mod, listing, labels_of(listing)["Next"])
        answered_once_in_place(second)
        assert footer(second) == "Page 2 of 2 · 11 pairs"
        assert second.embeds[0]["description"].startswith(f"11. <@{newcomers[10].id}>")
        assert disabled_of(second) == {"Previous": False, "Next": True}
        first = await scene.standin.press_button(scene.mod, second, labels_of(second)["Previous"])
        answered_once_in_place(first)
        assert footer(first) == "Page 1 of 2 · 11 pairs"


async def test_the_audit_log_pages_turn_after_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """The audit log (Newer / Older) shown before a restart turns its pages afterwards."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await audit_entries(scene, 12)
        listing = await scene.standin.invoke(scene.mod, "settings audit-log")
        assert footer(listing).startswith("Page 1 of 2") and list(labels_of(listing)) == ["Newer", "Older"]
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        older = await scene.standin.press_button(scene.mod, listing, labels_of(listing)["Older"])
        answered_once_in_place(older)
        assert footer(older).startswith("Page 2 of 2") and older.embeds[0]["description"].count("•") == 2


async def test_proposals_list_decides_and_turns_pages_after_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """Five proposals listed before a restart: afterwards Next shows the fifth, and its Approve takes the
    decision (audited, its post marked decided) and shows the list again."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
        await scene.standin.invoke(scene.mod, "buddyadmin settings", {"require_approval": True, "max_buddies": 5})
        await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
        newcomers: list[Member] = []
        for i in range(5):
            newcomers.append(scene.guild.add_member(f"new{i}", roles=[scene.mens_house]))
            await scene.standin.sync()
            await scene.standin.wait_for(lambda: len(posts(scene)) == len(newcomers))
        listing = await scene.standin.invoke(scene.mod, "buddyadmin proposals")
        assert footer(listing) == "Page 1 of 2 · 5 proposals"
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        second = await scene.standin.press_button(scene.mod, listing, labels_of(listing)["Next"])
        answered_once_in_place(second)
        assert list(labels_of(second)) == ["Approve 5", "Reject 5", "Previous", "Next"]
        pressed = await scene.standin.press_button(scene.mod, second, labels_of(second)["Approve 5"])
        (answer,) = await scene.standin.wait_for(lambda: pressed.followups)
        assert answer.ephemeral and "are buddies now" in answer.content
        assert pressed.callback_type == CallbackType.DEFERRED_UPDATE_MESSAGE and pressed.rejected == []
        assert footer(pressed) == "Page 1 of 1 · 4 proposals"  # page 2 is gone: the last page
        assert "Next" not in labels_of(pressed) and "Approve 4" in labels_of(pressed)
        fifth = next(p for p in posts(scene) if f"<@{newcomers[4].id}>" in p.embeds[0]["description"])
        assert "Approved by" in fifth.content and fifth.components == []
        entries = await scene.bot.db.read(lambda c: audit.latest(c, scene.guild.id, 100))
        assert [(e.actor_id, e.action) for e in entries if e.action == "buddy.approve"] == [
            (scene.mod.id, "buddy.approve")
        ]


def posts(scene: Scene) -> list[Message]:
    """The proposals posted in the moderators' channel."""
    return [m for m in scene.mod_channel.bot_messages() if m.interaction is None and m.embeds]


# --------------------------------------------------------------------------- who may press


async def test_another_member_pressing_is_refused_privately(scene: Scene) -> None:
    """Discord shows the list only to its moderator; were another member to press it anyway, they are
    refused privately and the list stays as it was."""
    await audit_entries(scene, 12)
    listing = await scene.standin.invoke(scene.mod, "settings audit-log")
    message = listing.response
    assert message is not None
    message.flags &= ~MESSAGE_FLAG_EPHEMERAL  # as if alice could see it
    pressed = await scene.standin.press_button(scene.alice, message, labels_of(message)["Older"])
    assert pressed.ephemeral and pressed.content == "Only the moderator who asked for this list can turn its pages."
    assert pressed.rejected == []
    assert footer(message).startswith("Page 1 of 2")


async def test_a_moderator_who_lost_the_permission_is_refused(scene: Scene) -> None:
    """alice holds the moderator role and lists the audit log; the role is unset, then her Older is
    refused privately and the list stays as it was."""
    await scene.standin.invoke(scene.mod, "settings moderator-role", {"role": scene.womens_house})
    open_to_everyone(scene, "settings audit-log")
    await audit_entries(scene, 12)
    listing = await scene.standin.invoke(scene.alice, "settings audit-log")
    assert footer(listing).startswith("Page 1 of 2")
    await scene.standin.invoke(scene.mod, "settings moderator-role")
    pressed = await scene.standin.press_button(scene.alice, listing, labels_of(listing)["Older"])
    assert pressed.ephemeral and "Only moderators can do this" in pressed.content
    assert pressed.rejected == []
    assert listing.response is not None and footer(listing.response).startswith("Page 1 of 2")


async def test_a_moderator_who_lost_manage_server_cannot_decide_from_the_list(scene: Scene) -> None:
    """morgan lists the proposals, then loses the moderators' role: the list's Approve is refused and
    nothing is decided."""
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": scene.mens_house})
    await scene.standin.invoke(scene.mod, "buddyadmin settings", {"require_approval": True})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    await scene.standin.invoke(scene.dan, "buddy request")
    listing = await scene.standin.invoke(scene.mod, "buddyadmin proposals")
    await scene.mod.remove_role(scene.moderators)
    await scene.standin.sync()
    pressed = await scene.standin.press_button(scene.mod, listing, labels_of(listing)["Approve 1"])
    assert pressed.ephemeral and "Only moderators can do this" in pressed.content
    assert pressed.rejected == []
    entries = await scene.bot.db.read(lambda c: audit.latest(c, scene.guild.id, 100))
    assert "buddy.approve" not in [e.action for e in entries]


# --------------------------------------------------------------------------- the last page


async def test_a_page_past_the_end_gives_the_last_one(scene: Scene) -> None:
    """The pairs list shows page 1 of 2; a pair ends meanwhile, so there is one page: Next shows that
    last page, without buttons."""
    newcomers = await eleven_pairs(scene)
    listing = await scene.standin.invoke(scene.mod, "buddyadmin pairs")
    await scene.standin.invoke(scene.mod, "buddyadmin unpair", {"member": newcomers[0], "requeue": False})
    pressed = await scene.standin.press_button(scene.mod, listing, labels_of(listing)["Next"])
    answered_once_in_place(pressed)
    assert footer(pressed) == "Page 1 of 1 · 10 pairs" and pressed.components == []


# --------------------------------------------------------------------------- the crisis-resources form


async def test_the_crisis_form_sent_after_a_restart_is_answered_and_saves_nothing(
    standin: StandIn, tmp_path: Path
) -> None:
    """The form was opened before a restart and sent after it: answered privately, once, that nothing
    was saved; the resources stay the default."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
        assert opened.modal is not None and opened.modal["custom_id"].startswith("form:crisis-resources:")
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        sent = await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Call Jo: 555-0100"})
        assert sent.ephemeral and sent.content == FORM_EXPIRED
        assert sent.callback_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE and sent.rejected == []
        assert sent.followups == []
        reopened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
        assert reopened.modal is not None
        assert reopened.modal["components"][0]["components"][0]["value"] == DEFAULT_CRISIS_RESOURCES


async def test_the_crisis_form_sent_again_after_it_closed_is_answered_once(scene: Scene) -> None:
    """A form saved once is closed: the same form sent again is answered that nothing was saved, and
    the first text stays."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    saved = await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Call Jo: 555-0100"})
    assert "Crisis resources saved" in saved.content
    again = await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Something else"})
    assert again.ephemeral and again.content == FORM_EXPIRED and again.rejected == [] and again.followups == []
    show = await scene.standin.invoke(scene.mod, "settings show")
    assert "“Call Jo: 555-0100”" in show.embeds[0]["description"]

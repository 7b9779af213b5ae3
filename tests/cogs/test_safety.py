"""``/sos``, ``/settings crisis-resources`` and ``/settings audit-log`` end to end through the stand-in:
the resources at once, both alerts with their confirmations and the 10-minute limit (also after a
restart), no buddy, a buddy whose DMs are closed, no moderators' channel, DMs with one, several or
no shared servers, the crisis-resources form, and the audit log's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.db.repositories import audit
from bot.services.safety import DEFAULT_CRISIS_RESOURCES
from bot.standin.interactions import Interaction, InvocationRefused
from bot.standin.model import Member, Message, User
from bot.standin.server import StandIn
from tests.e2e import FakeClock, Scene, build_scene, running_bot

ASK_BUDDY_PREFIX = "sos:ask:buddy:"
ASK_MODS_PREFIX = "sos:ask:moderators:"
SENDING = "Sending it now…"

# --------------------------------------------------------------------------- helpers


def button(answer: Interaction | Message, prefix: str) -> str:
    """The one custom id of the answer starting with ``prefix``."""
    ids = answer.custom_ids()
    (found,) = [i for i in ids if i.startswith(prefix)]
    return found


async def sos(scene: Scene, who: Member | User) -> Interaction:
    answer = await scene.standin.invoke(who, "sos")
    assert answer.ephemeral
    return answer


async def pair_by_hand(scene: Scene, member: Member, buddy: Member) -> None:
    """Both houses as groups, and ``buddy`` paired with ``member`` by a moderator."""
    for role in (scene.mens_house, scene.womens_house):
        await scene.standin.invoke(scene.mod, "buddyadmin group-add", {"role": role})
    answer = await scene.standin.invoke(scene.mod, "buddyadmin pair", {"member": member, "buddy": buddy})
    assert "Paired" in answer.content


async def set_mod_channel(scene: Scene) -> None:
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})


async def ask(scene: Scene, who: Member | User, answer: Interaction, prefix: str) -> Interaction:
    """The first press: a new private message with the question (or why not)."""
    asked = await scene.standin.press_button(who, answer, button(answer, prefix))
    assert asked.ephemeral
    return asked


async def confirm(scene: Scene, who: Member | User, asked: Interaction) -> str:
    """Press "Yes": the question turns into "Sending…", then into what happened; returns that."""
    pressed = await scene.standin.press_button(who, asked, button(asked, "sos:send:"))
    await scene.standin.wait_for(lambda: pressed.content != SENDING)
    assert pressed.components == []
    return pressed.content


def notices(scene: Scene) -> list[Message]:
    """What the bot posted in the moderators' channel (not answers to commands)."""
    return [m for m in scene.mod_channel.bot_messages() if not m.ephemeral and m.interaction is None]


def bodies(scene: Scene, pattern: str) -> list[dict[str, Any]]:
    return [r.body for r in scene.standin.requests_to("POST", pattern) if r.status < 300]


# --------------------------------------------------------------------------- /sos in a server


async def test_sos_answers_at_once_with_the_resources_and_two_buttons(scene: Scene) -> None:
    """Private, the default crisis resources, and the two buttons; nothing posted anywhere else."""
    answer = await sos(scene, scene.alice)
    (embed,) = answer.embeds
    assert embed["description"] == DEFAULT_CRISIS_RESOURCES
    assert "988" in embed["description"] and "1-800-662-4357" in embed["description"]
    labels = [c["label"] for row in answer.components for c in row["components"]]
    assert labels == ["Tell my buddy I need support now", "Tell the moderators"]
    assert answer.custom_ids() == [f"sos:ask:buddy:{scene.guild.id}", f"sos:ask:moderators:{scene.guild.id}"]
    assert [m for m in scene.standin.bot_messages() if not m.ephemeral] == []


async def test_tell_my_buddy_asks_first_then_sends_once_per_ten_minutes(scene: Scene) -> None:
    """beth is alice's buddy. The question, then "Yes": beth's DM names alice (the only mention allowed)
    and shows the resources; a second press within 10 minutes says it was already sent; after, it goes."""
    await pair_by_hand(scene, scene.alice, scene.beth)
    before = len(scene.beth.dms_from_bot())
    answer = await sos(scene, scene.alice)
    asked = await ask(scene, scene.alice, answer, ASK_BUDDY_PREFIX)
    assert f"Tell <@{scene.beth.id}> that you need support now?" in asked.content
    assert [c["label"] for row in asked.components for c in row["components"]] == ["Yes, tell my buddy", "Not now"]
    assert len(scene.beth.dms_from_bot()) == before  # nothing sent before the confirmation

    result = await confirm(scene, scene.alice, asked)
    assert f"I've let <@{scene.beth.id}> know you need support now" in result
    dms = scene.beth.dms_from_bot()
    assert len(dms) == before + 1
    alert = dms[-1]
    assert f"<@{scene.alice.id}>" in alert.content and "need support now" in alert.content
    assert "Serenity House" in alert.content
    assert alert.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES
    dm_channel = scene.beth.user.dm_channel()
    body = bodies(scene, f"/channels/{dm_channel.id}/messages")[-1]
    mentions = body["allowed_mentions"]
    assert mentions["parse"] == [] and [int(u) for u in mentions["users"]] == [scene.alice.id]
    assert not mentions.get("roles") and not mentions.get("replied_user")

    scene.clock.advance(minutes=9)
    again = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    assert "I already let your buddy know" in again.content and again.components == []
    assert len(scene.beth.dms_from_bot()) == before + 1

    scene.clock.advance(minutes=1)
    asked = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    assert "I've let" in await confirm(scene, scene.alice, asked)
    assert len(scene.beth.dms_from_bot()) == before + 2


async def test_two_questions_confirmed_send_one_alert(scene: Scene) -> None:
    """Two questions open at once (two /sos): the second "Yes" says it was already sent."""
    await pair_by_hand(scene, scene.alice, scene.beth)
    before = len(scene.beth.dms_from_bot())
    first = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    second = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    assert "I've let" in await confirm(scene, scene.alice, first)
    pressed = await scene.standin.press_button(scene.alice, second, button(second, "sos:send:"))
    assert "I already let your buddy know" in pressed.content and pressed.components == []
    assert len(scene.beth.dms_from_bot()) == before + 1


async def test_not_now_sends_nothing(scene: Scene) -> None:
    """ "Not now": the question turns into a calm word, and nobody is told."""
    await pair_by_hand(scene, scene.alice, scene.beth)
    await set_mod_channel(scene)
    before = len(scene.beth.dms_from_bot())
    for prefix in (ASK_BUDDY_PREFIX, ASK_MODS_PREFIX):
        asked = await ask(scene, scene.alice, await sos(scene, scene.alice), prefix)
        pressed = await scene.standin.press_button(scene.alice, asked, button(asked, "sos:cancel:"))
        assert "I haven't told anyone" in pressed.content and pressed.components == []
    assert len(scene.beth.dms_from_bot()) == before
    assert notices(scene) == []


async def test_tell_the_moderators_posts_one_notice_per_ten_minutes(scene: Scene) -> None:
    """A notice in the moderators' channel naming alice, pinging nobody; again within 10 minutes: already sent."""
    await set_mod_channel(scene)
    asked = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_MODS_PREFIX)
    assert "Tell the moderators of **Serenity House**" in asked.content
    assert notices(scene) == []
    result = await confirm(scene, scene.alice, asked)
    assert "I've let the moderators of **Serenity House** know" in result
    (notice,) = notices(scene)
    assert f"<@{scene.alice.id}>" in notice.content and "support now" in notice.content
    (body,) = bodies(scene, f"/channels/{scene.mod_channel.id}/messages")[-1:]
    assert body["allowed_mentions"]["parse"] == [] and not body["allowed_mentions"].get("users")
    assert not body["allowed_mentions"].get("roles")

    scene.clock.advance(minutes=5)
    again = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_MODS_PREFIX)
    assert "I already let the moderators know" in again.content
    assert len(notices(scene)) == 1
    # The buddy kind is limited on its own: alice has no buddy, which is what she hears.
    no_buddy = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    assert "You don't have a buddy" in no_buddy.content


async def test_no_buddy_and_no_moderators_channel_are_explained(scene: Scene) -> None:
    """Without a buddy, or a moderators' channel, the member hears so kindly, with no "Yes" button."""
    no_buddy = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_BUDDY_PREFIX)
    assert "You don't have a buddy in **Serenity House** right now" in no_buddy.content
    assert "Tell the moderators" in no_buddy.content and no_buddy.components == []
    no_channel = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_MODS_PREFIX)
    assert "hasn't set up a moderators' channel" in no_channel.content and no_channel.components == []
    assert notices(scene) == []


async def test_a_buddy_with_closed_dms_is_reported_and_the_alert_can_be_retried(scene: Scene) -> None:
    """carl's buddy dan has closed DMs: nothing reached him, so carl hears it and may try again (or
    the moderators) at once."""
    await pair_by_hand(scene, scene.carl, scene.dan)
    asked = await ask(scene, scene.carl, await sos(scene, scene.carl), ASK_BUDDY_PREFIX)
    result = await confirm(scene, scene.carl, asked)
    assert f"I couldn't reach your buddy (<@{scene.dan.id}>: their DMs are closed)" in result
    assert "Tell the moderators" in result
    assert scene.dan.dms_from_bot() == []
    again = await ask(scene, scene.carl, await sos(scene, scene.carl), ASK_BUDDY_PREFIX)
    assert "Tell <@" in again.content and again.custom_ids()  # not "already sent"


async def test_a_moderators_channel_the_bot_cannot_post_in(scene: Scene) -> None:
    """Discord refuses the notice: the member is told to reach a moderator directly and may retry."""
    await set_mod_channel(scene)
    scene.standin.fail_next(
        "POST",
        f"/channels/{scene.mod_channel.id}/messages",
        403,
        body={"message": "Missing Permissions", "code": 50013},
    )
    asked = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_MODS_PREFIX)
    result = await confirm(scene, scene.alice, asked)
    assert "I couldn't post in the moderators' channel" in result
    assert notices(scene) == []
    retry = await ask(scene, scene.alice, await sos(scene, scene.alice), ASK_MODS_PREFIX)
    assert "I'll post a short notice" in retry.content


async def test_the_server_s_own_resources_are_shown(scene: Scene) -> None:
    """After a moderator edits them, /sos shows the server's text."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Call Jo at the house: 555-0100"})
    answer = await sos(scene, scene.alice)
    assert answer.embeds[0]["description"] == "Call Jo at the house: 555-0100"


# --------------------------------------------------------------------------- /sos in DMs


async def test_in_dms_with_one_shared_server_it_is_used(scene: Scene) -> None:
    """alice shares only Serenity House with the bot: its resources and buttons, and the alert works."""
    await set_mod_channel(scene)
    answer = await sos(scene, scene.alice.user)
    assert answer.channel is scene.alice.user.dm_channel()
    assert "Serenity House" in answer.content
    assert answer.custom_ids() == [f"sos:ask:buddy:{scene.guild.id}", f"sos:ask:moderators:{scene.guild.id}"]
    asked = await ask(scene, scene.alice.user, answer, ASK_MODS_PREFIX)
    assert "I've let the moderators" in await confirm(scene, scene.alice.user, asked)
    assert len(notices(scene)) == 1


async def test_in_dms_with_several_shared_servers_a_select_offers_them(scene: Scene) -> None:
    """alice is also in Oak Street: the default resources at once, and a select of both servers; the
    chosen one's own resources and buttons replace the question."""
    oak = scene.standin.add_guild("Oak Street")
    oak.add_text_channel("general")
    oak.add_member(scene.alice.user)
    await scene.standin.sync()
    await set_mod_channel(scene)
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Serenity's own line: 555-0199"})

    answer = await sos(scene, scene.alice.user)
    assert answer.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES
    assert answer.custom_ids() == ["sos:server"]
    (row,) = answer.components
    options = row["components"][0]["options"]
    assert [(o["label"], int(o["value"])) for o in options] == [
        ("Oak Street", oak.id),
        ("Serenity House", scene.guild.id),
    ]

    chosen = await scene.standin.select(scene.alice.user, answer, "sos:server", [str(scene.guild.id)])
    assert chosen.embeds[0]["description"] == "Serenity's own line: 555-0199"
    assert chosen.custom_ids() == [f"sos:ask:buddy:{scene.guild.id}", f"sos:ask:moderators:{scene.guild.id}"]
    asked = await ask(scene, scene.alice.user, chosen, ASK_MODS_PREFIX)
    assert "I've let the moderators of **Serenity House**" in await confirm(scene, scene.alice.user, asked)


async def test_in_dms_with_no_shared_server_only_the_default_resources(scene: Scene) -> None:
    """A stranger: the default resources, no buttons."""
    stranger = scene.standin.create_user("stranger")
    answer = await sos(scene, stranger)
    assert answer.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES
    assert answer.components == []


async def test_a_server_the_member_left_is_not_reached_from_an_old_message(scene: Scene) -> None:
    """alice's /sos message from before she left: pressing it answers kindly and sends nothing."""
    await set_mod_channel(scene)
    answer = await sos(scene, scene.alice.user)
    await scene.alice.leave()
    await scene.standin.sync()
    pressed = await scene.standin.press_button(scene.alice.user, answer, button(answer, ASK_MODS_PREFIX))
    assert "no longer in it" in pressed.content and "emergency number" in pressed.content
    assert notices(scene) == []


# --------------------------------------------------------------------------- restart


async def test_the_limit_and_the_buttons_survive_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """Told the moderators, then the bot restarts: the old question's buttons still answer, and the
    limit still holds."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        await set_mod_channel(scene)
        answer = await sos(scene, scene.alice)
        asked = await ask(scene, scene.alice, answer, ASK_MODS_PREFIX)
        assert "I've let the moderators" in await confirm(scene, scene.alice, asked)
    clock.advance(minutes=3)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        again = await ask(scene, scene.alice, answer, ASK_MODS_PREFIX)
        assert "I already let the moderators know" in again.content
        assert len(notices(scene)) == 1


# --------------------------------------------------------------------------- /settings crisis-resources


async def test_crisis_resources_form_shows_the_current_text_and_saves(scene: Scene) -> None:
    """The form holds the current text (the default at first, at most 1500 characters); saving shows the
    preview, and the next form holds the new text; emptying it goes back to the default."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    assert opened.modal is not None
    (row,) = opened.modal["components"]
    field = row["components"][0]
    assert field["value"] == DEFAULT_CRISIS_RESOURCES and field["max_length"] == 1500
    saved = await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Call Jo: 555-0100"})
    assert saved.ephemeral and "Crisis resources saved" in saved.content
    assert saved.embeds[0]["description"] == "Call Jo: 555-0100"

    reopened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    assert reopened.modal is not None
    assert reopened.modal["components"][0]["components"][0]["value"] == "Call Jo: 555-0100"
    show = await scene.standin.invoke(scene.mod, "settings show")
    assert "“Call Jo: 555-0100”" in show.embeds[0]["description"]

    reset = await scene.standin.submit_modal(scene.mod, reopened, {"crisis_resources": ""})
    assert "back to the default" in reset.content
    assert reset.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES
    assert (await sos(scene, scene.alice)).embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES


async def test_crisis_resources_too_long_are_refused(scene: Scene) -> None:
    """1501 characters: Discord's form refuses it (its limit is 1500), and nothing changes."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    with pytest.raises(InvocationRefused, match="longer than 1500"):
        await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "x" * 1501})
    fits = await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "y" * 1500})
    assert fits.embeds[0]["description"] == "y" * 1500


async def test_unchanged_default_stays_the_default(scene: Scene) -> None:
    """Submitting the form untouched records nothing and keeps following the default."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    saved = await scene.standin.submit_modal(scene.mod, opened, {})
    assert "back to the default" in saved.content
    entries = await scene.bot.db.read(lambda c: audit.latest(c, scene.guild.id))
    assert [e for e in entries if "crisis_resources" in e.detail] == []


# --------------------------------------------------------------------------- /settings audit-log


async def test_audit_log_lists_settings_changes_and_pages_with_buttons(scene: Scene) -> None:
    """Every settings change is recorded (who, what, when); 12 changes make two pages of 10 and 2."""
    empty = await scene.standin.invoke(scene.mod, "settings audit-log")
    assert "Nothing recorded yet" in empty.embeds[0]["description"] and empty.components == []

    for channel in (scene.general, scene.checkins, scene.celebrations) * 4:
        await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": channel})
    first = await scene.standin.invoke(scene.mod, "settings audit-log")
    assert first.ephemeral
    embed = first.embeds[0]
    lines = embed["description"].split("\n")
    assert len(lines) == 10
    assert lines[0].endswith(
        f"<@{scene.mod.id}> changed a setting: **Check-in channel**: <#{scene.checkins.id}> → "
        f"<#{scene.celebrations.id}>"
    )
    assert "Page 1 of 2" in embed["footer"]["text"] and "12 in all" in embed["footer"]["text"]
    newer, older = (c for row in first.components for c in row["components"])
    assert newer["label"] == "Newer" and newer.get("disabled") and older["label"] == "Older"

    second = await scene.standin.press_button(scene.mod, first, older["custom_id"])
    lines = second.embeds[0]["description"].split("\n")
    assert len(lines) == 2 and lines[-1].endswith(f"not set → <#{scene.general.id}>")
    assert "Page 2 of 2" in second.embeds[0]["footer"]["text"]
    buttons = [c for row in second.components for c in row["components"]]
    assert buttons[1].get("disabled") and not buttons[0].get("disabled")
    back = await scene.standin.press_button(scene.mod, second, buttons[0]["custom_id"])
    assert "Page 1 of 2" in back.embeds[0]["footer"]["text"]


async def test_audit_log_pages_turn_only_for_the_moderator_who_asked(scene: Scene) -> None:
    """The message is private to the moderator who asked: nobody else can press its buttons."""
    for channel in (scene.general, scene.checkins) * 6:
        await scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": channel})
    first = await scene.standin.invoke(scene.mod, "settings audit-log")
    older = [c for row in first.components for c in row["components"]][1]
    with pytest.raises(InvocationRefused):
        await scene.standin.press_button(scene.alice, first, older["custom_id"])


async def test_moderator_actions_of_other_features_are_listed(scene: Scene) -> None:
    """Buddy actions recorded by the buddy feature read plainly, with mentions (in an embed: no pings)."""
    await pair_by_hand(scene, scene.alice, scene.beth)
    log = await scene.standin.invoke(scene.mod, "settings audit-log")
    text = log.embeds[0]["description"]
    assert "paired two members by hand" in text
    assert f"member: <@{scene.alice.id}>" in text and f"buddy: <@{scene.beth.id}>" in text
    assert f"group role: <@&{scene.womens_house.id}>" in text
    assert f"made a role a matching group: role: <@&{scene.womens_house.id}>" in text


async def test_every_settings_command_is_recorded(scene: Scene) -> None:
    """Channels, the moderator role, the nudge settings and the crisis text: one entry each, by whom; a
    command that changes nothing adds none."""
    mod = scene.mod
    await scene.standin.invoke(mod, "settings moderator-role", {"role": scene.moderators})
    await scene.standin.invoke(mod, "settings nudges", {"quiet_days": 4, "enabled": True})
    await scene.standin.invoke(mod, "settings nudges", {"quiet_days": 4})
    opened = await scene.standin.invoke(mod, "settings crisis-resources")
    await scene.standin.submit_modal(mod, opened, {"crisis_resources": "Call **Jo**: 555-0100"})
    log = await scene.standin.invoke(mod, "settings audit-log")
    lines = log.embeds[0]["description"].split("\n")
    assert len(lines) == 3
    assert lines[0].endswith("**Crisis resources**: default → “Call \\*\\*Jo\\*\\*: 555-0100”")
    assert lines[1].endswith("**Isolation nudges**: default → on; **Quiet days before a nudge**: default → 4")
    assert lines[2].endswith(f"**Moderator role**: not set → <@&{scene.moderators.id}>")
    assert all(f"<@{mod.id}> changed a setting" in line for line in lines)

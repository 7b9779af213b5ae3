"""Output safety and permissions, end to end through the stand-in, across every feature:

* a note or a display name holding ``@everyone``, ``@here`` or a role mention pings nobody: every
  message the bot sent (its request bodies) allows no mention but, in a buddy introduction or
  alert, the buddies themselves;
* guild-only commands are marked so (allowed contexts), and Discord refuses them in DMs;
* a non-moderator is refused by the run-time check on every moderator command, even when the
  server made the command visible to everyone;
* moderator views never show check-in notes, moods or cravings;
* two servers in one stand-in, with the same members, never see each other's data.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest

from bot.db.repositories import audit
from bot.services.safety import DEFAULT_CRISIS_RESOURCES
from bot.standin.interactions import Interaction, InvocationRefused, OptionType, find_command
from bot.standin.model import DMChannel, Guild, Member, Permission
from bot.standin.server import StandIn
from cogs.nudges import Nudges
from tests.e2e import Scene

EVIL = "@everyone @here <@&{role}> hi"
SECRET_NOTE = "SECRET-NOTE-relapsed-at-the-bar"
DM_COMMANDS = {"about", "peersupport", "sos"}
"""Commands that also work in DMs: nothing in them is per-server, except /sos, which asks."""
LEAKED = re.compile(r"mood:? *\d|craving:? *\d|\d+/5|\d+/10|awful|not sober|relapsed|secret-note", re.IGNORECASE)
"""What a member's check-in looks like in the bot's words (its note, mood, craving, sober), never a
general sentence about what is kept."""

# --------------------------------------------------------------------------- helpers


def message_bodies(standin: StandIn) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(method, path, message fields)`` of every request in which the bot sent or edited a message."""
    for record in standin.requests:
        body = record.body
        if record.method not in ("POST", "PATCH") or not isinstance(body, dict) or record.status >= 300:
            continue
        fields = body.get("data") if record.path.startswith("/interactions/") else body
        if isinstance(fields, dict) and ("content" in fields or "embeds" in fields):
            yield record.method, record.path, fields


def mentions_allowed(scene: Scene, explicit: set[int]) -> list[str]:
    """Every message body must mention nobody but the users in ``explicit`` (buddies in an
    introduction or alert, only in a DM or a private thread); the problems found."""
    problems: list[str] = []
    private_places = {c.id for c in scene.standin.channels.values() if isinstance(c, DMChannel)} | {
        t.id for t in scene.standin.threads_created if t.private
    }
    for method, path, fields in message_bodies(scene.standin):
        allowed = fields.get("allowed_mentions")
        where = f"{method} {path}"
        if not isinstance(allowed, dict):
            problems.append(f"{where}: no allowed_mentions")
            continue
        if allowed.get("parse"):
            problems.append(f"{where}: parse {allowed['parse']}")
        if allowed.get("roles"):
            problems.append(f"{where}: roles {allowed['roles']}")
        if allowed.get("replied_user"):
            problems.append(f"{where}: replied_user")
        users = {int(u) for u in allowed.get("users") or []}
        if users:
            channel_id = int(path.split("/")[2]) if path.startswith("/channels/") else None
            if not users <= explicit or channel_id not in private_places:
                problems.append(f"{where}: users {sorted(users)}")
    return problems


def texts_of(messages: list[Any]) -> list[str]:
    out = []
    for message in messages:
        parts = [message.content]
        for embed in message.embeds:
            parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
            parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
            parts.append(str(embed.get("footer", {}).get("text", "")))
        out.append("\n".join(parts))
    return out


def command_paths(standin: StandIn, guild: Guild) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every leaf command synced for ``guild`` (``"name sub"``) with its root."""
    roots = list(standin.global_commands.values()) + list(standin.guild_commands.get(guild.id, {}).values())
    for root in roots:
        if int(root.get("type", 1)) != 1:
            continue
        subs = [
            o for o in root.get("options") or [] if o["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
        ]
        if not subs:
            yield root["name"], root
        for sub in subs:
            if sub["type"] == OptionType.SUB_COMMAND:
                yield f"{root['name']} {sub['name']}", root
            else:
                for leaf in sub.get("options") or []:
                    yield f"{root['name']} {sub['name']} {leaf['name']}", root


def required_options(scene: Scene, schema: list[dict[str, Any]]) -> dict[str, Any]:
    """A plausible value for each required option, by type."""
    values: dict[str, Any] = {}
    for option in schema:
        if not option.get("required"):
            continue
        kind = OptionType(int(option["type"]))
        if option.get("choices"):
            values[option["name"]] = option["choices"][0]["value"]
        elif kind == OptionType.STRING:
            values[option["name"]] = "2024-01-01"
        elif kind in (OptionType.INTEGER, OptionType.NUMBER):
            values[option["name"]] = option.get("min_value", 1)
        elif kind == OptionType.BOOLEAN:
            values[option["name"]] = True
        elif kind in (OptionType.USER, OptionType.MENTIONABLE):
            values[option["name"]] = scene.beth
        elif kind == OptionType.ROLE:
            values[option["name"]] = scene.womens_house
        elif kind == OptionType.CHANNEL:
            values[option["name"]] = scene.general
        else:
            pytest.fail(f"no test value for option {option['name']} of type {kind!r}")
    return values


def moderator_commands(scene: Scene) -> list[str]:
    """Every leaf command Discord hides from members without a permission (the moderators' ones)."""
    return sorted(
        path for path, root in command_paths(scene.standin, scene.guild) if root.get("default_member_permissions")
    )


async def buddy_pair(scene: Scene, member: Member, buddy: Member) -> None:
    answer = await scene.standin.invoke(scene.mod, "buddyadmin pair", {"member": member, "buddy": buddy})
    assert "Paired" in answer.content, answer.content


async def confirm_alert(scene: Scene, who: Member, kind: str) -> None:
    """/sos, press "Tell …", then "Yes"; wait for the outcome."""
    answer = await scene.standin.invoke(who, "sos")
    (ask_id,) = [i for i in answer.custom_ids() if i.startswith(f"sos:ask:{kind}:")]
    asked = await scene.standin.press_button(who, answer, ask_id)
    (send_id,) = [i for i in asked.custom_ids() if i.startswith("sos:send:")]
    pressed = await scene.standin.press_button(who, asked, send_id)
    await scene.standin.wait_for(lambda: pressed.content != "Sending it now…")
    assert "I've let" in pressed.content, pressed.content


async def sweep_nudges(scene: Scene, **advance: float) -> None:
    cog = cast(Nudges, scene.bot.get_cog("Nudges"))
    async with asyncio.timeout(3):
        while not cog.sweeper.idle:  # noqa: ASYNC110 - the sweeper exposes a state, not an event
            await asyncio.sleep(0.005)
    scene.clock.advance(**advance)
    await cog.run_sweep_now()


# --------------------------------------------------------------------------- mentions


async def test_everyone_in_a_note_and_a_display_name_pings_nobody(scene: Scene) -> None:
    """A member whose display name and note hold @everyone, @here and a role mention: check-ins (shared),
    a milestone announcement, a buddy introduction, a nudge, /sos to the buddy and to the moderators,
    the moderators' notices. Every message's allowed_mentions pings nobody, except the buddy alerts and
    the introduction, which may mention only the two buddies, in private."""
    role_ping = EVIL.format(role=scene.moderators.id)
    eve = scene.guild.add_member("eve", roles=[scene.womens_house], nick=role_ping, joined_at=scene.clock())
    await scene.standin.sync()
    mod = scene.mod
    for command, options in (
        ("settings moderator-channel", {"channel": scene.mod_channel}),
        ("settings checkin-channel", {"channel": scene.checkins}),
        ("settings celebrations-channel", {"channel": scene.celebrations}),
        ("buddyadmin group-add", {"role": scene.womens_house}),
        ("buddyadmin group-add", {"role": scene.mens_house}),
        ("buddyadmin settings", {"intro_channel": scene.intros}),
    ):
        await scene.standin.invoke(mod, command, options)
    for member in (eve, scene.alice):
        checkin = {"mood": 1, "craving": 9, "sober": False, "note": role_ping, "share": True}
        answer = await scene.standin.invoke(member, "checkin today", checkin)
        assert "Check-in saved" in answer.content
        await scene.standin.invoke(member, "sobriety set", {"date": "2026-11-26", "announce": True})
    await buddy_pair(scene, eve, scene.beth)
    await confirm_alert(scene, eve, "buddy")
    await confirm_alert(scene, eve, "moderators")
    await scene.standin.invoke(eve, "nudges on")
    await sweep_nudges(scene, days=3, hours=1)
    await scene.standin.invoke(mod, "settings quiet-members")
    await scene.standin.invoke(mod, "settings audit-log")

    (alert,) = [m for m in scene.beth.dms_from_bot() if "used /sos" in m.content]
    (notice,) = [m for m in scene.mod_channel.bot_messages() if m.interaction is None and "used /sos" in m.content]
    assert "everyone" in alert.content and "everyone" in notice.content  # named as she calls herself
    assert any(m.embeds and m.embeds[0].get("title") == "Thinking of you" for m in eve.dms_from_bot())
    explicit = [f for _, _, f in message_bodies(scene.standin) if (f.get("allowed_mentions") or {}).get("users")]
    assert len(explicit) == 2  # the introduction in the private thread, and the buddy's alert
    assert mentions_allowed(scene, explicit={eve.id, scene.beth.id}) == []
    assert len(list(message_bodies(scene.standin))) > 20


# --------------------------------------------------------------------------- contexts


async def test_guild_only_commands_are_marked_so_and_refused_in_dms(scene: Scene) -> None:
    """Every command but /about, /peersupport and /sos is for servers only (contexts [0]); Discord
    refuses it in DMs. The three are installed in servers only and work in DMs."""
    commands = list(scene.standin.global_commands.values())
    assert {c["name"] for c in commands} >= DM_COMMANDS | {"settings", "checkin", "buddy", "sos"}
    for command in commands:
        if command["name"] in DM_COMMANDS:
            assert command.get("contexts") is None or 1 in command["contexts"], command["name"]
            assert command.get("integration_types") in (None, [0]), command["name"]
            continue
        assert command.get("contexts") == [0], command["name"]
        assert command.get("dm_permission") is False, command["name"]
    for path, root in command_paths(scene.standin, scene.guild):
        if root["name"] in DM_COMMANDS:
            continue
        with pytest.raises(InvocationRefused, match="not available in DMs"):
            await scene.standin.invoke(scene.alice.user, path)


async def test_dm_commands_answer_without_any_server_data(scene: Scene) -> None:
    """In DMs /sos and /about answer; a server's own crisis text is shown only once the member chose it."""
    opened = await scene.standin.invoke(scene.mod, "settings crisis-resources")
    await scene.standin.submit_modal(scene.mod, opened, {"crisis_resources": "Serenity only: 555-0101"})
    oak = scene.standin.add_guild("Oak Street")
    oak.add_text_channel("general")
    oak.add_member(scene.alice.user)
    await scene.standin.sync()
    about = await scene.standin.invoke(scene.alice.user, "about")
    assert about.embeds
    answer = await scene.standin.invoke(scene.alice.user, "sos")
    assert answer.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES


# --------------------------------------------------------------------------- the run-time check


async def test_every_moderator_command_refuses_a_non_moderator_even_when_visible(scene: Scene) -> None:
    """The server opens every moderator command to everyone; alice (no Manage Server, no moderator role)
    is still refused by the bot on each of them, and nothing changes."""
    paths = moderator_commands(scene)
    assert {"settings audit-log", "settings crisis-resources", "settings show", "buddyadmin pair"} <= set(paths)
    for path in paths:
        root, _, schema = find_command(scene.standin, path, scene.guild)
        root["default_member_permissions"] = None  # as if opened to everyone in Integrations
        answer = await scene.standin.invoke(scene.alice, path, required_options(scene, schema))
        assert answer.ephemeral, path
        assert "Only moderators can do this" in answer.content, (path, answer.content)
        assert answer.modal is None, path
    assert await scene.bot.db.read(lambda c: audit.count(c, scene.guild.id)) == 0
    config = await scene.bot.server_settings.get(scene.guild.id)
    assert not any(config.is_set(key) for key in config)
    assert [m for m in scene.standin.bot_messages() if not m.ephemeral] == []


async def test_the_moderator_role_is_checked_at_run_time(scene: Scene) -> None:
    """alice holds the moderator role: allowed; once the role is unset, refused again."""
    await scene.standin.invoke(scene.mod, "settings moderator-role", {"role": scene.womens_house})
    root, _, _ = find_command(scene.standin, "settings audit-log", scene.guild)
    root["default_member_permissions"] = None
    allowed = await scene.standin.invoke(scene.alice, "settings audit-log")
    assert allowed.embeds and allowed.embeds[0]["title"] == "Audit log"
    await scene.standin.invoke(scene.mod, "settings moderator-role")
    refused = await scene.standin.invoke(scene.alice, "settings audit-log")
    assert "Only moderators can do this" in refused.content


# --------------------------------------------------------------------------- what moderators see


async def test_moderator_views_never_show_notes_moods_or_cravings(scene: Scene) -> None:
    """Members check in (hard days, with notes), are paired and go quiet; the moderators run every
    command that needs no option and read their channel: no note, mood or craving anywhere."""
    mod = scene.mod
    await scene.standin.invoke(mod, "settings moderator-channel", {"channel": scene.mod_channel})
    for role in (scene.womens_house, scene.mens_house):
        await scene.standin.invoke(mod, "buddyadmin group-add", {"role": role})
    checkin = {"mood": 1, "craving": 10, "sober": False, "note": SECRET_NOTE}
    for member in (scene.alice, scene.beth, scene.carl):
        own = await scene.standin.invoke(member, "checkin today", checkin)
        assert LEAKED.search(own.content) is not None  # the member's own answer is what must not leak
    await buddy_pair(scene, scene.alice, scene.beth)
    await scene.standin.invoke(scene.carl, "buddy request")
    await confirm_alert(scene, scene.alice, "moderators")
    for days in (3, 2, 2, 1):
        await sweep_nudges(scene, days=days)

    seen: list[Interaction] = []
    for path in moderator_commands(scene):
        _, _, schema = find_command(scene.standin, path, scene.guild)
        if any(o.get("required") for o in schema) or path.endswith("-channel") or path.endswith("-role"):
            continue  # these change settings or need a target: nothing to show
        seen.append(await scene.standin.invoke(mod, path))
    assert len(seen) >= 8
    shown = [m for i in seen for m in i.all_messages()] + scene.mod_channel.bot_messages()
    assert any("quiet" in text for text in texts_of(shown))  # the quiet members and the notices are there
    for text in texts_of(shown):
        assert LEAKED.search(text) is None, text
    modal_values = [i.modal for i in seen if i.modal is not None]
    assert SECRET_NOTE not in repr(modal_values)


# --------------------------------------------------------------------------- two servers


async def test_two_servers_with_the_same_members_never_see_each_others_data(scene: Scene) -> None:
    """alice, beth and the moderator are also in Oak Street. Everything done in Serenity House (check-ins,
    sobriety, a buddy pair, settings, crisis text, /sos alerts, the audit log) stays there."""
    oak = scene.standin.add_guild("Oak Street")
    oak_general = oak.add_text_channel("general")
    oak_mods_channel = oak.add_text_channel("moderators")
    oak_mods = oak.add_role("Oak moderators", permissions=int(Permission.MANAGE_GUILD))
    oak_women = oak.add_role("Oak women")
    oak_mod = oak.add_member(scene.mod.user, roles=[oak_mods])
    oak_alice = oak.add_member(scene.alice.user, roles=[oak_women])
    oak.add_member(scene.beth.user, roles=[oak_women])
    await scene.standin.sync()

    # Serenity House: all the data.
    mod = scene.mod
    await scene.standin.invoke(mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await scene.standin.invoke(mod, "settings checkin-channel", {"channel": scene.checkins})
    opened = await scene.standin.invoke(mod, "settings crisis-resources")
    await scene.standin.submit_modal(mod, opened, {"crisis_resources": "Serenity only: 555-0101"})
    for role in (scene.womens_house, scene.mens_house):
        await scene.standin.invoke(mod, "buddyadmin group-add", {"role": role})
    await buddy_pair(scene, scene.alice, scene.beth)
    checkin = {"mood": 2, "craving": 8, "sober": True, "note": SECRET_NOTE}
    await scene.standin.invoke(scene.alice, "checkin today", checkin)
    await scene.standin.invoke(scene.alice, "sobriety set", {"date": "2026-01-01"})
    await confirm_alert(scene, scene.alice, "moderators")
    await confirm_alert(scene, scene.alice, "buddy")
    serenity_posts = len(scene.standin.bot_messages(scene.mod_channel))

    # Oak Street sees none of it.
    history = await scene.standin.invoke(oak_alice, "checkin history")
    assert SECRET_NOTE not in repr(history.embeds) and "no check-in" in (history.content + repr(history.embeds)).lower()
    sobriety = await scene.standin.invoke(oak_alice, "sobriety show")
    assert "2026-01-01" not in sobriety.content
    status = await scene.standin.invoke(oak_alice, "buddy status")
    assert f"<@{scene.beth.id}>" not in status.content
    show = await scene.standin.invoke(oak_mod, "settings show")
    description = show.embeds[0]["description"]
    assert str(scene.mod_channel.id) not in description and str(scene.checkins.id) not in description
    assert "Serenity only" not in description
    log = await scene.standin.invoke(oak_mod, "settings audit-log")
    assert "Nothing recorded yet" in log.embeds[0]["description"]
    for path in ("buddyadmin pairs", "buddyadmin proposals", "buddyadmin queue", "settings quiet-members"):
        answer = await scene.standin.invoke(oak_mod, path)
        text = "\n".join(texts_of(answer.all_messages()))
        assert f"<@{scene.alice.id}>" not in text and f"<@{scene.beth.id}>" not in text, (path, text)

    # /sos in Oak: Oak's own (default) resources, no buddy there, and Serenity's limit does not apply.
    answer = await scene.standin.invoke(oak_alice, "sos")
    assert answer.embeds[0]["description"] == DEFAULT_CRISIS_RESOURCES
    (ask_buddy,) = [i for i in answer.custom_ids() if i.startswith("sos:ask:buddy:")]
    no_buddy = await scene.standin.press_button(oak_alice, answer, ask_buddy)
    assert "You don't have a buddy in **Oak Street**" in no_buddy.content
    await scene.standin.invoke(oak_mod, "settings moderator-channel", {"channel": oak_mods_channel})
    await confirm_alert(scene, oak_alice, "moderators")
    assert len(scene.standin.bot_messages(scene.mod_channel)) == serenity_posts
    (oak_notice,) = [m for m in oak_mods_channel.bot_messages() if m.interaction is None]
    assert f"<@{scene.alice.id}>" in oak_notice.content
    assert [m for m in oak_general.bot_messages() if not m.ephemeral] == []

    # And Serenity's view did not change because of Oak's.
    serenity_log = await scene.standin.invoke(mod, "settings audit-log")
    assert str(oak_mods_channel.id) not in serenity_log.embeds[0]["description"]

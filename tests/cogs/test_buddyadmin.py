"""``/buddyadmin`` end to end through the stand-in: groups, settings, pairing by hand (never across
groups), unpairing, the queue, the pairs' pages, match-now, the Approve / Reject buttons (also after
a restart), the list of proposals (with its own Approve / Reject), non-moderators refused, and every
action in the audit log."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from bot.db.repositories import audit
from bot.db.repositories import buddies as buddies_repo
from bot.standin.interactions import Interaction, InvocationRefused, find_command
from bot.standin.model import Member, Message, Thread
from bot.standin.server import StandIn
from cogs.buddies import Buddies
from tests.e2e import FakeClock, Scene, build_scene, running_bot

# --------------------------------------------------------------------------- helpers


def cog_of(scene: Scene) -> Buddies:
    cog = scene.bot.get_cog("Buddies")
    assert cog is not None
    return cast(Buddies, cog)


async def admin(scene: Scene, command: str, options: dict[str, Any] | None = None) -> Interaction:
    """A moderator's /buddyadmin command; its answer is always private."""
    answer = await scene.standin.invoke(scene.mod, f"buddyadmin {command}", options or {})
    assert answer.ephemeral
    return answer


async def set_up(scene: Scene, *, intro_channel: bool = True) -> None:
    await scene.standin.invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel})
    await admin(scene, "group-add", {"role": scene.mens_house})
    await admin(scene, "group-add", {"role": scene.womens_house})
    if intro_channel:
        await admin(scene, "settings", {"intro_channel": scene.intros})


async def open_to_everyone(scene: Scene, member: Member, command: str, options: dict[str, Any]) -> Interaction:
    """Invoke as if the server had opened /buddyadmin to everyone in its Integrations settings."""
    root, _, _ = find_command(scene.standin, command, scene.guild)
    root["default_member_permissions"] = None
    return await scene.standin.invoke(member, command, options)


def proposals(scene: Scene) -> list[Message]:
    return [m for m in scene.mod_channel.bot_messages() if m.interaction is None and m.embeds]


def notices(scene: Scene) -> list[str]:
    return [m.content for m in scene.mod_channel.bot_messages() if m.interaction is None and not m.embeds]


def approve_id(message: Message) -> str:
    return next(c for c in message.custom_ids() if ":approve:" in c)


def reject_id(message: Message) -> str:
    return next(c for c in message.custom_ids() if ":reject:" in c)


async def actions(scene: Scene) -> list[tuple[int | None, str]]:
    """(actor, action) of the audit log, oldest first."""
    entries = await scene.bot.db.read(lambda c: audit.latest(c, scene.guild.id, 100))
    return [(e.actor_id, e.action) for e in reversed(entries)]


def thread_with(scene: Scene, *members: Member) -> Thread | None:
    found = [
        t for t in scene.standin.threads_created if all(m.id in t.member_ids for m in members) and t.bot_messages()
    ]
    return found[0] if found else None


# --------------------------------------------------------------------------- access


async def test_members_without_manage_server_cannot_see_buddyadmin(scene: Scene) -> None:
    """Discord hides /buddyadmin from members without Manage Server (default_member_permissions)."""
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "buddyadmin queue")


async def test_the_run_time_check_refuses_a_non_moderator_even_when_visible(scene: Scene) -> None:
    """If a server opens /buddyadmin to everyone, the bot still refuses non-moderators, and nothing changes."""
    answer = await open_to_everyone(scene, scene.alice, "buddyadmin group-add", {"role": scene.womens_house})
    assert answer.ephemeral and "Only moderators" in answer.content
    view = await admin(scene, "settings")
    assert "none yet" in view.embeds[0]["description"]
    assert await actions(scene) == []


async def test_the_moderator_role_passes_the_run_time_check(scene: Scene) -> None:
    """A member holding the server's moderator role may use /buddyadmin once it is visible to them."""
    await scene.standin.invoke(scene.mod, "settings moderator-role", {"role": scene.womens_house})
    answer = await open_to_everyone(scene, scene.alice, "buddyadmin queue", {})
    assert answer.ephemeral and answer.embeds[0]["title"] == "Buddy queue"


# --------------------------------------------------------------------------- groups and settings


async def test_group_add_and_remove_with_settings_showing_the_groups(scene: Scene) -> None:
    """Groups are added once, listed by /buddyadmin settings, and removed; each action is audited."""
    added = await admin(scene, "group-add", {"role": scene.mens_house})
    assert f"<@&{scene.mens_house.id}> is now a matching group (2 members hold it)" in added.content
    again = await admin(scene, "group-add", {"role": scene.mens_house})
    assert "already is a matching group" in again.content
    shown = (await admin(scene, "settings")).embeds[0]["description"]
    assert f"<@&{scene.mens_house.id}>" in shown and "Auto-matching**: on" in shown
    assert "Most buddies per volunteer**: 2" in shown and "before volunteering**: 14" in shown
    removed = await admin(scene, "group-remove", {"role": scene.mens_house})
    assert "no longer a matching group" in removed.content
    not_a_group = await admin(scene, "group-remove", {"role": scene.mens_house})
    assert "is not a matching group" in not_a_group.content
    assert await actions(scene) == [(scene.mod.id, "buddy.group_add"), (scene.mod.id, "buddy.group_remove")]


async def test_everyone_cannot_be_a_group(scene: Scene) -> None:
    """@everyone is refused with a clear reason."""
    answer = await admin(scene, "group-add", {"role": scene.guild.everyone})
    assert "@everyone can't be a matching group" in answer.content


async def test_removing_a_group_ends_its_pairs_and_tells_everyone_privately(scene: Scene) -> None:
    """The women's house stops being a group: beth and alice's pair ends, both told, moderators summarised."""
    await set_up(scene)
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})
    await scene.standin.invoke(scene.beth, "buddy request")
    thread = thread_with(scene, scene.alice, scene.beth)
    assert thread is not None
    answer = await admin(scene, "group-remove", {"role": scene.womens_house})
    assert "1 pairing ended" in answer.content
    assert thread.archived
    assert "changed the server's matching groups" in scene.alice.dms_from_bot()[-1].content
    assert "changed the server's matching groups" in scene.beth.dms_from_bot()[-1].content
    assert any("is no longer a matching group" in n for n in notices(scene))


async def test_settings_change_is_listed_validated_and_audited(scene: Scene) -> None:
    """Changes are listed before → after; require_approval needs a moderators' channel; Discord checks ranges."""
    refused = await admin(scene, "settings", {"require_approval": True})
    assert "needs one" in refused.content
    with pytest.raises(InvocationRefused):
        await admin(scene, "settings", {"max_buddies": 6})
    with pytest.raises(InvocationRefused):
        await admin(scene, "settings", {"volunteer_min_days": 366})
    changed = await admin(scene, "settings", {"max_buddies": 3, "volunteer_min_days": 0, "auto_match": False})
    assert "Most buddies per volunteer: 2 → 3" in changed.content
    assert "Days before volunteering: 14 → 0" in changed.content and "Auto-matching: on → off" in changed.content
    assert "Most buddies per volunteer**: 3" in changed.embeds[0]["description"]
    same = await admin(scene, "settings", {"max_buddies": 3})
    assert "Nothing changed" in same.content
    both = await admin(scene, "settings", {"intro_channel": scene.intros, "clear_intro_channel": True})
    assert "not both" in both.content
    await admin(scene, "settings", {"intro_channel": scene.intros})
    cleared = await admin(scene, "settings", {"clear_intro_channel": True})
    assert f"Introductions channel: <#{scene.intros.id}> → not set" in cleared.content
    assert [a for _, a in await actions(scene)] == ["buddy.settings"] * 3
    config = await scene.bot.server_settings.get(scene.guild.id)
    assert config.integer("max_buddies") == 3 and not config.flag("auto_match")
    assert config.integer("volunteer_min_days") == 0


async def test_lower_volunteer_days_let_a_newcomer_volunteer(scene: Scene) -> None:
    """volunteer_min_days 0: beth (two days in) may volunteer."""
    await set_up(scene)
    await admin(scene, "settings", {"volunteer_min_days": 0})
    answer = await scene.standin.invoke(scene.beth, "buddy volunteer", {"available": True})
    assert "Thank you for offering to be a buddy" in answer.content


# --------------------------------------------------------------------------- pairing by hand


async def test_pairing_across_groups_is_refused_with_a_clear_reason(scene: Scene) -> None:
    """carl (men's) can never be beth's (women's) buddy; nothing is made."""
    await set_up(scene)
    answer = await admin(scene, "pair", {"member": scene.beth, "buddy": scene.carl})
    assert "across matching groups is never allowed" in answer.content
    assert f"<@&{scene.womens_house.id}>" in answer.content and f"<@&{scene.mens_house.id}>" in answer.content
    assert scene.standin.threads_created == []
    assert "buddy.pair" not in [a for _, a in await actions(scene)]


async def test_pairing_a_member_without_a_group_is_refused(scene: Scene) -> None:
    """The moderator has no group role: refused, saying so."""
    await set_up(scene)
    answer = await admin(scene, "pair", {"member": scene.mod, "buddy": scene.carl})
    assert "isn't in a matching group" in answer.content


async def test_pair_by_hand_introduces_them_and_force_goes_over_the_maximum(scene: Scene) -> None:
    """A pair by hand is introduced at once; over the buddy's maximum only with force."""
    await set_up(scene)
    await admin(scene, "settings", {"max_buddies": 1})
    first = await admin(scene, "pair", {"member": scene.dan, "buddy": scene.carl})
    thread = thread_with(scene, scene.dan, scene.carl)
    assert thread is not None and f"<#{thread.id}>" in first.content
    erin = scene.guild.add_member("erin", roles=[scene.mens_house])
    await scene.standin.sync()
    over = await admin(scene, "pair", {"member": erin, "buddy": scene.carl})
    assert "their maximum of 1" in over.content and "force" in over.content
    forced = await admin(scene, "pair", {"member": erin, "buddy": scene.carl, "force": True})
    assert "over their maximum" in forced.content
    again = await admin(scene, "pair", {"member": erin, "buddy": scene.carl})
    assert "already paired" in again.content
    assert [a for _, a in await actions(scene)].count("buddy.pair") == 2


async def test_unpair_tells_both_and_requeues_the_member(scene: Scene) -> None:
    """Unpairing ends the pair, tells both privately, archives the thread, queues the member first in line."""
    await set_up(scene)
    await admin(scene, "pair", {"member": scene.beth, "buddy": scene.alice})
    thread = thread_with(scene, scene.beth, scene.alice)
    assert thread is not None
    answer = await admin(scene, "unpair", {"member": scene.beth})
    assert "both were told privately" in answer.content and "first in line" in answer.content
    assert thread.archived and thread.locked
    assert "a moderator ended it" in scene.alice.dms_from_bot()[-1].content
    assert "first in line" in scene.beth.dms_from_bot()[-1].content
    none = await admin(scene, "unpair", {"member": scene.beth})
    assert "has no active pairing" in none.content
    assert (scene.mod.id, "buddy.unpair") in await actions(scene)


# --------------------------------------------------------------------------- views and matching


async def test_queue_shows_who_waits_where_how_long_and_why(scene: Scene) -> None:
    """beth and dan wait: their groups, how long, and why no match yet."""
    await set_up(scene)
    await scene.standin.invoke(scene.beth, "buddy request")
    scene.clock.advance(hours=5)
    await scene.standin.invoke(scene.dan, "buddy request")
    scene.clock.advance(days=2)
    queue = (await admin(scene, "queue")).embeds[0]
    lines = queue["description"].splitlines()
    assert lines[0].startswith(f"1. <@{scene.beth.id}> · <@&{scene.womens_house.id}> · waiting 2 days")
    assert "no available volunteer in that group" in lines[1]
    assert lines[2].startswith(f"2. <@{scene.dan.id}> · <@&{scene.mens_house.id}>")
    assert queue["footer"]["text"] == "2 waiting"


async def test_queue_when_nobody_waits(scene: Scene) -> None:
    answer = await admin(scene, "queue")
    assert answer.embeds[0]["description"] == "Nobody is waiting for a buddy."


async def test_pairs_are_paginated_with_buttons(scene: Scene) -> None:
    """Eleven pairs: page 1 of 2 with Next; Next shows the eleventh; Previous goes back."""
    await set_up(scene, intro_channel=False)
    newcomers = [scene.guild.add_member(f"new{i}", roles=[scene.mens_house]) for i in range(11)]
    await scene.standin.sync()
    for member in newcomers:
        await admin(scene, "pair", {"member": member, "buddy": scene.carl, "force": True})
    first = await admin(scene, "pairs")
    embed = first.embeds[0]
    assert embed["footer"]["text"] == "Page 1 of 2 · 11 pairs"
    assert len(embed["description"].splitlines()) == 10
    labels = {c["custom_id"]: c["label"] for row in first.components for c in row["components"]}
    next_id = next(k for k, v in labels.items() if v == "Next")
    previous_id = next(k for k, v in labels.items() if v == "Previous")
    second = await scene.standin.press_button(scene.mod, first, next_id)
    page2 = second.embeds[0]
    assert page2["footer"]["text"] == "Page 2 of 2 · 11 pairs"
    assert page2["description"].startswith(f"11. <@{newcomers[10].id}>")
    back = await scene.standin.press_button(scene.mod, first, previous_id)
    assert back.embeds[0]["footer"]["text"] == "Page 1 of 2 · 11 pairs"


async def test_pairs_when_there_are_none(scene: Scene) -> None:
    answer = await admin(scene, "pairs")
    assert answer.embeds[0]["description"] == "There are no active buddy pairs." and answer.components == []


async def test_match_now_says_what_it_did(scene: Scene) -> None:
    """Nothing to do: it says so; a member waiting in storage with a free volunteer gets matched."""
    await set_up(scene)
    nothing = await admin(scene, "match-now")
    assert "no new pairs" in nothing.content and "0 members still waiting" in nothing.content
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    now = scene.clock()

    def enqueue(conn: sqlite3.Connection) -> None:  # as if the bot had stopped before matching
        buddies_repo.upsert_member(conn, scene.guild.id, scene.dan.id, scene.dan.joined_at, now)
        buddies_repo.set_member_groups(conn, scene.guild.id, scene.dan.id, [scene.mens_house.id])
        buddies_repo.enqueue(conn, scene.guild.id, scene.dan.id, now, "request")

    await scene.bot.db.transaction(enqueue)
    made = await admin(scene, "match-now")
    assert "1 pairing made" in made.content and f"<@{scene.dan.id}> with <@{scene.carl.id}>" in made.content
    assert thread_with(scene, scene.dan, scene.carl) is not None
    assert [a for _, a in await actions(scene)].count("buddy.match_now") == 2


# --------------------------------------------------------------------------- approvals


async def approval_on(scene: Scene) -> Message:
    """require_approval on; carl volunteers, dan asks: the proposal waits in the moderators' channel."""
    await set_up(scene)
    await admin(scene, "settings", {"require_approval": True})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    answer = await scene.standin.invoke(scene.dan, "buddy request")
    assert "a moderator will confirm" in answer.content
    (proposal,) = proposals(scene)
    return proposal


async def test_approve_introduces_the_pair(scene: Scene) -> None:
    """The proposal has Approve / Reject; Approve marks it and introduces them in a private thread."""
    proposal = await approval_on(scene)
    assert f"<@{scene.dan.id}>" in proposal.embeds[0]["description"]
    assert [c["label"] for row in proposal.components for c in row["components"]] == ["Approve", "Reject"]
    assert scene.standin.threads_created == []
    pressed = await scene.standin.press_button(scene.mod, proposal, approve_id(proposal))
    assert pressed.ephemeral and "are buddies now" in pressed.content
    assert proposal.components == [] and "Approved by" in proposal.content
    thread = thread_with(scene, scene.dan, scene.carl)
    assert thread is not None and f"<#{thread.id}>" in pressed.content
    assert (scene.mod.id, "buddy.approve") in await actions(scene)


async def test_reject_puts_the_member_back_and_never_proposes_that_pair_again(scene: Scene) -> None:
    """Reject: dan waits again, in his old place; carl is not proposed again."""
    proposal = await approval_on(scene)
    pressed = await scene.standin.press_button(scene.mod, proposal, reject_id(proposal))
    assert "back in their place in the queue" in pressed.content
    assert "Rejected by" in proposal.content and proposal.components == []
    assert len(proposals(scene)) == 1
    status = await scene.standin.invoke(scene.dan, "buddy status")
    assert "waiting for a buddy" in status.content
    assert scene.standin.threads_created == []


async def test_a_non_moderator_pressing_approve_is_refused(scene: Scene) -> None:
    """The buttons check at run time: alice cannot approve."""
    proposal = await approval_on(scene)
    pressed = await scene.standin.press_button(scene.alice, proposal, approve_id(proposal))
    assert pressed.ephemeral and "Only moderators" in pressed.content
    assert proposal.components != [] and scene.standin.threads_created == []


async def test_a_proposal_decided_twice_says_so(scene: Scene) -> None:
    """A second press (a stale copy of the buttons) is answered: already approved."""
    proposal = await approval_on(scene)
    custom_id = approve_id(proposal)
    stale = copy.deepcopy(proposal.components)
    await scene.standin.press_button(scene.mod, proposal, custom_id)
    proposal.components = stale
    again = await scene.standin.press_button(scene.mod, proposal, custom_id)
    assert "already approved" in again.content


async def test_a_proposal_is_withdrawn_when_the_member_leaves(scene: Scene) -> None:
    """dan leaves before a decision: the proposal says it was withdrawn, without buttons."""
    proposal = await approval_on(scene)
    await scene.dan.leave()
    await scene.standin.wait_for(lambda: "withdrawn" in proposal.content)
    assert proposal.components == [] and "left the server" in proposal.content


async def test_approval_buttons_work_after_a_restart(standin: StandIn, tmp_path: Path) -> None:
    """A proposal posted before a restart is approved afterwards."""
    clock = FakeClock()
    scene = build_scene(standin, tmp_path / "db.sqlite3", clock)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        proposal = await approval_on(scene)
    async with running_bot(standin, scene.db_path, clock) as bot:
        scene.bot = bot
        pressed = await scene.standin.press_button(scene.mod, proposal, approve_id(proposal))
        assert "are buddies now" in pressed.content
        assert thread_with(scene, scene.dan, scene.carl) is not None


# --------------------------------------------------------------------------- the proposals' list


def labels_of(answer: Interaction | Message) -> dict[str, str]:
    """label → custom_id of the buttons of a message (or an interaction's answer)."""
    return {c["label"]: c["custom_id"] for row in answer.components for c in row["components"]}


async def decided_from_list(scene: Scene, listing: Interaction, label: str) -> tuple[Interaction, str]:
    """Press ``label`` on the list; the list is updated in place and the answer follows privately."""
    pressed = await scene.standin.press_button(scene.mod, listing, labels_of(listing)[label])
    (answer,) = await scene.standin.wait_for(lambda: pressed.followups)
    assert answer.ephemeral
    return pressed, answer.content


async def test_proposals_lists_posted_and_unposted_and_decides_from_the_list(scene: Scene) -> None:
    """dan's proposal is posted (a link to it); beth's could not be (the bot may not post there): "not
    posted yet", then, the channel unset, how to set it. Approve / Reject on the list take the same decision
    as the post's buttons (the same audit entries), mark the post, and update the list."""
    posted = await approval_on(scene)
    await scene.standin.invoke(scene.alice, "buddy volunteer", {"available": True})
    scene.standin.fail_next("POST", f"/channels/{scene.mod_channel.id}/messages", 403)
    await scene.standin.invoke(scene.beth, "buddy request")
    assert proposals(scene) == [posted]
    scene.clock.advance(hours=3)

    listing = await admin(scene, "proposals")
    embed = listing.embeds[0]
    lines = embed["description"].splitlines()
    assert lines[0] == (
        f"1. <@{scene.dan.id}> with the volunteer <@{scene.carl.id}> · <@&{scene.mens_house.id}> · waiting 3 hours"
    )
    link = f"https://discord.com/channels/{scene.guild.id}/{scene.mod_channel.id}/{posted.id}"
    assert link in lines[1]
    assert lines[2].startswith(f"2. <@{scene.beth.id}> with the volunteer <@{scene.alice.id}>")
    assert f"not posted yet: I'll post it in <#{scene.mod_channel.id}>" in lines[3]
    assert embed["footer"]["text"] == "Page 1 of 1 · 2 proposals"
    assert list(labels_of(listing)) == ["Approve 1", "Reject 1", "Approve 2", "Reject 2"]
    (callback,) = [r for r in scene.standin.requests if r.path.endswith("/callback")][-1:]
    assert callback.body["data"]["allowed_mentions"] == {"parse": []}  # the list pings nobody

    await admin(scene, "settings", {"require_approval": False})
    await scene.standin.invoke(scene.mod, "settings moderator-channel")  # unset: proposals stay
    listing = await admin(scene, "proposals")
    lines = listing.embeds[0]["description"].splitlines()
    assert link in lines[1]  # that channel still exists
    assert "once one is set (`/settings moderator-channel`)" in lines[3]

    pressed, answer = await decided_from_list(scene, listing, "Approve 2")
    assert "are buddies now" in answer
    assert thread_with(scene, scene.beth, scene.alice) is not None
    embed = pressed.embeds[0]
    assert embed["footer"]["text"] == "Page 1 of 1 · 1 proposal"
    assert f"<@{scene.beth.id}>" not in embed["description"]
    assert list(labels_of(pressed)) == ["Approve 1", "Reject 1"]

    pressed, answer = await decided_from_list(scene, listing, "Reject 1")
    assert "back in their place in the queue" in answer
    assert "Rejected by" in posted.content and posted.components == []  # the post says so too
    assert pressed.embeds[0]["description"] == "No proposed buddy pairings are waiting for a decision."
    assert pressed.components == []
    decisions = [entry for entry in await actions(scene) if entry[1] in ("buddy.approve", "buddy.reject")]
    assert decisions == [(scene.mod.id, "buddy.approve"), (scene.mod.id, "buddy.reject")]


async def test_a_proposal_whose_post_was_deleted_is_decided_from_the_list(scene: Scene) -> None:
    """A moderator deleted the post by hand: the list still offers the decision, which is taken."""
    posted = await approval_on(scene)
    posted.deleted = True
    listing = await admin(scene, "proposals")
    _, answer = await decided_from_list(scene, listing, "Approve 1")
    assert "are buddies now" in answer and thread_with(scene, scene.dan, scene.carl) is not None
    assert (scene.mod.id, "buddy.approve") in await actions(scene)


async def test_a_proposal_decided_on_its_post_meanwhile_is_answered_and_dropped_from_the_list(scene: Scene) -> None:
    """The list was shown, then the post's Approve was pressed: the list's Reject says it was already
    approved, and the list no longer shows it."""
    posted = await approval_on(scene)
    listing = await admin(scene, "proposals")
    await scene.standin.press_button(scene.mod, posted, approve_id(posted))
    pressed, answer = await decided_from_list(scene, listing, "Reject 1")
    assert "already approved" in answer
    assert pressed.embeds[0]["description"] == "No proposed buddy pairings are waiting for a decision."
    assert "buddy.reject" not in [a for _, a in await actions(scene)]


async def test_proposals_are_paged_oldest_first(scene: Scene) -> None:
    """Five proposals: four on page 1 (a row of buttons each) with Next; the fifth on page 2; deciding it
    there leaves one page, without Previous / Next."""
    await set_up(scene, intro_channel=False)
    await admin(scene, "settings", {"require_approval": True, "max_buddies": 5})
    await scene.standin.invoke(scene.carl, "buddy volunteer", {"available": True})
    newcomers = []
    for i in range(5):  # each is queued as they join with the group role, and proposed with carl
        newcomers.append(scene.guild.add_member(f"new{i}", roles=[scene.mens_house]))
        await scene.standin.sync()
        await scene.standin.wait_for(lambda: len(proposals(scene)) == len(newcomers))
    first = await admin(scene, "proposals")
    embed = first.embeds[0]
    assert embed["footer"]["text"] == "Page 1 of 2 · 5 proposals"
    starts = [line for line in embed["description"].splitlines() if line[:1].isdigit()]
    assert [s.split(" with ")[0] for s in starts] == [f"{n}. <@{m.id}>" for n, m in enumerate(newcomers[:4], 1)]
    assert list(labels_of(first)) == [
        *(f"{verb} {n}" for n in range(1, 5) for verb in ("Approve", "Reject")),
        "Previous",
        "Next",
    ]
    second = await scene.standin.press_button(scene.mod, first, labels_of(first)["Next"])
    page2 = second.embeds[0]
    assert page2["footer"]["text"] == "Page 2 of 2 · 5 proposals"
    assert page2["description"].startswith(f"5. <@{newcomers[4].id}>")
    assert list(labels_of(second)) == ["Approve 5", "Reject 5", "Previous", "Next"]
    pressed, answer = await decided_from_list(scene, second, "Approve 5")
    assert "are buddies now" in answer
    assert pressed.embeds[0]["footer"]["text"] == "Page 1 of 1 · 4 proposals"
    assert "Next" not in labels_of(pressed) and "Approve 4" in labels_of(pressed)


async def test_proposals_when_none_wait(scene: Scene) -> None:
    """Nothing awaits a decision: a clear message, no buttons."""
    answer = await admin(scene, "proposals")
    assert answer.embeds[0]["description"] == "No proposed buddy pairings are waiting for a decision."
    assert answer.components == []


async def test_proposals_are_refused_to_a_non_moderator(scene: Scene) -> None:
    """Hidden from members without Manage Server; refused at run time if the server opened it to everyone."""
    await approval_on(scene)
    with pytest.raises(InvocationRefused):
        await scene.standin.invoke(scene.alice, "buddyadmin proposals")
    answer = await open_to_everyone(scene, scene.alice, "buddyadmin proposals", {})
    assert answer.ephemeral and "Only moderators" in answer.content and answer.embeds == []

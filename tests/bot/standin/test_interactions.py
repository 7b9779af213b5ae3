"""Slash commands with options, autocomplete, buttons, modals, deferrals, DMs, files, threads."""

from __future__ import annotations

import discord
import pytest

from bot.standin.interactions import CallbackType, InteractionNotAnswered, InvocationRefused, Upload
from bot.standin.server import StandIn
from tests.bot.standin.conftest import FRUITS, TinyBot, World


async def test_subcommand_with_typed_options(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Nested subcommand options, a choice, and resolved member/role/channel reach the command."""
    result = await standin.invoke(
        world.alice,
        "peer pair",
        {"other": world.bob, "weeks": 4, "style": "calm", "role": world.peer, "where": world.general},
    )
    assert result.content == "alice paired with bob for 4 weeks (calm) role=Peer where=general"
    assert not result.ephemeral
    assert result.message_id is not None
    assert standin.find_message(result.message_id) is result.response


async def test_autocomplete_offers_choices(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Typing in an autocomplete option returns the bot's choices."""
    choices = await standin.autocomplete(world.alice, "peer fruit", focused="name", options={"name": "ap"})
    assert [c["value"] for c in choices] == [f for f in FRUITS if f.startswith("ap")]
    picked = await standin.invoke(world.alice, "peer fruit", {"name": "apple"})
    assert picked.content == "you picked apple"


async def test_button_updates_message(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Pressing a button on the bot's message runs its callback, which edits the message (type 7)."""
    asked = await standin.invoke(world.alice, "confirm")
    assert asked.custom_ids() == ["confirm:yes", "confirm:feedback"]
    pressed = await standin.press_button(world.alice, asked, "confirm:yes")
    assert pressed.callback_type == CallbackType.UPDATE_MESSAGE
    assert pressed.content == "confirmed by alice"
    assert pressed.components == []
    assert asked.response is not None and asked.response.content == "confirmed by alice"


async def test_modal_from_command_and_button(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A modal opened by a command or a button is submitted with values the bot reads."""
    opened = await standin.invoke(world.alice, "feedback")
    assert opened.modal is not None and opened.modal["title"] == "Feedback"
    submitted = await standin.submit_modal(world.alice, opened, {"mood": "calm", "note": "ok"})
    assert submitted.content == "mood=calm note=ok"
    assert submitted.ephemeral
    asked = await standin.invoke(world.bob, "confirm")
    from_button = await standin.press_button(world.bob, asked, "confirm:feedback")
    assert from_button.modal is not None
    again = await standin.submit_modal(world.bob, from_button, {"mood": "tired"})
    assert again.content == "mood=tired note="


async def test_modal_checks_inputs(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Submitting an unknown input, an over-long or a missing required value is refused."""
    opened = await standin.invoke(world.alice, "feedback")
    with pytest.raises(InvocationRefused, match="no input"):
        await standin.submit_modal(world.alice, opened, {"nope": "x"})
    with pytest.raises(InvocationRefused, match="longer than 20"):
        await standin.submit_modal(world.alice, opened, {"mood": "x" * 21})
    with pytest.raises(InvocationRefused, match="required"):
        await standin.submit_modal(world.alice, opened, {"note": "only a note"})
    done = await standin.submit_modal(world.alice, opened, {"mood": "fine"})
    assert done.content == "mood=fine note="


async def test_defer_then_followup(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A deferred command is answered by its first follow-up, which edits the thinking message."""
    result = await standin.invoke(world.alice, "slow", {"ephemeral": True})
    assert result.deferred
    assert result.content == "done thinking"
    assert result.ephemeral
    assert result.original is not None and result.response is result.original
    public = await standin.invoke(world.alice, "slow")
    assert not public.ephemeral and public.content == "done thinking"


async def test_dm_invocation_and_dm_message(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A command invoked in DMs answers there; the bot's DM reaches the user's DM channel."""
    sent = await standin.invoke(world.alice, "dmme", {"text": "hello there"})
    assert sent.content == "check your DMs"
    assert [m.content for m in world.alice.dms_from_bot()] == ["hello there"]
    result = await standin.invoke(world.alice.user, "ping")
    assert result.guild is None
    assert result.content == "pong"
    assert [m.content for m in standin.bot_messages(to=world.alice)] == ["hello there", "pong"]


async def test_guild_only_command_refused_in_dm(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A guild_only command cannot be invoked in DMs."""
    with pytest.raises(InvocationRefused, match="not available in DMs"):
        await standin.invoke(world.alice.user, "grant", {"member": world.bob, "role": world.peer})


async def test_file_upload_is_parsed(standin: StandIn, world: World, bot: TinyBot) -> None:
    """A multipart interaction response with a file is parsed; the file is served back."""
    result = await standin.invoke(world.alice, "report")
    assert result.content == "here you go"
    assert result.files == [("report.txt", b"line1\nline2\n")]
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel) and result.message_id is not None
    message = await channel.fetch_message(result.message_id)
    assert await message.attachments[0].read() == b"line1\nline2\n"


async def test_private_thread_with_member(standin: StandIn, world: World, bot: TinyBot) -> None:
    """The bot creates a private thread, adds a member and posts in it."""
    result = await standin.invoke(world.alice, "huddle", {"other": world.bob})
    assert result.ephemeral
    thread = standin.threads_created[0]
    assert thread.private and thread.name == "huddle-bob"
    assert [a.user for a in standin.thread_member_adds] == [world.bob.user]
    assert [m.name for m in thread.members()] == [standin.bot_user.username, "bob"]
    assert [m.content for m in thread.bot_messages()] == [f"welcome <@{world.bob.id}>"]
    assert bot.get_channel(thread.id) is not None


async def test_original_response_edits_and_followups(standin: StandIn, world: World, bot: TinyBot) -> None:
    """@original edits, follow-up edits and GET @original behave as on Discord."""
    result = await standin.invoke(world.alice, "steps")
    assert result.content == "step 1"
    await standin.wait_for(lambda: len(result.followups) == 2)
    second, third = result.followups
    assert (second.content, second.ephemeral, second.edited_at is not None) == ("step 2b", True, True)
    assert third.content == "original says step 1"


async def test_select_menu_with_deferred_update(standin: StandIn, world: World, bot: TinyBot) -> None:
    """Choosing in a select is acknowledged with a deferred update (type 6), then followed up."""
    offered = await standin.invoke(world.alice, "choose")
    assert offered.ephemeral
    with pytest.raises(InvocationRefused, match="not among"):
        await standin.select(world.alice, offered, "choose:fruit", ["kiwi"])
    chose = await standin.select(world.alice, offered, "choose:fruit", ["pear"])
    assert chose.callback_type == CallbackType.DEFERRED_UPDATE_MESSAGE
    followup = await standin.wait_for(lambda: chose.followups)
    assert [m.content for m in followup] == ["chose pear"]
    with pytest.raises(InvocationRefused, match="only the interaction's user"):
        await standin.select(world.bob, offered, "choose:fruit", ["apple"])


async def test_followups_expire(standin: StandIn, world: World, bot: TinyBot) -> None:
    """After the follow-up window the token is invalid (401 code 50027) and the answer never comes."""
    standin.followup_window = 0.0
    with pytest.raises(InteractionNotAnswered, match=r"refused: \[\(401, 50027\)\]"):
        await standin.invoke(world.alice, "slow", answer_timeout=0.3)


async def test_attachment_option(standin: StandIn, world: World, bot: TinyBot) -> None:
    """An ATTACHMENT option is resolved and its file downloadable from the stand-in."""
    result = await standin.invoke(world.alice, "upload", {"file": Upload("log.txt", b"hello file")})
    assert result.content == "log.txt: 10 bytes, starts b'hell'"


async def test_context_menus(standin: StandIn, world: World, bot: TinyBot) -> None:
    """User and message context-menu commands get their resolved target."""
    befriended = await standin.invoke_context_menu(world.alice, "Befriend", world.bob)
    assert (befriended.content, befriended.ephemeral) == ("befriended bob", True)
    posted = await world.bob.post_message(world.general, "one day at a time")
    quoted = await standin.invoke_context_menu(world.alice, "Quote", posted)
    assert quoted.content == "quoted bob: one day at a time"
    with pytest.raises(InvocationRefused, match="not synced"):
        await standin.invoke_context_menu(world.alice, "Quote", world.bob)

"""Fixtures for the stand-in's own tests: a started stand-in with a small world and a tiny bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.standin.harness import checked_standin, connect_client
from bot.standin.model import Guild, GuildChannel, Intent, Member, Permission, Role
from bot.standin.server import StandIn

ACK_DEADLINE = 1.0


@dataclass
class World:
    """The guild every test starts with."""

    standin: StandIn
    guild: Guild
    general: GuildChannel
    locked: GuildChannel
    peer: Role
    above_bot: Role
    alice: Member
    bob: Member


@dataclass
class Seen:
    """What the tiny bot's listeners observed."""

    messages: list[discord.Message] = field(default_factory=list)
    joins: list[discord.Member] = field(default_factory=list)
    removals: list[discord.Member] = field(default_factory=list)
    member_updates: list[tuple[discord.Member, discord.Member]] = field(default_factory=list)
    reactions: list[discord.RawReactionActionEvent] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    """A modal with one required and one optional input."""

    mood: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Mood", custom_id="mood", max_length=20)
    note: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Note", custom_id="note", style=discord.TextStyle.paragraph, required=False
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Echo what was submitted."""
        await interaction.response.send_message(f"mood={self.mood.value} note={self.note.value}", ephemeral=True)


class ConfirmView(discord.ui.View):
    """Two buttons; Yes edits the message, Later defers and follows up."""

    @discord.ui.button(label="Yes", custom_id="confirm:yes", style=discord.ButtonStyle.success)
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Update the message in place."""
        await interaction.response.edit_message(content=f"confirmed by {interaction.user.name}", view=None)
        self.stop()

    @discord.ui.button(label="Feedback", custom_id="confirm:feedback")
    async def feedback(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Open a modal from a button."""
        await interaction.response.send_modal(FeedbackModal())


class ChooseView(discord.ui.View):
    """A string select; the choice is answered with a deferred update and a follow-up."""

    @discord.ui.select(
        custom_id="choose:fruit",
        placeholder="Fruit",
        options=[discord.SelectOption(label="Apple", value="apple"), discord.SelectOption(label="Pear", value="pear")],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[ChooseView]) -> None:
        """Acknowledge silently, then follow up."""
        await interaction.response.defer()
        await interaction.followup.send(f"chose {select.values[0]}", ephemeral=True)
        self.stop()


FRUITS = ["apple", "apricot", "banana", "cherry"]


class TinyBot(commands.Bot):
    """A minimal bot with a handful of app commands, synced in ``setup_hook``."""

    def __init__(self, intents: discord.Intents, *, sync_commands: bool = True) -> None:
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.01, help_command=None)
        self.seen = Seen()
        self.sync_commands = sync_commands
        self._define_commands()

    def _define_commands(self) -> None:
        tree = self.tree

        @tree.command(name="ping", description="Answer pong")
        async def ping(interaction: discord.Interaction, secret: bool = False) -> None:
            await interaction.response.send_message("pong", ephemeral=secret)

        peer = app_commands.Group(name="peer", description="Peer tools")

        @peer.command(name="pair", description="Pair two members")
        @app_commands.describe(other="who", weeks="how long", style="how")
        @app_commands.choices(
            style=[app_commands.Choice(name="Calm", value="calm"), app_commands.Choice(name="Brisk", value="brisk")]
        )
        async def pair(
            interaction: discord.Interaction,
            other: discord.Member,
            weeks: app_commands.Range[int, 1, 12],
            style: app_commands.Choice[str] | None = None,
            role: discord.Role | None = None,
            where: discord.TextChannel | None = None,
        ) -> None:
            chosen = style.value if style else "none"
            extra = f" role={role.name}" if role else ""
            extra += f" where={where.name}" if where else ""
            await interaction.response.send_message(
                f"{interaction.user.name} paired with {other.name} for {weeks} weeks ({chosen}){extra}"
            )

        @peer.command(name="fruit", description="Pick a fruit")
        async def fruit(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"you picked {name}")

        @fruit.autocomplete("name")
        async def fruit_complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current)]

        tree.add_command(peer)

        @tree.command(name="confirm", description="Ask for confirmation")
        async def confirm(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Are you sure?", view=ConfirmView(timeout=30))

        @tree.command(name="feedback", description="Open a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @tree.command(name="slow", description="Defer, then follow up")
        async def slow(interaction: discord.Interaction, ephemeral: bool = False) -> None:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
            await asyncio.sleep(0.05)
            await interaction.followup.send("done thinking", ephemeral=ephemeral)

        @tree.command(name="late", description="Answer after the deadline")
        async def late(interaction: discord.Interaction, delay: float) -> None:
            await asyncio.sleep(delay)
            await interaction.response.send_message("too late?")

        @tree.command(name="say", description="Send a message to a channel")
        async def say(interaction: discord.Interaction, text: str, where: discord.TextChannel | None = None) -> None:
            target = self.get_channel(where.id) if where else interaction.channel
            assert isinstance(target, discord.abc.Messageable)
            try:
                await target.send(text)
            except discord.HTTPException as exc:
                await interaction.response.send_message(f"failed: {exc.status} {exc.code}", ephemeral=True)
                return
            await interaction.response.send_message("sent", ephemeral=True)

        @tree.command(name="dmme", description="DM the invoking user")
        async def dmme(interaction: discord.Interaction, text: str) -> None:
            try:
                await interaction.user.send(text)
            except discord.Forbidden as exc:
                await interaction.response.send_message(f"cannot DM: {exc.code}", ephemeral=True)
                return
            await interaction.response.send_message("check your DMs", ephemeral=True)

        @tree.command(name="grant", description="Give a member a role")
        @app_commands.guild_only()
        async def grant(interaction: discord.Interaction, member: discord.Member, role: discord.Role) -> None:
            try:
                await member.add_roles(role)
            except discord.Forbidden as exc:
                await interaction.response.send_message(f"forbidden: {exc.code}", ephemeral=True)
                return
            await interaction.response.send_message(f"gave {role.name} to {member.name}")

        @tree.command(name="report", description="Send a file")
        async def report(interaction: discord.Interaction) -> None:
            file = discord.File(fp=__import__("io").BytesIO(b"line1\nline2\n"), filename="report.txt")
            await interaction.response.send_message("here you go", file=file)

        @tree.command(name="huddle", description="Open a private thread with a member")
        @app_commands.guild_only()
        async def huddle(interaction: discord.Interaction, other: discord.Member) -> None:
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            thread = await channel.create_thread(name=f"huddle-{other.name}", type=discord.ChannelType.private_thread)
            await thread.add_user(other)
            await thread.send(f"welcome {other.mention}")
            await interaction.response.send_message(f"opened {thread.mention}", ephemeral=True)

        @tree.command(name="steps", description="Defer, edit the original, follow up and edit that")
        async def steps(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.edit_original_response(content="step 1")
            followup = await interaction.followup.send("step 2", ephemeral=True, wait=True)
            await followup.edit(content="step 2b")
            original = await interaction.original_response()
            await interaction.followup.send(f"original says {original.content}")

        @tree.command(name="choose", description="Offer a select menu")
        async def choose(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Pick one", view=ChooseView(timeout=30), ephemeral=True)

        @tree.command(name="upload", description="Read an attached file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes, starts {data[:4]!r}")

        @tree.context_menu(name="Befriend")
        async def befriend(interaction: discord.Interaction, member: discord.Member) -> None:
            await interaction.response.send_message(f"befriended {member.name}", ephemeral=True)

        @tree.context_menu(name="Quote")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"quoted {message.author.name}: {message.content}")

    async def setup_hook(self) -> None:
        """Sync the app commands globally (as the real bot does)."""
        if self.sync_commands:
            await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        """Record guild and DM messages."""
        self.seen.messages.append(message)

    async def on_member_join(self, member: discord.Member) -> None:
        """Record joins."""
        self.seen.joins.append(member)

    async def on_member_remove(self, member: discord.Member) -> None:
        """Record leaves."""
        self.seen.removals.append(member)

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        """Record member updates."""
        self.seen.member_updates.append((before, after))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Record reactions."""
        self.seen.reactions.append(payload)


def default_intents() -> discord.Intents:
    """Default intents plus members (granted by default on the stand-in)."""
    intents = discord.Intents.default()
    intents.members = True
    return intents


def build_world(standin: StandIn) -> World:
    """A guild with roles, a normal and a locked channel, and two members (bob's DMs closed)."""
    guild = standin.add_guild("Test Guild")
    peer = guild.add_role("Peer", permissions=0)
    above = guild.add_role("Staff", permissions=int(Permission.MANAGE_MESSAGES), position=150)
    general = guild.add_text_channel("general")
    locked = guild.add_text_channel("announcements", bot_can_send=False)
    alice = guild.add_member("alice", roles=[peer])
    bob = guild.add_member("bob", dms_open=False)
    return World(standin, guild, general, locked, peer, above, alice, bob)


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A started stand-in; teardown fails on unimplemented routes, unanswered interactions and leaks."""
    async with checked_standin(app_name="Tiny", ack_deadline=ACK_DEADLINE, answer_timeout=2.0) as standin:
        yield standin


@pytest.fixture
def world(standin: StandIn) -> World:
    """The standard world, built before the bot connects."""
    return build_world(standin)


@pytest.fixture
async def bot(standin: StandIn, world: World) -> AsyncIterator[TinyBot]:
    """The tiny bot, connected and ready (commands synced)."""
    async with connect_client(standin, lambda: TinyBot(default_intents())) as client:
        yield client


def first(items: list[Any]) -> Any:
    """The only/first item, with a clear failure if empty."""
    assert items, "expected at least one item"
    return items[0]


__all__ = ["ACK_DEADLINE", "FRUITS", "Intent", "Seen", "TinyBot", "World", "build_world", "default_intents", "first"]

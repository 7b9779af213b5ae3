"""The stand-in's world: application, users, guilds, roles, channels, members, messages.

Objects are plain records plus a back-reference to the :class:`~bot.standin.server.StandIn`
that owns them. Their ``payload()`` methods render them exactly as Discord's API v10 does
(snowflakes as strings). Methods that are things *people* do (post a message, leave, get
a role from a moderator) are ``async`` and return once discord.py has processed the
resulting gateway event.
"""

from __future__ import annotations

import enum
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.standin.snowflake import iso, now

if TYPE_CHECKING:
    from bot.standin.interactions import Interaction
    from bot.standin.server import StandIn


class Permission(enum.IntFlag):
    """Discord permission bits used by the stand-in's checks."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.CREATE_PRIVATE_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.CONNECT
    | Permission.SPEAK
)

DEFAULT_BOT_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.ADD_REACTIONS
    | Permission.MANAGE_ROLES
    | Permission.MANAGE_THREADS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.CREATE_PRIVATE_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.MANAGE_MESSAGES
)


class Intent(enum.IntFlag):
    """Gateway intents (the bits discord.py sends in IDENTIFY)."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT


class ChannelType(enum.IntEnum):
    """Discord channel types the stand-in models."""

    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12


class MessageType(enum.IntEnum):
    """Discord message types the stand-in produces."""

    DEFAULT = 0
    THREAD_CREATED = 18
    REPLY = 19
    CHAT_INPUT_COMMAND = 20


MENTION_RE = re.compile(r"<@!?(\d+)>")


def mention_ids(content: str) -> list[int]:
    """User ids mentioned as ``<@id>`` in ``content``."""
    return [int(m) for m in MENTION_RE.findall(content)]


MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7


@dataclass(eq=False)
class User:
    """A Discord user (human or bot)."""

    standin: StandIn = field(repr=False)
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True
    """Whether the user accepts DMs from the bot; closed DMs make the bot's sends fail with 50007."""

    @property
    def display_name(self) -> str:
        """Global name, falling back to the username."""
        return self.global_name or self.username

    @property
    def mention(self) -> str:
        """``<@id>``."""
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        """Discord's user object."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "bot": self.bot,
            "system": False,
            "collectibles": None,
            "primary_guild": None,
        }

    async def dm_bot(self, content: str) -> Message:
        """The user writes to the bot in DMs (MESSAGE_CREATE in the DM channel)."""
        channel = self.standin.dm_channel_for(self)
        return await self.standin.post_user_message(self, channel, content)

    def dm_channel(self) -> DMChannel:
        """The DM channel between this user and the bot (created on first use)."""
        return self.standin.dm_channel_for(self)

    def dms_from_bot(self) -> list[Message]:
        """Messages the bot sent this user in DMs (excluding ephemeral interaction answers)."""
        return [m for m in self.dm_channel().messages if m.author.id == self.standin.bot_user.id and not m.deleted]


@dataclass(eq=False)
class Role:
    """A guild role."""

    guild: Guild = field(repr=False)
    id: int
    name: str
    permissions: int = 0
    position: int = 1
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        """``<@&id>``."""
        return f"<@&{self.id}>"

    @property
    def is_everyone(self) -> bool:
        """Whether this is the guild's @everyone role."""
        return self.id == self.guild.id

    def update(self, *, name: str | None = None, permissions: int | None = None, position: int | None = None) -> None:
        """A moderator edits the role (GUILD_ROLE_UPDATE)."""
        if name is not None:
            self.name = name
        if permissions is not None:
            self.permissions = permissions
        if position is not None:
            self.position = position
        guild = self.guild
        guild.standin.guild_event("GUILD_ROLE_UPDATE", guild, {"guild_id": str(guild.id), "role": self.payload()})

    def payload(self) -> dict[str, Any]:
        """Discord's role object."""
        tags: dict[str, Any] = {}
        if self.bot_id is not None:
            tags["bot_id"] = str(self.bot_id)
        out: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if tags:
            out["tags"] = tags
        return out


@dataclass(eq=False)
class Overwrite:
    """A channel permission overwrite for a role (type 0) or member (type 1)."""

    target_id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        """Discord's overwrite object."""
        return {"id": str(self.target_id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass(eq=False)
class Channel:
    """Base of every channel: an id, a type and the messages posted in it."""

    standin: StandIn = field(repr=False)
    id: int
    type: ChannelType
    messages: list[Message] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        """How the transcript names this channel."""
        return str(self.id)

    @property
    def mention(self) -> str:
        """``<#id>``."""
        return f"<#{self.id}>"

    @property
    def last_message_id(self) -> str | None:
        """The newest message id, as Discord reports it."""
        return str(self.messages[-1].id) if self.messages else None

    def payload(self) -> dict[str, Any]:
        """Discord's channel object."""
        raise NotImplementedError

    def visible_messages(self) -> list[Message]:
        """Non-deleted, non-ephemeral messages, oldest first (what channel history shows)."""
        return [m for m in self.messages if not m.deleted and not m.ephemeral]

    def bot_messages(self) -> list[Message]:
        """Non-deleted messages the bot authored here (ephemeral interaction answers included)."""
        bot_id = self.standin.bot_user.id
        return [m for m in self.messages if m.author.id == bot_id and not m.deleted]


@dataclass(eq=False)
class DMChannel(Channel):
    """The DM channel between the bot and one user."""

    recipient: User | None = None

    @property
    def label(self) -> str:
        """``DM <username>``."""
        return f"DM {self.recipient.username if self.recipient else '?'}"

    def payload(self) -> dict[str, Any]:
        """Discord's DM channel object."""
        assert self.recipient is not None
        return {
            "id": str(self.id),
            "type": int(ChannelType.DM),
            "last_message_id": self.last_message_id,
            "flags": 0,
            "recipients": [self.recipient.payload()],
        }


@dataclass(eq=False)
class GuildChannel(Channel):
    """A text, voice or category channel in a guild."""

    guild: Guild | None = field(default=None, repr=False)
    name: str = ""
    position: int = 0
    topic: str | None = None
    parent: GuildChannel | None = field(default=None, repr=False)
    nsfw: bool = False
    overwrites: dict[int, Overwrite] = field(default_factory=dict, repr=False)

    @property
    def the_guild(self) -> Guild:
        """The guild (always set for guild channels)."""
        assert self.guild is not None
        return self.guild

    @property
    def label(self) -> str:
        """``#name``."""
        return f"#{self.name}"

    def set_bot_access(self, *, view: bool = True, send: bool = True) -> None:
        """Model what the bot may do here with a member overwrite on the bot (like a moderator would)."""
        guild = self.the_guild
        bot_id = guild.standin.bot_user.id
        deny = 0
        if not view:
            deny |= Permission.VIEW_CHANNEL
        if not send:
            deny |= Permission.SEND_MESSAGES | Permission.SEND_MESSAGES_IN_THREADS
        if deny:
            self.overwrites[bot_id] = Overwrite(bot_id, 1, 0, int(deny))
        else:
            self.overwrites.pop(bot_id, None)
        guild.standin.channel_changed(self)

    def set_overwrite(self, target: Role | Member, *, allow: int = 0, deny: int = 0) -> None:
        """Set a permission overwrite for a role or member (dispatches CHANNEL_UPDATE)."""
        target_type = 0 if isinstance(target, Role) else 1
        self.overwrites[target.id] = Overwrite(target.id, target_type, allow, deny)
        self.the_guild.standin.channel_changed(self)

    def payload(self) -> dict[str, Any]:
        """Discord's guild channel object."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "type": int(self.type),
            "guild_id": str(self.the_guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites.values()],
            "parent_id": str(self.parent.id) if self.parent else None,
            "nsfw": self.nsfw,
            "flags": 0,
        }
        if self.type == ChannelType.GUILD_TEXT:
            out.update(
                {
                    "topic": self.topic,
                    "last_message_id": self.last_message_id,
                    "rate_limit_per_user": 0,
                    "default_thread_rate_limit_per_user": 0,
                    "default_auto_archive_duration": 1440,
                    "last_pin_timestamp": None,
                }
            )
        elif self.type == ChannelType.GUILD_VOICE:
            out.update(
                {
                    "bitrate": 64000,
                    "user_limit": 0,
                    "rtc_region": None,
                    "video_quality_mode": 1,
                    "last_message_id": self.last_message_id,
                    "rate_limit_per_user": 0,
                }
            )
        return out


@dataclass(eq=False)
class Thread(Channel):
    """A public (11) or private (12) thread."""

    guild: Guild | None = field(default=None, repr=False)
    parent: GuildChannel | None = field(default=None, repr=False)
    name: str = ""
    owner_id: int = 0
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    created_at: datetime = field(default_factory=now)
    archived_at: datetime = field(default_factory=now)
    member_ids: list[int] = field(default_factory=list)
    """Thread members, in the order they were added."""

    @property
    def the_guild(self) -> Guild:
        """The guild."""
        assert self.guild is not None
        return self.guild

    @property
    def the_parent(self) -> GuildChannel:
        """The parent channel."""
        assert self.parent is not None
        return self.parent

    @property
    def label(self) -> str:
        """``#parent/name``."""
        return f"#{self.the_parent.name}/{self.name}"

    @property
    def private(self) -> bool:
        """Whether this is a private thread."""
        return self.type == ChannelType.PRIVATE_THREAD

    def members(self) -> list[Member]:
        """Guild members who are in the thread."""
        guild = self.the_guild
        return [guild.members[uid] for uid in self.member_ids if uid in guild.members]

    def payload(self) -> dict[str, Any]:
        """Discord's thread channel object."""
        return {
            "id": str(self.id),
            "type": int(self.type),
            "guild_id": str(self.the_guild.id),
            "parent_id": str(self.the_parent.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": self.last_message_id,
            "rate_limit_per_user": 0,
            "message_count": len(self.visible_messages()),
            "member_count": min(len(self.member_ids), 50),
            "total_message_sent": len(self.visible_messages()),
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": iso(self.archived_at),
                "locked": self.locked,
                "invitable": self.invitable,
                "create_timestamp": iso(self.created_at),
            },
        }

    def member_payload(self, user_id: int) -> dict[str, Any]:
        """Discord's thread member object."""
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": iso(now()),
            "flags": 0,
        }


@dataclass(eq=False)
class Member:
    """A user's membership of a guild."""

    guild: Guild = field(repr=False)
    user: User
    roles: list[Role] = field(default_factory=list)
    joined_at: datetime = field(default_factory=now)
    nick: str | None = None
    present: bool = True

    @property
    def id(self) -> int:
        """The user's id."""
        return self.user.id

    @property
    def name(self) -> str:
        """Nickname, global name or username."""
        return self.nick or self.user.display_name

    @property
    def mention(self) -> str:
        """``<@id>``."""
        return self.user.mention

    @property
    def dms_open(self) -> bool:
        """Whether the user accepts the bot's DMs."""
        return self.user.dms_open

    @dms_open.setter
    def dms_open(self, value: bool) -> None:
        self.user.dms_open = value

    def top_position(self) -> int:
        """Position of the member's highest role (0 = only @everyone)."""
        return max((r.position for r in self.roles), default=0)

    def base_permissions(self) -> int:
        """Guild-level permissions from @everyone and the member's roles."""
        guild = self.guild
        if guild.owner_id == self.id:
            return ALL_PERMISSIONS
        perms = guild.everyone.permissions
        for role in self.roles:
            perms |= role.permissions
        if perms & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def permissions_in(self, channel: GuildChannel | Thread) -> int:
        """Channel permissions, applying overwrites the way Discord does."""
        base = self.base_permissions()
        if base == ALL_PERMISSIONS:
            return base
        target = channel.the_parent if isinstance(channel, Thread) else channel
        perms = base
        everyone = target.overwrites.get(self.guild.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role in self.roles:
            ow = target.overwrites.get(role.id)
            if ow is not None:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        mine = target.overwrites.get(self.id)
        if mine is not None:
            perms = (perms & ~mine.deny) | mine.allow
        if not perms & Permission.VIEW_CHANNEL:
            return 0
        return perms

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        """Discord's guild member object."""
        out: dict[str, Any] = {
            "roles": [str(r.id) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            out["user"] = self.user.payload()
        return out

    async def leave(self) -> None:
        """The member leaves the guild (GUILD_MEMBER_REMOVE)."""
        await self.guild.standin.member_left(self)

    async def add_role(self, role: Role) -> None:
        """A moderator gives the member a role (GUILD_MEMBER_UPDATE)."""
        await self.guild.standin.change_member_roles(self, add=[role], by_bot=False)

    async def remove_role(self, role: Role) -> None:
        """A moderator takes a role from the member (GUILD_MEMBER_UPDATE)."""
        await self.guild.standin.change_member_roles(self, remove=[role], by_bot=False)

    async def post_message(self, channel: GuildChannel | Thread, content: str) -> Message:
        """The member writes in a guild channel (MESSAGE_CREATE; content hidden without the intent)."""
        return await self.guild.standin.post_user_message(self.user, channel, content)

    async def dm_bot(self, content: str) -> Message:
        """The member writes to the bot in DMs."""
        return await self.user.dm_bot(content)

    async def react(self, message: Message, emoji: str) -> None:
        """The member reacts to a message with a unicode emoji (MESSAGE_REACTION_ADD)."""
        await self.guild.standin.add_reaction(self.user, message, emoji)

    async def join_voice(self, channel: GuildChannel | None) -> None:
        """The member joins (or with ``None`` leaves) a voice channel (VOICE_STATE_UPDATE)."""
        await self.guild.standin.voice_state(self, channel)

    def dms_from_bot(self) -> list[Message]:
        """Messages the bot sent this member in DMs."""
        return self.user.dms_from_bot()


@dataclass(eq=False)
class Guild:
    """A guild the bot is in."""

    standin: StandIn = field(repr=False)
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict, repr=False)
    channels: dict[int, GuildChannel] = field(default_factory=dict, repr=False)
    threads: dict[int, Thread] = field(default_factory=dict, repr=False)
    members: dict[int, Member] = field(default_factory=dict, repr=False)
    created_at: datetime = field(default_factory=now)

    @property
    def everyone(self) -> Role:
        """The @everyone role."""
        return self.roles[self.id]

    @property
    def bot_member(self) -> Member:
        """The bot's own member."""
        return self.members[self.standin.bot_user.id]

    @property
    def bot_role(self) -> Role:
        """The bot's managed role."""
        return next(r for r in self.roles.values() if r.bot_id == self.standin.bot_user.id)

    def add_role(
        self,
        name: str,
        *,
        permissions: int = 0,
        position: int | None = None,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> Role:
        """Create a role (below the bot's role unless ``position`` says otherwise); GUILD_ROLE_CREATE."""
        if position is None:
            position = 1 + max((r.position for r in self.roles.values() if r.bot_id is None), default=0)
        role = Role(
            self,
            self.standin.snowflakes.next(),
            name,
            permissions=permissions,
            position=position,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        self.standin.guild_event("GUILD_ROLE_CREATE", self, {"guild_id": str(self.id), "role": role.payload()})
        return role

    def remove_role(self, role: Role) -> None:
        """A moderator deletes a role (GUILD_ROLE_DELETE); members lose it."""
        if role.is_everyone or role.managed:
            raise ValueError("cannot delete @everyone or a managed role")
        self.roles.pop(role.id, None)
        for member in self.members.values():
            if role in member.roles:
                member.roles.remove(role)
        self.standin.guild_event("GUILD_ROLE_DELETE", self, {"guild_id": str(self.id), "role_id": str(role.id)})

    def _add_channel(
        self, name: str, kind: ChannelType, *, category: GuildChannel | None, topic: str | None
    ) -> GuildChannel:
        channel = GuildChannel(
            self.standin,
            self.standin.snowflakes.next(),
            kind,
            guild=self,
            name=name,
            position=len(self.channels),
            topic=topic,
            parent=category,
        )
        self.channels[channel.id] = channel
        self.standin.register_channel(channel)
        self.standin.guild_event("CHANNEL_CREATE", self, channel.payload())
        return channel

    def add_text_channel(
        self,
        name: str,
        *,
        category: GuildChannel | None = None,
        topic: str | None = None,
        bot_can_view: bool = True,
        bot_can_send: bool = True,
    ) -> GuildChannel:
        """Create a text channel; ``bot_can_send=False`` makes the bot's sends fail with 50013."""
        channel = self._add_channel(name, ChannelType.GUILD_TEXT, category=category, topic=topic)
        if not (bot_can_view and bot_can_send):
            channel.set_bot_access(view=bot_can_view, send=bot_can_send)
        return channel

    def add_voice_channel(self, name: str, *, category: GuildChannel | None = None) -> GuildChannel:
        """Create a voice channel."""
        return self._add_channel(name, ChannelType.GUILD_VOICE, category=category, topic=None)

    def add_category(self, name: str) -> GuildChannel:
        """Create a category channel."""
        return self._add_channel(name, ChannelType.GUILD_CATEGORY, category=None, topic=None)

    def add_member(
        self,
        name: str | User,
        *,
        roles: list[Role] | tuple[Role, ...] = (),
        joined_at: datetime | None = None,
        dms_open: bool = True,
        bot: bool = False,
        nick: str | None = None,
        global_name: str | None = None,
    ) -> Member:
        """Add a member (a new user, or an existing :class:`User`); GUILD_MEMBER_ADD if the bot is connected.

        Call ``await standin.sync()`` afterwards to be sure discord.py has cached the member.
        """
        if isinstance(name, User):
            user = name
        else:
            user = self.standin.create_user(name, bot=bot, dms_open=dms_open, global_name=global_name)
        if user.id in self.members:
            raise ValueError(f"{user.username} is already a member of {self.name}")
        member = Member(self, user, roles=list(roles), joined_at=joined_at or now(), nick=nick)
        self.members[user.id] = member
        data = member.payload()
        data["guild_id"] = str(self.id)
        self.standin.guild_event("GUILD_MEMBER_ADD", self, data)
        return member

    def member_named(self, name: str) -> Member:
        """Look a member up by username."""
        for member in self.members.values():
            if member.user.username == name:
                return member
        raise KeyError(name)

    def text_channels(self) -> list[GuildChannel]:
        """Text channels in creation order."""
        return [c for c in self.channels.values() if c.type == ChannelType.GUILD_TEXT]

    def channel_named(self, name: str) -> GuildChannel:
        """Look a channel up by name."""
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(name)

    def payload(self, *, include_all_members: bool) -> dict[str, Any]:
        """The GUILD_CREATE payload (members: only the bot's own unless ``include_all_members``)."""
        members = list(self.members.values()) if include_all_members else [self.bot_member]
        bot_member = self.bot_member
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
            "joined_at": iso(bot_member.joined_at),
            "large": len(self.members) >= 250,
            "unavailable": False,
            "lazy": True,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [m.payload() for m in members],
            "channels": [c.payload() for c in self.channels.values()],
            "threads": [t.payload() for t in self.threads.values() if not t.archived],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }


@dataclass(eq=False)
class Attachment:
    """A stored file; served back at ``url`` by the stand-in's CDN route."""

    id: int
    filename: str
    data: bytes = field(repr=False)
    url: str = ""
    description: str | None = None
    ephemeral: bool = False

    @property
    def content_type(self) -> str:
        """Guessed from the file name."""
        guessed, _ = mimetypes.guess_type(self.filename)
        return guessed or "application/octet-stream"

    def payload(self) -> dict[str, Any]:
        """Discord's attachment object."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.ephemeral:
            out["ephemeral"] = True
        return out


@dataclass(eq=False)
class Message:
    """A message in a channel (guild, thread or DM), possibly an ephemeral interaction answer."""

    standin: StandIn = field(repr=False)
    id: int
    channel: Channel = field(repr=False)
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: MessageType = MessageType.DEFAULT
    created_at: datetime = field(default_factory=now)
    edited_at: datetime | None = None
    deleted: bool = False
    webhook_id: int | None = None
    interaction: Interaction | None = field(default=None, repr=False)
    mention_ids: list[int] = field(default_factory=list)
    reference_id: int | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)
    nonce: int | str | None = None
    """The ``nonce`` the bot sent with it (echoed back in the message object, as Discord does)."""

    @property
    def ephemeral(self) -> bool:
        """Whether only the interaction's user sees it."""
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    @property
    def guild(self) -> Guild | None:
        """The guild of the channel, if any."""
        if isinstance(self.channel, GuildChannel | Thread):
            return self.channel.guild
        return None

    @property
    def files(self) -> list[tuple[str, bytes]]:
        """``(filename, bytes)`` of each attachment."""
        return [(a.filename, a.data) for a in self.attachments]

    def custom_ids(self) -> list[str]:
        """Every component ``custom_id`` in the message (buttons, selects), depth-first."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(str(item["custom_id"]))
                for key in ("components",):
                    sub = item.get(key)
                    if isinstance(sub, list):
                        walk(sub)
                accessory = item.get("accessory")
                if isinstance(accessory, dict):
                    walk([accessory])

        walk(self.components)
        return found

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        """The component with that ``custom_id``."""

        def walk(items: list[dict[str, Any]]) -> dict[str, Any] | None:
            for item in items:
                if item.get("custom_id") == custom_id:
                    return item
                sub = item.get("components")
                if isinstance(sub, list):
                    hit = walk(sub)
                    if hit is not None:
                        return hit
                accessory = item.get("accessory")
                if isinstance(accessory, dict):
                    hit = walk([accessory])
                    if hit is not None:
                        return hit
            return None

        return walk(self.components)

    def payload(self) -> dict[str, Any]:
        """Discord's message object as REST returns it."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.standin.users[uid].payload() for uid in self.mention_ids if uid in self.standin.users],
            "mention_roles": [],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "pinned": False,
            "type": int(self.type),
            "flags": self.flags,
            "components": self.components,
        }
        if self.reactions:
            out["reactions"] = [
                {
                    "emoji": {"id": None, "name": emoji},
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "burst_colors": [],
                    "me": self.standin.bot_user.id in users,
                    "me_burst": False,
                }
                for emoji, users in self.reactions.items()
            ]
        if self.nonce is not None:
            out["nonce"] = self.nonce
        if self.webhook_id is not None:
            out["webhook_id"] = str(self.webhook_id)
            out["application_id"] = str(self.standin.application.id)
        if self.reference_id is not None:
            out["message_reference"] = {
                "type": 0,
                "message_id": str(self.reference_id),
                "channel_id": str(self.channel.id),
            }
            guild = self.guild
            if guild is not None:
                out["message_reference"]["guild_id"] = str(guild.id)
        if self.interaction is not None:
            out.update(self.interaction.message_metadata(self))
        return out

    def gateway_payload(self) -> dict[str, Any]:
        """The MESSAGE_CREATE/UPDATE shape: REST message + ``guild_id`` and the author's ``member``."""
        out = self.payload()
        guild = self.guild
        if guild is not None:
            out["guild_id"] = str(guild.id)
            member = guild.members.get(self.author.id)
            if member is not None and self.webhook_id is None:
                out["member"] = member.payload(with_user=False)
        return out


@dataclass(eq=False)
class Application:
    """The bot's application."""

    id: int
    name: str
    bot: User
    token: str
    owner: User
    granted_intents: Intent = Intent.GUILD_MEMBERS
    """Privileged intents the application was granted in the developer portal."""
    flags: int = 0

    def payload(self) -> dict[str, Any]:
        """GET /oauth2/applications/@me."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.flags | self.intent_flags(),
            "owner": self.owner.payload(),
            "team": None,
            "bot": self.bot.payload(),
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "redirect_uris": [],
            "rpc_origins": [],
            "approximate_guild_count": 0,
            "integration_types_config": {"0": {}, "1": {}},
        }

    def intent_flags(self) -> int:
        """Application flags advertising the granted privileged intents (the *_LIMITED bits)."""
        flags = 0
        if self.granted_intents & Intent.GUILD_PRESENCES:
            flags |= 1 << 13
        if self.granted_intents & Intent.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.granted_intents & Intent.MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags


@dataclass(frozen=True)
class RoleChange:
    """A role given to or taken from a member."""

    guild: Guild
    member: Member
    role: Role
    added: bool
    by_bot: bool
    at: datetime = field(default_factory=now)


@dataclass(frozen=True)
class ThreadMemberAdd:
    """A user added to a thread."""

    thread: Thread
    user: User
    by_bot: bool

"""Interactions: what a user does (slash command, button, modal, autocomplete) and how the bot answered.

:class:`Interaction` is both the record of one INTERACTION_CREATE and the *result* the test
helpers return: ``content``, ``embeds``, ``ephemeral``, ``files``, ``components``,
``deferred``, ``modal``, ``choices``, ``followups``. Building the payload checks the request
against what the bot synced, as Discord's client would (unknown command, wrong option
type, choice not offered, value out of range, missing required option).
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.standin.model import (
    Channel,
    ChannelType,
    DMChannel,
    Guild,
    GuildChannel,
    Member,
    Message,
    Role,
    Thread,
    User,
)
from bot.standin.snowflake import now

if TYPE_CHECKING:
    from bot.standin.server import StandIn


class InteractionType(enum.IntEnum):
    """Discord interaction types."""

    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    APPLICATION_COMMAND_AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(enum.IntEnum):
    """Interaction callback (response) types."""

    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType(enum.IntEnum):
    """Application command option types."""

    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class InvocationRefused(ValueError):
    """Discord's client would not let the user send this (unsynced command, bad option, ...)."""


class InteractionNotAnswered(AssertionError):
    """The bot did not acknowledge/answer the interaction in time."""


@dataclass(frozen=True)
class Upload:
    """A file a user attaches to an ATTACHMENT option."""

    filename: str
    data: bytes


ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
MAX_SAFE_INTEGER = 2**53


@dataclass(eq=False)
class Interaction:
    """One interaction and everything the bot did to answer it."""

    standin: StandIn = field(repr=False)
    id: int
    type: InteractionType
    user: User
    guild: Guild | None
    channel: Channel = field(repr=False)
    data: dict[str, Any] = field(repr=False)
    label: str
    """What the user did, for the transcript (``/checkin mood:3``, ``[button confirm]``)."""
    message: Message | None = field(default=None, repr=False)
    """The message a component was on (component interactions, modals opened from one)."""
    token: str = field(default_factory=lambda: "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48))
    created_at: datetime = field(default_factory=now)
    created_mono: float = 0.0
    callback_type: CallbackType | None = None
    acked_mono: float | None = None
    original: Message | None = field(default=None, repr=False)
    """The response message (type 4, 5 → its loading message, later edited), or the updated message (6, 7)."""
    original_edited: bool = False
    followups: list[Message] = field(default_factory=list, repr=False)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    rejected: list[tuple[int, int]] = field(default_factory=list)
    """``(status, code)`` of the bot's callbacks, follow-ups and edits the stand-in refused (40060, 10062, 50035...)."""
    reported: bool = False
    answered: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # ------------------------------------------------------------ payloads

    @property
    def member(self) -> Member | None:
        """The guild member (``None`` in DMs)."""
        if self.guild is None:
            return None
        return self.guild.members.get(self.user.id)

    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE ``d``."""
        standin = self.standin
        app = standin.application
        out: dict[str, Any] = {
            "id": str(self.id),
            "application_id": str(app.id),
            "type": int(self.type),
            "data": self.data,
            "channel_id": str(self.channel.id),
            "token": self.token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        member = self.member
        if self.guild is not None and member is not None:
            guild = self.guild
            assert isinstance(self.channel, GuildChannel | Thread)
            out["guild_id"] = str(guild.id)
            out["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            out["guild_locale"] = "en-US"
            out["member"] = {**member.payload(), "permissions": str(member.permissions_in(self.channel))}
            out["app_permissions"] = str(guild.bot_member.permissions_in(self.channel))
            out["channel"] = {**self.channel.payload(), "permissions": str(member.permissions_in(self.channel))}
            out["authorizing_integration_owners"] = {"0": str(guild.id)}
            out["context"] = 0
        else:
            out["user"] = self.user.payload()
            out["channel"] = self.channel.payload()
            out["app_permissions"] = str(standin.dm_app_permissions)
            out["authorizing_integration_owners"] = {"1": str(self.user.id)}
            out["context"] = 1
        if self.message is not None:
            out["message"] = self.message.payload()
        return out

    def message_metadata(self, message: Message) -> dict[str, Any]:
        """``interaction_metadata`` (and the deprecated ``interaction``) of a response message."""
        owners: dict[str, str] = {"0": str(self.guild.id)} if self.guild is not None else {"1": str(self.user.id)}
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": int(self.type),
            "user": self.user.payload(),
            "authorizing_integration_owners": owners,
        }
        if self.type == InteractionType.APPLICATION_COMMAND:
            meta["name"] = self.data.get("name", "")
            meta["command_type"] = 1
        if self.original is not None and message is not self.original:
            meta["original_response_message_id"] = str(self.original.id)
        if self.message is not None:
            meta["interacted_message_id"] = str(self.message.id)
        out: dict[str, Any] = {"interaction_metadata": meta}
        if self.type == InteractionType.APPLICATION_COMMAND:
            legacy: dict[str, Any] = {
                "id": str(self.id),
                "type": int(self.type),
                "name": self.data.get("name", ""),
                "user": self.user.payload(),
            }
            member = self.member
            if member is not None:
                legacy["member"] = member.payload(with_user=False)
            out["interaction"] = legacy
        return out

    # --------------------------------------------------------------- state

    @property
    def acknowledged(self) -> bool:
        """Whether a callback was accepted."""
        return self.callback_type is not None

    @property
    def is_answered(self) -> bool:
        """Acknowledged, and a deferred message (type 5) has been edited or followed up."""
        if self.callback_type is None:
            return False
        if self.callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            return self.original_edited or bool(self.followups)
        return True

    def update_answered(self) -> None:
        """Wake up whoever waits for the answer."""
        if self.is_answered:
            self.answered.set()
        self.standin.notify()

    # ------------------------------------------------------------- results

    @property
    def response(self) -> Message | None:
        """The message that answers the user: the (edited) original, else the first follow-up."""
        if self.original is not None and (
            self.callback_type != CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE or self.original_edited
        ):
            return self.original
        if self.followups:
            return self.followups[0]
        return self.original

    @property
    def content(self) -> str:
        """The answer's text ("" if none)."""
        msg = self.response
        return msg.content if msg is not None else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """The answer's embeds as dicts."""
        msg = self.response
        return msg.embeds if msg is not None else []

    @property
    def components(self) -> list[dict[str, Any]]:
        """The answer's components as dicts."""
        msg = self.response
        return msg.components if msg is not None else []

    @property
    def files(self) -> list[tuple[str, bytes]]:
        """``(filename, bytes)`` of the answer's attachments."""
        msg = self.response
        return msg.files if msg is not None else []

    @property
    def ephemeral(self) -> bool:
        """Whether the answer is visible only to the user (flags & 64)."""
        msg = self.response
        return msg.ephemeral if msg is not None else False

    @property
    def deferred(self) -> bool:
        """Whether the bot deferred (type 5 or 6)."""
        return self.callback_type in (
            CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def message_id(self) -> int | None:
        """Id of the answer message (to press its buttons)."""
        msg = self.response
        return msg.id if msg is not None else None

    def custom_ids(self) -> list[str]:
        """``custom_id`` of every component of the answer."""
        msg = self.response
        return msg.custom_ids() if msg is not None else []

    def all_messages(self) -> list[Message]:
        """The original response (if any) and every follow-up."""
        out = [self.original] if self.original is not None else []
        return out + list(self.followups)


# ---------------------------------------------------------------- commands


def find_command(
    standin: StandIn, path: str, guild: Guild | None, *, command_type: int = 1
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Find a synced command by ``"name sub..."``; returns (command, names, leaf option schemas)."""
    names = path.split()
    if not names:
        raise InvocationRefused("empty command name")
    candidates: list[dict[str, Any]] = []
    if guild is not None:
        candidates.extend(standin.guild_commands.get(guild.id, {}).values())
    candidates.extend(standin.global_commands.values())
    root = next(
        (c for c in candidates if c["name"] == names[0] and int(c.get("type", 1)) == command_type),
        None,
    )
    if root is None:
        where = f"guild {guild.name}" if guild is not None else "DMs"
        synced = sorted({str(c["name"]) for c in candidates})
        raise InvocationRefused(f"/{names[0]} is not synced for {where} (synced: {synced})")
    if guild is None:
        if root.get("guild_id") is not None:
            raise InvocationRefused(f"/{names[0]} is a guild command; not available in DMs")
        contexts = root.get("contexts")
        if root.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
            raise InvocationRefused(f"/{names[0]} is not available in DMs")
    else:
        contexts = root.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise InvocationRefused(f"/{names[0]} is not available in guilds")
    options: list[dict[str, Any]] = list(root.get("options") or [])
    for name in names[1:]:
        sub = next(
            (
                o
                for o in options
                if o["name"] == name and o["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            raise InvocationRefused(f"/{path}: no subcommand {name!r}")
        options = list(sub.get("options") or [])
    if any(o["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP) for o in options):
        subs = [o["name"] for o in options]
        raise InvocationRefused(f"/{path} needs a subcommand: one of {subs}")
    return root, names, options


def check_member_may_use(command: dict[str, Any], member: Member | None) -> None:
    """Discord hides commands whose ``default_member_permissions`` the member lacks."""
    required = command.get("default_member_permissions")
    if required is None or member is None:
        return
    needed = int(required)
    if member.base_permissions() & needed != needed:
        raise InvocationRefused(f"/{command['name']} requires permissions {needed} that {member.name} lacks")


@dataclass
class BuiltOptions:
    """Option payloads plus the ``resolved`` map for them."""

    options: list[dict[str, Any]] = field(default_factory=list)
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)


def build_options(
    standin: StandIn,
    schema: Sequence[dict[str, Any]],
    given: Mapping[str, Any],
    *,
    guild: Guild | None,
    viewer: Member | None,
    focused: str | None = None,
) -> BuiltOptions:
    """Type and check ``given`` against the synced option ``schema``."""
    by_name = {o["name"]: o for o in schema}
    built = BuiltOptions()
    for name in given:
        if name not in by_name:
            raise InvocationRefused(f"unknown option {name!r}; synced options: {sorted(by_name)}")
    if focused is not None:
        if focused not in by_name:
            raise InvocationRefused(f"cannot focus unknown option {focused!r}")
        if not by_name[focused].get("autocomplete"):
            raise InvocationRefused(f"option {focused!r} does not have autocomplete")
    for opt in schema:
        name = opt["name"]
        if name not in given:
            if opt.get("required") and focused is None:
                raise InvocationRefused(f"required option {name!r} missing")
            continue
        value = given[name]
        if name == focused:
            built.options.append({"name": name, "type": opt["type"], "value": str(value), "focused": True})
            continue
        payload_value = _convert_option(standin, opt, value, built, guild=guild, viewer=viewer)
        built.options.append({"name": name, "type": opt["type"], "value": payload_value})
        built.text.append(f"{name}:{_option_text(value)}")
    return built


def _option_text(value: Any) -> str:
    if isinstance(value, Member | Role | User):
        return f"@{value.name if not isinstance(value, User) else value.username}"
    if isinstance(value, GuildChannel | Thread):
        return value.label
    if isinstance(value, Upload):
        return f"[{value.filename}]"
    return str(value)


def _check_choices(opt: dict[str, Any], value: Any) -> None:
    choices = opt.get("choices")
    if choices:
        allowed = [c["value"] for c in choices]
        if value not in allowed:
            raise InvocationRefused(f"option {opt['name']!r}: {value!r} is not one of the choices {allowed}")


def _convert_option(
    standin: StandIn,
    opt: dict[str, Any],
    value: Any,
    built: BuiltOptions,
    *,
    guild: Guild | None,
    viewer: Member | None,
) -> Any:
    kind = OptionType(int(opt["type"]))
    name = opt["name"]
    if kind == OptionType.STRING:
        if not isinstance(value, str):
            raise InvocationRefused(f"option {name!r} is a string, got {value!r}")
        _check_choices(opt, value)
        if "min_length" in opt and len(value) < int(opt["min_length"]):
            raise InvocationRefused(f"option {name!r}: shorter than {opt['min_length']}")
        if "max_length" in opt and len(value) > int(opt["max_length"]):
            raise InvocationRefused(f"option {name!r}: longer than {opt['max_length']}")
        return value
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvocationRefused(f"option {name!r} is a number, got {value!r}")
        if kind == OptionType.INTEGER and not isinstance(value, int):
            raise InvocationRefused(f"option {name!r} is an integer, got {value!r}")
        if abs(value) > MAX_SAFE_INTEGER:
            raise InvocationRefused(f"option {name!r}: {value} out of range")
        _check_choices(opt, value)
        if "min_value" in opt and value < opt["min_value"]:
            raise InvocationRefused(f"option {name!r}: {value} < min_value {opt['min_value']}")
        if "max_value" in opt and value > opt["max_value"]:
            raise InvocationRefused(f"option {name!r}: {value} > max_value {opt['max_value']}")
        return value
    if kind == OptionType.BOOLEAN:
        if not isinstance(value, bool):
            raise InvocationRefused(f"option {name!r} is a boolean, got {value!r}")
        return value
    if kind == OptionType.USER:
        if not isinstance(value, Member | User):
            raise InvocationRefused(f"option {name!r} takes a Member or User, got {value!r}")
        resolve_user(built, value, guild)
        return str(value.id)
    if kind == OptionType.ROLE:
        if not isinstance(value, Role):
            raise InvocationRefused(f"option {name!r} takes a Role, got {value!r}")
        _resolve_role(built, value, guild)
        return str(value.id)
    if kind == OptionType.MENTIONABLE:
        if isinstance(value, Role):
            _resolve_role(built, value, guild)
        elif isinstance(value, Member | User):
            resolve_user(built, value, guild)
        else:
            raise InvocationRefused(f"option {name!r} takes a Member, User or Role, got {value!r}")
        return str(value.id)
    if kind == OptionType.CHANNEL:
        if not isinstance(value, GuildChannel | Thread) or guild is None or value.guild is not guild:
            raise InvocationRefused(f"option {name!r} takes a channel of this guild, got {value!r}")
        types = opt.get("channel_types")
        if types and int(value.type) not in types:
            raise InvocationRefused(f"option {name!r}: channel type {int(value.type)} not in {types}")
        perms = viewer.permissions_in(value) if viewer is not None else 0
        data = {**value.payload(), "permissions": str(perms)}
        built.resolved.setdefault("channels", {})[str(value.id)] = data
        return str(value.id)
    if kind == OptionType.ATTACHMENT:
        if not isinstance(value, Upload):
            raise InvocationRefused(f"option {name!r} takes an Upload(filename, data), got {value!r}")
        attachment = standin.store_attachment(value.filename, value.data, ephemeral=True)
        built.resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload()
        return str(attachment.id)
    raise InvocationRefused(f"option {name!r}: unsupported type {kind!r}")


def resolve_user(built: BuiltOptions, value: Member | User, guild: Guild | None) -> None:
    user = value.user if isinstance(value, Member) else value
    built.resolved.setdefault("users", {})[str(user.id)] = user.payload()
    member = guild.members.get(user.id) if guild is not None else None
    if member is not None:
        data = member.payload(with_user=False)
        data["permissions"] = str(member.base_permissions())
        built.resolved.setdefault("members", {})[str(user.id)] = data


def _resolve_role(built: BuiltOptions, role: Role, guild: Guild | None) -> None:
    if guild is None or role.guild is not guild:
        raise InvocationRefused(f"role {role.name!r} is not in this guild")
    built.resolved.setdefault("roles", {})[str(role.id)] = role.payload()


def nest_options(names: list[str], root: dict[str, Any], leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wrap leaf options in their subcommand / group option payloads."""
    options = leaf
    schema_opts: list[dict[str, Any]] = list(root.get("options") or [])
    chain: list[dict[str, Any]] = []
    for name in names[1:]:
        sub = next(o for o in schema_opts if o["name"] == name)
        chain.append(sub)
        schema_opts = list(sub.get("options") or [])
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    return options


# ------------------------------------------------------------------ modals


def modal_submission(modal: dict[str, Any], values: Mapping[str, str | list[str]]) -> list[dict[str, Any]]:
    """The MODAL_SUBMIT ``components`` for ``values``, checked against the modal's inputs."""
    known: dict[str, dict[str, Any]] = {}

    def collect(items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("type") in (3, 4, 5, 6, 7, 8) and "custom_id" in item:
                known[str(item["custom_id"])] = item
            sub = item.get("components")
            if isinstance(sub, list):
                collect(sub)
            inner = item.get("component")
            if isinstance(inner, dict):
                collect([inner])

    collect(list(modal.get("components") or []))
    for custom_id in values:
        if custom_id not in known:
            raise InvocationRefused(f"modal has no input {custom_id!r}; inputs: {sorted(known)}")
    for custom_id, item in known.items():
        if item.get("type") == 4:
            text = values.get(custom_id, item.get("value") or "")
            if not isinstance(text, str):
                raise InvocationRefused(f"text input {custom_id!r} takes a string")
            if item.get("required", True) and not text:
                raise InvocationRefused(f"text input {custom_id!r} is required")
            if text and "min_length" in item and len(text) < int(item["min_length"]):
                raise InvocationRefused(f"text input {custom_id!r}: shorter than {item['min_length']}")
            if "max_length" in item and len(text) > int(item["max_length"]):
                raise InvocationRefused(f"text input {custom_id!r}: longer than {item['max_length']}")
        elif item.get("type") == 3 and custom_id in values:
            chosen = values[custom_id]
            offered = [o["value"] for o in item.get("options", [])]
            if not isinstance(chosen, list) or any(v not in offered for v in chosen):
                raise InvocationRefused(f"select {custom_id!r}: {chosen!r} not among {offered}")

    def submitted(item: dict[str, Any]) -> dict[str, Any] | None:
        kind = item.get("type")
        if kind == 1:
            inner = [s for s in (submitted(c) for c in item.get("components", [])) if s is not None]
            return {"type": 1, "id": item.get("id", 0), "components": inner}
        if kind == 18:
            comp = item.get("component")
            sub = submitted(comp) if isinstance(comp, dict) else None
            if sub is None:
                return None
            return {"type": 18, "id": item.get("id", 0), "component": sub}
        if kind == 4:
            custom_id = str(item["custom_id"])
            return {"type": 4, "id": item.get("id", 0), "custom_id": custom_id, "value": values.get(custom_id, "")}
        if kind in (3, 5, 6, 7, 8):
            custom_id = str(item["custom_id"])
            chosen = values.get(custom_id, [])
            return {
                "type": kind,
                "id": item.get("id", 0),
                "custom_id": custom_id,
                "values": list(chosen) if isinstance(chosen, list) else [chosen],
            }
        return None

    return [s for s in (submitted(c) for c in modal.get("components") or []) if s is not None]


def check_channel_for(user: User, guild: Guild | None, channel: Channel) -> None:
    """The user must be able to see the channel they interact in."""
    if guild is None:
        if not isinstance(channel, DMChannel):
            raise InvocationRefused("DM interactions happen in the user's DM channel")
        return
    member = guild.members.get(user.id)
    if member is None:
        raise InvocationRefused(f"{user.username} is not a member of {guild.name}")
    if not isinstance(channel, GuildChannel | Thread) or channel.guild is not guild:
        raise InvocationRefused(f"channel {channel.label} is not in {guild.name}")
    if channel.type not in (
        ChannelType.GUILD_TEXT,
        ChannelType.GUILD_VOICE,
        ChannelType.PUBLIC_THREAD,
        ChannelType.PRIVATE_THREAD,
    ):
        raise InvocationRefused(f"cannot interact in {channel.label}")
    if member.permissions_in(channel) == 0:
        raise InvocationRefused(f"{user.username} cannot see {channel.label}")
    if isinstance(channel, Thread) and channel.private and user.id not in channel.member_ids:
        raise InvocationRefused(f"{user.username} is not in private thread {channel.label}")

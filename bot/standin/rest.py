"""The REST routes the stand-in implements, with Discord's checks and error codes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from bot.standin.errors import (
    ALREADY_ACKNOWLEDGED,
    CANNOT_DM,
    CANNOT_EDIT_OTHERS_MESSAGE,
    EMPTY_MESSAGE,
    THREAD_ARCHIVED,
    UNKNOWN_CHANNEL,
    UNKNOWN_COMMAND,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    UNKNOWN_WEBHOOK,
    DiscordError,
    form_error,
    invalid_form_body,
    merge_errors,
    missing_access,
    missing_permissions,
    unknown,
)
from bot.standin.interactions import CallbackType, Interaction, InteractionType
from bot.standin.model import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    Attachment,
    Channel,
    ChannelType,
    DMChannel,
    Guild,
    GuildChannel,
    Intent,
    Member,
    Message,
    MessageType,
    Permission,
    Role,
    Thread,
    ThreadMemberAdd,
    mention_ids,
)
from bot.standin.routing import NO_CONTENT, Reply, RestRequest, Router, UploadedFile
from bot.standin.snowflake import now

if TYPE_CHECKING:
    from bot.standin.server import StandIn

MAX_CONTENT = 2000
MAX_EMBED_TOTAL = 6000
SETTABLE_FLAGS = (1 << 2) | (1 << 6) | (1 << 12) | (1 << 15)
"""SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2."""
MANAGE_NICKNAMES = 1 << 27

ALLOWED_CALLBACKS: dict[InteractionType, set[CallbackType]] = {
    InteractionType.APPLICATION_COMMAND: {
        CallbackType.CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.MODAL,
    },
    InteractionType.MESSAGE_COMPONENT: {
        CallbackType.CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.DEFERRED_UPDATE_MESSAGE,
        CallbackType.UPDATE_MESSAGE,
        CallbackType.MODAL,
    },
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
    InteractionType.MODAL_SUBMIT: {
        CallbackType.CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
        CallbackType.DEFERRED_UPDATE_MESSAGE,
        CallbackType.UPDATE_MESSAGE,
    },
}


@dataclass
class MessageFields:
    """The message fields of a create/edit body (``None`` = not given)."""

    content: str | None = None
    content_given: bool = False
    embeds: list[dict[str, Any]] | None = None
    components: list[dict[str, Any]] | None = None
    attachments: list[Attachment] | None = None
    flags: int | None = None
    reference_id: int | None = None
    extras: bool = False
    """Stickers or a poll (count as content for the empty check)."""


def _embed_size(embed: dict[str, Any]) -> int:
    total = 0
    for key in ("title", "description"):
        total += len(str(embed.get(key) or ""))
    for key in ("footer",):
        part = embed.get(key)
        if isinstance(part, dict):
            total += len(str(part.get("text") or ""))
    author = embed.get("author")
    if isinstance(author, dict):
        total += len(str(author.get("name") or ""))
    for fld in embed.get("fields") or []:
        if isinstance(fld, dict):
            total += len(str(fld.get("name") or "")) + len(str(fld.get("value") or ""))
    return total


class RestApi:
    """Route handlers; each raises :class:`DiscordError` the way Discord answers."""

    def __init__(self, standin: StandIn) -> None:
        self.s = standin

    def register(self, router: Router) -> None:
        """Add every implemented route."""
        add = router.add
        add("GET", "/gateway", self.get_gateway, auth=False)
        add("GET", "/gateway/bot", self.get_gateway_bot)
        add("GET", "/users/@me", self.get_me)
        add("GET", "/users/{user_id}", self.get_user)
        add("POST", "/users/@me/channels", self.create_dm)
        add("GET", "/oauth2/applications/@me", self.get_application)
        add("GET", "/applications/@me", self.get_application)
        for base in ("/applications/{application_id}", "/applications/{application_id}/guilds/{guild_id}"):
            add("GET", base + "/commands", self.get_commands)
            add("PUT", base + "/commands", self.put_commands)
            add("POST", base + "/commands", self.post_command)
            add("GET", base + "/commands/{command_id}", self.get_command)
            add("DELETE", base + "/commands/{command_id}", self.delete_command)
        add("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback, auth=False)
        add("POST", "/webhooks/{webhook_id}/{webhook_token}", self.execute_webhook, auth=False)
        for verb, handler in (
            ("GET", self.get_webhook_message),
            ("PATCH", self.edit_webhook_message),
            ("DELETE", self.delete_webhook_message),
        ):
            add(verb, "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", handler, auth=False)
        add("GET", "/channels/{channel_id}", self.get_channel)
        add("PATCH", "/channels/{channel_id}", self.edit_channel)
        add("GET", "/channels/{channel_id}/messages", self.get_messages)
        add("POST", "/channels/{channel_id}/messages", self.create_message)
        add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        add("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        add("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.add_own_reaction)
        add("POST", "/channels/{channel_id}/typing", self.typing)
        add("POST", "/channels/{channel_id}/threads", self.create_thread)
        add("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.create_thread_from_message)
        add("PUT", "/channels/{channel_id}/thread-members/{user_id}", self.add_thread_member)
        add("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self.remove_thread_member)
        add("GET", "/channels/{channel_id}/thread-members", self.list_thread_members)
        add("GET", "/guilds/{guild_id}", self.get_guild)
        add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        add("GET", "/guilds/{guild_id}/roles", self.get_roles)
        add("GET", "/guilds/{guild_id}/members", self.list_members)
        add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        add("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member)
        add("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role)
        add("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role)

    # ------------------------------------------------------------- lookups

    def _channel(self, req: RestRequest) -> Channel:
        channel = self.s.channels.get(req.snowflake("channel_id"))
        if channel is None:
            raise unknown("Channel", UNKNOWN_CHANNEL)
        if isinstance(channel, GuildChannel | Thread):
            guild = channel.guild
            if guild is None or guild.id not in self.s.guilds:
                raise unknown("Channel", UNKNOWN_CHANNEL)
            if isinstance(channel, GuildChannel) and channel.id not in guild.channels:
                raise unknown("Channel", UNKNOWN_CHANNEL)
            if not guild.bot_member.permissions_in(channel) & Permission.VIEW_CHANNEL:
                raise missing_access()
        return channel

    def _guild(self, req: RestRequest) -> Guild:
        guild = self.s.guilds.get(req.snowflake("guild_id"))
        if guild is None:
            raise unknown("Guild", UNKNOWN_GUILD)
        return guild

    def _member(self, guild: Guild, req: RestRequest) -> Member:
        user_id = self.s.bot_user.id if req.params.get("user_id") == "@me" else req.snowflake("user_id")
        member = guild.members.get(user_id)
        if member is None:
            if user_id not in self.s.users:
                raise unknown("User", UNKNOWN_USER)
            raise unknown("Member", UNKNOWN_MEMBER)
        return member

    def _message(self, channel: Channel, req: RestRequest) -> Message:
        message_id = req.snowflake("message_id")
        for message in channel.messages:
            if message.id == message_id and not message.deleted and not message.ephemeral:
                return message
        raise unknown("Message", UNKNOWN_MESSAGE)

    def _bot_perms(self, channel: GuildChannel | Thread) -> int:
        return channel.the_guild.bot_member.permissions_in(channel)

    # -------------------------------------------------------- basic routes

    async def get_gateway(self, req: RestRequest) -> Reply:
        """GET /gateway."""
        return Reply(200, {"url": self.s.gateway_url})

    async def get_gateway_bot(self, req: RestRequest) -> Reply:
        """GET /gateway/bot."""
        return Reply(
            200,
            {
                "url": self.s.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            },
        )

    async def get_me(self, req: RestRequest) -> Reply:
        """GET /users/@me."""
        bot = self.s.bot_user
        return Reply(200, {**bot.payload(), "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})

    async def get_user(self, req: RestRequest) -> Reply:
        """GET /users/{id}."""
        user = self.s.users.get(req.snowflake("user_id"))
        if user is None:
            raise unknown("User", UNKNOWN_USER)
        return Reply(200, user.payload())

    async def get_application(self, req: RestRequest) -> Reply:
        """GET /oauth2/applications/@me."""
        return Reply(200, self.s.application.payload())

    async def create_dm(self, req: RestRequest) -> Reply:
        """POST /users/@me/channels: open (or fetch) the DM channel with a user."""
        raw = str(req.json_object().get("recipient_id"))
        user = self.s.users.get(int(raw)) if raw.isdigit() else None
        if user is None:
            raise unknown("User", UNKNOWN_USER)
        channel = self.s.dm_channel_for(user)
        return Reply(200, channel.payload())

    # ------------------------------------------------------------ commands

    def _command_scope(self, req: RestRequest) -> tuple[dict[int, dict[str, Any]], Guild | None]:
        if req.snowflake("application_id") != self.s.application.id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" in req.params:
            guild = self._guild(req)
            return self.s.guild_commands.setdefault(guild.id, {}), guild
        return self.s.global_commands, None

    def _store_command(
        self, scope: dict[int, dict[str, Any]], guild: Guild | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        kind = int(body.get("type", 1))
        existing = next((c for c in scope.values() if c["name"] == body["name"] and c["type"] == kind), None)
        command_id = int(existing["id"]) if existing else self.s.snowflakes.next()
        stored: dict[str, Any] = {
            "id": str(command_id),
            "application_id": str(self.s.application.id),
            "version": str(self.s.snowflakes.next()),
            "type": kind,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            "default_member_permissions": body.get("default_member_permissions"),
            "nsfw": bool(body.get("nsfw", False)),
            "options": body.get("options") or [],
        }
        if guild is not None:
            stored["guild_id"] = str(guild.id)
        else:
            stored["dm_permission"] = body.get("dm_permission", True)
            stored["contexts"] = body.get("contexts")
            stored["integration_types"] = body.get("integration_types") or [0]
        scope[command_id] = stored
        return stored

    async def get_commands(self, req: RestRequest) -> Reply:
        """GET .../commands."""
        scope, _ = self._command_scope(req)
        return Reply(200, list(scope.values()))

    async def put_commands(self, req: RestRequest) -> Reply:
        """PUT .../commands: bulk overwrite (ids kept for commands that stay)."""
        scope, guild = self._command_scope(req)
        body = req.body
        if not isinstance(body, list):
            raise invalid_form_body(form_error("_root", "BASE_TYPE_ARRAY", "Must be an array."))
        seen: set[tuple[str, int]] = set()
        errors: list[dict[str, Any]] = []
        for index, command in enumerate(body):
            key = (str(command.get("name")), int(command.get("type", 1)))
            if key in seen:
                errors.append(
                    form_error(
                        str(index),
                        "APPLICATION_COMMANDS_DUPLICATE_NAME",
                        f"Application command names must be unique: {key[0]}",
                    )
                )
            seen.add(key)
        if errors:
            raise invalid_form_body(merge_errors(*errors))
        old = dict(scope)
        scope.clear()
        result = []
        for command in body:
            kind = int(command.get("type", 1))
            previous = next((c for c in old.values() if c["name"] == command["name"] and c["type"] == kind), None)
            if previous is not None:
                scope[int(previous["id"])] = previous
            stored = self._store_command(scope, guild, command)
            result.append(stored)
        where = guild.name if guild is not None else "global"
        names = ", ".join("/" + str(c["name"]) for c in result)
        self.s.record_transcript(self.s.bot_user.username, f"synced {len(result)} {where} commands: {names}")
        self.s.notify()
        return Reply(200, result)

    async def post_command(self, req: RestRequest) -> Reply:
        """POST .../commands: create or update one command."""
        scope, guild = self._command_scope(req)
        stored = self._store_command(scope, guild, req.json_object())
        self.s.notify()
        return Reply(201, stored)

    async def get_command(self, req: RestRequest) -> Reply:
        """GET .../commands/{id}."""
        scope, _ = self._command_scope(req)
        command = scope.get(req.snowflake("command_id"))
        if command is None:
            raise unknown("application command", UNKNOWN_COMMAND)
        return Reply(200, command)

    async def delete_command(self, req: RestRequest) -> Reply:
        """DELETE .../commands/{id}."""
        scope, _ = self._command_scope(req)
        if scope.pop(req.snowflake("command_id"), None) is None:
            raise unknown("application command", UNKNOWN_COMMAND)
        return NO_CONTENT

    # ------------------------------------------------------- message bodies

    def _fields(self, body: dict[str, Any], files: list[UploadedFile], existing: Message | None) -> MessageFields:
        fields = MessageFields()
        if "content" in body:
            fields.content_given = True
            raw = body["content"]
            fields.content = "" if raw is None else str(raw)
        if "embeds" in body:
            fields.embeds = [{"type": "rich", **e} for e in (body["embeds"] or [])]
        elif "embed" in body and body["embed"] is not None:
            fields.embeds = [{"type": "rich", **body["embed"]}]
        if "components" in body:
            fields.components = list(body["components"] or [])
        if body.get("flags") is not None:
            fields.flags = int(body["flags"])
        by_field = {f.field_name: f for f in files}
        if "attachments" in body and body["attachments"] is not None:
            out: list[Attachment] = []
            for item in body["attachments"]:
                key = str(item.get("id"))
                upload = by_field.get(f"files[{key}]")
                if upload is not None:
                    attachment = self.s.store_attachment(str(item.get("filename") or upload.filename), upload.data)
                    attachment.description = item.get("description")
                    out.append(attachment)
                    continue
                kept = next((a for a in (existing.attachments if existing else []) if str(a.id) == key), None)
                if kept is None:
                    raise invalid_form_body(
                        form_error(f"attachments.{len(out)}.id", "ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
                    )
                out.append(kept)
            fields.attachments = out
        elif files:
            fields.attachments = [self.s.store_attachment(f.filename, f.data) for f in files]
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            fields.reference_id = int(reference["message_id"])
        fields.extras = bool(body.get("sticker_ids")) or body.get("poll") is not None
        return fields

    def _check_fields(self, fields: MessageFields) -> None:
        errors: list[dict[str, Any]] = []
        if fields.content is not None and len(fields.content) > MAX_CONTENT:
            errors.append(form_error("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."))
        if fields.embeds and sum(_embed_size(e) for e in fields.embeds) > MAX_EMBED_TOTAL:
            errors.append(
                form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")
            )
        if errors:
            raise invalid_form_body(merge_errors(*errors))

    @staticmethod
    def _is_empty(content: str, embeds: list[Any], components: list[Any], attachments: list[Any], extras: bool) -> bool:
        return not (content or embeds or components or attachments or extras)

    def _new_message(
        self,
        channel: Channel,
        fields: MessageFields,
        *,
        interaction: Interaction | None = None,
        webhook: bool = False,
        kind: MessageType = MessageType.DEFAULT,
        flags: int | None = None,
    ) -> Message:
        self._check_fields(fields)
        content = fields.content or ""
        embeds = fields.embeds or []
        components = fields.components or []
        attachments = fields.attachments or []
        if self._is_empty(content, embeds, components, attachments, fields.extras):
            raise DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")
        message_flags = (fields.flags or 0) & SETTABLE_FLAGS if flags is None else flags
        if interaction is None:
            message_flags &= ~MESSAGE_FLAG_EPHEMERAL
        if fields.reference_id is not None and kind == MessageType.DEFAULT:
            kind = MessageType.REPLY
        message = Message(
            self.s,
            self.s.snowflakes.next(),
            channel,
            self.s.bot_user,
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=message_flags,
            type=kind,
            webhook_id=self.s.application.id if webhook else None,
            interaction=interaction,
            mention_ids=mention_ids(content),
            reference_id=fields.reference_id,
        )
        for attachment in attachments:
            attachment.ephemeral = message.ephemeral
        return message

    def _apply_edit(self, message: Message, fields: MessageFields) -> None:
        self._check_fields(fields)
        content = fields.content if fields.content_given and fields.content is not None else message.content
        embeds = fields.embeds if fields.embeds is not None else message.embeds
        components = fields.components if fields.components is not None else message.components
        attachments = fields.attachments if fields.attachments is not None else message.attachments
        if self._is_empty(content, embeds, components, attachments, False):
            raise DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")
        message.content = content
        message.embeds = embeds
        message.components = components
        message.attachments = attachments
        message.mention_ids = mention_ids(content)
        if fields.flags is not None:
            keep = message.flags & MESSAGE_FLAG_EPHEMERAL
            message.flags = (fields.flags & SETTABLE_FLAGS & ~MESSAGE_FLAG_EPHEMERAL) | keep
        message.flags &= ~MESSAGE_FLAG_LOADING
        message.edited_at = now()

    def _publish_edit(self, message: Message) -> None:
        self.s.record_message(message, verb="(edited) ")
        self.s.dispatch_message(message, "MESSAGE_UPDATE")
        self.s.notify()

    # ------------------------------------------------------ channel messages

    def _check_can_send(self, channel: Channel, fields: MessageFields) -> None:
        if isinstance(channel, DMChannel):
            recipient = channel.recipient
            if recipient is None or recipient.bot or not recipient.dms_open:
                raise DiscordError(403, CANNOT_DM, "Cannot send messages to this user")
            return
        assert isinstance(channel, GuildChannel | Thread)
        if channel.type == ChannelType.GUILD_CATEGORY:
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        perms = self._bot_perms(channel)
        if isinstance(channel, Thread):
            if (
                channel.private
                and self.s.bot_user.id not in channel.member_ids
                and not perms & Permission.MANAGE_THREADS
            ):
                raise missing_access()
            if not perms & Permission.SEND_MESSAGES_IN_THREADS:
                raise missing_permissions()
            if channel.archived:
                if channel.locked and not perms & Permission.MANAGE_THREADS:
                    raise DiscordError(400, THREAD_ARCHIVED, "Thread is locked")
                channel.archived = False
                channel.archived_at = now()
                self.s.channel_changed(channel)
        elif not perms & Permission.SEND_MESSAGES:
            raise missing_permissions()
        if fields.attachments and not perms & Permission.ATTACH_FILES:
            raise missing_permissions()

    async def create_message(self, req: RestRequest) -> Reply:
        """POST /channels/{id}/messages.

        ``nonce`` is kept on the message and echoed back. With ``enforce_nonce: true``, a nonce this
        author already used in this channel within the stand-in's nonce window returns that message
        (200, no new message, no MESSAGE_CREATE), as Discord does; the body is checked first, as a
        new message's would be.
        """
        channel = self._channel(req)
        body = req.json_object()
        fields = self._fields(body, req.files, None)
        self._check_can_send(channel, fields)
        if (
            fields.embeds
            and isinstance(channel, GuildChannel | Thread)
            and not self._bot_perms(channel) & Permission.EMBED_LINKS
        ):
            fields.embeds = []
        nonce = body.get("nonce")
        if not isinstance(nonce, int | str) or isinstance(nonce, bool):
            nonce = None
        self._check_fields(fields)
        if nonce is not None and body.get("enforce_nonce") is True:
            earlier = self.s.message_for_nonce(channel, self.s.bot_user, nonce)
            if earlier is not None:
                self.s.deduplicated.append(earlier)
                note = f"(nonce {nonce}: message {earlier.id} returned again)"
                self.s.record_transcript(self.s.bot_user.username, note, where=channel.label)
                return Reply(200, earlier.payload())
        message = self._new_message(channel, fields)
        message.nonce = nonce
        if isinstance(channel, Thread) and self.s.bot_user.id not in channel.member_ids:
            channel.member_ids.append(self.s.bot_user.id)
        self.s.add_message(message)
        self.s.remember_nonce(channel, message)
        return Reply(200, message.payload())

    async def get_messages(self, req: RestRequest) -> Reply:
        """GET /channels/{id}/messages (newest first; before/after/around, limit)."""
        channel = self._channel(req)
        if (
            isinstance(channel, GuildChannel | Thread)
            and not self._bot_perms(channel) & Permission.READ_MESSAGE_HISTORY
        ):
            return Reply(200, [])
        limit = max(1, min(100, req.query_int("limit", 50)))
        messages = channel.visible_messages()
        if "before" in req.query:
            before = req.query_int("before", 0)
            messages = [m for m in messages if m.id < before]
            messages = messages[-limit:]
        elif "after" in req.query:
            after = req.query_int("after", 0)
            messages = [m for m in messages if m.id > after][:limit]
        elif "around" in req.query:
            around = req.query_int("around", 0)
            index = next((i for i, m in enumerate(messages) if m.id >= around), len(messages))
            start = max(0, index - limit // 2)
            messages = messages[start : start + limit]
        else:
            messages = messages[-limit:]
        return Reply(200, [m.payload() for m in reversed(messages)])

    async def get_message(self, req: RestRequest) -> Reply:
        """GET /channels/{id}/messages/{id}."""
        channel = self._channel(req)
        return Reply(200, self._message(channel, req).payload())

    async def edit_message(self, req: RestRequest) -> Reply:
        """PATCH /channels/{id}/messages/{id} (the bot's own messages only)."""
        channel = self._channel(req)
        message = self._message(channel, req)
        if message.author.id != self.s.bot_user.id:
            raise DiscordError(403, CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user")
        self._apply_edit(message, self._fields(req.json_object(), req.files, message))
        self._publish_edit(message)
        return Reply(200, message.payload())

    async def delete_message(self, req: RestRequest) -> Reply:
        """DELETE /channels/{id}/messages/{id} (others' messages need Manage Messages)."""
        channel = self._channel(req)
        message = self._message(channel, req)
        if message.author.id != self.s.bot_user.id and (
            not isinstance(channel, GuildChannel | Thread) or not self._bot_perms(channel) & Permission.MANAGE_MESSAGES
        ):
            raise missing_permissions()
        self._delete(message)
        return NO_CONTENT

    def _delete(self, message: Message) -> None:
        message.deleted = True
        self.s.record_transcript(self.s.bot_user.username, f"deleted message {message.id}", where=message.channel.label)
        if not message.ephemeral:
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel.id)}
            guild = message.guild
            if guild is not None:
                data["guild_id"] = str(guild.id)
            intent = Intent.DIRECT_MESSAGES if guild is None else Intent.GUILD_MESSAGES
            self.s.gateway.dispatch_all("MESSAGE_DELETE", data, intent)
        self.s.notify()

    async def add_own_reaction(self, req: RestRequest) -> Reply:
        """PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me."""
        channel = self._channel(req)
        message = self._message(channel, req)
        emoji = unquote(req.params["emoji"])
        if isinstance(channel, GuildChannel | Thread) and not self._bot_perms(channel) & Permission.ADD_REACTIONS:
            raise missing_permissions()
        await self.s.add_reaction(self.s.bot_user, message, emoji)
        return NO_CONTENT

    async def typing(self, req: RestRequest) -> Reply:
        """POST /channels/{id}/typing."""
        self._channel(req)
        return NO_CONTENT

    # -------------------------------------------------------------- channels

    async def get_channel(self, req: RestRequest) -> Reply:
        """GET /channels/{id}."""
        return Reply(200, self._channel(req).payload())

    async def edit_channel(self, req: RestRequest) -> Reply:
        """PATCH /channels/{id}: rename, topic; for threads archive/lock/invitable."""
        channel = self._channel(req)
        body = req.json_object()
        if isinstance(channel, Thread):
            perms = self._bot_perms(channel)
            own = channel.owner_id == self.s.bot_user.id
            if not own and not perms & Permission.MANAGE_THREADS:
                raise missing_permissions()
            if ("locked" in body or "invitable" in body) and not perms & Permission.MANAGE_THREADS and not own:
                raise missing_permissions()
            if "name" in body:
                channel.name = str(body["name"])
            if "archived" in body:
                channel.archived = bool(body["archived"])
                channel.archived_at = now()
            if "locked" in body:
                channel.locked = bool(body["locked"])
            if "invitable" in body:
                channel.invitable = bool(body["invitable"])
            if "auto_archive_duration" in body:
                channel.auto_archive_duration = int(body["auto_archive_duration"])
            state = "archived" if channel.archived else "open"
            self.s.record_transcript(
                self.s.bot_user.username, f"updated thread {channel.name} ({state})", where=channel.label
            )
            self.s.channel_changed(channel)
            return Reply(200, channel.payload())
        if isinstance(channel, GuildChannel):
            if not self._bot_perms(channel) & Permission.MANAGE_CHANNELS:
                raise missing_permissions()
            if "name" in body:
                channel.name = str(body["name"])
            if "topic" in body:
                channel.topic = body["topic"]
            self.s.channel_changed(channel)
            return Reply(200, channel.payload())
        raise missing_permissions()

    # --------------------------------------------------------------- threads

    def _start_thread(self, parent: GuildChannel, body: dict[str, Any], *, kind: ChannelType, thread_id: int) -> Thread:
        perms = self._bot_perms(parent)
        needed = (
            Permission.CREATE_PRIVATE_THREADS
            if kind == ChannelType.PRIVATE_THREAD
            else Permission.CREATE_PUBLIC_THREADS
        )
        if not perms & needed:
            raise missing_permissions()
        name = str(body.get("name", "")).strip()
        if not name:
            raise invalid_form_body(form_error("name", "BASE_TYPE_REQUIRED", "This field is required"))
        guild = parent.the_guild
        thread = Thread(
            self.s,
            thread_id,
            kind,
            guild=guild,
            parent=parent,
            name=name,
            owner_id=self.s.bot_user.id,
            invitable=bool(body.get("invitable", True)),
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            member_ids=[self.s.bot_user.id],
        )
        guild.threads[thread.id] = thread
        self.s.register_channel(thread)
        self.s.threads_created.append(thread)
        kind_text = "private" if thread.private else "public"
        self.s.record_transcript(self.s.bot_user.username, f"created {kind_text} thread {name!r}", where=parent.label)
        data = {**thread.payload(), "newly_created": True, "member": thread.member_payload(self.s.bot_user.id)}
        self.s.guild_event("THREAD_CREATE", guild, data)
        return thread

    async def create_thread(self, req: RestRequest) -> Reply:
        """POST /channels/{id}/threads (without a message; discord.py's default type is private, 12)."""
        parent = self._channel(req)
        if not isinstance(parent, GuildChannel) or parent.type != ChannelType.GUILD_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        body = req.json_object()
        kind = ChannelType(int(body.get("type", ChannelType.PRIVATE_THREAD)))
        if kind not in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD):
            raise invalid_form_body(form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {11, 12}."))
        thread = self._start_thread(parent, body, kind=kind, thread_id=self.s.snowflakes.next())
        return Reply(201, thread.payload())

    async def create_thread_from_message(self, req: RestRequest) -> Reply:
        """POST /channels/{id}/messages/{id}/threads (public thread, id = message id)."""
        parent = self._channel(req)
        if not isinstance(parent, GuildChannel):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        message = self._message(parent, req)
        if message.id in self.s.channels:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        thread = self._start_thread(parent, req.json_object(), kind=ChannelType.PUBLIC_THREAD, thread_id=message.id)
        return Reply(201, thread.payload())

    def _thread(self, req: RestRequest) -> Thread:
        channel = self._channel(req)
        if not isinstance(channel, Thread):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        return channel

    async def add_thread_member(self, req: RestRequest) -> Reply:
        """PUT /channels/{thread}/thread-members/{user} (THREAD_MEMBERS_UPDATE)."""
        thread = self._thread(req)
        guild = thread.the_guild
        member = self._member(guild, req)
        if thread.archived:
            raise DiscordError(400, THREAD_ARCHIVED, "Thread is archived")
        perms = self._bot_perms(thread)
        adding_self = member.id == self.s.bot_user.id
        if not adding_self:
            if not perms & Permission.SEND_MESSAGES_IN_THREADS:
                raise missing_permissions()
            if thread.private and self.s.bot_user.id not in thread.member_ids and not perms & Permission.MANAGE_THREADS:
                raise missing_access()
        if member.id not in thread.member_ids:
            thread.member_ids.append(member.id)
            self.s.thread_member_adds.append(ThreadMemberAdd(thread, member.user, by_bot=True))
            self.s.record_transcript(
                self.s.bot_user.username, f"added {member.name} to thread {thread.name!r}", where=thread.label
            )
            added = {**thread.member_payload(member.id), "member": member.payload()}
            self.s.guild_event(
                "THREAD_MEMBERS_UPDATE",
                guild,
                {
                    "id": str(thread.id),
                    "guild_id": str(guild.id),
                    "member_count": min(len(thread.member_ids), 50),
                    "added_members": [added],
                },
            )
        return NO_CONTENT

    async def remove_thread_member(self, req: RestRequest) -> Reply:
        """DELETE /channels/{thread}/thread-members/{user}."""
        thread = self._thread(req)
        member = self._member(thread.the_guild, req)
        if member.id != self.s.bot_user.id and not self._bot_perms(thread) & Permission.MANAGE_THREADS:
            raise missing_permissions()
        if member.id in thread.member_ids:
            thread.member_ids.remove(member.id)
            self.s.guild_event(
                "THREAD_MEMBERS_UPDATE",
                thread.the_guild,
                {
                    "id": str(thread.id),
                    "guild_id": str(thread.the_guild.id),
                    "member_count": min(len(thread.member_ids), 50),
                    "removed_member_ids": [str(member.id)],
                },
            )
        return NO_CONTENT

    async def list_thread_members(self, req: RestRequest) -> Reply:
        """GET /channels/{thread}/thread-members."""
        thread = self._thread(req)
        return Reply(200, [thread.member_payload(uid) for uid in thread.member_ids])

    # ---------------------------------------------------------------- guilds

    async def get_guild(self, req: RestRequest) -> Reply:
        """GET /guilds/{id}."""
        guild = self._guild(req)
        data = guild.payload(include_all_members=False)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            data.pop(key, None)
        if req.query_flag("with_counts"):
            data["approximate_member_count"] = len(guild.members)
            data["approximate_presence_count"] = 0
        return Reply(200, data)

    async def get_guild_channels(self, req: RestRequest) -> Reply:
        """GET /guilds/{id}/channels."""
        guild = self._guild(req)
        return Reply(200, [c.payload() for c in guild.channels.values()])

    async def get_roles(self, req: RestRequest) -> Reply:
        """GET /guilds/{id}/roles."""
        guild = self._guild(req)
        return Reply(200, [r.payload() for r in guild.roles.values()])

    async def list_members(self, req: RestRequest) -> Reply:
        """GET /guilds/{id}/members (needs the members intent granted; by user id, ``after``, ``limit``)."""
        guild = self._guild(req)
        if not self.s.application.granted_intents & Intent.GUILD_MEMBERS:
            raise missing_access()
        limit = max(1, min(1000, req.query_int("limit", 1)))
        after = req.query_int("after", 0)
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return Reply(200, [m.payload() for m in members[:limit]])

    async def get_member(self, req: RestRequest) -> Reply:
        """GET /guilds/{id}/members/{user}."""
        guild = self._guild(req)
        return Reply(200, self._member(guild, req).payload())

    def _check_role_manageable(self, guild: Guild, role: Role) -> None:
        bot = guild.bot_member
        if not bot.base_permissions() & (Permission.MANAGE_ROLES | Permission.ADMINISTRATOR):
            raise missing_permissions()
        if role.managed or role.is_everyone or role.position >= bot.top_position():
            raise missing_permissions()

    def _role(self, guild: Guild, req: RestRequest) -> Role:
        role = guild.roles.get(req.snowflake("role_id"))
        if role is None:
            raise unknown("Role", UNKNOWN_ROLE)
        return role

    async def add_member_role(self, req: RestRequest) -> Reply:
        """PUT /guilds/{g}/members/{u}/roles/{r} (GUILD_MEMBER_UPDATE)."""
        guild = self._guild(req)
        member = self._member(guild, req)
        role = self._role(guild, req)
        self._check_role_manageable(guild, role)
        self.s.apply_role_change(member, role, added=True, by_bot=True)
        return NO_CONTENT

    async def remove_member_role(self, req: RestRequest) -> Reply:
        """DELETE /guilds/{g}/members/{u}/roles/{r} (GUILD_MEMBER_UPDATE)."""
        guild = self._guild(req)
        member = self._member(guild, req)
        role = self._role(guild, req)
        self._check_role_manageable(guild, role)
        self.s.apply_role_change(member, role, added=False, by_bot=True)
        return NO_CONTENT

    async def edit_member(self, req: RestRequest) -> Reply:
        """PATCH /guilds/{g}/members/{u}: ``roles`` (each change checked) and ``nick``."""
        guild = self._guild(req)
        member = self._member(guild, req)
        body = req.json_object()
        changes: list[tuple[Role, bool]] = []
        if "roles" in body:
            wanted: list[Role] = []
            for raw in body["roles"] or []:
                role = guild.roles.get(int(raw))
                if role is None:
                    raise unknown("Role", UNKNOWN_ROLE)
                wanted.append(role)
            for role in wanted:
                if role not in member.roles:
                    self._check_role_manageable(guild, role)
                    changes.append((role, True))
            for role in list(member.roles):
                if role not in wanted:
                    self._check_role_manageable(guild, role)
                    changes.append((role, False))
        if "nick" in body:
            if not guild.bot_member.base_permissions() & MANAGE_NICKNAMES:
                raise missing_permissions()
            if member.top_position() >= guild.bot_member.top_position() and member.id != self.s.bot_user.id:
                raise missing_permissions()
        for role, added in changes:
            self.s.apply_role_change(member, role, added=added, by_bot=True)
        if "nick" in body:
            member.nick = body["nick"] or None
            self.s.member_updated(member)
        return Reply(200, member.payload())

    # ----------------------------------------------------------- interactions

    def _interaction(self, req: RestRequest) -> Interaction:
        inter = self.s.interactions_by_id.get(req.snowflake("interaction_id"))
        if inter is None or inter.token != req.params["interaction_token"]:
            raise unknown("interaction", UNKNOWN_INTERACTION)
        return inter

    async def callback(self, req: RestRequest) -> Reply:
        """POST /interactions/{id}/{token}/callback: acknowledge once, within the deadline."""
        inter = self._interaction(req)
        if inter.acknowledged:
            raise DiscordError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        elapsed = asyncio.get_running_loop().time() - inter.created_mono
        if elapsed > self.s.ack_deadline:
            raise unknown("interaction", UNKNOWN_INTERACTION)
        body = req.json_object()
        try:
            kind = CallbackType(int(body.get("type", 0)))
        except ValueError:
            kind = None
        if kind is None or kind not in ALLOWED_CALLBACKS[inter.type]:
            raise invalid_form_body(
                form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
            )
        if kind in (CallbackType.UPDATE_MESSAGE, CallbackType.DEFERRED_UPDATE_MESSAGE) and inter.message is None:
            raise invalid_form_body(
                form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "This interaction has no message to update")
            )
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        resource: dict[str, Any] | None = None
        info: dict[str, Any] = {"id": str(inter.id), "type": int(inter.type)}
        command_kind = (
            MessageType.CHAT_INPUT_COMMAND if inter.type == InteractionType.APPLICATION_COMMAND else MessageType.REPLY
        )
        if kind == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            fields = self._fields(data, req.files, None)
            flags = (fields.flags or 0) & SETTABLE_FLAGS
            message = self._new_message(
                inter.channel, fields, interaction=inter, webhook=True, kind=command_kind, flags=flags
            )
            inter.original = message
            self.s.add_message(message)
            resource = {"type": int(kind), "message": message.payload()}
            info.update(
                response_message_id=str(message.id),
                response_message_loading=False,
                response_message_ephemeral=message.ephemeral,
            )
        elif kind == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = (int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL) | MESSAGE_FLAG_LOADING
            message = Message(
                self.s,
                self.s.snowflakes.next(),
                inter.channel,
                self.s.bot_user,
                flags=flags,
                type=command_kind,
                webhook_id=self.s.application.id,
                interaction=inter,
            )
            inter.original = message
            self.s.messages.append(message)
            inter.channel.messages.append(message)
            self.s.record_transcript(
                self.s.bot_user.username, "(thinking…)", where=inter.channel.label, ephemeral=message.ephemeral
            )
            self.s.dispatch_message(message)
            info.update(
                response_message_id=str(message.id),
                response_message_loading=True,
                response_message_ephemeral=message.ephemeral,
            )
        elif kind == CallbackType.DEFERRED_UPDATE_MESSAGE:
            inter.original = inter.message
        elif kind == CallbackType.UPDATE_MESSAGE:
            target = inter.message
            assert target is not None
            self._apply_edit(target, self._fields(data, req.files, target))
            inter.original = target
            inter.original_edited = True
            self._publish_edit(target)
            resource = {"type": int(kind), "message": target.payload()}
            info.update(
                response_message_id=str(target.id),
                response_message_loading=False,
                response_message_ephemeral=target.ephemeral,
            )
        elif kind == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            inter.choices = list(data.get("choices") or [])
        elif kind == CallbackType.MODAL:
            inter.modal = data
            self.s.record_transcript(
                self.s.bot_user.username, f"(opened modal {data.get('title', '')!r})", where=inter.channel.label
            )
        inter.callback_type = kind
        inter.acked_mono = asyncio.get_running_loop().time()
        inter.update_answered()
        if not req.query_flag("with_response"):
            return NO_CONTENT
        out: dict[str, Any] = {"interaction": info}
        if resource is not None:
            out["resource"] = resource
        return Reply(200, out)

    def _webhook_interaction(self, req: RestRequest) -> Interaction:
        if req.snowflake("webhook_id") != self.s.application.id:
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        inter = self.s.interaction_for_token(req.params["webhook_token"])
        if inter is None or not inter.acknowledged or inter.acked_mono is None:
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        if asyncio.get_running_loop().time() - inter.acked_mono > self.s.followup_window:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return inter

    async def execute_webhook(self, req: RestRequest) -> Reply:
        """POST /webhooks/{app}/{token}: an interaction follow-up (the first after a defer edits it)."""
        inter = self._webhook_interaction(req)
        body = req.json_object()
        original = inter.original
        if (
            inter.callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and not inter.original_edited
        ):
            self._apply_edit(original, self._fields(body, req.files, original))
            inter.original_edited = True
            self._publish_edit(original)
            message = original
        else:
            fields = self._fields(body, req.files, None)
            flags = (fields.flags or 0) & SETTABLE_FLAGS
            message = self._new_message(inter.channel, fields, interaction=inter, webhook=True, flags=flags)
            inter.followups.append(message)
            self.s.add_message(message)
        inter.update_answered()
        if not req.query_flag("wait"):
            return NO_CONTENT
        return Reply(200, message.payload())

    def _webhook_message(self, inter: Interaction, req: RestRequest) -> Message:
        raw = req.params["message_id"]
        if raw == "@original":
            if inter.original is None or inter.original.deleted:
                raise unknown("Message", UNKNOWN_MESSAGE)
            return inter.original
        for message in inter.all_messages():
            if str(message.id) == raw and not message.deleted:
                return message
        raise unknown("Message", UNKNOWN_MESSAGE)

    async def get_webhook_message(self, req: RestRequest) -> Reply:
        """GET /webhooks/{app}/{token}/messages/{id|@original}."""
        inter = self._webhook_interaction(req)
        return Reply(200, self._webhook_message(inter, req).payload())

    async def edit_webhook_message(self, req: RestRequest) -> Reply:
        """PATCH /webhooks/{app}/{token}/messages/{id|@original}."""
        inter = self._webhook_interaction(req)
        message = self._webhook_message(inter, req)
        self._apply_edit(message, self._fields(req.json_object(), req.files, message))
        if message is inter.original:
            inter.original_edited = True
        self._publish_edit(message)
        inter.update_answered()
        return Reply(200, message.payload())

    async def delete_webhook_message(self, req: RestRequest) -> Reply:
        """DELETE /webhooks/{app}/{token}/messages/{id|@original}."""
        inter = self._webhook_interaction(req)
        message = self._webhook_message(inter, req)
        self._delete(message)
        if message is inter.original:
            inter.original_edited = True
        inter.update_answered()
        return NO_CONTENT

"""Discord's gateway payloads for a data set's server: GUILD_CREATE, members, MESSAGE_CREATE and
INTERACTION_CREATE, shaped as Discord sends them (API v10), as JSON text frames or dicts.

The shapes follow the local stand-in's (``bot/standin/model.py``), which are validated against
Discord's documentation by its tests.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from bench.data import BOT_ROLE_ID, BOT_USER_ID, CHANNELS, GUILD_ID, MODERATOR_ROLE_ID, NOW, Plan

__all__ = [
    "GUILD_PERMISSIONS",
    "Snowflakes",
    "bot_user",
    "frame",
    "guild_create",
    "interaction_create",
    "member",
    "member_chunks",
    "message_create",
    "user",
]

GUILD_PERMISSIONS = 2_248_473_465_835_073
"""What members may do in the channels (view, send, read history, use commands, …)."""
BOT_PERMISSIONS = 360_777_370_624 | 2_147_483_648


def _iso(seconds: int | float | datetime) -> str:
    moment = seconds if isinstance(seconds, datetime) else datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat()


class Snowflakes:
    """Increasing snowflakes (message and interaction ids) from :data:`NOW`."""

    def __init__(self) -> None:
        base = (int(NOW.timestamp() * 1000) - 1_420_070_400_000) << 22
        self._counter = itertools.count(base)

    def next(self) -> int:
        """The next id."""
        return next(self._counter)


def user(uid: int, *, bot: bool = False) -> dict[str, Any]:
    """Discord's user object."""
    return {
        "id": str(uid),
        "username": f"member{uid % 1_000_000}" if not bot else "soberpeers",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "bot": bot,
    }


def bot_user() -> dict[str, Any]:
    """The bot's own user."""
    return {**user(BOT_USER_ID, bot=True), "verified": True, "mfa_enabled": False, "email": None, "flags": 0}


def _roles_of(p: Plan, uid: int) -> list[str]:
    role = p.group_of.get(uid)
    return [] if role is None else [str(role)]


def member(p: Plan, uid: int, *, with_user: bool = True) -> dict[str, Any]:
    """Discord's guild member object for a member of the data set."""
    out: dict[str, Any] = {
        "roles": _roles_of(p, uid),
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": _iso(p.joined_at[uid]),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_user:
        out["user"] = user(uid)
    return out


def _role(role_id: int, name: str, position: int, permissions: int = 0, *, managed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }
    if managed:
        out["tags"] = {"bot_id": str(BOT_USER_ID)}
    return out


def _channel(name: str, position: int) -> dict[str, Any]:
    return {
        "id": str(CHANNELS[name]),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def guild_create(p: Plan) -> dict[str, Any]:
    """GUILD_CREATE ``d`` for a large server: its roles and channels, and only the bot as a member
    (the others come in chunks, as from Discord)."""
    roles = [
        _role(GUILD_ID, "@everyone", 0, GUILD_PERMISSIONS),
        _role(BOT_ROLE_ID, "SoberPeers", 100, BOT_PERMISSIONS, managed=True),
        _role(MODERATOR_ROLE_ID, "Moderators", 90, 32),
    ]
    roles += [_role(role, f"House {index + 1}", 1 + index) for index, role in enumerate(p.group_roles)]
    bot_member = {**member(p, p.user_ids[0]), "user": bot_user(), "roles": [str(BOT_ROLE_ID)]}
    bot_member["joined_at"] = _iso(NOW.timestamp() - 400 * 86_400)
    return {
        "id": str(GUILD_ID),
        "name": "Recovery Network",
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(p.user_ids[0]),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "features": ["COMMUNITY"],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "max_members": 500_000,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "joined_at": bot_member["joined_at"],
        "large": True,
        "unavailable": False,
        "member_count": len(p.user_ids) + 1,
        "voice_states": [],
        "members": [bot_member],
        "channels": [_channel(name, index) for index, name in enumerate(CHANNELS)],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def member_chunks(p: Plan, size: int = 1000, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """GUILD_MEMBERS_CHUNK ``d`` payloads for the server's members (the first ``limit`` of them)."""
    ids = p.user_ids if limit is None else p.user_ids[:limit]
    count = max(1, -(-len(ids) // size))
    for index in range(count):
        yield {
            "guild_id": str(GUILD_ID),
            "members": [member(p, uid) for uid in ids[index * size : (index + 1) * size]],
            "chunk_index": index,
            "chunk_count": count,
        }


def message_create(p: Plan, uid: int, message_id: int, channel: str = "general") -> dict[str, Any]:
    """MESSAGE_CREATE ``d`` of a member's message. No content: the bot has no message content
    intent, so Discord sends it empty."""
    return {
        "id": str(message_id),
        "channel_id": str(CHANNELS[channel]),
        "guild_id": str(GUILD_ID),
        "author": user(uid),
        "member": member(p, uid, with_user=False),
        "content": "",
        "timestamp": _iso(NOW),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
        "nonce": str(message_id),
    }


def frame(event: str, data: dict[str, Any], seq: int) -> str:
    """A gateway dispatch frame as the JSON text Discord sends."""
    return json.dumps({"op": 0, "t": event, "s": seq, "d": data}, separators=(",", ":"))


def option(name: str, value: object) -> dict[str, Any]:
    """An application command option value (type from the Python value)."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    return {"name": name, "type": kind, "value": value}


def interaction_create(
    p: Plan,
    uid: int,
    interaction_id: int,
    command: str,
    options: Sequence[dict[str, Any]] = (),
    *,
    command_id: int = 1_000_000_000_000_001_000,
    channel: str = "general",
) -> dict[str, Any]:
    """INTERACTION_CREATE ``d`` of a member running ``command`` ("checkin today") in the server."""
    names = command.split()
    data: dict[str, Any] = {"id": str(command_id), "name": names[0], "type": 1}
    if len(names) > 1:
        data["options"] = [{"type": 1, "name": names[1], "options": list(options)}]
    elif options:
        data["options"] = list(options)
    guild_channel = {**_channel(channel, 0), "permissions": str(GUILD_PERMISSIONS)}
    return {
        "id": str(interaction_id),
        "application_id": str(BOT_USER_ID),
        "type": 2,
        "data": data,
        "guild_id": str(GUILD_ID),
        "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": ["COMMUNITY"]},
        "guild_locale": "en-US",
        "channel_id": str(CHANNELS[channel]),
        "channel": guild_channel,
        "member": {**member(p, uid), "permissions": str(GUILD_PERMISSIONS)},
        "token": f"aW50ZXJhY3Rpb24.bench.{interaction_id:x}",
        "version": 1,
        "locale": "en-US",
        "app_permissions": str(BOT_PERMISSIONS),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10_485_760,
    }

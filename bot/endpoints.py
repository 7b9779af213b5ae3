"""Point discord.py at a Discord-compatible API (Discord itself, or the local stand-in).

discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE`` and,
when not auto-sharded, connects straight to ``DiscordWebSocket.DEFAULT_GATEWAY``. Both are
process-wide, so they are set once, before the client logs in.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


def apply_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Direct discord.py's REST and gateway traffic; ``None`` restores Discord's own."""
    discord.http.Route.BASE = (api_base or DISCORD_API_BASE).rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url or DISCORD_GATEWAY_URL)

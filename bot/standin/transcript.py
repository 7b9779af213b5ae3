"""A readable log of who did what and what the bot answered (the offline demo prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.standin.snowflake import now

MAX_TEXT = 300


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of the transcript."""

    actor: str
    text: str
    where: str = ""
    ephemeral: bool = False
    at: datetime = field(default_factory=now)

    def render(self) -> str:
        """``[#general] alice: hello`` (ephemeral answers are marked)."""
        where = f"[{self.where}] " if self.where else ""
        mark = " (ephemeral)" if self.ephemeral else ""
        return f"{where}{self.actor}{mark}: {self.text}"


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """Cut ``text`` to ``limit`` characters."""
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_message(
    content: str,
    embeds: list[dict[str, Any]],
    components: list[dict[str, Any]],
    files: list[tuple[str, int]],
) -> str:
    """One line describing a message: text, embeds, files, buttons."""
    parts: list[str] = []
    if content:
        parts.append(content)
    for embed in embeds:
        bits = [str(embed[k]) for k in ("title", "description") if embed.get(k)]
        for fld in embed.get("fields", []) or []:
            bits.append(f"{fld.get('name', '')}={fld.get('value', '')}")
        parts.append("[embed: " + " | ".join(bits) + "]")
    for name, size in files:
        parts.append(f"[file {name} ({size} bytes)]")
    labels = _component_labels(components)
    if labels:
        parts.append("[" + " | ".join(labels) + "]")
    return shorten(" ".join(parts) if parts else "(empty)")


def _component_labels(items: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in items:
        kind = item.get("type")
        if kind == 2:
            out.append(f"button {item.get('label') or item.get('custom_id') or item.get('url')}")
        elif kind in (3, 5, 6, 7, 8):
            out.append(f"select {item.get('placeholder') or item.get('custom_id')}")
        elif kind == 10:
            out.append(f"text {shorten(str(item.get('content', '')), 80)}")
        sub = item.get("components")
        if isinstance(sub, list):
            out.extend(_component_labels(sub))
        accessory = item.get("accessory")
        if isinstance(accessory, dict):
            out.extend(_component_labels([accessory]))
    return out

"""Errors that carry a message meant for the member, raised by services and cogs alike."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Something the member can fix or should know; its message is shown to them, ephemerally."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

"""Discord's error answers: ``{"code": N, "message": "..."}`` (+ ``errors`` for form errors)."""

from __future__ import annotations

from typing import Any


class DiscordError(Exception):
    """Raised inside a route handler; turned into Discord's JSON error answer."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body Discord answers with."""
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def form_error(field_path: str, code: str, message: str) -> dict[str, Any]:
    """Nest one form complaint the way Discord does: ``{"a": {"b": {"_errors": [...]}}}``."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        node = {part: node}
    return node


def merge_errors(*trees: dict[str, Any]) -> dict[str, Any]:
    """Merge nested error trees."""
    out: dict[str, Any] = {}
    for tree in trees:
        for key, value in tree.items():
            if key == "_errors":
                out.setdefault("_errors", []).extend(value)
            elif isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_errors(out[key], value)
            else:
                out[key] = value
    return out


def invalid_form_body(errors: dict[str, Any]) -> DiscordError:
    """400 code 50035 Invalid Form Body."""
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def unknown(what: str, code: int) -> DiscordError:
    """404 Unknown <what>."""
    return DiscordError(404, code, f"Unknown {what}")


UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_COMMAND = 10063
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
CANNOT_EDIT_OTHERS_MESSAGE = 50005
EMPTY_MESSAGE = 50006
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035
THREAD_ARCHIVED = 50083


def missing_permissions() -> DiscordError:
    """403 code 50013."""
    return DiscordError(403, MISSING_PERMISSIONS, "Missing Permissions")


def missing_access() -> DiscordError:
    """403 code 50001."""
    return DiscordError(403, MISSING_ACCESS, "Missing Access")

"""REST plumbing: route table, request/response records, failure injection rules."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from multidict import MultiMapping

from bot.standin.snowflake import now


@dataclass(frozen=True)
class UploadedFile:
    """One ``files[n]`` part of a multipart request."""

    field_name: str
    filename: str
    data: bytes


@dataclass
class RestRequest:
    """A parsed REST request as route handlers see it."""

    method: str
    path: str
    """Relative to ``/api/v10``, without the query string."""
    params: dict[str, str]
    query: MultiMapping[str]
    body: Any = None
    """The JSON body (for multipart: the parsed ``payload_json``), or ``None``."""
    files: list[UploadedFile] = field(default_factory=list)
    authorized: bool = False

    def query_int(self, name: str, default: int) -> int:
        """An integer query parameter."""
        raw = self.query.get(name)
        return default if raw is None else int(raw)

    def query_flag(self, name: str) -> bool:
        """A boolean query parameter (``1``/``true``)."""
        return str(self.query.get(name, "")).lower() in ("1", "true")

    def snowflake(self, name: str) -> int:
        """A path parameter as an int (``0`` if not a number: then nothing matches)."""
        raw = self.params.get(name, "")
        return int(raw) if raw.isdigit() else 0

    def json_object(self) -> dict[str, Any]:
        """The body as an object (``{}`` if none)."""
        return self.body if isinstance(self.body, dict) else {}


@dataclass
class Reply:
    """A route handler's answer."""

    status: int = 200
    body: Any = None

    def encode(self) -> bytes | None:
        """JSON bytes, or ``None`` for 204."""
        if self.status == 204:
            return None
        return json.dumps(self.body, separators=(",", ":")).encode()


NO_CONTENT = Reply(204)

Handler = Callable[[RestRequest], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    """One REST route: method + template like ``/channels/{channel_id}/messages``."""

    method: str
    template: str
    handler: Handler
    auth: bool = True

    @property
    def segments(self) -> list[str]:
        """Template segments."""
        return self.template.strip("/").split("/")

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """Path parameters if this route matches."""
        if method != self.method:
            return None
        return match_template(self.segments, segments)


def match_template(template: list[str], segments: list[str]) -> dict[str, str] | None:
    """Match path segments against template segments (``{name}`` matches any one segment)."""
    if len(template) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(template, segments, strict=True):
        if want.startswith("{") and want.endswith("}"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


class Router:
    """Routes ordered so that, where two templates fit, the literal segment wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        """Register a route."""
        self.routes.append(Route(method, template, handler, auth))
        self.routes.sort(key=lambda r: [1 if s.startswith("{") else 0 for s in r.segments])

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request, with its parameters."""
        segments = path.strip("/").split("/")
        for route in self.routes:
            params = route.match(method, segments)
            if params is not None:
                return route, params
        return None


@dataclass
class FailureRule:
    """Answer the next ``times`` requests matching (method, path pattern) with an error.

    A *lost* rule (``lost=True``) lets the request be carried out first and only replaces a
    successful answer: with the error, or, with ``drop=True``, by closing the connection without
    any answer (the work is done on Discord's side; the bot hears a failure).
    """

    method: str
    pattern: str
    status: int
    times: int = 1
    retry_after: float = 0.05
    is_global: bool = False
    body: dict[str, Any] | None = None
    hits: int = 0
    lost: bool = False
    drop: bool = False

    def matches(self, method: str, path: str) -> bool:
        """``pattern`` is a path or template (``{x}`` matches any segment); ``*`` method matches all."""
        if self.method not in ("*", method):
            return False
        return match_template(self.pattern.strip("/").split("/"), path.strip("/").split("/")) is not None

    def reply(self) -> tuple[Reply, dict[str, str]]:
        """The error answer and its extra headers."""
        headers: dict[str, str] = {}
        if self.status == 429:
            body = self.body or {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
            }
            headers["Retry-After"] = str(max(1, round(self.retry_after)))
            headers["Via"] = "1.1 google"
            headers["X-RateLimit-Scope"] = "global" if self.is_global else "user"
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
            return Reply(429, body), headers
        body = self.body or {"message": f"{self.status}: Server Error", "code": 0}
        return Reply(self.status, body), headers


@dataclass
class RequestRecord:
    """A REST request the stand-in answered."""

    method: str
    path: str
    query: str
    body: Any
    status: int
    response: Any
    at: datetime = field(default_factory=now)
    lost: bool = False
    """The request was carried out, but its answer was replaced by ``status``/``response`` (a lost
    response); ``status`` 0 and no ``response``: the connection was dropped without an answer."""

    @property
    def error_code(self) -> int | None:
        """Discord's error ``code`` if the answer was an error body."""
        if isinstance(self.response, dict) and self.status >= 400:
            code = self.response.get("code")
            return int(code) if isinstance(code, int) else None
        return None

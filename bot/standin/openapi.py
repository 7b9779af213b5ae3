"""Validate the bot's REST request bodies against Discord's own OpenAPI description.

The local Discord stand-in calls :func:`get_validator` and, for every request the real
discord.py client sends, :meth:`OpenAPIValidator.validate` with the JSON body (for a
``multipart/form-data`` request: the already-parsed ``payload_json`` part). Discord
publishes its HTTP API as an OpenAPI 3.1 document whose schemas are JSON Schema 2020-12;
a copy is vendored next to this module in ``discord_api_spec/openapi.json``.

The description is stricter than Discord itself in a handful of places that discord.py
2.7.1 relies on. Those, and only those, are tolerated; see ``_ALLOWANCES`` below.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["OpenAPIValidator", "get_validator"]

log = logging.getLogger(__name__)

#: The vendored description (shipped as package data, see pyproject.toml).
SPEC_PATH: Final[Path] = Path(__file__).resolve().parent / "discord_api_spec" / "openapi.json"

#: The URI the whole description is registered under, so that ``#/components/...``
#: references inside it resolve. Never fetched: the registry has no retriever.
_SPEC_URI: Final = "urn:discord:openapi"

#: The prefix of the REST base URL; tolerated in front of a path for convenience.
_API_PREFIX: Final = "/api/v10"

_HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

#: A reported problem quotes the offending value; longer quotes are cut to this many characters.
_MAX_QUOTE: Final = 40

#: At most this many problems are listed for one body (then a "… and N more" line).
_MAX_PROBLEMS: Final = 20

#: ... and each problem's message to this many.
_MAX_MESSAGE: Final = 160

_ROOT: Final = "(root)"


# --------------------------------------------------------------------------------------
# Allowances: what discord.py 2.7.1 sends, real Discord accepts, and the description
# rejects. Before validation each rewrites the value at one exact JSON location of one
# exact operation into the shape the description wants, in a copy of the body (copy on
# write: only the containers on the way to a rewritten value are copied; the caller's body
# is never changed). Nothing else is relaxed: the same wrong value anywhere else is still
# reported.
# --------------------------------------------------------------------------------------

#: A location inside a body: object keys, and ``"*"`` for "every item of this list".
_Pointer = tuple[str, ...]
_Fix = Callable[[object], object]


def _snowflake_int_to_str(value: object) -> object:
    """A snowflake sent as a JSON integer becomes the decimal string the description wants."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


def _digit_str_to_int(value: object) -> object:
    """A permission bit set sent as a string of ASCII digits becomes the integer the description wants."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def _forward_reference_to_default(value: object) -> object:
    """Message reference type 1 (FORWARD) is validated as type 0 (DEFAULT); the object has the same shape."""
    if value == 1 and not isinstance(value, bool):
        return 0
    return value


#: Operations whose body carries message fields (content, embeds, allowed_mentions,
#: attachments, ...), with the location of those fields inside the body.
_MESSAGE_OPERATIONS: Final[Mapping[tuple[str, str], _Pointer]] = {
    # channel.send() / message.edit()
    ("post", "/channels/{channel_id}/messages"): (),
    ("patch", "/channels/{channel_id}/messages/{message_id}"): (),
    # webhook.send() and interaction follow-ups; edits of those and of the original response
    ("post", "/webhooks/{webhook_id}/{webhook_token}"): (),
    ("patch", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"): (),
    ("patch", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"): (),
    # interaction.response.send_message() / edit_message(): {"type": 4, "data": {...}}
    ("post", "/interactions/{interaction_id}/{interaction_token}/callback"): ("data",),
    # forum_channel.create_thread(): {"name": ..., "message": {...}}
    ("post", "/channels/{channel_id}/threads"): ("message",),
}


def _build_allowances() -> dict[tuple[str, str], tuple[tuple[_Pointer, _Fix], ...]]:
    table: dict[tuple[str, str], list[tuple[_Pointer, _Fix]]] = {}

    def allow(method: str, template: str, pointer: _Pointer, fix: _Fix) -> None:
        table.setdefault((method, template), []).append((pointer, fix))

    # 1. Snowflakes as JSON integers where the description wants strings.
    #    user.create_dm() sends {"recipient_id": <int>} (http.py start_private_message).
    allow("post", "/users/@me/channels", ("recipient_id",), _snowflake_int_to_str)
    for (method, template), at in _MESSAGE_OPERATIONS.items():
        #    Uploads are announced as {"id": <file index>, "filename": ...} (File.to_dict) and
        #    kept attachments as Attachment.to_dict(), both with an integer id.
        allow(method, template, (*at, "attachments", "*", "id"), _snowflake_int_to_str)
        #    AllowedMentions.to_dict() lists user and role ids as integers.
        allow(method, template, (*at, "allowed_mentions", "users", "*"), _snowflake_int_to_str)
        allow(method, template, (*at, "allowed_mentions", "roles", "*"), _snowflake_int_to_str)

    # 2. Permissions as strings of digits where the description says integer.
    #    guild.create_role() sends str(permissions.value) (guild.py).
    allow("post", "/guilds/{guild_id}/roles", ("permissions",), _digit_str_to_int)
    #    Overwrites copied from a category (sync_permissions / clone) go through
    #    _Overwrites._asdict(), which sends allow/deny as strings (abc.py).
    for method, template in (("post", "/guilds/{guild_id}/channels"), ("patch", "/channels/{channel_id}")):
        for key in ("allow", "deny"):
            allow(method, template, ("permission_overwrites", "*", key), _digit_str_to_int)

    # 3. Message references of type 1 (FORWARD, message.forward()); the description only
    #    lists type 0 (DEFAULT, a reply).
    allow("post", "/channels/{channel_id}/messages", ("message_reference", "type"), _forward_reference_to_default)

    return {key: tuple(fixes) for key, fixes in table.items()}


_ALLOWANCES: Final = _build_allowances()


def _rewrite(node: object, pointer: _Pointer, fix: _Fix) -> object:
    """``node`` with ``fix`` applied at ``pointer``; containers on the way are copied, never mutated."""
    if not pointer:
        return fix(node)
    head, rest = pointer[0], pointer[1:]
    if head == "*":
        if not isinstance(node, list):
            return node
        items = [_rewrite(item, rest, fix) for item in node]
        return items if any(new is not old for new, old in zip(items, node, strict=True)) else node
    if not isinstance(node, dict) or head not in node:
        return node
    new = _rewrite(node[head], rest, fix)
    if new is node[head]:
        return node
    copy = dict(node)
    copy[head] = new
    return copy


def _apply_allowances(method: str, template: str, body: object) -> object:
    for pointer, fix in _ALLOWANCES.get((method, template), ()):
        body = _rewrite(body, pointer, fix)
    return body


# --------------------------------------------------------------------------------------
# Error reporting
# --------------------------------------------------------------------------------------

_UNIONS: Final = frozenset({"anyOf", "oneOf"})


def _rank(error: ValidationError) -> tuple[int, bool, bool]:
    """Sort key, most telling first: deeper in the body, then not a bare type clash, then not a union."""
    return (-len(error.absolute_path), error.validator == "type", error.validator in _UNIONS)


def _location(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or _ROOT


def _shorten(text: str) -> str:
    if len(text) <= _MAX_QUOTE:
        return text
    if text[0] in "'\"" and text[-1] == text[0]:
        return f"{text[: _MAX_QUOTE - 2]}…{text[0]}"
    return f"{text[: _MAX_QUOTE - 1]}…"


def _quote(value: object) -> str:
    return _shorten(repr(value))


#: Size limits, to be spelt out: jsonschema only says "... is too long".
_LIMITS: Final = {
    "maxLength": "at most {} characters",
    "minLength": "at least {} characters",
    "maxItems": "at most {} items",
    "minItems": "at least {} items",
    "maxProperties": "at most {} properties",
    "minProperties": "at least {} properties",
}


def _describe(error: ValidationError) -> str:
    """``"<json path>: <message>"``, the quoted value cut short and a size limit spelt out."""
    if error.validator == "oneOf" and not error.context:
        # jsonschema would quote every matching alternative's whole schema.
        return f"{_location(error)}: {_quote(error.instance)} is valid under more than one alternative"
    message: str = error.message
    if error.validator == "const":
        # jsonschema says "0 was expected", which reads as if 0 had been sent.
        message = f"{_quote(error.instance)} is not one of [{error.validator_value!r}]"
    quoted = repr(error.instance)
    if len(quoted) > _MAX_QUOTE and quoted in message:
        message = message.replace(quoted, _shorten(quoted))
    limit = _LIMITS.get(error.validator)
    if limit is not None:
        message = f"{message} ({limit.format(error.validator_value)})"
    if len(message) > _MAX_MESSAGE:
        message = f"{message[: _MAX_MESSAGE - 1]}…"
    return f"{_location(error)}: {message}"


_CHOICES: Final = frozenset({"enum", "const"})


@dataclass(frozen=True, slots=True)
class _Branch:
    """How one alternative of an anyOf/oneOf failed."""

    #: Its errors, each already descended into nested unions.
    leaves: tuple[ValidationError, ...]
    #: enum/const failures on a direct property, e.g. ``type: 4 is not one of [8]``:
    #: the body is plainly meant to be a different alternative.
    mismatches: tuple[ValidationError, ...]
    #: How well it fits, lower is better.
    score: tuple[int, tuple[int, bool, bool], int]


def _branches(error: ValidationError) -> list[_Branch]:
    """The failed alternatives of an anyOf/oneOf error, best fitting first."""
    grouped: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        grouped.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(error.absolute_path)
    branches = []
    for subs in grouped.values():
        leaves = tuple(leaf for sub in subs for leaf in _leaves(sub))
        mismatches = tuple(sub for sub in subs if sub.validator in _CHOICES and len(sub.absolute_path) == depth + 1)
        score = (len(mismatches), min(_rank(leaf) for leaf in leaves), len(leaves))
        branches.append(_Branch(leaves, mismatches, score))
    return sorted(branches, key=lambda branch: branch.score)


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors to report for ``error``: for an anyOf/oneOf failure, those of the alternative
    that fits best (the body's evident intent); ``[error]`` if no alternative stands out."""
    if not error.context:
        return [error]
    branches = _branches(error)
    if len(branches) == 1 or branches[0].score != branches[1].score:
        return list(branches[0].leaves)
    return [error]


def _union_of_choices(errors: Iterable[ValidationError]) -> Sequence[object]:
    """Every value the enum/const ``errors`` would have accepted, once each (sorted if numbers)."""
    allowed: list[object] = []
    for error in errors:
        values = error.validator_value if error.validator == "enum" else [error.validator_value]
        allowed.extend(value for value in values if value not in allowed)
    numbers = [value for value in allowed if isinstance(value, int) and not isinstance(value, bool)]
    return sorted(numbers) if len(numbers) == len(allowed) else allowed


def _summarise(error: ValidationError) -> str:
    """One short line for an error, at most one level of union deep."""
    if not error.context:
        return _describe(error)
    # A union none of whose alternatives stands out. If they all trip over the same value,
    # say what they would have accepted there rather than quoting the whole union.
    branches = _branches(error)
    firsts = [min(branch.leaves, key=_rank) for branch in branches]
    if len({tuple(first.absolute_path) for first in firsts}) == 1:
        where, value = _location(firsts[0]), _quote(firsts[0].instance)
        kinds = {first.validator for first in firsts}
        if kinds <= _CHOICES:
            return f"{where}: {value} is not one of {_shorten(repr(_union_of_choices(firsts)))}"
        if kinds == {"type"}:
            types: list[str] = []
            for first in firsts:
                wanted = first.validator_value
                for name in wanted if isinstance(wanted, list) else [wanted]:
                    if name not in types:
                        types.append(str(name))
            return f"{where}: {value} is not of type {', '.join(map(repr, types))}"
    mismatches = [branch.mismatches[0] for branch in branches if branch.mismatches]
    if len(mismatches) == len(branches) and len({tuple(m.absolute_path) for m in mismatches}) == 1:
        # e.g. an unknown interaction callback type: every alternative rejects its "type".
        where, value = _location(mismatches[0]), _quote(mismatches[0].instance)
        return f"{where}: {value} is not one of {_shorten(repr(_union_of_choices(mismatches)))}"
    return _describe(error)


# --------------------------------------------------------------------------------------
# The validator
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    #: The template's segments; ``None`` marks a ``{param}`` segment.
    literals: tuple[str | None, ...]
    #: Parameter names by segment index.
    params: tuple[tuple[int, str], ...]

    @classmethod
    def parse(cls, template: str) -> _Route:
        literals: list[str | None] = []
        params: list[tuple[int, str]] = []
        for index, segment in enumerate(template.split("/")):
            if segment.startswith("{") and segment.endswith("}"):
                literals.append(None)
                params.append((index, segment[1:-1]))
            else:
                literals.append(segment)
        return cls(template, tuple(literals), tuple(params))

    def precedence(self) -> tuple[int, ...]:
        """Sort key: at the first segment where two templates differ, the literal one comes first."""
        return tuple(0 if literal is not None else 1 for literal in self.literals)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        for literal, segment in zip(self.literals, segments, strict=True):
            if literal is not None and literal != segment:
                return None
        values = {name: segments[index] for index, name in self.params}
        if not all(values.values()):
            return None
        return values


class OpenAPIValidator:
    """Matches request paths to the description's operations and validates their JSON bodies."""

    def __init__(self, spec_path: Path | None = None) -> None:
        path = SPEC_PATH if spec_path is None else spec_path
        with path.open(encoding="utf-8") as handle:
            spec: dict[str, Any] = json.load(handle)
        self._spec = spec
        self._registry: Any = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(spec))
        # (method, number of segments) -> candidate routes, most literal first.
        self._routes: dict[tuple[str, int], list[_Route]] = {}
        # (template, method) -> the operation's JSON body schema, or None if it has none.
        self._schemas: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        paths: Mapping[str, Any] = spec.get("paths", {})
        for template, item in paths.items():
            route = _Route.parse(template)
            for method, operation in item.items():
                if method not in _HTTP_METHODS or not isinstance(operation, dict):
                    continue
                self._routes.setdefault((method, len(route.literals)), []).append(route)
                self._schemas[(template, method)] = _request_schema(operation)
        for routes in self._routes.values():
            routes.sort(key=_Route.precedence)
        # Compiled validators by (template, method), built on first use.
        self._validators: dict[tuple[str, str], Any] = {}
        # Component schemas with their references inlined, shared by all compiled validators.
        self._inlined: dict[str, object] = {}
        self._lock = threading.Lock()
        log.debug("Loaded %s operations from %s", len(self._schemas), path)

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """The spec's path template (e.g. '/channels/{channel_id}/messages') and the path parameters,
        for a request path relative to /api/v10 (e.g. '/channels/123/messages'); None if the spec has
        no such operation for that method.

        A query string is ignored, a leading '/api/v10' tolerated, and percent-escapes decoded per
        segment. Where several templates fit, the one with a literal segment at the first place they
        differ wins ('/guilds/{guild_id}/members/@me' over '/guilds/{guild_id}/members/{user_id}');
        templates without an operation for the method are not considered.
        """
        path = path.partition("?")[0]
        if path.startswith(_API_PREFIX + "/"):
            path = path[len(_API_PREFIX) :]
        if not path.startswith("/"):
            path = "/" + path
        if len(path) > 1:
            path = path.rstrip("/")
        segments = [unquote(segment) for segment in path.split("/")]
        for route in self._routes.get((method.lower(), len(segments)), ()):
            params = route.match(segments)
            if params is not None:
                return route.template, params
        return None

    def validate(self, method: str, path: str, body: object) -> list[str]:
        """Problems with this JSON body for this operation's request schema (empty list = valid).
        Each problem a short human-readable string naming the JSON path, e.g.
        "embeds.0.title: 'xxx…' is too long".

        For a multipart request pass the parsed ``payload_json``. ``None`` means no body was sent
        and is not checked (discord.py sends none to ban and unban, where the description asks for
        one). An operation without a JSON body schema accepts any body; a path the description does
        not know is itself a problem.
        """
        method = method.lower()
        matched = self.match(method, path)
        if matched is None:
            return [f"{method.upper()} {path}: no such operation in Discord's OpenAPI description"]
        if body is None:
            return []
        template, _ = matched
        validator = self._validator_for(template, method)
        if validator is None:
            return []
        instance = _apply_allowances(method, template, body)
        problems: list[str] = []
        skipped = 0
        for error in validator.iter_errors(instance):
            # For anyOf/oneOf failures (embeds, components, callback types, nullable
            # fields...) report the errors of the best matching alternative only.
            for leaf in _leaves(error):
                if len(problems) < _MAX_PROBLEMS:
                    problems.append(_summarise(leaf))
                else:
                    skipped += 1
        if skipped:
            problems.append(f"… and {skipped} more problems")
        return problems

    def _validator_for(self, template: str, method: str) -> Any:
        """The compiled validator of this operation's body schema (None if it has none), cached."""
        key = (template, method)
        validator = self._validators.get(key, _MISSING)
        if validator is not _MISSING:
            return validator
        with self._lock:
            validator = self._validators.get(key, _MISSING)
            if validator is _MISSING:
                schema = self._schemas.get(key)
                validator = None
                if schema is not None:
                    validator = Draft202012Validator(self._inline(schema, ()), registry=self._registry)
                self._validators[key] = validator
            return validator

    def _inline(self, schema: object, stack: tuple[str, ...]) -> object:
        """``schema`` with its ``{"$ref": "#/..."}`` subschemas replaced by their targets.

        Purely for speed: every reference the validator follows at run time costs a registry
        lookup. A reference back into a schema being inlined (a recursive one) stays a reference,
        made absolute so that it resolves through the registry from anywhere.
        """
        if not isinstance(schema, dict):
            return schema  # a boolean schema
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and len(schema) == 1 and ref not in stack:
            if ref not in self._inlined:
                target = self._registry.resolver(_SPEC_URI).lookup(ref).contents
                self._inlined[ref] = self._inline(target, (*stack, ref))
            return self._inlined[ref]
        result: dict[str, object] = {}
        for keyword, value in schema.items():
            if keyword == "$ref" and isinstance(value, str) and value.startswith("#/"):
                result[keyword] = _SPEC_URI + value
            elif keyword in _SCHEMA_KEYWORDS:
                result[keyword] = self._inline(value, stack)
            elif keyword in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
                result[keyword] = [self._inline(item, stack) for item in value]
            elif keyword in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
                result[keyword] = {name: self._inline(item, stack) for name, item in value.items()}
            else:
                result[keyword] = value
        return _enum_from_consts(result)


def _enum_from_consts(schema: dict[str, object]) -> dict[str, object]:
    """The spec writes its enumerations as ``{"oneOf": [{"title": ..., "const": 4}, ...]}``;
    validating that tries every alternative, so it is rewritten as the equivalent, much
    cheaper ``{"enum": [4, ...]}`` (which also reads better in an error)."""
    for keyword in ("oneOf", "anyOf"):
        alternatives = schema.get(keyword)
        if "enum" in schema or not isinstance(alternatives, list) or not alternatives:
            continue
        if not all(isinstance(alt, dict) and "const" in alt and alt.keys() <= _CONST_KEYS for alt in alternatives):
            continue
        values = [alt["const"] for alt in alternatives]
        if len({json.dumps(value, sort_keys=True) for value in values}) < len(values):
            continue  # a repeated const would make oneOf reject it; keep the original
        rewritten = {key: value for key, value in schema.items() if key != keyword}
        rewritten["enum"] = values
        return rewritten
    return schema


_CONST_KEYS: Final = frozenset({"const", "title", "description"})

# JSON Schema 2020-12 keywords by where they hold subschemas; the values of all other
# keywords are data (enum, const, ...) or annotations and are copied as they are.
_SCHEMA_KEYWORDS: Final = frozenset(
    {
        "items", "contains", "additionalProperties", "propertyNames", "not", "if", "then", "else",
        "unevaluatedItems", "unevaluatedProperties", "contentSchema",
    }
)  # fmt: skip
_SCHEMA_LIST_KEYWORDS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP_KEYWORDS: Final = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})

_MISSING: Final = object()


def _request_schema(operation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The operation's JSON body schema, if it has one.

    A multipart operation's JSON travels in its ``payload_json`` part; Discord describes it with
    the same operation's application/json schema, or failing that the part's own schema.
    """
    content: Mapping[str, Any] = operation.get("requestBody", {}).get("content", {})
    json_schema: Mapping[str, Any] | None = content.get("application/json", {}).get("schema")
    if json_schema is not None:
        return json_schema
    multipart: Mapping[str, Any] = content.get("multipart/form-data", {}).get("schema", {})
    payload_json: Mapping[str, Any] | None = multipart.get("properties", {}).get("payload_json")
    if payload_json is not None and "contentSchema" in payload_json:
        # {"type": "string", "contentMediaType": "application/json", "contentSchema": {...}}
        schema: Mapping[str, Any] = payload_json["contentSchema"]
        return schema
    return payload_json


@lru_cache(maxsize=1)
def get_validator() -> OpenAPIValidator:
    """The process-wide validator for the vendored description (loading it takes a moment)."""
    return OpenAPIValidator()

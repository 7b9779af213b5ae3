"""Tests of the stand-in's request body validation against Discord's OpenAPI description."""

from __future__ import annotations

import copy
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.http import handle_message_parameters
from discord.webhook.async_ import interaction_message_response_params, interaction_response_params

from bot.standin.openapi import _ALLOWANCES, OpenAPIValidator, get_validator

CALLBACK = "/interactions/111/aW50ZXJhY3Rpb24tdG9rZW4/callback"


@pytest.fixture(scope="module")
def validator() -> OpenAPIValidator:
    return get_validator()


@pytest.fixture(scope="module")
def tree() -> Iterator[app_commands.CommandTree[discord.Client]]:
    client = discord.Client(intents=discord.Intents.none())
    yield app_commands.CommandTree(client)


async def _mood_callback(interaction: discord.Interaction, mood: int) -> None:
    """A slash command callback with one integer option."""


def _command(description: str = "Check in with your group") -> app_commands.Command[Any, ..., None]:
    return app_commands.Command(name="checkin", description=description, callback=_mood_callback)


def _message_payload(**kwargs: Any) -> dict[str, Any]:
    """The JSON body (or the payload_json part) discord.py builds for a message with these arguments."""
    with handle_message_parameters(**kwargs) as params:
        if params.payload is not None:
            return dict(params.payload)
        assert params.multipart is not None
        part = next(p for p in params.multipart if p["name"] == "payload_json")
        payload: dict[str, Any] = json.loads(part["value"])
        return payload


def _embed(title: str = "Daily check-in", fields: int = 1) -> discord.Embed:
    embed = discord.Embed(title=title, description="How is everyone doing today?", colour=0x2ECC71)
    embed.set_footer(text="SoberPeers").set_author(name="Peer bot", url="https://example.org")
    for index in range(fields):
        embed.add_field(name=f"Question {index}", value="Answer", inline=False)
    return embed


# --- path matching -------------------------------------------------------------------


def test_match_returns_template_and_params(validator: OpenAPIValidator) -> None:
    """A concrete path maps to the spec's template and its parameter values."""
    assert validator.match("POST", "/channels/123/messages") == (
        "/channels/{channel_id}/messages",
        {"channel_id": "123"},
    )


def test_match_prefers_literal_member_me(validator: OpenAPIValidator) -> None:
    """'/guilds/{guild_id}/members/@me' beats '/guilds/{guild_id}/members/{user_id}'; other ids still match."""
    assert validator.match("PATCH", "/guilds/1/members/@me") == ("/guilds/{guild_id}/members/@me", {"guild_id": "1"})
    assert validator.match("PATCH", "/guilds/1/members/42") == (
        "/guilds/{guild_id}/members/{user_id}",
        {"guild_id": "1", "user_id": "42"},
    )


def test_match_prefers_literal_original_message(validator: OpenAPIValidator) -> None:
    """'.../messages/@original' beats '.../messages/{message_id}' for webhook message edits."""
    original = validator.match("PATCH", "/webhooks/1/tok/messages/@original")
    assert original == (
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        {"webhook_id": "1", "webhook_token": "tok"},
    )
    other = validator.match("PATCH", "/webhooks/1/tok/messages/99")
    assert other is not None
    assert other[0] == "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
    assert other[1]["message_id"] == "99"


def test_match_prefers_literal_users_me(validator: OpenAPIValidator) -> None:
    """'/users/@me' is its own operation, while '/users/42' fills the {user_id} template."""
    assert validator.match("GET", "/users/@me") == ("/users/@me", {})
    assert validator.match("GET", "/users/42") == ("/users/{user_id}", {"user_id": "42"})


def test_match_strips_query_string(validator: OpenAPIValidator) -> None:
    """The query string discord.py adds to callbacks and webhook sends is ignored."""
    matched = validator.match("POST", CALLBACK + "?with_response=1")
    assert matched is not None
    assert matched[0] == "/interactions/{interaction_id}/{interaction_token}/callback"
    assert matched[1] == {"interaction_id": "111", "interaction_token": "aW50ZXJhY3Rpb24tdG9rZW4"}
    webhook = validator.match("POST", "/webhooks/5/tok?wait=true")
    assert webhook == ("/webhooks/{webhook_id}/{webhook_token}", {"webhook_id": "5", "webhook_token": "tok"})


def test_match_decodes_percent_escapes(validator: OpenAPIValidator) -> None:
    """An emoji quoted into the path by discord.py comes back decoded."""
    matched = validator.match("PUT", "/channels/1/messages/2/reactions/%F0%9F%98%80/@me")
    assert matched == (
        "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me",
        {"channel_id": "1", "message_id": "2", "emoji_name": "😀"},
    )


def test_match_tolerates_api_prefix(validator: OpenAPIValidator) -> None:
    """A path still carrying '/api/v10' matches the same operation."""
    assert validator.match("GET", "/api/v10/users/@me") == ("/users/@me", {})


def test_match_unknown_path_is_none(validator: OpenAPIValidator) -> None:
    """A path the spec does not describe matches nothing."""
    assert validator.match("GET", "/no/such/thing") is None
    assert validator.match("POST", "/channels/1/messages/2/3/4/5/6") is None


def test_match_unknown_method_is_none(validator: OpenAPIValidator) -> None:
    """A known path with a method the spec has no operation for matches nothing."""
    assert validator.match("DELETE", "/users/@me/channels") is None


def test_validate_unknown_operation_is_a_problem(validator: OpenAPIValidator) -> None:
    """Validating a request to an undescribed operation reports that, not success."""
    problems = validator.validate("POST", "/no/such/thing", {})
    assert len(problems) == 1
    assert "no such operation" in problems[0]


# --- message bodies ------------------------------------------------------------------


def test_valid_message_create_passes(validator: OpenAPIValidator) -> None:
    """A message discord.py builds with content, an embed, a view and a nonce is valid."""
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="I'm OK", custom_id="checkin:ok", style=discord.ButtonStyle.success))
    view.add_item(discord.ui.Button(label="Guide", url="https://example.org/guide"))
    body = _message_payload(content="Good morning!", embed=_embed(), view=view, nonce=12345)
    assert body["embeds"][0]["title"] == "Daily check-in"
    assert validator.validate("POST", "/channels/123/messages", body) == []


def test_embed_title_too_long_fails(validator: OpenAPIValidator) -> None:
    """An embed title over 256 characters is reported at embeds.0.title, quoted short."""
    body = _message_payload(embed=_embed(title="x" * 257))
    problems = validator.validate("POST", "/channels/123/messages", body)
    assert len(problems) == 1
    assert problems[0].startswith("embeds.0.title: ")
    assert "too long" in problems[0]
    assert "256" in problems[0]
    assert len(problems[0]) < 120


def test_embed_with_26_fields_fails(validator: OpenAPIValidator) -> None:
    """An embed with 26 fields breaks the 25-field limit."""
    body = _message_payload(embed=_embed(fields=26))
    problems = validator.validate("POST", "/channels/123/messages", body)
    assert len(problems) == 1
    assert problems[0].startswith("embeds.0.fields: ")
    assert "25" in problems[0]


def test_embed_with_25_fields_passes(validator: OpenAPIValidator) -> None:
    """25 fields are exactly at the limit."""
    assert validator.validate("POST", "/channels/123/messages", _message_payload(embed=_embed(fields=25))) == []


def test_content_too_long_fails(validator: OpenAPIValidator) -> None:
    """Message content over the spec's 4000-character limit is reported at content."""
    problems = validator.validate("POST", "/channels/123/messages", {"content": "x" * 4001})
    assert [p.split(":")[0] for p in problems] == ["content"]


def test_multipart_payload_json_with_upload_passes(validator: OpenAPIValidator) -> None:
    """The payload_json of a message with a file upload (integer attachment ids) is valid."""
    file = discord.File(io.BytesIO(b"hello"), filename="notes.txt", description="Meeting notes")
    body = _message_payload(content="Notes attached", files=[file])
    assert body["attachments"] == [{"id": 0, "filename": "notes.txt", "description": "Meeting notes"}]
    assert validator.validate("POST", "/channels/123/messages", body) == []


def test_wrong_json_type_fails(validator: OpenAPIValidator) -> None:
    """A string where the operation wants an object is reported at the root."""
    problems = validator.validate("POST", "/channels/123/messages", "hello")
    assert problems == ["(root): 'hello' is not of type 'object'"]


def test_body_is_not_mutated(validator: OpenAPIValidator) -> None:
    """Normalising the allowances never changes the caller's body."""
    body = _message_payload(
        content="hi",
        allowed_mentions=discord.AllowedMentions(users=[discord.Object(7)], roles=[discord.Object(8)]),
    )
    before = copy.deepcopy(body)
    assert validator.validate("POST", "/channels/123/messages", body) == []
    assert body == before
    assert body["allowed_mentions"]["users"] == [7]


# --- application commands ------------------------------------------------------------


def test_valid_commands_bulk_overwrite_passes(
    validator: OpenAPIValidator, tree: app_commands.CommandTree[discord.Client]
) -> None:
    """A list of real discord.py command payloads is a valid bulk overwrite."""
    group = app_commands.Group(name="buddy", description="Buddy matching")
    group.add_command(_command())
    admin = _command()
    admin.default_permissions = discord.Permissions(manage_guild=True)
    admin.guild_only = True
    body = [admin.to_dict(tree), group.to_dict(tree)]
    assert body[0]["default_member_permissions"] == 32
    assert validator.validate("PUT", "/applications/1/commands", body) == []
    assert validator.validate("PUT", "/applications/1/guilds/2/commands", body) == []


def test_command_description_too_long_fails(
    validator: OpenAPIValidator, tree: app_commands.CommandTree[discord.Client]
) -> None:
    """A command description over 100 characters fails the global bulk overwrite."""
    body = [_command().to_dict(tree), _command(description="d" * 101).to_dict(tree)]
    problems = validator.validate("PUT", "/applications/1/commands", body)
    assert len(problems) == 1
    assert problems[0].startswith("1.description: ")
    assert "100" in problems[0]


def test_command_description_too_long_fails_for_guild(
    validator: OpenAPIValidator, tree: app_commands.CommandTree[discord.Client]
) -> None:
    """The same limit applies to a guild's bulk overwrite."""
    body = [_command(description="d" * 101).to_dict(tree)]
    problems = validator.validate("PUT", "/applications/1/guilds/2/commands", body)
    assert len(problems) == 1
    assert problems[0].startswith("0.description: ")


def test_26_choices_fail(validator: OpenAPIValidator, tree: app_commands.CommandTree[discord.Client]) -> None:
    """An option with 26 choices breaks the 25-choice limit; 25 are fine."""

    def with_choices(count: int) -> dict[str, Any]:
        async def callback(interaction: discord.Interaction, mood: int) -> None:
            """A fresh callback, since the choices decorator marks the function itself."""

        choices = [app_commands.Choice(name=f"level {i}", value=i) for i in range(count)]
        command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name="mood", description="How are you?", callback=app_commands.choices(mood=choices)(callback)
        )
        payload = command.to_dict(tree)
        assert len(payload["options"][0]["choices"]) == count
        return payload

    assert validator.validate("PUT", "/applications/1/commands", [with_choices(25)]) == []
    problems = validator.validate("PUT", "/applications/1/commands", [with_choices(26)])
    assert len(problems) == 1
    assert problems[0].startswith("0.options.0.choices: ")
    assert "25" in problems[0]


# --- interaction callbacks ---------------------------------------------------------------


def test_ephemeral_message_callback_passes(validator: OpenAPIValidator) -> None:
    """A type 4 callback with flags 64, as interaction.response.send_message(ephemeral=True) builds it."""
    params = interaction_message_response_params(
        type=4, content="Only you can see this", embed=_embed(), flags=discord.MessageFlags(ephemeral=True)
    )
    assert params.payload is not None
    assert params.payload["type"] == 4
    assert params.payload["data"]["flags"] == 64
    assert validator.validate("POST", CALLBACK + "?with_response=1", params.payload) == []


def test_deferred_and_modal_callbacks_pass(validator: OpenAPIValidator) -> None:
    """A deferral and a modal, as discord.py builds them, are valid callbacks."""

    class Note(discord.ui.Modal, title="Leave a note"):
        text: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Note", max_length=500)

    for payload in (
        interaction_response_params(type=5, data={"flags": 64}).payload,
        interaction_response_params(type=9, data=Note().to_dict()).payload,
    ):
        assert validator.validate("POST", CALLBACK, payload) == []


def test_unknown_callback_type_fails(validator: OpenAPIValidator) -> None:
    """An unknown callback type is reported at type, listing the known ones, not every alternative."""
    problems = validator.validate("POST", CALLBACK, {"type": 3, "data": {"content": "x"}})
    assert len(problems) == 1
    assert problems[0].startswith("type: 3 is not one of [1, 4, 5")


def test_callback_reports_the_fault_inside_the_matching_alternative(validator: OpenAPIValidator) -> None:
    """For a type 4 callback the fault in its data is reported, not the whole union."""
    params = interaction_message_response_params(type=4, embed=_embed(title="t" * 300))
    problems = validator.validate("POST", CALLBACK, params.payload)
    assert len(problems) == 1
    assert problems[0].startswith("data.embeds.0.title: ")


# --- allowances ------------------------------------------------------------------------


def test_allowances_name_real_operations(validator: OpenAPIValidator) -> None:
    """Every operation an allowance is keyed on exists in the spec."""
    for method, template in _ALLOWANCES:
        path = re.sub(r"\{[^}]+\}", "1", template)
        matched = validator.match(method, path)
        assert matched is not None, (method, template)
        assert matched[0] == template


def test_recipient_id_as_integer_is_allowed(validator: OpenAPIValidator) -> None:
    """user.create_dm() sends recipient_id as an integer."""
    assert validator.validate("POST", "/users/@me/channels", {"recipient_id": 123456789012345678}) == []


def test_recipient_id_of_wrong_type_still_fails(validator: OpenAPIValidator) -> None:
    """Only integer snowflakes are converted; a boolean or a float is still wrong."""
    assert validator.validate("POST", "/users/@me/channels", {"recipient_id": True})
    assert validator.validate("POST", "/users/@me/channels", {"recipient_id": 1.5})


def test_attachment_ids_as_integers_are_allowed(validator: OpenAPIValidator) -> None:
    """Attachment ids sent as integers pass in a message edit and in a callback's data."""
    body = {"content": "edited", "attachments": [{"id": 0, "filename": "a.txt"}, {"id": 1234567890}]}
    assert validator.validate("PATCH", "/channels/1/messages/2", body) == []
    assert validator.validate("PATCH", "/webhooks/1/tok/messages/@original", body) == []
    assert validator.validate("POST", CALLBACK, {"type": 4, "data": body}) == []


def test_other_attachment_fields_are_still_checked(validator: OpenAPIValidator) -> None:
    """An integer filename in the same attachment is still rejected."""
    body = {"attachments": [{"id": 0, "filename": 5}]}
    problems = validator.validate("POST", "/channels/1/messages", body)
    assert len(problems) == 1
    assert problems[0].startswith("attachments.0.filename: ")


def test_allowed_mentions_ids_as_integers_are_allowed(validator: OpenAPIValidator) -> None:
    """AllowedMentions.to_dict() lists user and role ids as integers."""
    mentions = discord.AllowedMentions(users=[discord.Object(11)], roles=[discord.Object(22)], replied_user=True)
    body = _message_payload(content="<@11>", allowed_mentions=mentions)
    assert body["allowed_mentions"]["users"] == [11]
    assert validator.validate("POST", "/channels/1/messages", body) == []
    params = interaction_message_response_params(type=4, content="<@11>", allowed_mentions=mentions)
    assert validator.validate("POST", CALLBACK, params.payload) == []


def test_other_integer_snowflakes_are_still_rejected(validator: OpenAPIValidator) -> None:
    """An integer where a string snowflake is wanted outside the allowances still fails."""
    problems = validator.validate("POST", "/channels/1/messages", {"content": "hi", "sticker_ids": [5]})
    assert problems == ["sticker_ids.0: 5 is not of type 'string'"]
    reply = {"content": "hi", "message_reference": {"message_id": 5}}
    assert validator.validate("POST", "/channels/1/messages", reply) == [
        "message_reference.message_id: 5 is not of type 'string'"
    ]


def test_allowed_mentions_parse_is_still_checked(validator: OpenAPIValidator) -> None:
    """Inside allowed_mentions only the id lists are relaxed."""
    problems = validator.validate("POST", "/channels/1/messages", {"allowed_mentions": {"parse": ["admins"]}})
    assert len(problems) == 1
    assert problems[0].startswith("allowed_mentions.parse.0: ")


def test_role_permissions_as_digit_string_is_allowed(validator: OpenAPIValidator) -> None:
    """guild.create_role() sends permissions as a string of digits."""
    body = {"name": "Peer", "permissions": str(discord.Permissions(send_messages=True).value), "color": 0}
    assert validator.validate("POST", "/guilds/1/roles", body) == []


def test_role_fields_other_than_permissions_stay_strict(validator: OpenAPIValidator) -> None:
    """A digit string for colour, or a non-numeric permissions string, is still wrong."""
    assert validator.validate("POST", "/guilds/1/roles", {"name": "Peer", "color": "5"}) == [
        "color: '5' is not of type 'integer', 'null'"
    ]
    assert validator.validate("POST", "/guilds/1/roles", {"permissions": "8.0"})
    assert validator.validate("POST", "/guilds/1/roles", {"permissions": "-8"})


def test_overwrite_allow_deny_as_digit_strings_are_allowed(validator: OpenAPIValidator) -> None:
    """Overwrites copied from a category carry allow/deny as strings, on channel create and edit."""
    overwrites = [{"id": "3", "type": 0, "allow": "1024", "deny": "0"}]
    assert (
        validator.validate("POST", "/guilds/1/channels", {"name": "buddies", "permission_overwrites": overwrites}) == []
    )
    assert validator.validate("PATCH", "/channels/1", {"permission_overwrites": overwrites}) == []


def test_digit_strings_elsewhere_are_still_rejected(validator: OpenAPIValidator) -> None:
    """A digit string is not accepted where the allowances do not reach."""
    body = {"name": "buddies", "rate_limit_per_user": "5"}
    assert validator.validate("POST", "/guilds/1/channels", body) == [
        "rate_limit_per_user: '5' is not of type 'integer', 'null'"
    ]
    # Only permission_overwrites[].allow/deny are relaxed, not the single-overwrite edit.
    problems = validator.validate("PUT", "/channels/1/permissions/3", {"type": 0, "allow": "1024", "deny": 0})
    assert problems == ["allow: '1024' is not of type 'integer', 'null'"]


def test_forward_message_reference_is_allowed(validator: OpenAPIValidator) -> None:
    """A message reference of type 1 (a forward) passes; type 2 does not."""
    reference = {"type": 1, "message_id": "5", "channel_id": "6"}
    assert validator.validate("POST", "/channels/1/messages", {"message_reference": reference}) == []
    problems = validator.validate("POST", "/channels/1/messages", {"message_reference": {**reference, "type": 2}})
    assert len(problems) == 1
    assert problems[0].startswith("message_reference.type: 2 ")


# --- operations without a body schema ----------------------------------------------------


def test_operation_without_body_schema_accepts_anything(validator: OpenAPIValidator) -> None:
    """Operations with no request body schema accept any body, including None."""
    assert validator.validate("GET", "/users/@me", None) == []
    assert validator.validate("POST", "/channels/1/typing", {"anything": [1, 2]}) == []
    assert validator.validate("PUT", "/guilds/1/members/2/roles/3", None) == []


def test_no_body_is_not_checked(validator: OpenAPIValidator) -> None:
    """No body (None) is not checked: discord.py bans without one although the spec asks for one."""
    assert validator.validate("PUT", "/guilds/1/bans/2", None) == []
    assert validator.validate("PUT", "/guilds/1/bans/2", {"delete_message_seconds": -1})


# --- loading, custom specs, caching and speed ----------------------------------------------

_MINI_SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mini", "version": "1"},
    "paths": {
        "/things/{thing_id}/upload": {
            "post": {
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "payload_json": {"$ref": "#/components/schemas/Thing"},
                                    "file": {"type": "string", "contentEncoding": "binary"},
                                },
                            }
                        }
                    }
                }
            }
        },
        "/things/{thing_id}/raw": {
            "post": {
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {"type": "object", "properties": {"file": {"type": "string"}}}
                        }
                    }
                }
            }
        },
        "/trees": {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}
            }
        },
    },
    "components": {
        "schemas": {
            "Thing": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
                "required": ["name"],
            },
        }
    },
}


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> OpenAPIValidator:
    path: Path = tmp_path_factory.mktemp("spec") / "openapi.json"
    path.write_text(json.dumps(_MINI_SPEC), encoding="utf-8")
    return OpenAPIValidator(path)


def test_multipart_only_operation_uses_payload_json_schema(mini: OpenAPIValidator) -> None:
    """Without an application/json schema, the multipart payload_json property's schema applies."""
    assert mini.validate("POST", "/things/1/upload", {"name": "abc"}) == []
    assert mini.validate("POST", "/things/1/upload", {"name": "abcd"}) == [
        "name: 'abcd' is too long (at most 3 characters)"
    ]


def test_multipart_without_payload_json_accepts_anything(mini: OpenAPIValidator) -> None:
    """A multipart-only operation with no payload_json part has no JSON to check."""
    assert mini.validate("POST", "/things/1/raw", {"whatever": True}) == []


def test_recursive_schema_validates_deeply(mini: OpenAPIValidator) -> None:
    """A self-referencing component is followed to any depth."""
    good = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
    assert mini.validate("POST", "/trees", good) == []
    bad = {"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}
    assert mini.validate("POST", "/trees", bad) == ["children.0.children.0.name: 3 is not of type 'string'"]


def test_get_validator_is_cached() -> None:
    """The process-wide validator is loaded once."""
    assert get_validator() is get_validator()


def test_message_validation_is_fast(validator: OpenAPIValidator) -> None:
    """A typical message body validates in well under a millisecond once warm (loose bound)."""
    body = _message_payload(content="Good morning!", embed=_embed(fields=3))
    assert validator.validate("POST", "/channels/123/messages", body) == []
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        validator.validate("POST", "/channels/123/messages", body)
    assert (time.perf_counter() - start) / rounds < 0.005

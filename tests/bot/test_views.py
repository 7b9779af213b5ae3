"""Unit tests of bot.views' paged lists and tracked forms: page buttons' custom_ids (round trip, forged
ones refused), the buttons a page gets, the registry of list kinds, and when a form counts as open."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.views import (
    MAX_PAGE,
    PAGE_TEMPLATE,
    FormValues,
    PageButton,
    PagedList,
    PageTarget,
    TrackedModal,
    TrackedView,
    form_recovery,
    form_values,
    is_form_open,
    is_view_open,
    paged_list,
    register_form_recovery,
    register_paged_lists,
    unregister_form_recovery,
    unregister_paged_lists,
)
from cogs.buddyadmin import PROPOSAL_LIST_TEMPLATE, ProposalListButton

SNOWFLAKE = st.integers(min_value=0, max_value=2**64 - 1)
KIND = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)


@dataclass(frozen=True)
class FakePage:
    page: int
    pages: int


async def _fetch(interaction: discord.Interaction, number: int) -> FakePage:
    raise AssertionError("not read in these tests")


def _render(page: FakePage) -> discord.Embed:
    return discord.Embed(title=f"page {page.page + 1} of {page.pages}")


LIST = PagedList("things", _fetch, _render, labels=("Newer", "Older"))


def _buttons(view: discord.ui.View | None) -> list[dict[str, Any]]:
    assert view is not None
    return [c for row in view.to_components() for c in row["components"]]


# --------------------------------------------------------------------------- custom_ids


@given(KIND, SNOWFLAKE, SNOWFLAKE, st.integers(min_value=0, max_value=MAX_PAGE), st.sampled_from(["prev", "next"]))
def test_a_page_target_survives_its_custom_id(kind: str, guild_id: int, owner_id: int, page: int, step: Any) -> None:
    """Any target's custom_id parses back to the same target, and fits Discord's 100 characters."""
    target = PageTarget(kind, guild_id, owner_id, page, step)
    assert len(target.custom_id) <= 100
    assert PageTarget.parse(target.custom_id) == target
    assert re.fullmatch(PAGE_TEMPLATE, target.custom_id) is not None


@pytest.mark.parametrize(
    "custom_id",
    [
        "",
        "page:",
        "page:audit:1:2:3",  # no step
        "page:audit:1:2:3:up",
        "page:Audit:1:2:3:next",
        "page:9audit:1:2:3:next",
        "page:a-very-long-kind-name:1:2:3:next",
        "page:audit:1:2:1234567:next",  # seven digits of page
        "page:audit:-1:2:3:next",
        "page:audit:1:2:-3:next",
        "page:audit:123456789012345678901:2:3:next",
        "page:audit:1:2:3:next:extra",
        " page:audit:1:2:3:next",
        "page:audit:1:2:3:next\n",
        "pages:audit:1:2:3:next",
        "buddy:proposal:approve:1:2",
        "page:audit:1:2:³:next",
    ],
)
def test_forged_page_ids_are_refused(custom_id: str) -> None:
    """Anything that is not exactly a page button's custom_id parses to nothing."""
    assert PageTarget.parse(custom_id) is None


@pytest.mark.parametrize(
    ("kind", "guild_id", "owner_id", "page"),
    [("Bad", 1, 2, 0), ("", 1, 2, 0), ("ok", -1, 2, 0), ("ok", 1, -2, 0), ("ok", 1, 2, -1), ("ok", 1, 2, MAX_PAGE + 1)],
)
def test_a_page_target_refuses_what_its_id_cannot_carry(kind: str, guild_id: int, owner_id: int, page: int) -> None:
    """A bad kind, a negative id or a page out of range is refused when the target is made."""
    with pytest.raises(ValueError):
        PageTarget(kind, guild_id, owner_id, page, "next")


def test_the_proposals_list_buttons_fit_and_match_their_template() -> None:
    """The proposals list's Approve / Reject custom_ids, with the largest ids, fit in 100 characters."""
    biggest = 2**64 - 1
    for action in ("approve", "reject"):
        button = ProposalListButton(action, biggest, biggest, MAX_PAGE, biggest, 4)
        custom_id = button.custom_id
        assert len(custom_id) <= 100
        match = re.fullmatch(PROPOSAL_LIST_TEMPLATE, custom_id)
        assert match is not None and match["action"] == action and int(match["pair_id"]) == biggest
        assert button.item.label == f"{action.title()} 4"


# --------------------------------------------------------------------------- a page's buttons


async def test_a_single_page_has_no_buttons() -> None:
    """One page and no buttons of its own: no view at all."""
    embed, view = LIST.message(1, 2, FakePage(0, 1))
    assert embed.title == "page 1 of 1" and view is None


async def test_the_page_buttons_point_at_the_neighbours_and_disable_at_the_ends() -> None:
    """Newer is disabled on the first page, Older on the last; each carries the page it shows."""
    _, first = LIST.message(1, 2, FakePage(0, 3))
    newer, older = _buttons(first)
    assert (newer["label"], newer["disabled"], older["label"], older["disabled"]) == ("Newer", True, "Older", False)
    assert PageTarget.parse(older["custom_id"]) == PageTarget("things", 1, 2, 1, "next")
    _, middle = LIST.message(1, 2, FakePage(1, 3))
    newer, older = _buttons(middle)
    assert not newer["disabled"] and not older["disabled"]
    assert PageTarget.parse(newer["custom_id"]) == PageTarget("things", 1, 2, 0, "prev")
    assert PageTarget.parse(older["custom_id"]) == PageTarget("things", 1, 2, 2, "next")
    _, last = LIST.message(1, 2, FakePage(2, 3))
    newer, older = _buttons(last)
    assert not newer["disabled"] and older["disabled"]


async def test_a_pages_own_buttons_come_first_and_the_page_buttons_below() -> None:
    """Two rows of the page's own buttons: Previous / Next go on the third row."""

    def extra(page: FakePage, guild_id: int, owner_id: int) -> list[discord.ui.Item[Any]]:
        return [discord.ui.Button(label=f"row {row}", custom_id=f"x:{row}", row=row) for row in range(2)]

    with_items = PagedList("things", _fetch, _render, items=extra)
    _, view = with_items.message(1, 2, FakePage(0, 2))
    assert view is not None
    rows = [[c["label"] for c in row["components"]] for row in view.to_components()]
    assert rows == [["row 0"], ["row 1"], ["Previous", "Next"]]
    _, alone = with_items.message(1, 2, FakePage(0, 1))
    assert alone is not None and [c["label"] for c in _buttons(alone)] == ["row 0", "row 1"]


# --------------------------------------------------------------------------- the registry


async def test_lists_are_registered_per_client_and_kinds_are_unique() -> None:
    """A kind is known to the client that registered it only; another list of the same kind is refused;
    unregistered, a kind is unknown again."""
    client = discord.Client(intents=discord.Intents.none())
    other = discord.Client(intents=discord.Intents.none())
    register_paged_lists(client, LIST)
    register_paged_lists(client, LIST)  # again: harmless
    assert paged_list(client, "things") is LIST and paged_list(other, "things") is None
    with pytest.raises(ValueError):
        register_paged_lists(client, PagedList("things", _fetch, _render))
    unregister_paged_lists(client, LIST)
    assert paged_list(client, "things") is None
    await client.close()
    await other.close()


async def test_a_page_button_is_rebuilt_from_its_custom_id() -> None:
    """discord.py's template match rebuilds the same target."""
    target = PageTarget("audit", 10, 20, 3, "prev")
    match = re.fullmatch(PAGE_TEMPLATE, target.custom_id)
    assert match is not None
    rebuilt = await PageButton.from_custom_id(None, None, match)  # type: ignore[arg-type]
    assert rebuilt.target == target and rebuilt.custom_id == target.custom_id


# --------------------------------------------------------------------------- tracked forms


class _Form(TrackedModal, title="A form"):
    text: discord.ui.TextInput[_Form] = discord.ui.TextInput(label="Text", custom_id="text")


async def test_a_form_is_open_until_stopped_or_timed_out() -> None:
    """Open from its creation, for its own client only; closed once stopped, or once timed out."""
    client = discord.Client(intents=discord.Intents.none())
    other = discord.Client(intents=discord.Intents.none())
    stopped, timed_out = _Form(client, "test", timeout=60), _Form(client, "test", timeout=60)
    assert stopped.custom_id.startswith("form:test:") and stopped.custom_id != timed_out.custom_id
    assert is_form_open(client, stopped.custom_id) and not is_form_open(other, stopped.custom_id)
    stopped.stop()
    assert not is_form_open(client, stopped.custom_id) and is_form_open(client, timed_out.custom_id)
    await timed_out.on_timeout()
    assert not is_form_open(client, timed_out.custom_id)
    await client.close()
    await other.close()


def test_a_form_key_travels_in_its_custom_id_and_may_not_hold_a_colon() -> None:
    """The key's parts follow the kind, before the random part; an empty part or a colon is refused."""
    client = discord.Client(intents=discord.Intents.none())
    form = _Form(client, "test", timeout=60, key=("12", "2026-11-27"))
    kind, *key, token = form.custom_id.removeprefix("form:").split(":")
    assert (kind, key, len(token)) == ("test", ["12", "2026-11-27"], 16)
    for bad in (("a:b",), ("",)):
        with pytest.raises(ValueError):
            _Form(client, "test", timeout=60, key=bad)
    with pytest.raises(ValueError):
        _Form(client, "te:st", timeout=60)


def test_form_values_reads_labels_rows_texts_and_choices() -> None:
    """Text inputs give their text, selects their choices, wherever they are nested; the rest is ignored."""
    data = {
        "custom_id": "form:test:1",
        "components": [
            {"type": 18, "id": 1, "component": {"type": 3, "custom_id": "craving", "values": ["7"]}},
            {"type": 18, "id": 2, "component": {"type": 4, "custom_id": "note", "value": "long day"}},
            {"type": 1, "components": [{"type": 4, "custom_id": "old", "value": ""}]},
            {"type": 10, "content": "no field"},
            "junk",
        ],
    }
    assert form_values(data) == {"craving": ["7"], "note": "long day", "old": ""}
    assert form_values(None) == {} and form_values({"components": "x"}) == {}


async def test_form_recoveries_are_registered_per_client() -> None:
    """A kind's recovery is known to the client that registered it, until unregistered."""
    client = discord.Client(intents=discord.Intents.none())
    other = discord.Client(intents=discord.Intents.none())

    async def recover(interaction: discord.Interaction[Any], key: list[str], values: FormValues) -> None:
        return None

    register_form_recovery(client, "test", recover)
    assert form_recovery(client, "test") is recover and form_recovery(other, "test") is None
    assert form_recovery(client, "other") is None
    unregister_form_recovery(client, "test")
    unregister_form_recovery(client, "test")  # again: harmless
    assert form_recovery(client, "test") is None
    await client.close()
    await other.close()


class _Confirm(TrackedView):
    @discord.ui.button(label="Yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[_Confirm]) -> None:
        """Unused."""

    @discord.ui.button(label="No")
    async def no(self, interaction: discord.Interaction, button: discord.ui.Button[_Confirm]) -> None:
        """Unused."""


async def test_a_tracked_views_buttons_carry_its_id_and_it_is_open_until_finished() -> None:
    """Each button's id is the view's tracking id and its place; the view is open for its own client
    until it is stopped; a kind with a colon is refused."""
    client = discord.Client(intents=discord.Intents.none())
    other = discord.Client(intents=discord.Intents.none())
    view = _Confirm(client, "confirm", timeout=60)
    ids = [str(item.custom_id) for item in view.children if isinstance(item, discord.ui.Button)]
    assert ids == [f"{view.tracking_id}:0", f"{view.tracking_id}:1"] and view.tracking_id.startswith("view:confirm:")
    assert is_view_open(client, ids[0]) and not is_view_open(other, ids[0])
    assert not is_view_open(client, "view:confirm:0000:0")
    view.stop()
    assert not is_view_open(client, ids[1])
    with pytest.raises(ValueError):
        _Confirm(client, "con:firm", timeout=60)
    await client.close()
    await other.close()

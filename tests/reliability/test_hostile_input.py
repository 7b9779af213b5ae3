"""Members typing anything at all: hypothesis drives every synced command with arbitrary and hostile
option values (Unicode of every kind, SQL and markdown fragments, mentions, ``@everyone``, numbers
across their whole range), the forms and the autocompletes, and members with hostile names. Every
interaction gets exactly one clear answer, nothing pings anyone, and the database stays consistent.

One bot on one stand-in serves every example (a module fixture on its own event loop): hypothesis
runs synchronous tests, and starting a bot per example would take minutes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from discord.utils import escape_markdown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.standin.harness import checked_standin
from bot.standin.interactions import Interaction, InvocationRefused, Upload
from bot.standin.model import ChannelType, Member, Message, Role
from bot.standin.server import StandIn
from cogs.checkins import CHART_FAILED, CHART_FILENAME
from cogs.nudges import Nudges
from tests.e2e import FakeClock, Scene, build_scene, running_bot
from tests.reliability.support import UNEXPECTED, cog, database_is_sound, pings, query

T = TypeVar("T")

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HOSTILE_NAMES = ["@everyone", "**bold** `tick`", "\u202eevil\u202c", "zero\u200bwidth", "🧑‍🤝‍🧑 𝕳𝖊𝖑𝖑𝖔", "<@&1>"]
FRAGMENTS = [
    "@everyone",
    "@here",
    "<@{user}>",
    "<@!{user}>",
    "<@&{role}>",
    "<#{channel}>",
    "'; DROP TABLE checkins; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM buddy_pairs WHERE ('1'='1",
    "%s %d {0} {name} $1",
    "**bold** __under__ ~~strike~~ ||spoiler|| *it*",
    "`code` ```py\nblock``` \\*escaped\\*",
    "> quote\n# heading\n-# small",
    "[link](https://example.com) <https://example.com>",
    "\u202eright-to-left override\u202c",
    "עברית مرحبا",
    "\u200b\u200c\u200d\u2060\ufeff",
    "👨‍👩‍👧‍👦🏳️‍🌈🇺🇸",
    "𝕳𝖊𝖑𝖑𝖔 𐍈 😀 \U0010fffd",
    "e\u0301\u0301\u0301 Z̴̛͕a̵l̴g̶o̸",
    "\\",
    "\t \n",
    "null",
    "NaN",
    "-1",
    "9" * 25,
    "2024-02-30",
    "25:61",
    "Europe/London",
]
CHARACTERS = st.characters(blacklist_categories=("Cs", "Cc"))
SUMMARY = re.compile(r"📋 <@\d+> checked in: mood [1-5]/5 \([a-z]+\), craving \d+/10, (not )?sober today\.")


# --------------------------------------------------------------------------- one bot for every example


@dataclass
class Leaf:
    """A command as members call it (``"checkin today"``) and its options' schema."""

    path: str
    options: list[dict[str, Any]]
    moderators_only: bool


class Harness:
    """The scene and its bot on an event loop of their own, driven from synchronous tests."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.folder = folder
        self.scene: Scene
        self.hostile: list[Member] = []

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the harness's loop."""
        return self.loop.run_until_complete(work)

    async def start(self) -> None:
        """Start the stand-in and the bot; add members with hostile names; make the houses groups."""
        standin = await self.stack.enter_async_context(
            checked_standin(app_name="SoberPeers", ack_deadline=3.0, answer_timeout=10.0)
        )
        clock = FakeClock()
        self.scene = build_scene(standin, self.folder / "hostile.sqlite3", clock)
        for number, nick in enumerate(HOSTILE_NAMES):
            roles = [self.scene.womens_house if number % 2 else self.scene.mens_house]
            self.hostile.append(self.scene.guild.add_member(f"hostile{number}", roles=roles, nick=nick))
        self.scene.bot = await self.stack.enter_async_context(running_bot(standin, self.scene.db_path, clock))
        for role in (self.scene.mens_house, self.scene.womens_house):
            await standin.invoke(self.scene.mod, "buddyadmin group-add", {"role": role})

    @property
    def standin(self) -> StandIn:
        """The stand-in."""
        return self.scene.standin

    def members(self) -> list[Member]:
        """Everyone who may invoke a command (the moderator too)."""
        scene = self.scene
        return [scene.mod, scene.alice, scene.beth, scene.carl, scene.dan, *self.hostile]

    def leaves(self) -> list[Leaf]:
        """Every synced chat command, down to its subcommands."""
        found: list[Leaf] = []

        def walk(path: str, options: list[dict[str, Any]], moderators_only: bool) -> None:
            subs = [o for o in options if o["type"] in (1, 2)]
            if not subs:
                found.append(Leaf(path, options, moderators_only))
            for sub in subs:
                walk(f"{path} {sub['name']}", list(sub.get("options") or []), moderators_only)

        for command in self.standin.global_commands.values():
            if int(command.get("type", 1)) == 1:
                walk(
                    command["name"],
                    list(command.get("options") or []),
                    command.get("default_member_permissions") is not None,
                )
        return sorted(found, key=lambda leaf: leaf.path)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One running bot for every example of this module."""
    bench = Harness(tmp_path_factory.mktemp("hostile"))
    try:
        bench.run(bench.start())
        yield bench
    finally:
        bench.run(bench.stack.aclose())
        bench.loop.close()


# --------------------------------------------------------------------------- strategies


def hostile_text(harness: Harness, min_size: int = 0, max_size: int = 200) -> st.SearchStrategy[str]:
    """Arbitrary and hostile text, cut to the option's bounds."""
    scene = harness.scene
    fragments = [
        f.format(user=scene.alice.id, role=scene.moderators.id, channel=scene.mod_channel.id, name="{name}")
        if "{" in f and "{0}" not in f
        else f
        for f in FRAGMENTS
    ]
    piece = st.one_of(st.sampled_from(fragments), st.text(CHARACTERS, max_size=40))
    joined = st.lists(piece, min_size=1, max_size=6).map("".join)
    long = st.builds(lambda unit, n: (unit * n)[:max_size], st.sampled_from(fragments), st.integers(1, max_size))

    def fit(text: str) -> str:
        text = text[:max_size]
        while len(text) < min_size:
            text += "x"
        return text

    return st.one_of(joined, long).map(fit)


def option_value(harness: Harness, option: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value Discord's client lets a member give this option (its bounds, choices and types)."""
    scene = harness.scene
    kind = int(option["type"])
    if option.get("choices"):
        return st.sampled_from([c["value"] for c in option["choices"]])
    if kind == 3:
        return hostile_text(harness, int(option.get("min_length", 0)), int(option.get("max_length", 6000)))
    if kind in (4, 10):
        low = int(option.get("min_value", -(2**53)))
        high = int(option.get("max_value", 2**53))
        return st.integers(low, high)
    if kind == 5:
        return st.booleans()
    if kind in (6, 9):
        return st.sampled_from([*harness.members(), scene.standin.bot_user])
    if kind == 7:
        types = option.get("channel_types")
        channels = [c for c in scene.guild.channels.values() if types is None or int(c.type) in types]
        return st.sampled_from(channels)
    if kind == 8:
        roles: list[Role] = list(scene.guild.roles.values())
        return st.sampled_from(roles)
    if kind == 11:
        return st.builds(Upload, st.just("file.txt"), st.binary(max_size=64))
    raise AssertionError(f"no strategy for option type {kind}")


# --------------------------------------------------------------------------- checks


def one_clear_answer(inter: Interaction) -> None:
    """Answered once, in words (or a form), and not with the apology for a bug."""
    assert inter.is_answered, inter.label
    if inter.modal is not None:
        assert inter.original is None and not inter.followups, inter.label
        return
    assert all(_history_chart(inter, m) for m in inter.followups), f"{inter.label}: more than one answer"
    message = inter.response
    assert message is not None, inter.label
    assert message.content or message.embeds or message.files, f"{inter.label}: an empty answer"
    assert UNEXPECTED not in message.content, f"{inter.label}: {message.content}"


def _history_chart(inter: Interaction, message: Message) -> bool:
    """``/checkin history`` answers its numbers, then sends the chart (or the note that it failed) as a
    follow-up: the one follow-up allowed."""
    if not inter.label.startswith("/checkin history") or message is not inter.followups[0]:
        return False
    return [name for name, _ in message.files] == [CHART_FILENAME] or message.content == CHART_FAILED


def no_pings(harness: Harness, since: int) -> None:
    """Nothing the bot sent since ``since`` could notify anyone; the only exception by design is an
    introduction thread's welcome, which pings exactly the pair."""
    threads = {t.id for t in harness.standin.threads_created}
    for record in harness.standin.requests[since:]:
        if record.status >= 300:
            continue
        parts = record.path.strip("/").split("/")
        in_intro_thread = len(parts) >= 2 and parts[0] == "channels" and parts[1].isdigit() and int(parts[1]) in threads
        found = pings(record)
        if in_intro_thread:
            assert all(p.startswith("user:") for p in found) and len(found) <= 2, found
        else:
            assert found == set(), f"{record.method} {record.path} could ping {found}: {record.body}"


# --------------------------------------------------------------------------- hostile names, every command once


def test_hostile_names_go_through_the_nudges_as_plain_text_pinging_nobody(harness: Harness) -> None:
    """Members named ``@everyone``, in markdown, right-to-left or zero-width go quiet: their DMs and the
    moderators' notices show the names as plain text and ping nobody."""
    scene = harness.scene
    run, invoke = harness.run, scene.standin.invoke
    run(invoke(scene.mod, "settings moderator-channel", {"channel": scene.mod_channel}))
    for member in harness.hostile:
        run(invoke(member, "nudges on"))
    nudges = cog(scene, "Nudges", Nudges)
    since = len(scene.standin.requests)
    for _ in range(8):
        scene.clock.advance(days=1)
        run(nudges.run_sweep_now())
    no_pings(harness, since)
    for member in harness.hostile:
        (dm,) = [m for m in member.dms_from_bot() if m.embeds and m.embeds[0].get("title") == "Thinking of you"]
        assert escape_markdown(member.nick or member.name) in dm.embeds[0]["description"]
    notices = [m for m in scene.mod_channel.bot_messages() if m.interaction is None]
    assert len(notices) == len(harness.hostile)


def test_every_command_once_with_hostile_values(harness: Harness) -> None:
    """Each synced command once, every option given a hostile value at its bounds: one clear answer each."""
    scene = harness.scene
    for leaf in harness.leaves():
        options = {o["name"]: _hostile(harness, o) for o in leaf.options}
        since = len(scene.standin.requests)
        inter = harness.run(scene.standin.invoke(scene.mod, leaf.path, options, answer_timeout=10))
        one_clear_answer(inter)
        no_pings(harness, since)


def _hostile(harness: Harness, option: dict[str, Any]) -> Any:
    if int(option["type"]) == 3 and not option.get("choices"):
        text = "@everyone '; DROP TABLE checkins; -- **x** \u202e🧑‍🤝‍🧑\u200b " * 50
        return text[: int(option.get("max_length", 100))]
    if int(option["type"]) in (4, 10) and not option.get("choices"):
        return int(option.get("max_value", 2**53))
    if int(option["type"]) in (6, 9):
        return harness.hostile[0]
    return _smallest(harness, option)


# --------------------------------------------------------------------------- the properties


@settings(EXAMPLES, max_examples=150)
@given(data=st.data())
def test_any_command_with_any_options_gets_one_clear_answer(harness: Harness, data: st.DataObject) -> None:
    """Every synced command with values across their whole range: one clear answer, no pings."""
    leaf = data.draw(st.sampled_from(harness.leaves()), label="command")
    who = harness.scene.mod if leaf.moderators_only else data.draw(st.sampled_from(harness.members()), label="who")
    options: dict[str, Any] = {}
    for option in leaf.options:
        if option.get("required") or data.draw(st.booleans(), label=f"give {option['name']}"):
            options[option["name"]] = data.draw(option_value(harness, option), label=option["name"])
    since = len(harness.standin.requests)
    inter = harness.run(harness.standin.invoke(who, leaf.path, options, answer_timeout=10))
    one_clear_answer(inter)
    no_pings(harness, since)


@EXAMPLES
@given(note=st.data(), mood=st.integers(1, 5), craving=st.integers(0, 10), sober=st.booleans())
def test_a_hostile_note_is_stored_exactly_and_never_shared(
    harness: Harness, note: st.DataObject, mood: int, craving: int, sober: bool
) -> None:
    """A check-in note of any text is kept exactly as typed (trimmed), shown to nobody else, and the
    shared summary pings nobody."""
    scene = harness.scene
    text = note.draw(hostile_text(harness, 1, 1000), label="note")
    who = note.draw(st.sampled_from([scene.alice, scene.carl, *harness.hostile]), label="who")
    harness.run(scene.standin.invoke(scene.mod, "settings checkin-channel", {"channel": scene.checkins}))
    since = len(scene.standin.requests)
    before = {m.id for m in scene.checkins.bot_messages()}
    options = {"mood": mood, "craving": craving, "sober": sober, "note": text, "share": True}
    inter = harness.run(scene.standin.invoke(who, "checkin today", options, answer_timeout=10))
    one_clear_answer(inter)
    no_pings(harness, since)
    sql = "SELECT note FROM checkins WHERE guild_id = ? AND user_id = ?"
    stored = query(scene.db_path, sql, scene.guild.id, who.id)
    if "saved" in inter.content or "replaced" in inter.content:
        assert stored == [(text.strip() or None,)]
    for shared in [m for m in scene.checkins.bot_messages() if m.interaction is None and m.id not in before]:
        assert SUMMARY.fullmatch(shared.content), shared.content  # mood, craving, sober: never the note


@EXAMPLES
@given(data=st.data())
def test_hostile_crisis_resources_are_shown_as_typed_without_pings(harness: Harness, data: st.DataObject) -> None:
    """The moderators' form takes any text up to its limit; /sos then shows it, pinging nobody."""
    scene = harness.scene
    text = data.draw(hostile_text(harness, 0, 1500), label="resources")
    opened = harness.run(scene.standin.invoke(scene.mod, "settings crisis-resources"))
    assert opened.modal is not None
    (field,) = [c for row in opened.modal["components"] for c in _inputs(row)]
    since = len(scene.standin.requests)
    saved = harness.run(scene.standin.submit_modal(scene.mod, opened, {field: text}, answer_timeout=10))
    one_clear_answer(saved)
    who = data.draw(st.sampled_from(harness.members()), label="who")
    answer = harness.run(scene.standin.invoke(who, "sos"))
    one_clear_answer(answer)
    if text.strip():
        assert answer.embeds[0]["description"] == text.strip()
    no_pings(harness, since)


def _inputs(component: dict[str, Any]) -> list[str]:
    """The custom ids of the text inputs in a modal's component (a label or an action row)."""
    inner = component.get("components") or ([component["component"]] if "component" in component else [])
    return [c["custom_id"] for c in inner if c.get("type") == 4]


@EXAMPLES
@given(data=st.data())
def test_typing_anything_into_an_autocomplete_gets_valid_choices(harness: Harness, data: st.DataObject) -> None:
    """Timezone and quote searches answer any typed text with at most 25 choices Discord accepts."""
    scene = harness.scene
    command, option = data.draw(st.sampled_from([("checkin timezone", "zone"), ("peersupport quote", "search")]))
    typed = data.draw(hostile_text(harness, 0, 100), label="typed")
    choices = harness.run(scene.standin.autocomplete(scene.alice, command, {option: typed}, focused=option))
    assert len(choices) <= 25
    for choice in choices:
        assert 0 < len(choice["name"]) <= 100 and 0 < len(str(choice["value"])) <= 100


# --------------------------------------------------------------------------- at and beyond the bounds


def test_values_beyond_the_bounds_are_refused_by_discord_and_never_reach_the_bot(harness: Harness) -> None:
    """Discord's client refuses a number past an option's range or a text past its length; the values
    at the bounds themselves are answered."""
    before = len(harness.standin.interactions)
    checked = 0
    for leaf in harness.leaves():
        who = harness.scene.mod
        for option in leaf.options:
            base = {o["name"]: _smallest(harness, o) for o in leaf.options if o.get("required") and o is not option}
            for beyond in _beyond(option):
                given: dict[str, Any] = {**base, option["name"]: beyond}
                with pytest.raises(InvocationRefused):
                    harness.run(harness.standin.invoke(who, leaf.path, given))
                checked += 1
    assert checked >= 10
    assert len(harness.standin.interactions) == before
    at_bounds: list[tuple[str, dict[str, Any]]] = [
        ("checkin today", {"mood": 5, "craving": 10, "sober": False, "note": "n" * 1000}),
        ("checkin today", {"mood": 1, "craving": 0, "sober": True, "note": "n"}),
        ("checkin history", {"days": 7}),
        ("checkin history", {"days": 90}),
        ("nudges pause", {"days": 30}),
        ("nudges pause", {"days": 1}),
    ]
    for path, options in at_bounds:
        one_clear_answer(harness.run(harness.standin.invoke(harness.scene.alice, path, options, answer_timeout=10)))


def _beyond(option: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    if "min_value" in option:
        out.append(int(option["min_value"]) - 1)
    if "max_value" in option:
        out.append(int(option["max_value"]) + 1)
    if int(option["type"]) == 3 and "max_length" in option and not option.get("choices"):
        out.append("x" * (int(option["max_length"]) + 1))
    return out


def _smallest(harness: Harness, option: dict[str, Any]) -> Any:
    kind = int(option["type"])
    if option.get("choices"):
        return option["choices"][0]["value"]
    if kind == 3:
        return "x" * max(1, int(option.get("min_length", 1)))
    if kind in (4, 10):
        return int(option.get("min_value", 0))
    if kind == 5:
        return True
    if kind in (6, 9):
        return harness.scene.alice
    if kind == 7:
        return harness.scene.general
    if kind == 8:
        return harness.scene.womens_house
    raise AssertionError(kind)


def test_the_database_stays_consistent(harness: Harness) -> None:
    """After everything above: integrity and foreign keys hold, and the bot still answers."""
    database_is_sound(harness.scene.db_path)
    assert query(harness.scene.db_path, "SELECT count(*) FROM checkins WHERE length(note) > 1000") == [(0,)]
    answer = harness.run(harness.standin.invoke(harness.scene.alice, "about"))
    one_clear_answer(answer)
    assert [t.type for t in harness.standin.threads_created if t.type is not ChannelType.PRIVATE_THREAD] == []

"""Tests for the guidance passages (data/guidance.toml) and bot.services.guidance."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from random import Random

import pytest

from bot.services.guidance import (
    DEFAULT_GUIDANCE_PATH,
    MAX_TITLE_LENGTH,
    GuidanceError,
    GuidanceLibrary,
    Passage,
    split_text,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
ARTICLE_PATH = REPO_ROOT.parent / "shared" / "article" / "drug-rehab-programs-and-peer-support.txt"
SOURCE_TITLE = "Drug Rehab Programs & The Importance of Peer Support"

# Passages whose paragraphs are each verbatim but not one contiguous stretch of the article.
NOT_CONTIGUOUS: frozenset[str] = frozenset()

REQUIRED = {
    "isnt-therapists": "what-it-isnt",
    "isnt-sponsors": "what-it-isnt",
    "isnt-opposite-sex": "what-it-isnt",
}
REQUIRED_TOPICS = ["stages", "why", "what-it-is", "what-it-isnt"]

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def library() -> GuidanceLibrary:
    """The shipped guidance library."""
    return GuidanceLibrary.load()


@pytest.fixture(scope="module")
def article() -> str:
    """The article the passages quote."""
    assert ARTICLE_PATH.is_file(), f"the article is missing: {ARTICLE_PATH}"
    return ARTICLE_PATH.read_text(encoding="utf-8")


def _passage_toml(fields: dict[str, object]) -> str:
    lines = ["[[passage]]"]
    for key, value in fields.items():
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _good(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {"id": "p-1", "topic": "why", "title": "A title", "text": "Some text."}
    fields.update(overrides)
    return fields


WriteToml = Callable[..., Path]


@pytest.fixture
def write_toml(tmp_path: Path) -> WriteToml:
    """Write a guidance file from a source title and passage field dicts; return its path."""

    def write(*passages: dict[str, object], source_title: object = "Source", raw: str | None = None) -> Path:
        path = tmp_path / "guidance.toml"
        if raw is None:
            head = "" if source_title is None else f"source_title = {json.dumps(source_title)}\n\n"
            raw = head + "\n".join(_passage_toml(p) for p in passages)
        path.write_text(raw, encoding="utf-8")
        return path

    return write


def _expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(GuidanceError) as info:
        GuidanceLibrary.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _make(*specs: tuple[str, str, str]) -> GuidanceLibrary:
    """A library from (id, title, text) triples, all in topic 'why'."""
    return GuidanceLibrary("Source", [Passage(id=i, topic="why", title=t, text=x) for i, t, x in specs])


def _ids(passages: list[Passage]) -> list[str]:
    return [p.id for p in passages]


# --------------------------------------------------------------------------- the shipped file


def test_default_path_is_the_repos_data_file() -> None:
    """DEFAULT_GUIDANCE_PATH is data/guidance.toml at the repository root."""
    assert REPO_ROOT / "data" / "guidance.toml" == DEFAULT_GUIDANCE_PATH
    assert DEFAULT_GUIDANCE_PATH.is_file()


def test_shipped_file_loads(library: GuidanceLibrary) -> None:
    """The shipped file loads, with the article's title and at least the required passages."""
    assert library.source_title == SOURCE_TITLE
    assert len(library) >= 8
    assert len(list(library)) == len(library)
    assert all(isinstance(p, Passage) for p in library)


def test_source_title_is_the_articles_title(library: GuidanceLibrary, article: str) -> None:
    """source_title is verbatim the article's title (its first line)."""
    assert article.splitlines()[0] == library.source_title
    assert library.source_title in article


def test_every_paragraph_is_verbatim_in_the_article(library: GuidanceLibrary, article: str) -> None:
    """Every paragraph of every passage appears word for word in the article."""
    offenders = [
        (p.id, paragraph[:60])
        for p in library
        for paragraph in _PARAGRAPH_BREAK.split(p.text)
        if paragraph.strip() not in article
    ]
    assert offenders == []


def test_passages_are_contiguous_in_the_article(library: GuidanceLibrary, article: str) -> None:
    """Each passage (bar declared exceptions) is one contiguous stretch of the article."""
    offenders = [p.id for p in library if p.id not in NOT_CONTIGUOUS and p.text not in article]
    assert offenders == []


def test_no_blog_boilerplate_or_bullets(library: GuidanceLibrary) -> None:
    """No passage carries the blog's comment boilerplate or a list bullet."""
    for p in library:
        assert "Leave a Reply" not in p.text
        assert "Responses to" not in p.text
        assert "•" not in p.text
        assert p.text == p.text.strip()


def test_required_passages_and_topics(library: GuidanceLibrary) -> None:
    """The required ids exist in their topics, and every required topic has passages."""
    for passage_id, topic in REQUIRED.items():
        assert library.get(passage_id).topic == topic
    assert library.topics() == REQUIRED_TOPICS
    assert _ids(library.by_topic("what-it-isnt")) == ["isnt-therapists", "isnt-sponsors", "isnt-opposite-sex"]
    starts = [p.text.split(":")[0] for p in library.by_topic("what-it-isnt")]
    assert starts == ["Therapists", "Sponsors", "The Opposite Sex"]


def test_required_content_is_in_the_right_topics(library: GuidanceLibrary) -> None:
    """Stages, support/isolation, filling the void and the definition sit in their topics."""

    def topic_has(topic: str, phrase: str) -> bool:
        return sum(phrase in p.text for p in library.by_topic(topic)) == 1

    assert topic_has("stages", "first detox treatment, then inpatient treatment")
    assert topic_has("stages", "that addicts relapse.")
    assert topic_has("stages", "Structure and setting.")
    assert topic_has("why", "It is up to the addicts themselves to form their own support network.")
    assert topic_has("why", "Peer support helps to fill the void")
    assert topic_has("what-it-is", "Peer support is a helping hand")
    # The stages passage and the structure/setting passage are separate passages.
    stages = library.by_topic("stages")
    assert len(stages) >= 2
    assert not any("detox" in p.text and "Structure and setting" in p.text for p in stages)


def test_shipped_fields_are_well_formed(library: GuidanceLibrary) -> None:
    """Ids are unique slugs, titles are short, texts keep the article's typography."""
    ids = [p.id for p in library]
    assert len(set(ids)) == len(ids)
    for p in library:
        assert re.fullmatch(r"[a-z0-9-]+", p.id)
        assert re.fullmatch(r"[a-z0-9-]+", p.topic)
        assert 0 < len(p.title) <= MAX_TITLE_LENGTH
    assert "couldn’t relapse" in library.get("stages-and-relapse").text
    assert "other addicts\u00a0— their peers" in library.get("filling-the-void").text


# --------------------------------------------------------------------------- validation


def test_a_minimal_valid_file_loads(write_toml: WriteToml) -> None:
    """A minimal valid file loads; title and text are stripped."""
    lib = GuidanceLibrary.load(write_toml(_good(title="  Padded  ", text="\n  Body text.  \n")))
    assert lib.source_title == "Source"
    assert lib.get("p-1") == Passage(id="p-1", topic="why", title="Padded", text="Body text.")


def test_multi_line_literal_text_keeps_typography(write_toml: WriteToml) -> None:
    """A '''literal''' text keeps quotes, dashes and paragraph breaks, minus the edge newlines."""
    raw = (
        'source_title = "S"\n[[passage]]\nid = "a"\ntopic = "t"\ntitle = "T"\n'
        "text = '''\nIt’s “quoted” — \\n not escaped.\n\nSecond paragraph.\n'''\n"
    )
    lib = GuidanceLibrary.load(write_toml(raw=raw))
    assert lib.get("a").text == "It’s “quoted” — \\n not escaped.\n\nSecond paragraph."


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a GuidanceError naming the file."""
    _expect_error(tmp_path / "nope.toml", "not found")


def test_invalid_toml(write_toml: WriteToml) -> None:
    """A syntax error is a GuidanceError naming the file."""
    _expect_error(write_toml(raw='source_title = "S"\n[[passage]\nid = '), "not valid TOML")


def test_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a GuidanceError, not a UnicodeDecodeError."""
    path = tmp_path / "guidance.toml"
    path.write_bytes(b'source_title = "\xff"\n')
    _expect_error(path, "not valid TOML")


@pytest.mark.parametrize("source_title", [None, "", "   ", 42])
def test_bad_source_title(write_toml: WriteToml, source_title: object) -> None:
    """A missing, empty or non-string source_title is rejected."""
    _expect_error(write_toml(_good(), source_title=source_title), "source_title")


def test_no_passages(write_toml: WriteToml) -> None:
    """A file without [[passage]] tables is rejected."""
    _expect_error(write_toml(), "no passages")


def test_passage_not_an_array_of_tables(write_toml: WriteToml) -> None:
    """A single [passage] table instead of [[passage]] is rejected."""
    raw = 'source_title = "S"\n[passage]\nid = "a"\ntopic = "t"\ntitle = "T"\ntext = "x"\n'
    _expect_error(write_toml(raw=raw), "[[passage]]")


@pytest.mark.parametrize("field", ["id", "topic", "title", "text"])
def test_missing_field(write_toml: WriteToml, field: str) -> None:
    """A passage missing any field is rejected, naming the passage and the field."""
    fields = _good(id="the-one")
    del fields[field]
    message = _expect_error(write_toml(_good(id="first"), fields), "passage #2", f"'{field}'", "missing")
    if field != "id":
        assert "'the-one'" in message


@pytest.mark.parametrize("field", ["id", "topic", "title", "text"])
@pytest.mark.parametrize("value", ["", "  \n\t ", 7, ["x"]])
def test_field_not_a_non_empty_string(write_toml: WriteToml, field: str, value: object) -> None:
    """A field that is not a string, or is blank, is rejected, naming the field."""
    _expect_error(write_toml(_good(**{field: value})), "passage #1", f"'{field}'")


def test_duplicate_id(write_toml: WriteToml) -> None:
    """Two passages with the same id are rejected, naming the id and both passages."""
    _expect_error(write_toml(_good(id="dup"), _good(id="ok"), _good(id="dup")), "'dup'", "#3", "#1", "duplicate")


@pytest.mark.parametrize("field", ["id", "topic"])
@pytest.mark.parametrize("value", ["Upper", "snake_case", "with space", " padded", "trailing\n", "é"])
def test_field_not_a_slug(write_toml: WriteToml, field: str, value: str) -> None:
    """An id or topic that is not a lowercase slug is rejected."""
    _expect_error(write_toml(_good(**{field: value})), f"'{field}'", "slug")


def test_title_length_limit(write_toml: WriteToml) -> None:
    """A title of 100 characters is fine; 101 is rejected, naming the field and the limit."""
    GuidanceLibrary.load(write_toml(_good(title="x" * MAX_TITLE_LENGTH)))
    _expect_error(write_toml(_good(id="long", title="x" * (MAX_TITLE_LENGTH + 1))), "'long'", "'title'", "100")


def test_constructor_rejects_duplicates_and_empty() -> None:
    """Building a library directly still refuses duplicate ids, no passages and no title."""
    p = Passage(id="a", topic="t", title="T", text="x")
    with pytest.raises(GuidanceError):
        GuidanceLibrary("S", [p, p])
    with pytest.raises(GuidanceError):
        GuidanceLibrary("S", [])
    with pytest.raises(GuidanceError):
        GuidanceLibrary(" ", [p])


# --------------------------------------------------------------------------- lookup


def test_get(library: GuidanceLibrary) -> None:
    """get returns the passage by id and raises KeyError for an unknown id."""
    assert library.get("isnt-sponsors").text.startswith("Sponsors: Sponsors can be friends")
    with pytest.raises(KeyError):
        library.get("no-such-passage")


def test_by_topic(library: GuidanceLibrary) -> None:
    """by_topic keeps file order, returns [] for an unknown topic and a fresh list each time."""
    in_file_order = [p for p in library if p.topic == "why"]
    assert library.by_topic("why") == in_file_order
    assert library.by_topic("nonexistent") == []
    library.by_topic("why").clear()
    assert library.by_topic("why") == in_file_order
    assert sum(len(library.by_topic(t)) for t in library.topics()) == len(library)


def test_random_is_reproducible_with_a_seed(library: GuidanceLibrary) -> None:
    """The same seed gives the same choices; enough draws reach every passage."""
    first = [library.random(rng=Random(1234)).id for _ in range(3)]
    again = [library.random(rng=Random(1234)).id for _ in range(3)]
    assert first == again
    rng_a, rng_b = Random(99), Random(99)
    assert [library.random(rng=rng_a) for _ in range(20)] == [library.random(rng=rng_b) for _ in range(20)]
    rng = Random(5)
    assert {library.random(rng=rng).id for _ in range(500)} == {p.id for p in library}
    assert library.random() in list(library)


def test_random_restricted_to_a_topic(library: GuidanceLibrary) -> None:
    """random(topic) only returns passages of that topic; an unknown topic is a KeyError."""
    rng = Random(7)
    drawn = {library.random("what-it-isnt", rng=rng).id for _ in range(200)}
    assert drawn == set(REQUIRED)
    with pytest.raises(KeyError):
        library.random("nonexistent", rng=rng)


# --------------------------------------------------------------------------- search


def test_search_title_beats_text() -> None:
    """A title match ranks above a text match of the same strength, despite file order."""
    lib = _make(
        ("text-only", "Morning routine", "Call your sponsor before breakfast."),
        ("title", "Finding a sponsor", "Ask around at meetings."),
        ("neither", "Evening routine", "Lights out by ten."),
    )
    assert _ids(lib.search("sponsor")) == ["title", "text-only"]


def test_search_phrase_beats_all_words_beats_any_word() -> None:
    """An exact phrase ranks above all the words, which ranks above any of them."""
    lib = _make(
        ("any", "A", "Someone to cry with."),
        ("all", "B", "On the shoulder of a friend, cry if you need to."),
        ("phrase", "C", "A shoulder to cry on, always."),
        ("none", "D", "Nothing relevant here."),
    )
    assert _ids(lib.search("shoulder to cry on")) == ["phrase", "all", "any"]


def test_search_title_phrase_and_text_phrase_both_beat_scattered_title_words() -> None:
    """A phrase in the text beats the query's words scattered over a title."""
    lib = _make(
        ("scattered", "Peer groups and support", "Unrelated body."),
        ("phrase", "Something else", "This is peer support at work."),
    )
    assert _ids(lib.search("peer support")) == ["phrase", "scattered"]


def test_search_ties_keep_file_order() -> None:
    """Equally good matches come back in file order."""
    lib = _make(("b", "One", "relapse here"), ("a", "Two", "relapse there"), ("c", "Three", "relapse again"))
    assert _ids(lib.search("relapse")) == ["b", "a", "c"]


def test_search_ignores_case_and_apostrophe_style(library: GuidanceLibrary) -> None:
    """Case, ’ versus ' and Unicode width make no difference."""
    typographic = _ids(library.search("isn’t"))
    assert typographic
    assert _ids(library.search("isn't")) == typographic
    assert _ids(library.search("ISN'T")) == typographic
    assert _ids(library.search("Isnt")) == typographic
    assert _ids(library.search("SPONSOR")) == _ids(library.search("sponsor"))
    assert _ids(library.search("ｓｐｏｎｓｏｒ")) == _ids(library.search("sponsor"))  # fullwidth, NFKC
    assert _ids(library.search("couldn't relapse"))[0] == "stages-and-relapse"


def test_search_matches_word_prefixes_for_autocomplete(library: GuidanceLibrary) -> None:
    """A partly typed word already finds its passage."""
    assert _ids(library.search("spons"))[0] == "isnt-sponsors"
    assert _ids(library.search("opposite s"))[0] == "isnt-opposite-sex"


def test_search_shipped_passages(library: GuidanceLibrary) -> None:
    """Quoting the article finds the right passage first."""
    assert _ids(library.search("It is up to the addicts themselves"))[0] == "support-and-isolation"
    assert _ids(library.search("fill the void"))[0] == "filling-the-void"
    assert _ids(library.search("therapists"))[0] == "isnt-therapists"
    assert set(_ids(library.search("shoulder to cry on"))) == {"filling-the-void", "what-it-is"}


def test_search_empty_and_no_match(library: GuidanceLibrary) -> None:
    """A blank or punctuation-only query, or one matching nothing, gives []."""
    assert library.search("") == []
    assert library.search("   \t\n") == []
    assert library.search("?!…") == []
    assert library.search("xylophone") == []
    assert library.search("the", limit=0) == []


def test_search_limit(library: GuidanceLibrary) -> None:
    """At most `limit` results, the best ones."""
    everything = library.search("the")
    assert len(everything) == len(library)
    assert library.search("the", limit=3) == everything[:3]
    assert len(library.search("the")) <= 25


# --------------------------------------------------------------------------- split_text


def _check_chunks(text: str, chunks: list[str], limit: int) -> None:
    assert all(0 < len(c) <= limit for c in chunks), [len(c) for c in chunks]
    assert all(c == c.strip() for c in chunks)
    assert all(c in text for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_split_short_text_is_one_chunk() -> None:
    """Text within the limit comes back whole (stripped); blank text gives []."""
    assert split_text("  Hello there.  ", 20) == ["Hello there."]
    assert split_text("x" * 1024) == ["x" * 1024]
    assert split_text("") == []
    assert split_text(" \n\n ") == []


def test_split_prefers_paragraph_breaks() -> None:
    """A paragraph break is used even when a later sentence end would also fit."""
    text = "First para.\n\nSecond one. Still second."
    assert split_text(text, 30) == ["First para.", "Second one. Still second."]
    assert "\n\n".join(split_text(text, 30)) == text


def test_split_then_sentence_ends() -> None:
    """Without a paragraph break, the last sentence end that fits is used."""
    text = "One two. Three four! Five “six.” Seven eight nine"
    assert split_text(text, 33) == ["One two. Three four! Five “six.”", "Seven eight nine"]


def test_split_then_whitespace() -> None:
    """Without a paragraph or sentence break, the last whitespace that fits is used."""
    assert split_text("alpha beta gamma delta", 11) == ["alpha beta", "gamma delta"]
    assert split_text("alpha beta gamma delta", 10) == ["alpha beta", "gamma", "delta"]


def test_split_overlong_word_is_the_only_mid_word_cut() -> None:
    """A single word longer than the limit is the one case cut mid-word."""
    assert split_text("ab abcdefgh cd", 4) == ["ab", "abcd", "efgh", "cd"]


def test_split_rejects_a_non_positive_limit() -> None:
    """A limit below 1 is a ValueError."""
    with pytest.raises(ValueError, match="limit"):
        split_text("text", 0)


def test_split_shipped_passages(library: GuidanceLibrary) -> None:
    """Every shipped passage fits one embed field, and splits cleanly at smaller limits."""
    for p in library:
        assert split_text(p.text) == [p.text]
        for limit in (40, 100, 256):
            _check_chunks(p.text, split_text(p.text, limit), limit)


def test_split_properties_on_random_texts() -> None:
    """Random texts: chunks never exceed the limit, never split a word, keep every word in order."""
    rng = Random(20240611)
    words = ["a", "peer", "support", "isn’t", "“quoted”", "sober-living", "24/7", "it.", "end!", "why?", "…"]
    separators = [" ", " ", " ", "  ", "\n", "\n\n", " \n \n", "\u00a0", "\t"]
    for _ in range(600):
        count = rng.randint(0, 60)
        pieces = []
        for _ in range(count):
            pieces.append(rng.choice(words))
            pieces.append(rng.choice(separators))
        text = rng.choice(["", " ", "\n"]) + "".join(pieces)
        longest = max((len(w) for w in text.split()), default=1)
        limit = rng.randint(longest, longest + 60)
        _check_chunks(text, split_text(text, limit), limit)

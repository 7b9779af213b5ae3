"""Guidance: passages quoted word for word from the peer-support article.

The passages live in ``data/guidance.toml`` (human-editable). This module loads and
validates that file, and offers lookup, random choice, search (for autocomplete and
``/peersupport quote search:``) and :func:`split_text` for fitting a passage into
Discord's length limits. It has no Discord dependency.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

__all__ = [
    "DEFAULT_GUIDANCE_PATH",
    "MAX_TITLE_LENGTH",
    "GuidanceError",
    "GuidanceLibrary",
    "Passage",
    "split_text",
]

DEFAULT_GUIDANCE_PATH: Path = Path(__file__).resolve().parents[2] / "data" / "guidance.toml"
"""The shipped guidance file: ``data/guidance.toml`` at the repository root."""

MAX_TITLE_LENGTH = 100
"""Longest allowed passage title (Discord's limit for choice names and select labels)."""

_SLUG = re.compile(r"[a-z0-9-]+")
_FIELDS = ("id", "topic", "title", "text")


@dataclass(frozen=True, slots=True)
class Passage:
    """One verbatim passage of the article."""

    id: str
    topic: str
    title: str
    text: str


class GuidanceError(Exception):
    """The guidance file is missing or invalid; the message names the file and the culprit."""


# --------------------------------------------------------------------------- search helpers

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"'})
_WORD = re.compile(r"\w+")

# Match levels, strongest first. A field's level is the best one it reaches for a query.
_PHRASE, _ALL_WORDS, _ANY_WORD, _NONE = 3, 2, 1, 0

# Words too common to make a passage relevant on their own: an "any word" match needs a
# word not in this list (unless the query has nothing else).
# fmt: off
_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "for", "from", "he", "her",
    "his", "i", "if", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our",
    "she", "so", "than", "that", "the", "their", "them", "then", "they", "this", "to", "was", "we",
    "what", "when", "who", "will", "with", "you", "your",
})
# fmt: on


def _normalise(text: str) -> str:
    """NFKC + casefold, with typographic quotes folded to ASCII ones."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)


def _tokens(text: str) -> tuple[str, ...]:
    """The words of ``text``, normalised; apostrophes are dropped so isn’t = isn't = isnt."""
    return tuple(_WORD.findall(_normalise(text).replace("'", "")))


@dataclass(frozen=True, slots=True)
class _Field:
    """A precomputed, search-ready form of one passage field."""

    loose: str  # " " + the tokens joined by single spaces, for phrase search
    vocabulary: tuple[str, ...]  # the distinct tokens, sorted, for prefix look-ups

    @classmethod
    def of(cls, text: str) -> _Field:
        words = _tokens(text)
        return cls(" " + " ".join(words), tuple(sorted(set(words))))

    def has_word(self, prefix: str) -> bool:
        """Whether some word of the field starts with ``prefix`` (so partial words match)."""
        i = bisect_left(self.vocabulary, prefix)
        return i < len(self.vocabulary) and self.vocabulary[i].startswith(prefix)

    def level(self, phrase: str, words: Sequence[str], key_words: Sequence[str]) -> tuple[int, int]:
        """The match level, and how many of ``key_words`` (the query's telling words) occur."""
        matched = sum(self.has_word(w) for w in key_words)
        # " " + phrase anchors the phrase at a word start; its last word may be partial.
        if " " + phrase in self.loose:
            return _PHRASE, matched
        if all(self.has_word(w) for w in words):
            return _ALL_WORDS, matched
        return (_ANY_WORD if matched else _NONE), matched


# --------------------------------------------------------------------------- the library


class GuidanceLibrary:
    """The validated guidance passages, in file order."""

    source_title: str
    passages: tuple[Passage, ...]

    def __init__(self, source_title: str, passages: Sequence[Passage]) -> None:
        """Build a library from passages already in hand (tests, tools).

        Only checks that there is a title, at least one passage and no duplicate id;
        :meth:`load` validates a file fully.
        """
        if not source_title.strip():
            raise GuidanceError("guidance: source_title is empty")
        if not passages:
            raise GuidanceError("guidance: there are no passages")
        by_id: dict[str, Passage] = {}
        for passage in passages:
            if passage.id in by_id:
                raise GuidanceError(f"guidance: duplicate passage id {passage.id!r}")
            by_id[passage.id] = passage
        self.source_title = source_title.strip()
        self.passages = tuple(passages)
        self._by_id = by_id
        self._by_topic: dict[str, list[Passage]] = {}
        for passage in self.passages:
            self._by_topic.setdefault(passage.topic, []).append(passage)
        self._index = [(_Field.of(p.title), _Field.of(p.text)) for p in self.passages]

    # ----------------------------------------------------------------------- loading

    @classmethod
    def load(cls, path: Path | None = None) -> GuidanceLibrary:
        """Load and validate a guidance file (default: :data:`DEFAULT_GUIDANCE_PATH`).

        Raises :class:`GuidanceError` with an operator-readable message on any problem.
        """
        path = DEFAULT_GUIDANCE_PATH if path is None else path
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise GuidanceError(f"{path}: guidance file not found") from None
        except OSError as exc:
            raise GuidanceError(f"{path}: cannot read guidance file: {exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise GuidanceError(f"{path}: not valid TOML: {exc}") from exc
        return cls._from_data(data, source=str(path))

    @classmethod
    def _from_data(cls, data: Mapping[str, Any], *, source: str) -> GuidanceLibrary:
        source_title = data.get("source_title")
        if not isinstance(source_title, str) or not source_title.strip():
            raise GuidanceError(f"{source}: 'source_title' must be a non-empty string at the top of the file")
        raw_passages = data.get("passage")
        if raw_passages is None or raw_passages == []:
            raise GuidanceError(f"{source}: no passages (expected one or more [[passage]] tables)")
        if not isinstance(raw_passages, list):
            raise GuidanceError(f"{source}: 'passage' must be an array of tables, written as [[passage]]")
        passages: list[Passage] = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(raw_passages, start=1):
            passage = _parse_passage(raw, source=source, number=number)
            if passage.id in seen:
                raise GuidanceError(
                    f"{source}: passage #{number} (id {passage.id!r}): duplicate id,"
                    f" already used by passage #{seen[passage.id]}"
                )
            seen[passage.id] = number
            passages.append(passage)
        return cls(source_title, passages)

    # ----------------------------------------------------------------------- lookup

    def get(self, passage_id: str) -> Passage:
        """The passage with this id; :class:`KeyError` if there is none."""
        try:
            return self._by_id[passage_id]
        except KeyError:
            raise KeyError(f"no guidance passage with id {passage_id!r}") from None

    def by_topic(self, topic: str) -> list[Passage]:
        """The passages of a topic, in file order; ``[]`` for an unknown topic."""
        return list(self._by_topic.get(topic, ()))

    def topics(self) -> list[str]:
        """The distinct topics, in order of first appearance in the file."""
        return list(self._by_topic)

    def random(self, topic: str | None = None, rng: Random | None = None) -> Passage:
        """A random passage, optionally from one topic; :class:`KeyError` for an unknown topic.

        Pass a seeded :class:`random.Random` for reproducible choices.
        """
        pool: Sequence[Passage] = self.passages if topic is None else self._by_topic.get(topic, ())
        if not pool:
            raise KeyError(f"no guidance passages with topic {topic!r}")
        # Choosing a quote to show, not a secret: a non-cryptographic generator is right here.
        chooser = rng if rng is not None else Random()  # noqa: S311
        return chooser.choice(pool)

    def search(self, query: str, limit: int = 25) -> list[Passage]:
        """Passages matching ``query``, best first, at most ``limit`` of them.

        Matching ignores case, Unicode form and the ’/' difference, and a query's words
        may be prefixes of the text's words (for autocomplete). Ranking: an exact phrase
        beats all the words, which beats any of the words (very common words such as
        "the" or "to" do not count for "any"); at the same strength a title match beats a
        text match, then more of the query's words beats fewer; ties keep file order. A
        blank query, or one matching nothing, gives ``[]``.
        """
        words = _tokens(query)
        if not words or limit <= 0:
            return []
        phrase = " ".join(words)
        key_words = [w for w in words if w not in _STOP_WORDS] or list(words)
        scored: list[tuple[int, int, int, int, int]] = []
        for position, (title, text) in enumerate(self._index):
            title_level, title_matched = title.level(phrase, words, key_words)
            text_level, text_matched = text.level(phrase, words, key_words)
            best = max(title_level, text_level)
            if best == _NONE:
                continue
            matched = max(title_matched, text_matched)
            scored.append((-best, -title_level, -text_level, -matched, position))
        scored.sort()
        return [self.passages[key[-1]] for key in scored[:limit]]

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __len__(self) -> int:
        return len(self.passages)

    def __repr__(self) -> str:
        return f"<GuidanceLibrary {self.source_title!r}: {len(self)} passages>"


def _parse_passage(raw: object, *, source: str, number: int) -> Passage:
    where = f"{source}: passage #{number}"
    if not isinstance(raw, dict):
        raise GuidanceError(f"{where}: must be a table, written as [[passage]]")
    raw_id = raw.get("id")
    if isinstance(raw_id, str) and raw_id.strip():
        where = f"{where} (id {raw_id.strip()!r})"
    values: dict[str, str] = {}
    for field in _FIELDS:
        if field not in raw:
            raise GuidanceError(f"{where}: missing field {field!r}")
        value = raw[field]
        if not isinstance(value, str):
            raise GuidanceError(f"{where}: field {field!r} must be a string, not {type(value).__name__}")
        if not value.strip():
            raise GuidanceError(f"{where}: field {field!r} is empty")
        values[field] = value
    for field in ("id", "topic"):
        if not _SLUG.fullmatch(values[field]):
            problem = "is not a lowercase slug (only a-z, 0-9 and '-')"
            raise GuidanceError(f"{where}: field {field!r} is {values[field]!r}, which {problem}")
    title = values["title"].strip()
    if len(title) > MAX_TITLE_LENGTH:
        length = f"{len(title)} characters long; the limit is {MAX_TITLE_LENGTH}"
        raise GuidanceError(f"{where}: field 'title' is {length}")
    text = values["text"].replace("\r\n", "\n").strip()
    return Passage(id=values["id"], topic=values["topic"], title=title, text=text)


# --------------------------------------------------------------------------- splitting

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
# A sentence ends at . ! ? or …, perhaps followed by closing quotes/brackets, then whitespace.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def split_text(text: str, limit: int = 1024) -> list[str]:
    """Split ``text`` into stripped chunks of at most ``limit`` characters.

    Each chunk is cut at the last paragraph break that fits, else the last sentence end,
    else the last whitespace, so words are never split and joining the chunks with
    whitespace ("\\n\\n" between paragraphs, " " otherwise) gives back every word in order.
    Only a single word longer than ``limit`` is cut mid-word, as there is no other way.
    Blank text gives ``[]``.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    text = text.strip()
    chunks: list[str] = []
    pos = 0
    while pos < len(text):
        while text[pos].isspace():
            pos += 1
        if len(text) - pos <= limit:
            chunks.append(text[pos:])
            break
        end = pos + limit  # the chunk is text[pos:cut] with pos < cut <= end
        cut = _last_cut(text, pos, end)
        chunks.append(text[pos:cut].rstrip())
        pos = cut
    return chunks


def _last_cut(text: str, pos: int, end: int) -> int:
    """Where to end the chunk ``text[pos:cut]``: the best ``cut`` with ``pos < cut <= end``."""
    paragraph = _last_match(_PARAGRAPH_BREAK, text, pos, end, use_end=False)
    if paragraph is not None:
        return paragraph
    sentence = _last_match(_SENTENCE_END, text, pos, end, use_end=True)
    if sentence is not None:
        return sentence
    for i in range(end, pos, -1):
        if text[i].isspace():
            return i
    return end  # a single word longer than the limit: nothing to do but cut it


def _last_match(pattern: re.Pattern[str], text: str, pos: int, end: int, *, use_end: bool) -> int | None:
    """The last match boundary (its start, or its end if ``use_end``) in ``(pos, end]``."""
    best: int | None = None
    for match in pattern.finditer(text, pos):
        if match.start() > end:
            break
        boundary = match.end() if use_end else match.start()
        if pos < boundary <= end:
            best = boundary
    return best

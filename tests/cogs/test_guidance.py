"""End-to-end tests of /peersupport through the stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from bot.services.guidance import GuidanceLibrary
from tests.e2e import Scene

LIBRARY = GuidanceLibrary.load()


def quoted_text(embed: dict[str, Any]) -> str:
    """The passage text of an embed, without the quote marks."""
    lines = "\n".join(field["value"] for field in embed["fields"]).splitlines()
    return "\n".join(line.removeprefix("> ").removeprefix(">") for line in lines)


def words(text: str) -> list[str]:
    """The words of a text, for comparing split quotes with their passage."""
    return text.split()


async def test_what_it_is_quotes_the_article_publicly(scene: Scene) -> None:
    """/peersupport what-it-is shows the passage verbatim, titled, with the source, in public."""
    answer = await scene.standin.invoke(scene.alice, "peersupport what-it-is")
    assert not answer.ephemeral
    (embed,) = answer.embeds
    passage = LIBRARY.get("what-it-is")
    assert embed["title"] == passage.title
    assert words(quoted_text(embed)) == words(passage.text)
    assert LIBRARY.source_title in embed["footer"]["text"]


async def test_private_flag_makes_the_answer_ephemeral(scene: Scene) -> None:
    """private:true answers only the member."""
    answer = await scene.standin.invoke(scene.alice, "peersupport what-it-is", {"private": True})
    assert answer.ephemeral


async def test_what_it_isnt_without_topic_shows_all_three(scene: Scene) -> None:
    """Without a topic, therapists, sponsors and the opposite sex each get an embed."""
    answer = await scene.standin.invoke(scene.carl, "peersupport what-it-isnt")
    titles = [embed["title"] for embed in answer.embeds]
    assert titles == [LIBRARY.get(i).title for i in ("isnt-therapists", "isnt-sponsors", "isnt-opposite-sex")]


@pytest.mark.parametrize(
    ("topic", "passage_id"),
    [("therapists", "isnt-therapists"), ("sponsors", "isnt-sponsors"), ("opposite-sex", "isnt-opposite-sex")],
)
async def test_what_it_isnt_each_topic(scene: Scene, topic: str, passage_id: str) -> None:
    """Each topic choice shows its own passage, verbatim."""
    answer = await scene.standin.invoke(scene.carl, "peersupport what-it-isnt", {"topic": topic})
    (embed,) = answer.embeds
    assert words(quoted_text(embed)) == words(LIBRARY.get(passage_id).text)


async def test_why_and_stages_show_their_topics(scene: Scene) -> None:
    """/peersupport why and stages show every passage of their topic, in order."""
    why = await scene.standin.invoke(scene.alice, "peersupport why")
    assert [e["title"] for e in why.embeds] == [p.title for p in LIBRARY.by_topic("why")]
    stages = await scene.standin.invoke(scene.alice, "peersupport stages", {"private": True})
    assert stages.ephemeral
    assert [e["title"] for e in stages.embeds] == [p.title for p in LIBRARY.by_topic("stages")]


async def test_quote_with_search_gives_the_best_match(scene: Scene) -> None:
    """A search picks the best-matching passage."""
    answer = await scene.standin.invoke(scene.alice, "peersupport quote", {"search": "sponsor"})
    (embed,) = answer.embeds
    assert embed["title"] == LIBRARY.search("sponsor")[0].title


async def test_quote_without_search_is_a_passage_of_the_article(scene: Scene) -> None:
    """Without a search, the quote is one of the article's passages."""
    answer = await scene.standin.invoke(scene.alice, "peersupport quote")
    (embed,) = answer.embeds
    assert embed["title"] in {p.title for p in LIBRARY}


async def test_quote_search_with_no_match_answers_privately(scene: Scene) -> None:
    """A search that matches nothing says so, ephemerally, and suggests a random quote."""
    answer = await scene.standin.invoke(scene.alice, "peersupport quote", {"search": "xylophone"})
    assert answer.ephemeral
    assert "xylophone" in answer.content
    assert "/peersupport quote" in answer.content
    assert not answer.embeds


async def test_autocomplete_offers_titles_and_picking_one_quotes_it(scene: Scene) -> None:
    """Typing offers matching titles; choosing one (its id) quotes exactly that passage."""
    choices = await scene.standin.autocomplete(
        scene.alice, "peersupport quote", focused="search", options={"search": "thera"}
    )
    assert choices and choices[0]["name"] == LIBRARY.get("isnt-therapists").title
    empty = await scene.standin.autocomplete(scene.alice, "peersupport quote", focused="search")
    assert len(empty) == min(25, len(LIBRARY))
    answer = await scene.standin.invoke(scene.alice, "peersupport quote", {"search": choices[0]["value"]})
    assert answer.embeds[0]["title"] == LIBRARY.get("isnt-therapists").title


async def test_guidance_works_in_dms(scene: Scene) -> None:
    """The guidance commands answer in a DM with the bot too."""
    answer = await scene.standin.invoke(scene.alice.user, "peersupport why")
    assert answer.embeds


def test_long_passage_is_split_into_fields_never_mid_word() -> None:
    """A passage longer than a field is split into fields within the limit, keeping every word."""
    from bot.services.guidance import Passage
    from cogs.guidance import FIELD_LIMIT, passage_embed

    text = " ".join(f"word{i}" for i in range(900)) + ".\n\nA second paragraph, short."
    embed = passage_embed(Passage("long", "why", "Long", text), "Source").to_dict()
    fields = embed.get("fields", [])
    assert len(fields) > 1
    assert all(len(f["value"]) <= FIELD_LIMIT for f in fields)
    assert words(quoted_text(embed)) == words(text)  # type: ignore[arg-type]

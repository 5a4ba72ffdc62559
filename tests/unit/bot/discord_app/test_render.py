"""Discord rendering: exact embeds for ordinary answers, escaping, and Discord's limits."""

from __future__ import annotations

import discord
import pytest

from bot.discord_app.render import (
    ABSTAIN_COLOUR,
    ANSWER_COLOUR,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FOOTER_LIMIT,
    MESSAGE_EMBED_CHARS,
    NO_SOURCES,
    TITLE_LIMIT,
    corpus_label,
    footer_text,
    pack_messages,
    render_discord,
    render_notice,
    render_sources,
    shown_question,
    split_text,
)
from retrieval.answer import NOT_COVERED, Answer, Citation

QUOTE = "Xi called the issue the “first red line” in the relationship."
PARAGRAPH = f"On Taiwan, a key point of friction: {QUOTE} The readout said so."


def citation(n: int = 1, **changes: object) -> Citation:
    fields: dict[str, object] = {
        "n": n,
        "doc": "xi-biden-call",
        "title": "Xi Biden Call",
        "paragraph": 12,
        "sentence": 2,
        "quote": QUOTE,
        "score": 0.8842,
        "context": PARAGRAPH,
        "reason": "closest in meaning to the question; names Xi",
    }
    fields.update(changes)
    return Citation(**fields)  # type: ignore[arg-type]


def answer(*citations: Citation, question: str = "What did Xi say about Taiwan?") -> Answer:
    cited = citations or (citation(),)
    return Answer(question, " ".join(f"{c.quote} [{c.n}]" for c in cited), False, cited)


def squash(text: str) -> str:
    return "".join(text.split())


def assert_within_limits(embeds: tuple[discord.Embed, ...]) -> None:
    for embed in embeds:
        assert len(embed.title or "") <= TITLE_LIMIT
        assert len(embed.description or "") <= DESCRIPTION_LIMIT
        assert len(embed.footer.text or "") <= FOOTER_LIMIT
        assert len(embed.fields) <= FIELDS_PER_EMBED
        for field in embed.fields:
            assert 0 < len(field.name or "") <= FIELD_NAME_LIMIT
            assert 0 < len(field.value or "") <= FIELD_VALUE_LIMIT
        assert len(embed) <= MESSAGE_EMBED_CHARS
    for message in pack_messages(embeds):
        assert 1 <= len(message) <= EMBEDS_PER_MESSAGE
        assert sum(len(embed) for embed in message) <= MESSAGE_EMBED_CHARS


def test_an_answer_is_one_embed_with_markers_a_field_per_citation_and_a_footer() -> None:
    [embed] = render_discord(answer(), corpus="Xi Biden Call")
    assert embed.to_dict() == {
        "type": "rich",
        "flags": 0,
        "title": "What did Xi say about Taiwan?",
        "description": f"{QUOTE} [1]",
        "color": ANSWER_COLOUR.value,
        "fields": [{"name": "[1] ¶12 · Xi Biden Call", "value": QUOTE, "inline": False}],
        "footer": {"text": "readout · quoting Xi Biden Call"},
    }


def test_a_citation_with_a_url_links_to_the_quoted_sentence() -> None:
    cited = citation(url="https://en.wikipedia.org/wiki/Xi_(leader) page")
    [embed] = render_discord(answer(cited), corpus="c")
    value = embed.fields[0].value or ""
    assert value.startswith(QUOTE)
    link = value.split("\n")[-1]
    assert link.startswith(
        "[Open xi-biden-call:¶12](https://en.wikipedia.org/wiki/Xi_%28leader%29%20page#:~:text="
    )
    assert link.endswith(")") and link.count(")") == 1  # nothing in the url closes the link early


def test_only_web_urls_become_links() -> None:
    [embed] = render_discord(answer(citation(url="javascript:alert(1)")), corpus="c")
    assert embed.fields[0].value == QUOTE


def test_an_abstention_says_plainly_that_the_documents_do_not_cover_it() -> None:
    [embed] = render_discord(Answer.not_covered("What is tungsten?"), corpus="Xi Biden Call")
    assert embed.description == NOT_COVERED
    assert embed.fields == []
    assert embed.colour == ABSTAIN_COLOUR
    assert embed.footer.text == "readout · quoting Xi Biden Call"


def test_markdown_from_people_and_documents_is_shown_not_applied() -> None:
    cited = citation(
        title="The *Real* Story",
        quote="Click [here](https://evil.example) for ||secrets|| and `code`.",
        context="Click [here](https://evil.example) for ||secrets|| and `code`.",
    )
    [embed] = render_discord(answer(cited, question="**Bold** _claim_ > quote"), corpus="c")
    assert embed.title == r"\*\*Bold\*\* \_claim\_ > quote"
    assert embed.fields[0].name == r"[1] ¶12 · The \*Real\* Story"
    value = embed.fields[0].value or ""
    assert r"\[here](https://evil.example)" in value  # no disguised link
    assert r"\|\|secrets\|\|" in value and r"\`code\`" in value
    assert "[1]" in (embed.description or "")  # markers survive escaping


def test_a_huge_answer_is_split_across_fields_embeds_and_messages_without_losing_text() -> None:
    citations = tuple(
        citation(n, title="T" * 400, quote=f"Sentence {n} " + "word " * 700, context="w " * 5000)
        for n in range(1, 41)
    )
    huge = Answer("Q" * 1000, " ".join(f"{c.quote} [{c.n}]" for c in citations), False, citations)
    embeds = render_discord(huge, corpus="c" * 5000)
    assert_within_limits(embeds)
    assert len(pack_messages(embeds)) > 1
    # nothing lost: the description and every quote reappear in order
    description = "".join(e.description or "" for e in embeds)
    assert squash(description) == squash(huge.text)
    for c in citations:
        pieces = [
            f.value or ""
            for e in embeds
            for f in e.fields
            if (f.name or "").startswith(f"[{c.n}] ")
        ]
        assert squash("".join(pieces)) == squash(c.quote)
    assert embeds[-1].footer.text and all(not e.footer.text for e in embeds[:-1])


def test_show_sources_gives_the_full_paragraph_its_score_and_why_it_was_chosen() -> None:
    [embed] = render_sources(answer(citation(url="https://example.com/a")), corpus="c")
    assert embed.title == "[1] ¶12 · Xi Biden Call"
    assert embed.description == PARAGRAPH.replace(QUOTE, f"**{QUOTE}**")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Score"] == "0.88"
    assert fields["Why chosen"] == "closest in meaning to the question; names Xi"
    assert (fields["Link"] or "").startswith(
        "[Open xi-biden-call:¶12](https://example.com/a#:~:text="
    )


def test_show_sources_splits_long_paragraphs_and_handles_answers_without_citations() -> None:
    long = citation(context="word " * 3000)
    embeds = render_sources(answer(long, citation(2)), corpus="c")
    assert_within_limits(embeds)
    assert [e.title for e in embeds if e.title] == [
        "[1] ¶12 · Xi Biden Call",
        "[2] ¶12 · Xi Biden Call",
    ]
    [empty] = render_sources(Answer.not_covered("q"), corpus="c")
    assert empty.description == NO_SOURCES


def test_a_long_notice_is_split_into_messages() -> None:
    parts = render_notice("word " * 1000)
    assert len(parts) == 3 and all(len(p) <= CONTENT_LIMIT for p in parts)
    assert render_notice("Slow down a little: try again in 3 s.") == (
        "Slow down a little: try again in 3 s.",
    )


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("", 10, [""]),
        ("short", 10, ["short"]),
        ("aaaa bbbb cccc", 9, ["aaaa bbbb", "cccc"]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # no space: a hard cut
        ("abc\\*defgh", 4, ["abc", "\\*de", "fgh"]),  # never ends on an escape's backslash
    ],
)
def test_split_text(text: str, limit: int, expected: list[str]) -> None:
    assert split_text(text, limit) == expected


def test_corpus_label_and_footer() -> None:
    assert corpus_label([]) == "the documents"
    assert corpus_label(["B", "A", "A"]) == "A, B"
    assert corpus_label(["D", "C", "B", "A"]) == "A, B and 2 more documents"
    assert footer_text("Xi Biden Call") == "readout · quoting Xi Biden Call"
    assert len(footer_text("x" * 5000)) <= 256


def test_shown_question_reads_back_what_an_answer_message_shows() -> None:
    plain = Answer.quoting("What did *Xi* say?", (CITED_FOR_SHOWN,))
    assert shown_question(render_discord(plain, corpus="c")) == "What did *Xi* say?"
    follow_up = Answer(
        "Who owns it?",
        "ByteDance. [1]",
        False,
        (CITED_FOR_SHOWN,),
        understood_as="Who owns TikTok_s app?",
    )
    assert shown_question(render_discord(follow_up, corpus="c")) == "Who owns TikTok_s app?"
    clipped = Answer.quoting("x" * 300 + "?", (CITED_FOR_SHOWN,))
    assert shown_question(render_discord(clipped, corpus="c")) == ""  # not shown in full
    assert shown_question([]) == ""


CITED_FOR_SHOWN = Citation(1, "d", "T", 1, 1, "A quote.", 0.5)

"""Plain-text rendering for the terminal: exact text for answers, quotes and sources, and how a
follow-up was read before the answer."""

from __future__ import annotations

from bot.render_text import render_answer, render_citations, render_quotes, render_source
from retrieval.answer import Answer, Citation

TAIWAN = Citation(
    1,
    "xi-biden-call",
    "Xi Biden Call",
    12,
    2,
    "Xi called Taiwan the first red line.",
    0.88,
    url="https://example.com/call",
    section="Taiwan",
)
PDF = Citation(2, "report", "Report", 7, 1, "Growth slowed.", 0.5, page=4, page_paragraph=2)


def test_an_answer_then_numbered_sources_with_links() -> None:
    answer = Answer.quoting("What did Xi say?", [TAIWAN, PDF])
    assert render_answer(answer) == (
        "Xi called Taiwan the first red line. [1] Growth slowed. [2]\n\n"
        "Sources:\n"
        "  [1] Xi Biden Call › Taiwan ¶12 (xi-biden-call:12) · score 0.88\n"
        "      https://example.com/call#:~:text=Xi%20called%20Taiwan%20the%20first%20red%20line.\n"
        "  [2] Report p. 4, ¶2 (report:7) · score 0.50"
    )


def test_an_abstention_is_its_text_alone() -> None:
    assert render_answer(Answer.not_covered("Q?")) == Answer.not_covered("Q?").text


def test_quotes_are_numbered_with_where_they_come_from() -> None:
    assert render_citations([TAIWAN]) == (
        "[1] Xi called Taiwan the first red line.\n    — Xi Biden Call › Taiwan, ¶12 "
        "(xi-biden-call:12)"
    )
    none = Answer("Statements attributed to nobody", "I found none.", True)
    assert render_quotes(none) == "I found none."


def test_a_source_is_its_reference_heading_and_text() -> None:
    source = Answer.quoting("Source 12", [TAIWAN])
    assert render_source(source) == (
        "Xi Biden Call · xi-biden-call:¶12\nTaiwan\n\nXi called Taiwan the first red line."
    )


QUOTE = "Biden also expressed concerns about TikTok, which is owned by ByteDance."


def test_a_follow_up_says_how_it_was_read() -> None:
    citation = Citation(1, "xi-biden-call", "Xi Biden Call", 8, 1, QUOTE, 0.9)
    answer = Answer(
        "Who owns it?", f"{QUOTE} [1]", False, (citation,), understood_as="Who owns TikTok?"
    )
    lines = render_answer(answer).splitlines()
    assert lines[0] == "(read as: Who owns TikTok?)"
    assert lines[1].startswith("Biden also expressed")
    assert "(read as" not in render_answer(
        Answer("Who owns TikTok?", f"{QUOTE} [1]", False, (citation,))
    )


def test_an_abstained_follow_up_says_how_it_was_read_too() -> None:
    answer = Answer.not_covered("And Macron?")
    answer = Answer(
        answer.question, answer.text, True, understood_as="What did Macron say about Taiwan?"
    )
    assert render_answer(answer).splitlines()[0] == "(read as: What did Macron say about Taiwan?)"

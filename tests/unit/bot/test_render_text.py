"""Terminal rendering: how a follow-up was read comes before the answer."""

from __future__ import annotations

from bot.render_text import render_answer
from retrieval.answer import Answer, Citation

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

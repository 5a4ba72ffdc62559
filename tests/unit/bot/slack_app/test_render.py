from __future__ import annotations

import json

import pytest

from bot.service import Reply, ReplyKind
from bot.slack_app.render import (
    ANSWER_ACTIONS,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    MAX_BLOCKS,
    MAX_MESSAGES,
    SECTION_LIMIT,
    SHOW_SOURCES,
    TRUNCATED,
    SlackMessage,
    escape,
    render_answer,
    render_notice,
    render_reply,
    render_sources,
    split_text,
)
from retrieval.answer import Answer, Citation

QUOTE = "Xi called the issue the “first red line” in the relationship."
CITATION = Citation(
    n=1,
    doc="xi-biden-call",
    title="Xi Biden Call",
    paragraph=12,
    sentence=0,
    quote=QUOTE,
    score=0.8842,
    context=f"On Taiwan, which is a key point of friction, {QUOTE} It said more.",
    reason="best dense and lexical match",
)
ANSWER = Answer("What did Xi say about Taiwan?", f"{QUOTE} [1]", False, (CITATION,))


def mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def button(label: str, action_id: str) -> dict[str, object]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": "a1",
    }


def test_an_answer_renders_to_exact_blocks() -> None:
    [message] = render_answer(ANSWER, "a1")

    assert message.text == f"{QUOTE} [1]"
    assert list(message.blocks) == [
        {"type": "context", "elements": [mrkdwn("*Q:* What did Xi say about Taiwan?")]},
        {"type": "section", "text": mrkdwn(f"{QUOTE} [1]")},
        {"type": "context", "elements": [mrkdwn(f"*[1]* ¶12 · Xi Biden Call\n“{QUOTE}”")]},
        {
            "type": "actions",
            "block_id": ANSWER_ACTIONS,
            "elements": [
                button("Show sources", SHOW_SOURCES),
                button("👍", FEEDBACK_UP),
                button("👎", FEEDBACK_DOWN),
            ],
        },
    ]


def test_a_citation_with_a_url_links_its_title_to_the_quoted_sentence() -> None:
    cited = Citation(
        1, "doc", "A <Title>", 3, 0, "Short quote.", 0.5, url="https://example.com/a?x=1&y=2"
    )
    [message] = render_answer(Answer("q", "Short quote. [1]", False, (cited,)), "a1")

    line = message.blocks[2]["elements"][0]["text"]
    assert line == (
        "*[1]* ¶3 · <https://example.com/a?x=1&amp;y=2#:~:text=Short%20quote.|A &lt;Title&gt;>"
        "\n“Short quote.”"
    )


def test_urls_that_are_not_http_are_never_linked() -> None:
    cited = Citation(1, "doc", "Title", 3, 0, "Quote.", 0.5, url="javascript:alert(1)")
    [message] = render_answer(Answer("q", "Quote. [1]", False, (cited,)), "a1")

    assert "javascript" not in json.dumps(message.blocks)


def test_an_abstention_says_so_plainly_and_offers_only_feedback() -> None:
    [message] = render_answer(Answer.not_covered("Who won the 1998 World Cup?"), "a1")

    section = message.blocks[1]
    assert section["text"]["text"].startswith("The documents don't cover that question")
    actions = message.blocks[-1]["elements"]
    assert [b["action_id"] for b in actions] == [FEEDBACK_UP, FEEDBACK_DOWN]
    assert len(message.blocks) == 3  # question, the plain statement, feedback


@pytest.mark.parametrize("hostile", ["<!channel>", "<@U123>", "<!here|here>", "<#C1|x>", "a & b"])
def test_text_from_people_and_documents_is_escaped_everywhere(hostile: str) -> None:
    cited = Citation(
        1,
        "doc",
        f"T {hostile}",
        1,
        0,
        f"Q {hostile}.",
        0.5,
        context=f"C {hostile}.",
        reason=f"R {hostile}",
    )
    answer = Answer(f"Ask {hostile}", f"Q {hostile}. [1]", False, (cited,))

    rendered = render_answer(answer, "a1") + render_sources(answer)
    rendered += (render_notice(f"I found no statements attributed to {hostile}."),)

    for message in rendered:
        everything = message.text + json.dumps(message.blocks, ensure_ascii=False)
        assert "<!" not in everything and "<@" not in everything and "<#" not in everything
        assert escape(hostile) in everything
        assert " & " not in everything


def test_every_mrkdwn_text_is_verbatim_so_slack_parses_no_bare_mentions() -> None:
    for message in render_answer(ANSWER, "a1") + render_sources(ANSWER):
        for block in message.blocks:
            texts = [block["text"]] if "text" in block else block.get("elements", [])
            for text in texts:
                if text.get("type") == "mrkdwn":
                    assert text["verbatim"] is True


def test_show_sources_shows_full_paragraphs_scores_and_reasons() -> None:
    [message] = render_sources(ANSWER)

    assert [b["type"] for b in message.blocks] == ["context", "section", "section"]
    header = message.blocks[1]["text"]["text"]
    assert header == (
        "*[1]* Xi Biden Call ¶12 · `xi-biden-call:¶12` · score 0.88\n"
        "_Why:_ best dense and lexical match"
    )
    assert message.blocks[2]["text"]["text"] == CITATION.context
    assert not any(b["type"] == "actions" for b in message.blocks)


def test_notices_are_plain_escaped_text() -> None:
    assert render_notice("Use `/ask <question>` & wait") == SlackMessage(
        "Use `/ask &lt;question&gt;` &amp; wait"
    )
    reply = Reply(ReplyKind.RATE_LIMITED, "Slow down a little: try again in 3 s.", retry_after=3)
    assert render_reply(reply) == (SlackMessage("Slow down a little: try again in 3 s."),)


def test_a_reply_with_an_answer_renders_the_answer() -> None:
    reply = Reply(ReplyKind.ANSWER, ANSWER.text, ANSWER, "a1")
    assert render_reply(reply) == render_answer(ANSWER, "a1")


def test_long_text_is_split_at_whitespace_within_the_section_limit() -> None:
    text = " ".join(["word"] * 2000)  # 9,999 characters

    chunks = split_text(text)

    assert all(len(c) <= SECTION_LIMIT for c in chunks)
    assert " ".join(chunks) == text
    assert len(chunks) == 4


def test_an_unbroken_run_is_cut_hard_but_never_inside_an_entity() -> None:
    text = escape("x" * 2998 + "&" + "y" * 10)  # "&amp;" straddles the 3,000 mark

    chunks = split_text(text)

    assert chunks == ("x" * 2998, "&amp;" + "y" * 10)


def test_a_huge_answer_is_paginated_within_slack_limits_buttons_last() -> None:
    citations = tuple(
        Citation(n, "doc", "T", n, 0, f"Sentence {n} " + "word " * 300, 0.5) for n in range(1, 81)
    )
    answer = Answer("q", " ".join(f"{c.quote} [{c.n}]" for c in citations), False, citations)

    messages = render_answer(answer, "a1")

    assert 1 < len(messages) <= MAX_MESSAGES
    assert all(0 < len(m.blocks) <= MAX_BLOCKS for m in messages)
    for message in messages:
        for block in message.blocks:
            texts = [block["text"]] if "text" in block else block.get("elements", [])
            assert all(len(t["text"]) <= SECTION_LIMIT for t in texts if t["type"] == "mrkdwn")
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert sum(b["type"] == "context" for m in messages for b in m.blocks) == 81
    assert messages[1].text.endswith("(continued)")


def test_an_answer_beyond_five_messages_is_shortened_and_says_so() -> None:
    citations = tuple(Citation(n, "doc", "T", n, 0, f"S{n}.", 0.5) for n in range(1, 300))
    answer = Answer("q", " ".join(f"S{c.n}. [{c.n}]" for c in citations), False, citations)

    messages = render_answer(answer, "a1")

    assert len(messages) == MAX_MESSAGES
    assert all(len(m.blocks) <= MAX_BLOCKS for m in messages)
    blocks = messages[-1].blocks
    assert blocks[-1]["type"] == "actions"
    assert blocks[-2] == {"type": "context", "elements": [mrkdwn(TRUNCATED)]}

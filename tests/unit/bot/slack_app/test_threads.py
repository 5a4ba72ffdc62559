"""Reading readout's earlier answers back from a Slack thread (bot.slack_app.threads)."""

from __future__ import annotations

from typing import Any

from bot.buttons import AnswerRef, ButtonSigner, derive_key
from bot.slack_app.render import render_answer
from bot.slack_app.threads import earlier_answers
from retrieval.answer import Answer, Citation

SIGNER = ButtonSigner(derive_key("signing secret"))
FOLLOW_UP_REF = AnswerRef(
    "a2", 1, "Who owns TikTok?", "Who owns it?", "What did Biden say about TikTok?"
)
CITED = (Citation(1, "d", "T", 1, 1, "A quote.", 0.5),)


def posted(answer: Answer, value: str) -> dict[str, Any]:
    [message] = render_answer(answer, value)
    return {"type": "message", "bot_id": "B1", "text": message.text, "blocks": message.blocks}


def test_only_readouts_signed_answers_count_each_for_its_question_as_understood() -> None:
    follow_up = Answer(
        "Who owns it?", "ByteDance. [1]", False, CITED, understood_as="Who owns TikTok?"
    )
    first = Answer.quoting("What did Biden say about TikTok?", CITED)
    messages = [
        {"type": "message", "user": "U1", "text": "What did Biden say about TikTok?"},
        posted(first, SIGNER.seal(AnswerRef("a1", 1, first.question))),
        {"type": "message", "user": "U1", "text": "Who owns it?"},
        posted(follow_up, SIGNER.seal(FOLLOW_UP_REF)),
        # a look-alike with another key, and a listing: neither is a question to read back
        posted(first, ButtonSigner(derive_key("other")).seal(AnswerRef("a3", 1, "Forged?"))),
        posted(first, SIGNER.seal(AnswerRef("a4", 1, asked=False))),
    ]
    assert earlier_answers(messages, SIGNER) == [
        AnswerRef("a1", 1, "What did Biden say about TikTok?"),
        FOLLOW_UP_REF,
    ]

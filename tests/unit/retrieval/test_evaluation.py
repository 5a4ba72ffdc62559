from __future__ import annotations

import json

import pytest

from index.errors import CorpusError
from retrieval.answer import Answer, Citation
from retrieval.evaluation import evaluate, holds_answer, parse_cases

CASES = [
    {
        "id": "a",
        "question": "taiwan?",
        "answerable": True,
        "paragraphs": [12],
        "phrases": ["red line"],
    },
    {"id": "b", "question": "joke?", "answerable": False},
    {
        "id": "c",
        "question": "tiktok?",
        "answerable": True,
        "paragraphs": [8],
        "phrases": ["tiktok"],
        "doc": "other",
    },
]
LINES = [json.dumps(CASES[0]), "", json.dumps(CASES[1]), json.dumps(CASES[2])]


def answer_for(question: str) -> Answer:
    if question == "taiwan?":
        quote = "Xi called it the first red line."
        return Answer(
            question, f"{quote} [1]", False, (Citation(1, "doc", "T", 12, 1, quote, 0.9),)
        )
    if question == "tiktok?":
        quote = "Concerns about TikTok."
        return Answer(question, f"{quote} [1]", False, (Citation(1, "doc", "T", 8, 1, quote, 0.9),))
    return Answer.not_covered(question)


def test_report_counts() -> None:
    report = evaluate(parse_cases(LINES), answer_for)
    assert (report.answerable, report.unanswerable) == (2, 1)
    assert report.top1 == 1  # case c names another document
    assert report.phrase_hits == 2
    assert report.abstained_correctly == 1
    assert report.false_abstentions == 0
    assert [f.case.case_id for f in report.failures] == ["c"]
    assert report.to_json()["failures"][0]["expected"] == [8]


def test_malformed_line_is_named() -> None:
    with pytest.raises(CorpusError, match="line 2"):
        parse_cases(['{"question": "x", "answerable": false}', '{"nope": 1}'])


def test_question_words_group_the_breakdown() -> None:
    from retrieval.evaluation import question_word

    assert question_word("How many people live there?") == "how many"
    assert question_word("To whom did Xi speak?") == "who"
    assert question_word("what did Xi say?") == "what"
    assert question_word("Tell me about Taiwan") == "other"


def test_methods_are_compared_by_the_rank_of_the_gold_paragraph() -> None:
    from retrieval.evaluation import EvalCase, compare_methods

    cases = [
        EvalCase("1", "q1", True, (3,), doc="a"),
        EvalCase("2", "q2", True, (1,), doc="a"),
        EvalCase("3", "q3", False),
    ]
    rankings = [
        {"m": (("a", 3), ("a", 1)), "n": (("b", 3), ("a", 2), ("a", 3))},
        {"m": (("a", 2), ("a", 5), ("a", 7), ("a", 1)), "n": ()},
        {"m": (("a", 1),), "n": ()},
    ]
    scores = compare_methods(cases, rankings)
    assert (scores["m"].top1, scores["m"].top3, scores["m"].cases) == (1, 1, 2)
    assert scores["m"].mrr == (1 + 1 / 4) / 2
    # The right number in the wrong document does not count.
    assert (scores["n"].top1, scores["n"].top3, scores["n"].mrr) == (0, 1, (1 / 3) / 2)


def test_conversations_score_follow_ups_alone_and_in_context() -> None:
    from retrieval.conversation import Turn
    from retrieval.evaluation import evaluate_conversations, parse_conversations

    lines = [
        json.dumps(
            {
                "id": "t",
                "turns": [
                    {"question": "taiwan?", "paragraphs": [12], "phrases": ["red line"]},
                    {"question": "tiktok then?", "paragraphs": [8], "phrases": ["tiktok"]},
                ],
            }
        ),
        json.dumps(
            {
                "id": "u",
                "turns": [{"question": "taiwan?"}, {"question": "joke?", "answerable": False}],
            }
        ),
    ]
    conversations = parse_conversations(lines)
    assert [c.conversation_id for c in conversations] == ["t", "u"]
    assert [case.case_id for case in conversations[0].turns] == ["t.1", "t.2"]
    assert conversations[1].turns[1].answerable is False
    asked: list[tuple[str, tuple[str, ...]]] = []

    def ask(question: str, history: object) -> Answer:
        previous = tuple(t.question for t in history)  # type: ignore[attr-defined]
        asked.append((question, previous))
        if question == "tiktok then?" and previous:  # only the context makes it answerable
            return answer_for("tiktok?")
        return answer_for(question)

    report = evaluate_conversations(conversations, ask, lambda a: Turn(a.question))
    assert asked == [
        ("taiwan?", ()),
        ("tiktok then?", ("taiwan?",)),
        ("tiktok then?", ()),
        ("taiwan?", ()),
        ("joke?", ("taiwan?",)),
        ("joke?", ()),
    ]
    payload = report.to_json()
    assert payload["first_turns"]["top1"] == 1 and payload["first_turns"]["read_as_typed"] == 2
    assert payload["follow_ups_alone"]["right"] == 1  # the joke abstains either way
    assert payload["follow_ups_in_context"]["right"] == 2
    assert (report.alone.top1, report.in_context.top1) == (0, 1)
    assert [f["right_in_context"] for f in payload["follow_ups"]] == [True, True]


def test_a_conversation_needs_turns() -> None:
    from retrieval.evaluation import parse_conversations

    with pytest.raises(CorpusError, match="line 1"):
        parse_conversations(['{"id": "x", "turns": []}'])
    with pytest.raises(CorpusError, match="line 2"):
        parse_conversations(['{"turns": [{"question": "q?"}]}', '{"turns": [{}]}'])


def test_a_quote_holds_an_answer_copied_from_the_markdown_source() -> None:
    answer = "Session expiry time in seconds. Defaults to [two weeks](#expiry) (`1209600`)."
    assert holds_answer(
        "max_age - Session expiry time in seconds. Defaults to two weeks (1209600).", answer
    )  # link and code markup undone
    assert holds_answer("Session expiry time in seconds.", answer)  # one sentence of the answer
    assert not holds_answer("Seconds.", answer)  # too short to count as a sentence of it
    assert not holds_answer("Sessions expire when the browser closes.", answer)

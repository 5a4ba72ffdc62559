from __future__ import annotations

import json

import pytest

from index.errors import CorpusError
from retrieval.answer import Answer, Citation
from retrieval.evaluation import evaluate, parse_cases

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

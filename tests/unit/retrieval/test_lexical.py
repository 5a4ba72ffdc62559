from __future__ import annotations

from retrieval.lexical import LexicalIndex

TEXTS = [
    "Biden also expressed concerns about TikTok.",
    "The call lasted an hour.",
    "They discussed the call and the summit.",
    "Fentanyl production was discussed on the call.",
]


def test_scores_are_a_share_of_the_attainable_score() -> None:
    index = LexicalIndex(TEXTS)
    hits = index.search("tiktok concerns", k=4)
    assert hits[0].row == 0
    assert 0.7 <= hits[0].score <= 1.0


def test_common_words_alone_earn_little() -> None:
    index = LexicalIndex(TEXTS)
    call = index.search("call", k=4)
    rare = index.search("fentanyl", k=4)
    assert {h.row for h in call} == {1, 2, 3}
    assert max(h.score for h in call) < rare[0].score


def test_unknown_words_are_missing_not_errors() -> None:
    index = LexicalIndex(TEXTS)
    assert index.search("olympics", k=4) == []
    assert not index.knows("olympics")
    assert index.knows("discussing")  # stemmed like "discussed"


def test_acronym_us_is_not_the_pronoun_us() -> None:
    index = LexicalIndex(["If the buffer is full, tell us to flush it.", "U.S. officials met."])
    assert [h.row for h in index.search("US officials", k=2)][:1] == [1]
    assert {h.row for h in index.search("US", k=2)} == {1}  # "U.S." is "US"; "us" is not
    assert index.knows("US") and index.knows("us")
    assert not LexicalIndex(["Tell us more."]).knows("US")

from __future__ import annotations

from dataclasses import replace

import pytest

from retrieval.ranking import Evidence, rank, select_sentences


def test_strong_shared_words_beat_a_slightly_closer_meaning() -> None:
    ranked = rank(
        {
            0: Evidence(dense_sentence=0.50, dense_paragraph=0.50, lexical_sentence=0.1),
            1: Evidence(dense_sentence=0.47, dense_paragraph=0.47, lexical_sentence=0.9),
        }
    )
    assert [r.row for r in ranked] == [1, 0]


def test_speaker_bonus_breaks_ties_between_topical_sentences() -> None:
    ranked = rank(
        {
            0: Evidence(dense_sentence=0.5, lexical_sentence=0.5),
            1: Evidence(dense_sentence=0.5, lexical_sentence=0.5, speaker=True),
        }
    )
    assert ranked[0].row == 1
    assert "attributed to the speaker" in ranked[0].evidence.reason()


def test_bonuses_do_not_lift_an_off_topic_sentence() -> None:
    ranked = rank(
        {
            0: Evidence(dense_sentence=0.6, dense_paragraph=0.6, lexical_sentence=0.8),
            1: Evidence(dense_sentence=0.1, speaker=True, answer_type=True),
        }
    )
    assert ranked[0].row == 0


def test_select_keeps_close_runners_up_from_the_same_paragraph() -> None:
    ranked = rank(
        {
            0: Evidence(dense_sentence=1.0),  # score 0.40
            1: Evidence(dense_sentence=0.85),  # 0.34: 85% of best, same paragraph -> kept
            2: Evidence(dense_sentence=0.85),  # 0.34: 85% of best, other paragraph -> dropped
            3: Evidence(dense_sentence=0.5),  # far behind -> dropped
        }
    )
    chosen = select_sentences(ranked, texts=["a", "b", "c", "d"], paragraph_of=[0, 0, 1, 0])
    assert [c.row for c in chosen] == [0, 1]


def test_select_skips_duplicate_texts_and_caps_at_three() -> None:
    ranked = rank({row: Evidence(dense_sentence=1.0 - row * 0.01) for row in range(6)})
    chosen = select_sentences(ranked, texts=["a", "a", "b", "c", "d", "e"], paragraph_of=[0] * 6)
    assert [c.row for c in chosen] == [0, 2, 3]


def test_select_of_nothing_is_nothing() -> None:
    assert select_sentences([], texts=[], paragraph_of=[]) == []


# A sentence that cannot be what the question asks for loses to one that can, though its words
# and meaning are closer.
DISCOUNTED = [
    pytest.param(
        # "How long was the call?": "There can be extra calls" holds no duration.
        Evidence(
            dense_sentence=0.49, dense_paragraph=0.43, lexical_sentence=0.47,
            lexical_paragraph=0.48, wants_answer_type=True,
        ),
        Evidence(
            dense_sentence=0.38, dense_paragraph=0.38, answer_type=True, wants_answer_type=True
        ),
        id="holds-no-duration",
    ),
    pytest.param(
        # "...according to US officials?": "For testing purposes, it may also be called
        # directly" is attributed to nobody.
        Evidence(
            dense_sentence=0.375, dense_paragraph=0.40, lexical_sentence=0.60,
            lexical_paragraph=0.57, wants_speaker=True,
        ),
        Evidence(
            dense_sentence=0.395, dense_paragraph=0.40, lexical_sentence=0.28, speaker=True,
            wants_speaker=True,
        ),
        id="not-the-speaker",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("closer", "fitting"), DISCOUNTED)
def test_sentence_that_fits_the_question_beats_a_closer_one_that_cannot(
    closer: Evidence, fitting: Evidence
) -> None:
    assert [r.row for r in rank({0: closer, 1: fitting})] == [1, 0]
    # ...and only because of the discount: without it the closer sentence wins.
    plain = replace(closer, wants_answer_type=False, wants_speaker=False)
    assert rank({0: plain, 1: replace(fitting, wants_answer_type=False)})[0].row == 0


def test_untyped_penalty_keeps_the_order_when_no_sentence_holds_the_type() -> None:
    plain = {
        0: Evidence(dense_sentence=0.5, lexical_sentence=0.2),
        1: Evidence(dense_sentence=0.4, lexical_sentence=0.6),
        2: Evidence(dense_sentence=0.45),
    }
    typed = {row: replace(e, wants_answer_type=True) for row, e in plain.items()}
    assert [r.row for r in rank(typed)] == [r.row for r in rank(plain)]

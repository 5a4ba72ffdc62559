from __future__ import annotations

from dataclasses import replace

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


def test_sentence_holding_the_asked_for_kind_of_answer_beats_a_closer_one_without() -> None:
    # "How long was the call?": "There can be extra calls" is closer in meaning (and shares
    # "call") but holds no duration; "the one-hour-45-minute conversation" does.
    ranked = rank(
        {
            0: Evidence(
                dense_sentence=0.49, dense_paragraph=0.43, lexical_sentence=0.47,
                lexical_paragraph=0.48, wants_answer_type=True,
            ),
            1: Evidence(
                dense_sentence=0.38, dense_paragraph=0.38, answer_type=True,
                wants_answer_type=True,
            ),
        }
    )  # fmt: skip
    assert ranked[0].row == 1


def test_untyped_penalty_keeps_the_order_when_no_sentence_holds_the_type() -> None:
    plain = {
        0: Evidence(dense_sentence=0.5, lexical_sentence=0.2),
        1: Evidence(dense_sentence=0.4, lexical_sentence=0.6),
        2: Evidence(dense_sentence=0.45),
    }
    typed = {row: replace(e, wants_answer_type=True) for row, e in plain.items()}
    assert [r.row for r in rank(typed)] == [r.row for r in rank(plain)]


def test_statement_by_the_speaker_asked_about_beats_a_wordier_match_by_nobody() -> None:
    # "What is the purpose of the call according to US officials?" beside software docs:
    # "For testing purposes, it may also be called directly" shares more words.
    ranked = rank(
        {
            0: Evidence(
                dense_sentence=0.375, dense_paragraph=0.40, lexical_sentence=0.60,
                lexical_paragraph=0.57, wants_speaker=True,
            ),
            1: Evidence(
                dense_sentence=0.395, dense_paragraph=0.40, lexical_sentence=0.28,
                speaker=True, wants_speaker=True,
            ),
        }
    )  # fmt: skip
    assert ranked[0].row == 1

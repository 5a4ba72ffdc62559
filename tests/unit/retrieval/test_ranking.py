from __future__ import annotations

import numpy as np

from retrieval.features import FEATURES
from retrieval.ranking import Ranked, rank, select_sentences


def test_rank_orders_by_preference_with_ties_broken_by_row() -> None:
    ranked = rank([7, 3, 5, 9], np.array([0.2, 0.9, 0.2, 0.5]), None, np.array([1, 2, 3, 4.0]))
    assert [(r.row, r.score) for r in ranked] == [(3, 0.9), (9, 0.5), (5, 0.2), (7, 0.2)]
    # Each keeps its own answer probability (what abstention and the shown score read).
    assert [r.answers for r in ranked] == [2.0, 4.0, 3.0, 1.0]


def test_reason_reads_the_measured_features() -> None:
    features = np.zeros((1, len(FEATURES)))
    features[0, FEATURES.index("dense_sentence")] = 0.61
    features[0, FEATURES.index("lexical_paragraph")] = 0.5
    features[0, FEATURES.index("speaker_credited")] = 1.0
    [ranked] = rank([0], np.array([0.5]), features, np.array([0.83]))
    assert ranked.reason() == (
        "meaning 0.61 (paragraph 0.00); shared words 0.00 (paragraph 0.50); "
        "attributed to the speaker asked about; probability 0.83"
    )


def _ranked(*scores: float) -> list[Ranked]:
    return rank(list(range(len(scores))), np.array(scores))


def test_select_keeps_close_runners_up_from_the_same_paragraph() -> None:
    ranked = _ranked(1.0, 0.85, 0.85, 0.5)
    # 0.85 is 85% of the best: kept from the same paragraph, dropped from another one.
    chosen = select_sentences(ranked, texts=["a", "b", "c", "d"], paragraph_of=[0, 0, 1, 0])
    assert [c.row for c in chosen] == [0, 1]


def test_select_skips_duplicate_texts_and_caps_at_three() -> None:
    ranked = _ranked(*(1.0 - row * 0.01 for row in range(6)))
    chosen = select_sentences(ranked, texts=["a", "a", "b", "c", "d", "e"], paragraph_of=[0] * 6)
    assert [c.row for c in chosen] == [0, 2, 3]


def test_select_of_nothing_is_nothing() -> None:
    assert select_sentences([], texts=[], paragraph_of=[]) == []

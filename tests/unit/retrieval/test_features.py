from __future__ import annotations

import numpy as np
import pytest

from retrieval.features import (
    FEATURES,
    RELATIVE_FEATURES,
    CorpusView,
    Hits,
    Searches,
    _shortest_span,
    _terms,
    candidates,
    measure,
)
from retrieval.lexical import QueryTokens


def test_shortest_span_holding_every_wanted_token() -> None:
    assert _shortest_span([1, 9, 2, 9, 9, 1, 2], {1, 2}) == 2
    assert _shortest_span([1, 9, 9, 2], {1, 2}) == 4


def test_terms_measure_coverage_pairs_and_proximity() -> None:
    weights = {1: 3.0, 2: 1.0}
    # Both words, adjacent and in the question's order.
    assert _terms(np.array([5, 1, 2], dtype=np.int32), weights, 4.0, [(1, 2)]) == (1.0, 1.0, 1.0)
    # Only the rarer word: three quarters of the weight, no pair, no proximity.
    assert _terms(np.array([1, 5], dtype=np.int32), weights, 4.0, [(1, 2)]) == (0.75, 0.0, 0.0)
    # Both, far apart: 2 matches over a span of 4.
    assert _terms(np.array([2, 7, 7, 1], dtype=np.int32), weights, 4.0, [(1, 2)]) == (
        1.0,
        0.0,
        0.5,
    )


# A corpus of two paragraphs: rows 0-1 in paragraph 0 (doc "a"), row 2 in paragraph 1 (doc "b").
TOKENS = {0: [1, 2], 1: [3], 2: [1, 4]}
VIEW = CorpusView(
    paragraph_row_of=[0, 0, 1],
    sentences_of={0: (0, 1), 1: (2,)},
    doc_of_paragraph=["a", "b"],
    sentence_tokens=lambda row: np.array(TOKENS[row], dtype=np.int32),
    paragraph_tokens=lambda p: np.array([1, 2, 3] if p == 0 else [1, 4], dtype=np.int32),
    title_stems={"a": frozenset({"taiwan"}), "b": frozenset()},
    heading_stems=lambda p: frozenset({"line"}) if p == 1 else frozenset(),
    previous_sentence=lambda row: 0 if row == 1 else None,
    has_answer_type=lambda row: row == 2,
    credits_speaker=lambda row: row == 0,
)
QUERY = QueryTokens(stems=("taiwan", "line"), ids=(1, 2), weights=(2.0, 2.0))


def _searches(**changes: object) -> Searches:
    base: dict[str, object] = dict(
        dense_sentence=Hits.from_ranked([(0, 0.6), (2, 0.4)]),
        dense_paragraph=Hits.from_ranked([(1, 0.5)]),
        lexical_sentence=Hits.from_ranked([(0, 0.9)], [9.0]),
        lexical_paragraph=Hits.from_ranked([(0, 0.8), (1, 0.2)], [8.0, 2.0]),
        words_sentence=Hits.from_ranked([]),
        words_paragraph=Hits.from_ranked([]),
        query=QUERY,
        paragraph_query=QUERY,
        wants_answer_type=True,
        wants_speaker=False,
        coverage=1.0,
        missing_name=False,
        missing_name_share=0.0,
        asks_statement=False,
        document_support={"b": 1.0},
    )
    base.update(changes)
    return Searches(**base)  # type: ignore[arg-type]


def test_candidates_are_returned_rows_and_the_sentences_of_returned_paragraphs() -> None:
    assert candidates(_searches(), VIEW) == [0, 1, 2]
    only_dense = _searches(
        lexical_sentence=Hits.from_ranked([]), lexical_paragraph=Hits.from_ranked([])
    )
    assert candidates(only_dense, VIEW) == [0, 2]


def test_measure_gives_one_row_per_candidate_with_the_named_features() -> None:
    matrix = measure([0, 1, 2], _searches(), VIEW)
    assert matrix.shape == (3, len(FEATURES))
    column = {name: matrix[:, i].tolist() for i, name in enumerate(FEATURES)}
    # A sentence no dense search returned scores the weakest returned cosine.
    assert column["dense_sentence"] == [0.6, 0.4, 0.4]
    assert column["dense_sentence_gap"] == pytest.approx([0.0, -0.2, -0.2])
    assert column["lexical_paragraph_relative"] == [1.0, 1.0, 0.25]
    assert column["rank_lexical_paragraph"] == [1.0, 1.0, 0.5]
    assert column["coverage_sentence"] == [1.0, 0.0, 0.5]
    assert column["bigrams_sentence"] == [1.0, 0.0, 0.0]
    assert column["coverage_title"] == [0.5, 0.5, 0.0]
    assert column["coverage_heading"] == [0.0, 0.0, 0.5]
    # Row 1 holds no query word, but the sentence before it holds both; row 2 holds "taiwan"
    # and its section heading "line".
    assert column["coverage_context"] == [1.0, 1.0, 1.0]
    assert column["answer_type_held"] == [0.0, 0.0, 1.0]
    assert column["answer_type_missing"] == [1.0, 1.0, 0.0]
    assert column["speaker_credited"] == [0.0, 0.0, 0.0]  # no speaker was asked about
    assert column["document_support"] == [0.0, 0.0, 1.0]
    assert column["question_best_meaning"] == [0.6, 0.6, 0.6]


def test_measure_of_no_candidates_is_an_empty_matrix() -> None:
    assert measure([], _searches(), VIEW).shape == (0, len(FEATURES))


def test_the_relative_features_are_features() -> None:
    assert RELATIVE_FEATURES <= set(FEATURES)

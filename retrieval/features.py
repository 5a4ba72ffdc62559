"""The evidence measured for each candidate sentence: one row of numbers per candidate.

Pure functions, no I/O. The engine gathers what the searches returned (:class:`Searches`);
:func:`measure` turns it into a feature matrix whose columns are :data:`FEATURES`, in that
order. How the columns are weighed is not decided here but fitted on data (``policy`` and
``scripts/train_ranker.py``), so a feature is worth adding whenever it carries information,
even if nobody can say in advance how much.

Every feature is on a scale that means the same for any question and corpus size: cosines,
BM25 as a share of what the question could score (``lexical.LexicalHit``), shares of the
question's IDF weight, reciprocal ranks, and yes/no flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval.lexical import QueryTokens

FEATURES: tuple[str, ...] = (
    # meaning: the question's cosine to the sentence and to its paragraph, absolute and as the
    # gap to the best candidate's, and the best sentence of the same paragraph
    "dense_sentence",
    "dense_paragraph",
    "dense_sentence_gap",
    "dense_paragraph_gap",
    "paragraph_best_sentence",
    # words: BM25 shares, and the same relative to the question's best (the strong baseline
    # "BM25 ÷ its per-question maximum")
    "lexical_sentence",
    "lexical_paragraph",
    "lexical_sentence_relative",
    "lexical_paragraph_relative",
    # the same searches for every word of the question but stopwords ("called", "known",
    # "describe" are question words in chat, but often the very words of an encyclopaedia)
    "words_sentence_relative",
    "words_paragraph_relative",
    "rank_words_paragraph",
    # where each search put it: 1 / (1 + rank), 0 when it was not returned
    "rank_dense_sentence",
    "rank_dense_paragraph",
    "rank_lexical_sentence",
    "rank_lexical_paragraph",
    # what BM25's bag of words cannot see: how much of the question's IDF weight the text
    # holds, its word pairs in order, and how close together the matched words are
    "coverage_sentence",
    "coverage_paragraph",
    "coverage_title",
    # the section a sentence sits in, and the sentence read with its heading and the sentence
    # before it: in docs "Default: `false`." answers only under its option's heading
    "coverage_heading",
    "coverage_context",
    "bigrams_sentence",
    "bigrams_paragraph",
    "proximity_sentence",
    "proximity_paragraph",
    # the form of the question: a time / duration / number asked for and held (or not); a
    # speaker asked about and credited (or not); how much of the nearest text is in this
    # sentence's document
    "answer_type_held",
    "answer_type_missing",
    "speaker_credited",
    "speaker_missing",
    "document_support",
    # about the question as a whole (the same for every candidate): they move the
    # probability that anything answers it, which is what abstention reads
    "question_coverage",
    "question_missing_name",
    "question_missing_name_share",
    "question_statement_missing_name",
    "question_best_meaning",
    "question_best_words",
)

# The features that compare a candidate with the other candidates of its question rather than
# with the question: they shift when unrelated documents join the index, so the answer head
# (whether anything answers) is fitted without them (``scripts/train_ranker.py``).
RELATIVE_FEATURES = frozenset(
    {
        "dense_sentence_gap",
        "dense_paragraph_gap",
        "lexical_sentence_relative",
        "lexical_paragraph_relative",
        "words_sentence_relative",
        "words_paragraph_relative",
        "rank_words_paragraph",
        "rank_dense_sentence",
        "rank_dense_paragraph",
        "rank_lexical_sentence",
        "rank_lexical_paragraph",
    }
)


@dataclass(frozen=True, slots=True)
class Hits:
    """One search's results for one question: row -> score, row -> 0-based rank, and row ->
    score relative to the best row's (for BM25, whose raw scores mean nothing across queries)."""

    score: Mapping[int, float]
    rank: Mapping[int, int]
    relative: Mapping[int, float]

    @classmethod
    def from_ranked(
        cls, pairs: Sequence[tuple[int, float]], raw: Sequence[float] | None = None
    ) -> Hits:
        score: dict[int, float] = {}
        rank: dict[int, int] = {}
        relative: dict[int, float] = {}
        raw = raw if raw is not None else [value for _, value in pairs]
        best = max(raw, default=0.0)
        for position, ((row, value), absolute) in enumerate(zip(pairs, raw, strict=True)):
            if row not in score:
                score[row] = value
                rank[row] = position
                relative[row] = absolute / best if best > 0 else 0.0
        return cls(score, rank, relative)


@dataclass(frozen=True, slots=True)
class Searches:
    """Everything measured about one question before its candidates are scored."""

    dense_sentence: Hits
    dense_paragraph: Hits
    lexical_sentence: Hits
    lexical_paragraph: Hits
    words_sentence: Hits
    words_paragraph: Hits
    query: QueryTokens  # as the sentence index tokenises it
    paragraph_query: QueryTokens  # as the paragraph index does (its own vocabulary and ids)
    wants_answer_type: bool
    wants_speaker: bool
    coverage: float
    missing_name: bool
    missing_name_share: float  # of the key terms, the share that are names the corpus lacks
    asks_statement: bool
    document_support: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class CorpusView:
    """What feature measurement reads from the loaded corpus (``engine.Snapshot`` provides it)."""

    paragraph_row_of: Sequence[int]
    sentences_of: Mapping[int, Sequence[int]]
    doc_of_paragraph: Sequence[str]
    sentence_tokens: Callable[[int], npt.NDArray[np.int32]]
    paragraph_tokens: Callable[[int], npt.NDArray[np.int32]]
    title_stems: Mapping[str, frozenset[str]]
    heading_stems: Callable[[int], frozenset[str]]  # of a paragraph row's section path
    previous_sentence: Callable[[int], int | None]  # the row before, in the same paragraph
    has_answer_type: Callable[[int], bool]
    credits_speaker: Callable[[int], bool]


def candidates(searches: Searches, corpus: CorpusView) -> list[int]:
    """Sentence rows worth scoring: every sentence a search returned, and every sentence of a
    paragraph a search returned, in row order."""
    rows = (
        set(searches.dense_sentence.score)
        | set(searches.lexical_sentence.score)
        | set(searches.words_sentence.score)
    )
    paragraphs = (
        *searches.dense_paragraph.score,
        *searches.lexical_paragraph.score,
        *searches.words_paragraph.score,
    )
    for paragraph in paragraphs:
        rows.update(corpus.sentences_of.get(paragraph, ()))
    return sorted(rows)


def measure(rows: Sequence[int], searches: Searches, corpus: CorpusView) -> npt.NDArray[np.float64]:
    """The feature matrix for ``rows`` (one row each, columns as in :data:`FEATURES`)."""
    n = len(rows)
    columns: dict[str, npt.NDArray[np.float64]] = {}
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    paragraphs = [corpus.paragraph_row_of[row] for row in rows]
    ds, dp = searches.dense_sentence, searches.dense_paragraph
    ls, lp = searches.lexical_sentence, searches.lexical_paragraph
    # A row a search did not return scores no better than the weakest row it did return.
    ds_floor = min(ds.score.values(), default=0.0)
    dp_floor = min(dp.score.values(), default=0.0)
    dense_sentence = np.array([ds.score.get(r, ds_floor) for r in rows])
    dense_paragraph = np.array([dp.score.get(p, dp_floor) for p in paragraphs])
    columns["dense_sentence"] = dense_sentence
    columns["dense_paragraph"] = dense_paragraph
    best_meaning = max(float(dense_sentence.max()), float(dense_paragraph.max()))
    columns["dense_sentence_gap"] = dense_sentence - dense_sentence.max()
    columns["dense_paragraph_gap"] = dense_paragraph - dense_paragraph.max()
    best_in_paragraph: dict[int, float] = {}
    for row, value in zip(rows, dense_sentence, strict=True):
        paragraph = corpus.paragraph_row_of[row]
        best_in_paragraph[paragraph] = max(best_in_paragraph.get(paragraph, -1.0), float(value))
    columns["paragraph_best_sentence"] = np.array([best_in_paragraph[p] for p in paragraphs])

    lexical_sentence = np.array([ls.score.get(r, 0.0) for r in rows])
    lexical_paragraph = np.array([lp.score.get(p, 0.0) for p in paragraphs])
    columns["lexical_sentence"] = lexical_sentence
    columns["lexical_paragraph"] = lexical_paragraph
    columns["lexical_sentence_relative"] = np.array([ls.relative.get(r, 0.0) for r in rows])
    columns["lexical_paragraph_relative"] = np.array([lp.relative.get(p, 0.0) for p in paragraphs])
    ws, wp = searches.words_sentence, searches.words_paragraph
    columns["words_sentence_relative"] = np.array([ws.relative.get(r, 0.0) for r in rows])
    columns["words_paragraph_relative"] = np.array([wp.relative.get(p, 0.0) for p in paragraphs])
    columns["rank_words_paragraph"] = _reciprocal(wp.rank, paragraphs)

    columns["rank_dense_sentence"] = _reciprocal(ds.rank, rows)
    columns["rank_dense_paragraph"] = _reciprocal(dp.rank, paragraphs)
    columns["rank_lexical_sentence"] = _reciprocal(ls.rank, rows)
    columns["rank_lexical_paragraph"] = _reciprocal(lp.rank, paragraphs)

    weights, total, pairs = _query_terms(searches.query)
    sentence_terms = [_terms(corpus.sentence_tokens(r), weights, total, pairs) for r in rows]
    p_weights, p_total, p_pairs = _query_terms(searches.paragraph_query)
    paragraph_terms = {
        p: _terms(corpus.paragraph_tokens(p), p_weights, p_total, p_pairs) for p in set(paragraphs)
    }
    columns["coverage_sentence"] = np.array([t[0] for t in sentence_terms])
    columns["bigrams_sentence"] = np.array([t[1] for t in sentence_terms])
    columns["proximity_sentence"] = np.array([t[2] for t in sentence_terms])
    columns["coverage_paragraph"] = np.array([paragraph_terms[p][0] for p in paragraphs])
    columns["bigrams_paragraph"] = np.array([paragraph_terms[p][1] for p in paragraphs])
    columns["proximity_paragraph"] = np.array([paragraph_terms[p][2] for p in paragraphs])
    title_cover: dict[str, float] = {}
    stem_weights = dict(zip(searches.query.stems, searches.query.weights, strict=True))
    for doc in {corpus.doc_of_paragraph[p] for p in paragraphs}:
        held = corpus.title_stems.get(doc, frozenset())
        title_cover[doc] = _stem_share(held, stem_weights, total)
    columns["coverage_title"] = np.array(
        [title_cover[corpus.doc_of_paragraph[p]] for p in paragraphs]
    )

    headings = {p: corpus.heading_stems(p) for p in set(paragraphs)}
    heading_cover = {p: _stem_share(held, stem_weights, total) for p, held in headings.items()}
    columns["coverage_heading"] = np.array([heading_cover[p] for p in paragraphs])
    stem_of = {i: s for s, i in zip(searches.query.stems, searches.query.ids, strict=True)}
    context = []
    for row, paragraph in zip(rows, paragraphs, strict=True):
        found: set[str] = set(headings[paragraph] & stem_weights.keys())
        before = corpus.previous_sentence(row)
        for source in (row,) if before is None else (row, before):
            tokens = corpus.sentence_tokens(source).tolist()
            found.update(stem_of[t] for t in tokens if t in weights)
        context.append(_stem_share(found, stem_weights, total))
    columns["coverage_context"] = np.array(context)

    typed = np.array([corpus.has_answer_type(r) for r in rows], dtype=np.float64)
    credited = np.array([corpus.credits_speaker(r) for r in rows], dtype=np.float64)
    wants_type = float(searches.wants_answer_type)
    wants_speaker = float(searches.wants_speaker)
    columns["answer_type_held"] = wants_type * typed
    columns["answer_type_missing"] = wants_type * (1.0 - typed)
    columns["speaker_credited"] = wants_speaker * credited
    columns["speaker_missing"] = wants_speaker * (1.0 - credited)
    columns["document_support"] = np.array(
        [searches.document_support.get(corpus.doc_of_paragraph[p], 0.0) for p in paragraphs]
    )

    columns["question_coverage"] = np.full(n, searches.coverage)
    columns["question_missing_name"] = np.full(n, float(searches.missing_name))
    columns["question_missing_name_share"] = np.full(n, searches.missing_name_share)
    columns["question_statement_missing_name"] = np.full(
        n, float(searches.missing_name and searches.asks_statement)
    )
    columns["question_best_meaning"] = np.full(n, best_meaning)
    columns["question_best_words"] = np.full(n, float(lexical_sentence.max()))
    return np.column_stack([columns[name] for name in FEATURES])


def _query_terms(
    query: QueryTokens,
) -> tuple[dict[int, float], float, list[tuple[int, int]]]:
    """Weights of the question's words the index knows, its total weight, its known word pairs."""
    weights = {i: w for i, w in zip(query.ids, query.weights, strict=True) if i >= 0}
    total = sum(query.weights) or 1.0
    pairs = [(a, b) for a, b in zip(query.ids, query.ids[1:], strict=False) if a >= 0 and b >= 0]
    return weights, total, pairs


def _stem_share(held: AbstractSet[str], stem_weights: Mapping[str, float], total: float) -> float:
    """The share of the question's IDF weight (``total``) whose stems ``held`` contains."""
    return sum(w for s, w in stem_weights.items() if s in held) / total


def _reciprocal(ranks: Mapping[int, int], keys: Sequence[int]) -> npt.NDArray[np.float64]:
    return np.array([1.0 / (1 + ranks[k]) if k in ranks else 0.0 for k in keys])


def _terms(
    tokens: npt.NDArray[np.int32],
    weights: Mapping[int, float],
    total: float,
    pairs: Sequence[tuple[int, int]],
) -> tuple[float, float, float]:
    """IDF share of the question's words in ``tokens``, share of its word pairs found in order,
    and how densely the matched words sit: distinct matches ÷ the shortest span holding them all
    (0 when fewer than two words match)."""
    sequence = tokens.tolist()
    held = {t for t in sequence if t in weights}
    coverage = sum(weights[t] for t in held) / total
    bigrams = 0.0
    if pairs:
        present = set(zip(sequence, sequence[1:], strict=False))
        bigrams = sum(pair in present for pair in pairs) / len(pairs)
    proximity = 0.0
    if len(held) >= 2:
        proximity = len(held) / _shortest_span(sequence, held)
    return coverage, bigrams, proximity


def _shortest_span(sequence: Sequence[int], wanted: set[int]) -> int:
    """Length of the shortest stretch of ``sequence`` holding every token in ``wanted``."""
    counts: dict[int, int] = {}
    missing = len(wanted)
    best = len(sequence)
    start = 0
    for end, token in enumerate(sequence):
        if token not in wanted:
            continue
        counts[token] = counts.get(token, 0) + 1
        if counts[token] == 1:
            missing -= 1
        while missing == 0:
            best = min(best, end - start + 1)
            first = sequence[start]
            if first in wanted:
                counts[first] -= 1
                if counts[first] == 0:
                    missing += 1
            start += 1
    return max(best, len(wanted))
